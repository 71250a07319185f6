-- Dashboard sessions backed by a Supabase Auth (GoTrue) session.
--
-- On Supabase, people sign in through Supabase Auth; our session cookie then stands for a GoTrue
-- session of our own and must not outlive it. The row keeps that session's tokens, sealed by the
-- server (AES-256-GCM under a key derived from SESSION_ENCRYPTION_KEY, bound to this row's token
-- hash), and when its access token expires. Past that time the server refreshes through GoTrue
-- before it serves the request; a refused refresh ends the row.
--
-- `supabase_refreshing_until` is a short claim: the request that takes it refreshes, concurrent
-- requests (other tabs, other instances) see it taken and carry on for its few seconds instead of
-- spending the same single-use refresh token twice, which GoTrue would read as token theft.

ALTER TABLE app_private.web_sessions
    ADD COLUMN supabase_tokens bytea,
    ADD COLUMN supabase_expires_at timestamptz,
    ADD COLUMN supabase_refreshing_until timestamptz,
    ADD CONSTRAINT web_sessions_supabase_pair_check
        CHECK ((supabase_tokens IS NULL) = (supabase_expires_at IS NULL)),
    ADD CONSTRAINT web_sessions_supabase_tokens_check
        CHECK (supabase_tokens IS NULL OR octet_length(supabase_tokens) BETWEEN 29 AND 65536);

CREATE FUNCTION app_api.create_supabase_web_session(
    p_user_id uuid, p_token_hash bytea, p_idle interval, p_lifetime interval,
    p_tokens bytea, p_expires_at timestamptz)
    RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        DELETE FROM app_private.web_sessions s
        WHERE s.user_id = p_user_id AND (s.last_seen < now() - p_idle OR s.created_at < now() - p_lifetime);
        INSERT INTO app_private.web_sessions (token_hash, user_id, supabase_tokens, supabase_expires_at)
        VALUES (p_token_hash, p_user_id, p_tokens, p_expires_at);
    $$;

-- As resume_web_session(bytea, interval, interval) in …200002, plus the Supabase columns.
CREATE FUNCTION app_api.resume_web_session_linked(p_token_hash bytea, p_idle interval, p_lifetime interval)
    RETURNS TABLE (user_id uuid, email text, supabase_tokens bytea, supabase_expires_at timestamptz)
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
        RETURNING s.user_id, coalesce(u.email, ''), s.supabase_tokens, s.supabase_expires_at;
    $$;

-- Takes the refresh claim for p_claim when nobody holds it; returns the sealed tokens to the
-- winner, no row to everyone else (and for a session that is gone or not Supabase-backed).
CREATE FUNCTION app_api.claim_supabase_refresh(p_token_hash bytea, p_claim interval)
    RETURNS bytea
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        UPDATE app_private.web_sessions s
        SET supabase_refreshing_until = now() + p_claim
        WHERE s.token_hash = p_token_hash AND s.supabase_tokens IS NOT NULL
          AND (s.supabase_refreshing_until IS NULL OR s.supabase_refreshing_until < now())
        RETURNING s.supabase_tokens;
    $$;

-- Stores the refreshed tokens and releases the claim; p_tokens NULL only releases it (the refresh
-- could not be tried, e.g. GoTrue was unreachable).
CREATE FUNCTION app_api.finish_supabase_refresh(p_token_hash bytea, p_tokens bytea, p_expires_at timestamptz)
    RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        UPDATE app_private.web_sessions s
        SET supabase_tokens = coalesce(p_tokens, s.supabase_tokens),
            supabase_expires_at = CASE WHEN p_tokens IS NULL THEN s.supabase_expires_at ELSE p_expires_at END,
            supabase_refreshing_until = NULL
        WHERE s.token_hash = p_token_hash AND s.supabase_tokens IS NOT NULL;
    $$;

REVOKE ALL ON FUNCTION
    app_api.create_supabase_web_session(uuid, bytea, interval, interval, bytea, timestamptz),
    app_api.resume_web_session_linked(bytea, interval, interval),
    app_api.claim_supabase_refresh(bytea, interval),
    app_api.finish_supabase_refresh(bytea, bytea, timestamptz)
    FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION
    app_api.create_supabase_web_session(uuid, bytea, interval, interval, bytea, timestamptz),
    app_api.resume_web_session_linked(bytea, interval, interval),
    app_api.claim_supabase_refresh(bytea, interval),
    app_api.finish_supabase_refresh(bytea, bytea, timestamptz)
    TO rarity_app;
