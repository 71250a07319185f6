-- Each user's event log: what their dashboards must learn (messages stored, statuses moved,
-- accounts changed), one row per event, written in the same transaction as the change it reports.
-- A browser tab remembers the id of the last event it saw (its cursor) and, when it reconnects
-- (a network blip, a server restart), asks for everything after it: nothing skipped, nothing
-- doubled.
--
-- Ids come from a sequence, and sequences hand out ids in call order, not commit order: two
-- transactions could commit ids 11 and 10 in that order and a reader that saw 11 would skip 10.
-- So appending takes a per-user advisory lock held to the end of the transaction: one user's
-- events are appended one transaction at a time, and their ids grow in commit order.
--
-- Appending also sends `NOTIFY rarity_user_events, '<user id>:<last id>'`, which PostgreSQL
-- delivers only when the transaction commits: every server instance listening wakes the sockets
-- of that user, which then read the log after their cursor.
--
-- Users read their own log (RLS); nobody but the server writes it, through
-- app_api.append_user_events. Old events are pruned (app_api.prune_user_events): a tab that was
-- away longer than the retention reloads its page instead of catching up.

CREATE TABLE public.user_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    account_id uuid REFERENCES public.whatsapp_sessions (id) ON DELETE CASCADE,
    kind       text NOT NULL CONSTRAINT user_events_kind_check
               CHECK (kind IN ('message', 'message_status', 'account', 'account_removed')),
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_events_user_id_id_idx ON public.user_events (user_id, id);
CREATE INDEX user_events_created_at_idx ON public.user_events (created_at);

ALTER TABLE public.user_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can read their own events"
    ON public.user_events FOR SELECT TO authenticated
    USING (user_id = (SELECT auth.uid()));
REVOKE ALL ON public.user_events FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT ON public.user_events TO authenticated;

-- Appends events for one user in order; returns the id of the last one (NULL when none).
CREATE FUNCTION app_api.append_user_events(
    p_user_id uuid, p_account_ids uuid[], p_kinds text[], p_payloads jsonb[]
) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_last bigint;
    i integer;
BEGIN
    IF coalesce(array_length(p_kinds, 1), 0) = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('user_events:' || p_user_id::text, 0));
    FOR i IN 1 .. array_length(p_kinds, 1) LOOP
        INSERT INTO public.user_events (user_id, account_id, kind, payload)
        VALUES (p_user_id, p_account_ids[i], p_kinds[i], p_payloads[i])
        RETURNING id INTO v_last;
    END LOOP;
    PERFORM pg_notify('rarity_user_events', p_user_id::text || ':' || v_last::text);
    RETURN v_last;
END
$$;

-- The owner of an account (for appending its events from the system path).
CREATE FUNCTION app_api.whatsapp_account_owner(p_session_id uuid) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$ SELECT s.user_id FROM public.whatsapp_sessions s WHERE s.id = p_session_id $$;

-- Deletes events older than p_age, in bounded batches; returns how many.
CREATE FUNCTION app_api.prune_user_events(p_age interval, p_batch integer) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_total bigint := 0;
    v_n bigint;
BEGIN
    LOOP
        DELETE FROM public.user_events e
        WHERE e.id IN (SELECT o.id FROM public.user_events o
                       WHERE o.created_at < now() - p_age
                       ORDER BY o.id LIMIT p_batch);
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_total := v_total + v_n;
        EXIT WHEN v_n < p_batch;
    END LOOP;
    RETURN v_total;
END
$$;

REVOKE ALL ON FUNCTION app_api.append_user_events(uuid, uuid[], text[], jsonb[]),
                       app_api.whatsapp_account_owner(uuid),
                       app_api.prune_user_events(interval, integer)
    FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION app_api.append_user_events(uuid, uuid[], text[], jsonb[]),
                          app_api.whatsapp_account_owner(uuid),
                          app_api.prune_user_events(interval, integer)
    TO rarity_app;
