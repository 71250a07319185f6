-- The session engine's secrets (WhatsApp credentials and Signal keys) and its narrow system path.
--
-- Both tables live in `app_private`, which no API role can read. Every value arrives already
-- encrypted by the store (AES-256-GCM under SESSION_ENCRYPTION_KEY, the row's identity bound in as
-- associated data), with `key_id` naming the key so that start-up can refuse a wrong key and
-- `server rotate-key` can re-encrypt. The engine reaches them only through the SECURITY DEFINER
-- functions below (empty search_path, EXECUTE for `rarity_app` only), as the accounts do (…03).
-- Everything a user may see about an account is in `public.whatsapp_sessions`, under RLS.

CREATE TABLE app_private.whatsapp_credentials (
    session_id uuid PRIMARY KEY REFERENCES public.whatsapp_sessions (id) ON DELETE CASCADE,
    key_id     text NOT NULL CONSTRAINT whatsapp_credentials_key_id_check CHECK (key_id ~ '^[0-9a-f]{16}$'),
    nonce      bytea NOT NULL CONSTRAINT whatsapp_credentials_nonce_check CHECK (octet_length(nonce) = 12),
    ciphertext bytea NOT NULL CONSTRAINT whatsapp_credentials_ciphertext_check CHECK (octet_length(ciphertext) >= 16),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Start-up asks "is anything under another key?" in O(log n) (see whatsapp_other_key_id).
CREATE INDEX whatsapp_credentials_key_id_idx ON app_private.whatsapp_credentials (key_id);

CREATE TABLE app_private.whatsapp_keys (
    session_id uuid NOT NULL REFERENCES public.whatsapp_sessions (id) ON DELETE CASCADE,
    kind       text NOT NULL CONSTRAINT whatsapp_keys_kind_check
               CHECK (kind IN ('pre-key', 'signed-pre-key', 'session', 'identity', 'sender-key',
                               'app-state-key', 'device-list')),
    name       text NOT NULL CONSTRAINT whatsapp_keys_name_check CHECK (char_length(name) BETWEEN 1 AND 512),
    key_id     text NOT NULL CONSTRAINT whatsapp_keys_key_id_check CHECK (key_id ~ '^[0-9a-f]{16}$'),
    nonce      bytea NOT NULL CONSTRAINT whatsapp_keys_nonce_check CHECK (octet_length(nonce) = 12),
    ciphertext bytea NOT NULL CONSTRAINT whatsapp_keys_ciphertext_check CHECK (octet_length(ciphertext) >= 16),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, kind, name)
);
CREATE INDEX whatsapp_keys_key_id_idx ON app_private.whatsapp_keys (key_id);

-- Accounts the engine reconnects at start-up: linked (credentials stored) and not expired.
CREATE FUNCTION app_api.whatsapp_accounts_to_start()
    RETURNS TABLE (session_id uuid, user_id uuid, status text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT s.id, s.user_id, coalesce(s.status, 'inactive')
        FROM public.whatsapp_sessions s
        JOIN app_private.whatsapp_credentials c ON c.session_id = s.id
        WHERE s.status IS DISTINCT FROM 'expired'
        ORDER BY s.created_at, s.id
    $$;

-- One account, whoever owns it (the engine acts for every user).
CREATE FUNCTION app_api.whatsapp_account(p_session_id uuid)
    RETURNS TABLE (session_id uuid, user_id uuid, status text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT s.id, s.user_id, coalesce(s.status, 'inactive')
        FROM public.whatsapp_sessions s
        WHERE s.id = p_session_id
    $$;

-- The encrypted credentials of one account (no row: not linked).
CREATE FUNCTION app_api.whatsapp_load_credentials(p_session_id uuid)
    RETURNS TABLE (key_id text, nonce bytea, ciphertext bytea)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT c.key_id, c.nonce, c.ciphertext
        FROM app_private.whatsapp_credentials c
        WHERE c.session_id = p_session_id
    $$;

-- Encrypted keys of one kind by name; names that are not stored have no row.
CREATE FUNCTION app_api.whatsapp_load_keys(p_session_id uuid, p_kind text, p_names text[])
    RETURNS TABLE (name text, key_id text, nonce bytea, ciphertext bytea)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT k.name, k.key_id, k.nonce, k.ciphertext
        FROM app_private.whatsapp_keys k
        WHERE k.session_id = p_session_id AND k.kind = p_kind AND k.name = ANY (p_names)
    $$;

-- The secret half of one engine commit: new credentials (when p_creds_ciphertext is not NULL), key
-- upserts (parallel arrays) and key deletions (parallel arrays). The account must belong to
-- p_user_id, so the engine cannot write one user's secrets while acting for another; otherwise the
-- error carries the constraint name `whatsapp_sessions_owner` (the store's NotFound). The caller's
-- transaction also holds the commit's messages, so both land or neither does.
CREATE FUNCTION app_api.whatsapp_write_secrets(
    p_session_id uuid, p_user_id uuid,
    p_creds_key_id text, p_creds_nonce bytea, p_creds_ciphertext bytea,
    p_kinds text[], p_names text[], p_key_ids text[], p_nonces bytea[], p_ciphertexts bytea[],
    p_delete_kinds text[], p_delete_names text[]
) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    PERFORM 1 FROM public.whatsapp_sessions s WHERE s.id = p_session_id AND s.user_id = p_user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such WhatsApp account for this user'
            USING ERRCODE = 'no_data_found', CONSTRAINT = 'whatsapp_sessions_owner';
    END IF;
    IF p_creds_ciphertext IS NOT NULL THEN
        INSERT INTO app_private.whatsapp_credentials AS c (session_id, key_id, nonce, ciphertext)
        VALUES (p_session_id, p_creds_key_id, p_creds_nonce, p_creds_ciphertext)
        ON CONFLICT (session_id) DO UPDATE
            SET key_id = EXCLUDED.key_id, nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext,
                updated_at = now();
    END IF;
    IF cardinality(p_kinds) > 0 THEN
        INSERT INTO app_private.whatsapp_keys AS k (session_id, kind, name, key_id, nonce, ciphertext)
        SELECT p_session_id, w.kind, w.name, w.key_id, w.nonce, w.ciphertext
        FROM unnest(p_kinds, p_names, p_key_ids, p_nonces, p_ciphertexts) AS w (kind, name, key_id, nonce, ciphertext)
        ON CONFLICT (session_id, kind, name) DO UPDATE
            SET key_id = EXCLUDED.key_id, nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext,
                updated_at = now();
    END IF;
    IF cardinality(p_delete_kinds) > 0 THEN
        DELETE FROM app_private.whatsapp_keys k
        USING unnest(p_delete_kinds, p_delete_names) AS d (kind, name)
        WHERE k.session_id = p_session_id AND k.kind = d.kind AND k.name = d.name;
    END IF;
END
$$;

-- Logged out / device removed: the account's credentials and every key go, and it is no longer
-- linked (linked_at cleared). The account row, its status and its messages stay.
CREATE FUNCTION app_api.whatsapp_wipe_credentials(p_session_id uuid) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        DELETE FROM app_private.whatsapp_keys k WHERE k.session_id = p_session_id;
        DELETE FROM app_private.whatsapp_credentials c WHERE c.session_id = p_session_id;
        UPDATE public.whatsapp_sessions s SET linked_at = NULL WHERE s.id = p_session_id AND s.linked_at IS NOT NULL;
    $$;

-- The engine's path for the connection state users may read but not write. NULL = keep;
-- p_touch_last_seen sets last_seen to now. False when the account does not exist.
CREATE FUNCTION app_api.whatsapp_update_session(
    p_session_id uuid, p_status text, p_status_reason text, p_status_message text,
    p_phone_number text, p_jid text, p_lid text, p_push_name text, p_linked_at timestamptz,
    p_touch_last_seen boolean
) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    UPDATE public.whatsapp_sessions s SET
        status         = coalesce(p_status, s.status),
        status_reason  = coalesce(p_status_reason, s.status_reason),
        status_message = coalesce(p_status_message, s.status_message),
        phone_number   = coalesce(p_phone_number, s.phone_number),
        jid            = coalesce(p_jid, s.jid),
        lid            = coalesce(p_lid, s.lid),
        push_name      = coalesce(p_push_name, s.push_name),
        linked_at      = coalesce(p_linked_at, s.linked_at),
        last_seen      = CASE WHEN p_touch_last_seen THEN now() ELSE s.last_seen END
    WHERE s.id = p_session_id;
    RETURN FOUND;
END
$$;

-- Key ids in use and how many rows each encrypts (diagnostics, rotation reports).
CREATE FUNCTION app_api.whatsapp_key_ids() RETURNS TABLE (key_id text, rows bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT u.key_id, count(*)
        FROM (SELECT c.key_id FROM app_private.whatsapp_credentials c
              UNION ALL
              SELECT k.key_id FROM app_private.whatsapp_keys k) u
        GROUP BY u.key_id
        ORDER BY 2 DESC, 1
    $$;

-- Start-up check: some stored key id other than p_key_id, or NULL. Four index probes, whatever
-- the number of rows.
CREATE FUNCTION app_api.whatsapp_other_key_id(p_key_id text) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT o.key_id FROM (
            (SELECT c.key_id FROM app_private.whatsapp_credentials c WHERE c.key_id < p_key_id LIMIT 1)
            UNION ALL
            (SELECT c.key_id FROM app_private.whatsapp_credentials c WHERE c.key_id > p_key_id LIMIT 1)
            UNION ALL
            (SELECT k.key_id FROM app_private.whatsapp_keys k WHERE k.key_id < p_key_id LIMIT 1)
            UNION ALL
            (SELECT k.key_id FROM app_private.whatsapp_keys k WHERE k.key_id > p_key_id LIMIT 1)
        ) o
        LIMIT 1
    $$;

-- Rotation, step 1: the accounts that have any secret.
CREATE FUNCTION app_api.whatsapp_sessions_with_secrets() RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT c.session_id FROM app_private.whatsapp_credentials c
        UNION
        SELECT k.session_id FROM app_private.whatsapp_keys k
        ORDER BY 1
    $$;

-- Rotation, step 2: every secret row of one account, locked until the caller's transaction ends.
-- The credentials row has kind 'credentials' and name ''.
CREATE FUNCTION app_api.whatsapp_lock_secrets(p_session_id uuid)
    RETURNS TABLE (kind text, name text, key_id text, nonce bytea, ciphertext bytea)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    RETURN QUERY
        SELECT 'credentials'::text, ''::text, c.key_id, c.nonce, c.ciphertext
        FROM app_private.whatsapp_credentials c
        WHERE c.session_id = p_session_id
        FOR UPDATE;
    RETURN QUERY
        SELECT k.kind, k.name, k.key_id, k.nonce, k.ciphertext
        FROM app_private.whatsapp_keys k
        WHERE k.session_id = p_session_id
        ORDER BY k.kind, k.name
        FOR UPDATE;
END
$$;

-- Rotation, step 3: replace existing rows' ciphertexts (never inserts, so a row deleted meanwhile
-- stays deleted). Same row naming as whatsapp_lock_secrets. Returns the number of rows changed.
CREATE FUNCTION app_api.whatsapp_reencrypt_secrets(
    p_session_id uuid, p_kinds text[], p_names text[], p_key_ids text[], p_nonces bytea[], p_ciphertexts bytea[]
) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_creds bigint;
    v_keys bigint;
BEGIN
    UPDATE app_private.whatsapp_credentials c
    SET key_id = w.key_id, nonce = w.nonce, ciphertext = w.ciphertext, updated_at = now()
    FROM unnest(p_kinds, p_names, p_key_ids, p_nonces, p_ciphertexts) AS w (kind, name, key_id, nonce, ciphertext)
    WHERE c.session_id = p_session_id AND w.kind = 'credentials';
    GET DIAGNOSTICS v_creds = ROW_COUNT;
    UPDATE app_private.whatsapp_keys k
    SET key_id = w.key_id, nonce = w.nonce, ciphertext = w.ciphertext, updated_at = now()
    FROM unnest(p_kinds, p_names, p_key_ids, p_nonces, p_ciphertexts) AS w (kind, name, key_id, nonce, ciphertext)
    WHERE k.session_id = p_session_id AND k.kind = w.kind AND k.name = w.name;
    GET DIAGNOSTICS v_keys = ROW_COUNT;
    RETURN v_creds + v_keys;
END
$$;

-- The outbox only takes messages for linked accounts (credentials stored), whoever inserts them
-- (the store's message_enqueue, or a PostgREST client). The store maps the constraint name to
-- `StoreError::NotLinked`.
CREATE FUNCTION app_private.whatsapp_messages_require_link() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM app_private.whatsapp_credentials c WHERE c.session_id = NEW.session_id) THEN
        RAISE EXCEPTION 'this WhatsApp account is not linked'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'whatsapp_messages_session_linked';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER whatsapp_messages_require_link BEFORE INSERT ON public.whatsapp_messages
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION app_private.whatsapp_messages_require_link();

-- Private whatever the database's default privileges are (…04's lesson), and callable only by the
-- runtime role.
REVOKE ALL ON app_private.whatsapp_credentials, app_private.whatsapp_keys
    FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA app_private FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA app_api FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA app_api TO rarity_app;
