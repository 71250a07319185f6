-- WhatsApp accounts as the session engine keeps them: a typed connection state that the user can
-- read but never write, and the per-user account limit enforced by the database itself.
--
-- Column privileges: `authenticated` (our `UserTx` and Supabase's PostgREST alike) may read every
-- column except `session_data` and `qr_code`, create a row by naming it, rename it, and delete it —
-- RLS still limits all of that to its own rows. Status, phone number, JIDs and timestamps belong to
-- the engine, which writes them through `app_api` (migration …_whatsapp_engine_private.sql).
-- Table-level SELECT is gone, so `SELECT *` as `authenticated` is refused: name the columns. A
-- column added later is invisible to users until a migration grants it.

ALTER TABLE public.whatsapp_sessions
    ADD COLUMN status_reason  text CONSTRAINT whatsapp_sessions_status_reason_check
                              CHECK (status_reason ~ '^[a-z][a-z0-9_]{0,63}$'),
    ADD COLUMN status_message text CONSTRAINT whatsapp_sessions_status_message_check
                              CHECK (char_length(status_message) <= 500),
    ADD COLUMN jid            text CONSTRAINT whatsapp_sessions_jid_check CHECK (char_length(jid) <= 128),
    ADD COLUMN lid            text CONSTRAINT whatsapp_sessions_lid_check CHECK (char_length(lid) <= 128),
    ADD COLUMN push_name      text CONSTRAINT whatsapp_sessions_push_name_check CHECK (char_length(push_name) <= 200),
    ADD COLUMN linked_at      timestamptz;

COMMENT ON COLUMN public.whatsapp_sessions.status_reason IS
    'Machine-readable cause of the current status, e.g. linked, qr_timeout, logged_out, replaced, connection_lost, banned, client_outdated, unpaired.';
COMMENT ON COLUMN public.whatsapp_sessions.status_message IS 'The same cause as a sentence for people.';

REVOKE SELECT, INSERT, UPDATE ON public.whatsapp_sessions FROM authenticated;
GRANT SELECT (id, user_id, phone_number, session_name, status, status_reason, status_message, jid, lid,
              push_name, linked_at, last_seen, created_at, updated_at)
    ON public.whatsapp_sessions TO authenticated;
-- user_id takes its default, auth.uid(); the RLS policy's WITH CHECK still applies.
GRANT INSERT (session_name) ON public.whatsapp_sessions TO authenticated;
GRANT UPDATE (session_name) ON public.whatsapp_sessions TO authenticated;
-- DELETE (own rows, by RLS) stays granted from migration …02.

-- Settings the server writes at start-up (as the owner) and triggers read. One row.
CREATE TABLE app_private.settings (
    singleton             boolean PRIMARY KEY DEFAULT true CONSTRAINT settings_singleton_check CHECK (singleton),
    max_sessions_per_user integer NOT NULL DEFAULT 5
                          CONSTRAINT settings_max_sessions_per_user_check CHECK (max_sessions_per_user BETWEEN 1 AND 10000),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
INSERT INTO app_private.settings DEFAULT VALUES;

-- WHATSAPP_MAX_SESSIONS_PER_USER, race-free: inserts for one user queue on a transaction-scoped
-- advisory lock, and each counts again after getting it (in READ COMMITTED every statement sees what
-- committed before it started, so the second of two concurrent inserts counts the first). Runs as
-- the owner, so it counts all of the user's rows whoever inserts. The error carries the constraint
-- name the store maps to `StoreError::LimitReached` and the limit as its DETAIL.
CREATE FUNCTION app_private.whatsapp_sessions_enforce_limit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_limit integer;
    v_count bigint;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('rarity.whatsapp_sessions.user.' || NEW.user_id::text, 0));
    SELECT s.max_sessions_per_user INTO v_limit FROM app_private.settings s WHERE s.singleton;
    v_limit := coalesce(v_limit, 5);
    SELECT count(*) INTO v_count FROM public.whatsapp_sessions w WHERE w.user_id = NEW.user_id;
    IF v_count >= v_limit THEN
        RAISE EXCEPTION 'you can link at most % WhatsApp accounts', v_limit
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'whatsapp_sessions_per_user_limit',
                  DETAIL = v_limit::text;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER whatsapp_sessions_enforce_limit BEFORE INSERT ON public.whatsapp_sessions
    FOR EACH ROW EXECUTE FUNCTION app_private.whatsapp_sessions_enforce_limit();

-- Private whatever the database's default privileges are (see migration …04).
REVOKE ALL ON app_private.settings FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION app_private.whatsapp_sessions_enforce_limit() FROM PUBLIC, anon, authenticated, service_role;
