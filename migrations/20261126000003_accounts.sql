-- Accounts: password hashes and web sessions in a private schema that no API role can read.
--
-- Pre-authentication operations (sign up, log in, resume a cookie session) cannot run under RLS as a
-- user — there is no user yet. They go through narrow SECURITY DEFINER functions in `app_api`, each
-- with a fixed empty search_path (so no caller-controlled schema can shadow what they call), and only
-- the runtime login role `rarity_app` may execute them. Session tokens are stored only as SHA-256
-- hashes, so a leaked table does not leak usable cookies.

CREATE SCHEMA app_private;
REVOKE ALL ON SCHEMA app_private FROM PUBLIC;

CREATE TABLE app_private.credentials (
    user_id       uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    email         text NOT NULL CONSTRAINT credentials_email_key UNIQUE,
    password_hash text NOT NULL CONSTRAINT credentials_password_hash_check
                  CHECK (char_length(password_hash) BETWEEN 1 AND 512),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE app_private.web_sessions (
    token_hash bytea PRIMARY KEY CONSTRAINT web_sessions_token_hash_check CHECK (octet_length(token_hash) = 32),
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_sessions_user_id_idx ON app_private.web_sessions (user_id);
REVOKE ALL ON ALL TABLES IN SCHEMA app_private FROM PUBLIC;

CREATE SCHEMA app_api;
REVOKE ALL ON SCHEMA app_api FROM PUBLIC;
GRANT USAGE ON SCHEMA app_api TO rarity_app;

CREATE FUNCTION app_api.create_user(p_email text, p_password_hash text) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_id uuid := gen_random_uuid();
BEGIN
    INSERT INTO auth.users (id, email) VALUES (v_id, p_email);
    INSERT INTO app_private.credentials (user_id, email, password_hash) VALUES (v_id, p_email, p_password_hash);
    RETURN v_id;
END
$$;

CREATE FUNCTION app_api.credentials(p_email text)
    RETURNS TABLE (user_id uuid, email text, password_hash text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT c.user_id, c.email, c.password_hash FROM app_private.credentials c WHERE c.email = p_email
    $$;

-- Creating a session also forgets this user's idle-expired ones, so the table does not grow forever.
CREATE FUNCTION app_api.create_web_session(p_user_id uuid, p_token_hash bytea, p_idle interval) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        DELETE FROM app_private.web_sessions s WHERE s.user_id = p_user_id AND s.last_seen < now() - p_idle;
        INSERT INTO app_private.web_sessions (token_hash, user_id) VALUES (p_token_hash, p_user_id);
    $$;

-- Unknown or idle-expired: no row (an expired one is deleted). Otherwise the idle clock restarts.
CREATE FUNCTION app_api.resume_web_session(p_token_hash bytea, p_idle interval)
    RETURNS TABLE (user_id uuid, email text)
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        WITH expired AS (
            DELETE FROM app_private.web_sessions s
            WHERE s.token_hash = p_token_hash AND s.last_seen < now() - p_idle
        )
        UPDATE app_private.web_sessions s
        SET last_seen = now()
        FROM auth.users u
        WHERE s.token_hash = p_token_hash AND s.last_seen >= now() - p_idle AND u.id = s.user_id
        RETURNING s.user_id, coalesce(u.email, '');
    $$;

CREATE FUNCTION app_api.end_web_session(p_token_hash bytea) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        DELETE FROM app_private.web_sessions s WHERE s.token_hash = p_token_hash;
    $$;

CREATE FUNCTION app_api.end_all_web_sessions(p_user_id uuid) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        DELETE FROM app_private.web_sessions s WHERE s.user_id = p_user_id;
    $$;

-- A verified Supabase JWT's user must exist in auth.users for the foreign keys. On Supabase it
-- always does (no insert happens); on plain PostgreSQL it is created on first use.
CREATE FUNCTION app_api.ensure_jwt_user(p_sub uuid, p_email text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = p_sub) THEN
        INSERT INTO auth.users (id, email) VALUES (p_sub, p_email) ON CONFLICT (id) DO NOTHING;
    END IF;
END
$$;

-- Readiness: which migrations this database has applied (the runtime role cannot read the table).
CREATE FUNCTION app_api.applied_migrations() RETURNS SETOF bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT m.version FROM public._sqlx_migrations m WHERE m.success
    $$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA app_api FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA app_api TO rarity_app;
