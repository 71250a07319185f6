-- Retention purge and erasure, as SECURITY DEFINER functions the runtime role calls (EXECUTE for
-- `rarity_app` only, like the engine's): they act for a given user and check ownership themselves.
--
-- - Purge runs in bounded batches, each its own short transaction: a batch picks at most
--   p_batch rows `FOR UPDATE SKIP LOCKED`, so two server instances (or two runs) purging at once
--   take disjoint rows and never wait on each other or on a sender holding a row.
-- - Erasing a lead removes every row about that person: their messages (outbox rows included,
--   found by lead, by number, and by the WhatsApp addresses they were seen under), the Signal
--   sessions and identities held for their devices, the consent ledger, event-log entries that
--   mention them, and the lead. What stays is the suppression-list hash (if they opted out) and
--   an audit entry with counts only.
-- - Deleting a user deletes `auth.users`, which cascades to everything they own; their audit log
--   is replaced by one `account_deleted` entry with counts and no user id.

-- The purge's scan per account and age.
CREATE INDEX whatsapp_messages_session_id_created_at_idx ON public.whatsapp_messages (session_id, created_at);
-- Messages from a contact known only by LID (no number, maybe no lead), for erasure.
CREATE INDEX whatsapp_messages_contact_lid_idx ON public.whatsapp_messages (contact_lid)
    WHERE phone_number IS NULL AND contact_lid IS NOT NULL;
-- Closed leads by age.
CREATE INDEX leads_closed_updated_at_idx ON public.leads (user_id, updated_at) WHERE status IN ('won', 'lost');

-- The user part of a JID, LID or Signal address: `447700900001:3@s.whatsapp.net`,
-- `123@lid`, `447700900001.0`, `123@lid.2` → `447700900001` / `123`.
CREATE FUNCTION app_private.address_user(p_address text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = ''
    AS $$
        SELECT split_part(split_part(split_part(p_address, '@', 1), ':', 1), '.', 1)
    $$;

-- Erases one lead of p_user_id. p_audit_action is the audit entry to write ('lead_erased'), or
-- NULL when the caller logs for itself (the retention purge). Returns the counts.
CREATE FUNCTION app_private.erase_lead(p_user_id uuid, p_lead_id uuid, p_audit_action text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_phone text;
    v_sessions uuid[];
    v_addresses text[];
    v_users text[];
    v_messages bigint;
    v_message_ids text[];
    v_keys bigint;
    v_ledger bigint;
    v_events bigint := 0;
    v_n bigint;
    v_user text;
    v_counts jsonb;
BEGIN
    SELECT l.phone INTO v_phone FROM public.leads l
    WHERE l.id = p_lead_id AND l.user_id = p_user_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such lead' USING ERRCODE = 'no_data_found', CONSTRAINT = 'leads_owner';
    END IF;
    -- A send to this number waits for the erasure (and then finds no lead, or the suppression).
    PERFORM app_private.lock_recipient(p_user_id, v_phone);
    SELECT coalesce(array_agg(s.id), '{}') INTO v_sessions
    FROM public.whatsapp_sessions s WHERE s.user_id = p_user_id;

    -- Every address the contact was seen under (phone-number JID, LID), then every message from,
    -- to or about them.
    SELECT coalesce(array_agg(DISTINCT a.address), '{}') INTO v_addresses
    FROM public.whatsapp_messages m
    CROSS JOIN LATERAL (VALUES (m.contact_jid), (m.contact_lid)) AS a (address)
    WHERE m.session_id = ANY (v_sessions)
      AND (m.lead_id = p_lead_id OR m.phone_number = v_phone)
      AND a.address IS NOT NULL;
    SELECT coalesce(array_agg(DISTINCT app_private.address_user(x)), '{}') INTO v_users
    FROM unnest(v_addresses || ARRAY[ltrim(v_phone, '+')]) AS x;

    WITH gone AS (
        DELETE FROM public.whatsapp_messages m
        WHERE m.session_id = ANY (v_sessions)
          AND (m.lead_id = p_lead_id
               OR m.phone_number = v_phone
               OR (m.phone_number IS NULL AND m.contact_lid IS NOT NULL AND m.contact_lid = ANY (v_addresses)))
        RETURNING m.id
    )
    SELECT coalesce(array_agg(g.id::text), '{}'), count(*) INTO v_message_ids, v_messages FROM gone g;

    -- Signal sessions, identities and device lists of their devices (names are Signal addresses
    -- or JID users); our own keys (pre-keys, signed pre-key, app-state keys) are not theirs.
    DELETE FROM app_private.whatsapp_keys k
    WHERE k.session_id = ANY (v_sessions)
      AND k.kind IN ('session', 'identity', 'device-list', 'sender-key')
      AND app_private.address_user(k.name) = ANY (v_users);
    GET DIAGNOSTICS v_keys = ROW_COUNT;

    DELETE FROM public.consent_events e WHERE e.lead_id = p_lead_id;
    GET DIAGNOSTICS v_ledger = ROW_COUNT;

    -- The dashboard's event log (when it exists) carries copies of messages and leads: events
    -- about one of the deleted messages (payload id), or mentioning the lead or their addresses.
    IF to_regclass('public.user_events') IS NOT NULL THEN
        EXECUTE 'DELETE FROM public.user_events e USING unnest($2::text[]) AS d (id) '
                'WHERE e.user_id = $1 AND e.payload ->> ''id'' = d.id'
            USING p_user_id, v_message_ids;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_events := v_events + v_n;
        EXECUTE 'DELETE FROM public.user_events e WHERE e.user_id = $1 AND strpos(e.payload::text, $2) > 0'
            USING p_user_id, p_lead_id::text;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_events := v_events + v_n;
        FOREACH v_user IN ARRAY v_users LOOP
            EXECUTE 'DELETE FROM public.user_events e WHERE e.user_id = $1 AND strpos(e.payload::text, $2) > 0'
                USING p_user_id, v_user;
            GET DIAGNOSTICS v_n = ROW_COUNT;
            v_events := v_events + v_n;
        END LOOP;
    END IF;

    DELETE FROM public.leads l WHERE l.id = p_lead_id;

    v_counts := jsonb_build_object(
        'messages', v_messages,
        'signal_keys', v_keys,
        'consent_records', v_ledger,
        'events', v_events,
        'still_suppressed', EXISTS (SELECT 1 FROM app_private.suppressions s
                                    WHERE s.user_id = p_user_id
                                      AND s.phone_hash = app_private.phone_hash(p_user_id, v_phone)));
    IF p_audit_action IS NOT NULL THEN
        PERFORM app_private.audit(p_user_id, p_audit_action, v_counts);
    END IF;
    RETURN v_counts;
END
$$;

CREATE FUNCTION app_api.erase_lead(p_user_id uuid, p_lead_id uuid) RETURNS jsonb
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$ SELECT app_private.erase_lead(p_user_id, p_lead_id, 'lead_erased') $$;

-- Deletes the user and everything they own (foreign keys cascade from auth.users); their audit log
-- becomes one entry without a user id.
CREATE FUNCTION app_api.delete_user(p_user_id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_counts jsonb;
BEGIN
    SELECT jsonb_build_object(
        'leads', (SELECT count(*) FROM public.leads l WHERE l.user_id = p_user_id),
        'accounts', (SELECT count(*) FROM public.whatsapp_sessions s WHERE s.user_id = p_user_id),
        'messages', (SELECT count(*) FROM public.whatsapp_messages m
                     JOIN public.whatsapp_sessions s ON s.id = m.session_id
                     WHERE s.user_id = p_user_id))
    INTO v_counts;
    DELETE FROM auth.users u WHERE u.id = p_user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such user' USING ERRCODE = 'no_data_found', CONSTRAINT = 'users_owner';
    END IF;
    DELETE FROM public.audit_log a WHERE a.user_id = p_user_id;
    PERFORM app_private.audit(NULL, 'account_deleted', v_counts);
    RETURN v_counts;
END
$$;

-- One purge batch of messages past each user's retention: at most p_batch rows, oldest first per
-- account, skipping rows another transaction holds. Queued rows (not sent yet) are not purged.
-- Returns how many were deleted per user.
CREATE FUNCTION app_api.retention_purge_messages(p_batch integer) RETURNS TABLE (user_id uuid, deleted bigint)
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        WITH doomed AS (
            SELECT old.id, s.user_id
            FROM public.privacy_settings p
            JOIN public.whatsapp_sessions s ON s.user_id = p.user_id
            CROSS JOIN LATERAL (
                SELECT m.id FROM public.whatsapp_messages m
                WHERE m.session_id = s.id
                  AND m.created_at < now() - make_interval(days => p.retention_messages_days)
                  AND m.status <> 'queued'
                ORDER BY m.created_at
                LIMIT p_batch
                FOR UPDATE OF m SKIP LOCKED
            ) old
            WHERE p.retention_messages_days IS NOT NULL
            LIMIT p_batch
        ), gone AS (
            DELETE FROM public.whatsapp_messages m USING doomed d WHERE m.id = d.id RETURNING d.user_id
        )
        SELECT g.user_id, count(*) FROM gone g GROUP BY g.user_id
    $$;

-- One purge batch of closed leads (won or lost, unchanged for longer than the user's retention):
-- each is erased as "Erase this lead" does. One row per erased lead.
CREATE FUNCTION app_api.retention_purge_leads(p_batch integer) RETURNS TABLE (user_id uuid, messages bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT l.id, l.user_id
        FROM public.leads l
        JOIN public.privacy_settings p ON p.user_id = l.user_id
        WHERE p.retention_closed_leads_days IS NOT NULL
          AND l.status IN ('won', 'lost')
          AND l.updated_at < now() - make_interval(days => p.retention_closed_leads_days)
        ORDER BY l.updated_at
        LIMIT p_batch
        FOR UPDATE OF l SKIP LOCKED
    LOOP
        user_id := r.user_id;
        messages := (app_private.erase_lead(r.user_id, r.id, NULL) ->> 'messages')::bigint;
        RETURN NEXT;
    END LOOP;
END
$$;

-- What one purge run did for one user, in their audit log.
CREATE FUNCTION app_api.audit_retention_purge(p_user_id uuid, p_details jsonb) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$ SELECT app_private.audit(p_user_id, 'retention_purge', p_details) $$;

REVOKE ALL ON FUNCTION app_private.address_user(text),
                       app_private.erase_lead(uuid, uuid, text)
    FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION app_api.erase_lead(uuid, uuid),
                       app_api.delete_user(uuid),
                       app_api.retention_purge_messages(integer),
                       app_api.retention_purge_leads(integer),
                       app_api.audit_retention_purge(uuid, jsonb)
    FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION app_api.erase_lead(uuid, uuid),
                          app_api.delete_user(uuid),
                          app_api.retention_purge_messages(integer),
                          app_api.retention_purge_leads(integer),
                          app_api.audit_retention_purge(uuid, jsonb)
    TO rarity_app;
