-- Media uploads through any instance. Uploading a file to WhatsApp's media host needs the hosts
-- and the upload token of the account's `media_conn` IQ, which only the instance holding the
-- account's connection can ask for. An instance asked to send a file through an account another
-- instance holds asks the holder (a forwarded command) to put its current media_conn here, reads
-- it, and uploads the file itself over HTTPS; the message then goes out through the holder like
-- any queued message. The token is short-lived (WhatsApp's ttl) and kept only until it expires.

CREATE TABLE app_private.account_media_conns (
    session_id uuid PRIMARY KEY REFERENCES public.whatsapp_sessions (id) ON DELETE CASCADE,
    hosts      jsonb NOT NULL,
    auth       text NOT NULL,
    expires_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION app_api.account_media_conn_put(
    p_session_id uuid, p_hosts jsonb, p_auth text, p_expires_at timestamptz
) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
    INSERT INTO app_private.account_media_conns (session_id, hosts, auth, expires_at)
    VALUES (p_session_id, p_hosts, p_auth, p_expires_at)
    ON CONFLICT (session_id) DO UPDATE
        SET hosts = EXCLUDED.hosts, auth = EXCLUDED.auth, expires_at = EXCLUDED.expires_at,
            updated_at = now();
    -- Expired ones of any account go at the same time.
    DELETE FROM app_private.account_media_conns c WHERE c.expires_at < now();
    $$;

-- The account's media_conn if it is still good for p_margin_seconds, else nothing.
CREATE FUNCTION app_api.account_media_conn_get(p_session_id uuid, p_margin_seconds integer)
    RETURNS TABLE (hosts jsonb, auth text, expires_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
    SELECT c.hosts, c.auth, c.expires_at FROM app_private.account_media_conns c
    WHERE c.session_id = p_session_id
      AND c.expires_at > now() + make_interval(secs => p_margin_seconds)
    $$;

REVOKE ALL ON FUNCTION app_api.account_media_conn_put(uuid, jsonb, text, timestamptz),
                       app_api.account_media_conn_get(uuid, integer)
    FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION app_api.account_media_conn_put(uuid, jsonb, text, timestamptz),
                          app_api.account_media_conn_get(uuid, integer)
    TO rarity_app;
