-- Appending a commit's events is one INSERT instead of one per event.
--
-- app_api.append_user_events holds the user's event-ordering lock from its first insert to the
-- end of the transaction, so every microsecond spent inside it serialises all of one user's
-- accounts (engine commits, sends, state changes). The loop of single-row INSERTs was most of that
-- time for a 64-message batch. The ids are now drawn from the table's sequence first, in order
-- (nextval over an ordered series: each call returns more than the one before in this session,
-- and the lock keeps other appenders for this user out), and the rows are inserted with them in
-- one statement. Everything else (the lock, the webhook fan-out, the NOTIFY) is as before.

CREATE OR REPLACE FUNCTION app_api.append_user_events(
    p_user_id uuid, p_account_ids uuid[], p_kinds text[], p_payloads jsonb[]
) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_n integer := coalesce(array_length(p_kinds, 1), 0);
    v_seq regclass := pg_get_serial_sequence('public.user_events', 'id')::regclass;
    v_ids bigint[];
BEGIN
    IF v_n = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('user_events:' || p_user_id::text, 0));
    SELECT array_agg(nextval(v_seq) ORDER BY g)
      INTO v_ids
      FROM generate_series(1, v_n) AS g;
    INSERT INTO public.user_events (id, user_id, account_id, kind, payload)
        OVERRIDING SYSTEM VALUE
    SELECT v_ids[e.n], p_user_id, e.account_id, e.kind, e.payload
    FROM unnest(p_account_ids, p_kinds, p_payloads) WITH ORDINALITY AS e(account_id, kind, payload, n);
    IF EXISTS (SELECT 1 FROM public.webhooks w WHERE w.user_id = p_user_id AND w.enabled) THEN
        PERFORM app_private.webhook_enqueue(
            p_user_id,
            array_agg(CASE e.kind
                          WHEN 'message' THEN CASE WHEN e.payload->>'direction' = 'in'
                                                   THEN 'message.inbound' ELSE 'message.outbound' END
                          WHEN 'message_status' THEN 'message.status'
                          WHEN 'account' THEN 'account.state'
                          WHEN 'account_removed' THEN 'account.deleted'
                      END ORDER BY e.n),
            array_agg(CASE WHEN e.kind IN ('message', 'message_status')
                           THEN 'chat:' || coalesce(e.account_id::text, '') || ':'
                                || coalesce(e.payload->>'phone_number', e.payload->>'id', '')
                           ELSE 'account:' || coalesce(e.account_id::text, e.payload->>'id', '') END
                      ORDER BY e.n),
            array_agg(e.payload ORDER BY e.n),
            array_agg('evt_' || e.id::text ORDER BY e.n))
        FROM unnest(p_kinds, p_account_ids, p_payloads, v_ids) WITH ORDINALITY AS e(kind, account_id, payload, id, n);
    END IF;
    PERFORM pg_notify('rarity_user_events', p_user_id::text || ':' || v_ids[v_n]::text);
    RETURN v_ids[v_n];
END
$$;
