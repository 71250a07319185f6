-- Whether a web session still stands, without restarting its idle clock. The browser's event
-- socket (`/ws`) asks on every heartbeat and closes when the session has ended (signed out here
-- or elsewhere, idle or past its lifetime): an open tab must not keep streaming a signed-out
-- user's data, nor keep an idle session alive by asking.
CREATE FUNCTION app_api.web_session_stands(p_token_hash bytea, p_idle interval, p_lifetime interval)
    RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT EXISTS (
            SELECT 1 FROM app_private.web_sessions s
            WHERE s.token_hash = p_token_hash
              AND s.last_seen >= now() - p_idle
              AND s.created_at >= now() - p_lifetime
        );
    $$;

REVOKE ALL ON FUNCTION app_api.web_session_stands(bytea, interval, interval)
    FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION app_api.web_session_stands(bytea, interval, interval) TO rarity_app;
