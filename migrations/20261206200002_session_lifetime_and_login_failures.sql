-- Web sessions get an absolute lifetime besides the idle timeout, and failed sign-ins are counted
-- per account in the database, *before* the password is checked.
--
-- Why in the database: the count must not be lost when an attacker fills an in-memory map with
-- random emails (a bounded map has to forget someone), it must hold across restarts and, later,
-- across instances; and the account row exists anyway. Unknown emails are not counted here (there
-- is no account to protect); the per-IP limit in the server covers them.

ALTER TABLE app_private.credentials
    ADD COLUMN failed_logins integer NOT NULL DEFAULT 0
               CONSTRAINT credentials_failed_logins_check CHECK (failed_logins >= 0),
    ADD COLUMN failed_since  timestamptz;

-- One sign-in attempt for p_email. When the account already has p_max_failures failures in the
-- current window (p_window long), the attempt is refused (allowed = false, no hash returned) with
-- the seconds until the window ends; p_bypass (the browser proved an earlier successful sign-in
-- of this account) lifts that refusal. Otherwise the attempt is counted as a failure at once —
-- concurrent attempts each see the others' counts (row lock), so a burst cannot overshoot — and the
-- hash is returned for checking. A correct password then calls login_succeeded, which clears the
-- count. No row = no such account.
CREATE FUNCTION app_api.login_attempt(p_email text, p_max_failures integer, p_window interval, p_bypass boolean)
    RETURNS TABLE (user_id uuid, email text, password_hash text, allowed boolean, retry_after_seconds integer)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v app_private.credentials%ROWTYPE;
BEGIN
    SELECT * INTO v FROM app_private.credentials c WHERE c.email = p_email FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF v.failed_since IS NULL OR v.failed_since <= now() - p_window THEN
        v.failed_logins := 0;
        v.failed_since := now();
    END IF;
    IF v.failed_logins >= p_max_failures AND NOT p_bypass THEN
        RETURN QUERY SELECT v.user_id, v.email, NULL::text, false,
            greatest(1, ceil(extract(epoch FROM (v.failed_since + p_window - now()))))::integer;
        RETURN;
    END IF;
    UPDATE app_private.credentials c
    SET failed_logins = v.failed_logins + 1, failed_since = v.failed_since
    WHERE c.user_id = v.user_id;
    RETURN QUERY SELECT v.user_id, v.email, v.password_hash, true, 0;
END
$$;

CREATE FUNCTION app_api.login_succeeded(p_user_id uuid) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        UPDATE app_private.credentials c SET failed_logins = 0, failed_since = NULL
        WHERE c.user_id = p_user_id
    $$;

-- As create_web_session/resume_web_session (…03_accounts), plus an absolute lifetime counted from
-- sign-in: past it the session ends however active it is.
CREATE FUNCTION app_api.create_web_session(p_user_id uuid, p_token_hash bytea, p_idle interval, p_lifetime interval)
    RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        DELETE FROM app_private.web_sessions s
        WHERE s.user_id = p_user_id AND (s.last_seen < now() - p_idle OR s.created_at < now() - p_lifetime);
        INSERT INTO app_private.web_sessions (token_hash, user_id) VALUES (p_token_hash, p_user_id);
    $$;

CREATE FUNCTION app_api.resume_web_session(p_token_hash bytea, p_idle interval, p_lifetime interval)
    RETURNS TABLE (user_id uuid, email text)
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        WITH expired AS (
            DELETE FROM app_private.web_sessions s
            WHERE s.token_hash = p_token_hash
              AND (s.last_seen < now() - p_idle OR s.created_at < now() - p_lifetime)
        )
        UPDATE app_private.web_sessions s
        SET last_seen = now()
        FROM auth.users u
        WHERE s.token_hash = p_token_hash AND s.last_seen >= now() - p_idle
          AND s.created_at >= now() - p_lifetime AND u.id = s.user_id
        RETURNING s.user_id, coalesce(u.email, '');
    $$;

REVOKE ALL ON FUNCTION
    app_api.login_attempt(text, integer, interval, boolean),
    app_api.login_succeeded(uuid),
    app_api.create_web_session(uuid, bytea, interval, interval),
    app_api.resume_web_session(bytea, interval, interval)
    FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION
    app_api.login_attempt(text, integer, interval, boolean),
    app_api.login_succeeded(uuid),
    app_api.create_web_session(uuid, bytea, interval, interval),
    app_api.resume_web_session(bytea, interval, interval)
    TO rarity_app;
