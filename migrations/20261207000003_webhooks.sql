-- Webhooks: per user, an https endpoint, a signing secret and the event types it wants.
--
-- Every event becomes one row of public.webhook_deliveries per endpoint that subscribed to it,
-- written in the SAME transaction as the change it reports (the message stored, the status moved,
-- the opt-out recorded, the campaign paused): a committed change always has its deliveries, a
-- rolled-back one never does. The server's delivery worker (server/src/webhooks) claims due rows
-- on any instance (SKIP LOCKED plus a lease), posts them signed (Standard Webhooks headers), and
-- settles them: delivered, or retried with exponential backoff for a day, then failed.
--
-- Ordering: each delivery carries an ordering key (one conversation, one account, one lead, one
-- campaign). A delivery is claimed only when no earlier delivery of the same endpoint and key is
-- still pending, so a receiver sees a conversation's events in the order they happened even
-- across retries; different conversations never wait for each other.
--
-- The secret is kept beside the endpoint in a column users cannot read back (column grants, as
-- api_keys.key_hash): it is shown once when created. It is a signing key the receiver holds in
-- clear as well; it is not encrypted with SESSION_ENCRYPTION_KEY (see ARCHITECTURE.md).

CREATE TABLE public.webhooks (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL DEFAULT auth.uid() REFERENCES auth.users (id) ON DELETE CASCADE,
    url         text NOT NULL CONSTRAINT webhooks_url_check
                CHECK (char_length(url) <= 2000 AND url ~ '^https?://[^/?#@\s]+'),
    description text CONSTRAINT webhooks_description_check CHECK (char_length(description) <= 200),
    event_types text[] NOT NULL CONSTRAINT webhooks_event_types_check
                CHECK (cardinality(event_types) BETWEEN 1 AND 9
                       AND event_types <@ ARRAY['message.inbound', 'message.outbound', 'message.status',
                                                'account.state', 'account.deleted', 'consent.opt_out',
                                                'consent.opt_in', 'campaign.progress']),
    enabled     boolean NOT NULL DEFAULT true,
    secret      text NOT NULL CONSTRAINT webhooks_secret_check CHECK (secret ~ '^whsec_[A-Za-z0-9+/=]{32,88}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_user_id_idx ON public.webhooks (user_id, created_at);
CREATE TRIGGER webhooks_set_updated_at BEFORE UPDATE ON public.webhooks
    FOR EACH ROW EXECUTE FUNCTION public.rarity_set_updated_at();

ALTER TABLE public.webhooks ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can manage their own webhooks"
    ON public.webhooks FOR ALL TO authenticated
    USING (user_id = (SELECT auth.uid()))
    WITH CHECK (user_id = (SELECT auth.uid()));
REVOKE ALL ON public.webhooks FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT (id, user_id, url, description, event_types, enabled, created_at, updated_at),
      INSERT (url, description, event_types, enabled, secret),
      UPDATE (url, description, event_types, enabled, secret),
      DELETE
    ON public.webhooks TO authenticated;

CREATE FUNCTION app_private.webhooks_enforce_limit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    IF (SELECT count(*) FROM public.webhooks w WHERE w.user_id = NEW.user_id) >= 10 THEN
        RAISE EXCEPTION 'you can have at most 10 webhooks'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'webhooks_per_user_quota', DETAIL = '10';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION app_private.webhooks_enforce_limit() FROM PUBLIC, anon, authenticated, service_role;
CREATE TRIGGER webhooks_enforce_limit BEFORE INSERT ON public.webhooks
    FOR EACH ROW EXECUTE FUNCTION app_private.webhooks_enforce_limit();

CREATE TABLE public.webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      uuid NOT NULL REFERENCES public.webhooks (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    -- The `webhook-id` header: the same for a redelivery of the same event (receivers dedupe on it).
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    ordering_key    text NOT NULL,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CONSTRAINT webhook_deliveries_state_check CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until    timestamptz,
    last_attempt_at timestamptz,
    response_status integer,
    last_error      text CONSTRAINT webhook_deliveries_last_error_check CHECK (char_length(last_error) <= 500),
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_due_idx ON public.webhook_deliveries (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order_idx
    ON public.webhook_deliveries (webhook_id, ordering_key, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_log_idx ON public.webhook_deliveries (webhook_id, id DESC);
CREATE INDEX webhook_deliveries_user_id_idx ON public.webhook_deliveries (user_id);
CREATE INDEX webhook_deliveries_created_at_idx ON public.webhook_deliveries (created_at);

ALTER TABLE public.webhook_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can read their own webhook deliveries"
    ON public.webhook_deliveries FOR SELECT TO authenticated
    USING (user_id = (SELECT auth.uid()));
REVOKE ALL ON public.webhook_deliveries FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT ON public.webhook_deliveries TO authenticated;

-- A delivery carries a copy of what it reports, so it goes when the original goes: a message
-- deleted (erasure, retention, a deleted account) or a consent record erased takes its
-- deliveries with it, pending or not.
CREATE INDEX webhook_deliveries_message_idx ON public.webhook_deliveries ((payload->>'id'))
    WHERE event_type IN ('message.inbound', 'message.outbound', 'message.status');
CREATE INDEX webhook_deliveries_event_id_idx ON public.webhook_deliveries (event_id);

CREATE FUNCTION app_private.messages_forget_webhook_deliveries() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM public.webhook_deliveries LIMIT 1) THEN
        DELETE FROM public.webhook_deliveries d USING gone g
        WHERE d.payload->>'id' = g.id::text
          AND d.event_type IN ('message.inbound', 'message.outbound', 'message.status');
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app_private.messages_forget_webhook_deliveries() FROM PUBLIC, anon, authenticated, service_role;
CREATE TRIGGER whatsapp_messages_forget_webhook_deliveries AFTER DELETE ON public.whatsapp_messages
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION app_private.messages_forget_webhook_deliveries();

CREATE FUNCTION app_private.consent_forget_webhook_deliveries() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    DELETE FROM public.webhook_deliveries d USING gone g
    WHERE d.event_id = 'evt_consent_' || g.id::text;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app_private.consent_forget_webhook_deliveries() FROM PUBLIC, anon, authenticated, service_role;
CREATE TRIGGER consent_events_forget_webhook_deliveries AFTER DELETE ON public.consent_events
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION app_private.consent_forget_webhook_deliveries();

-- Fans events out to the user's enabled endpoints that subscribed to their type, in the order
-- given; returns how many deliveries it queued. The caller holds whatever lock orders its events.
CREATE FUNCTION app_private.webhook_enqueue(
    p_user_id uuid, p_types text[], p_keys text[], p_payloads jsonb[], p_event_ids text[]
) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.webhooks w WHERE w.user_id = p_user_id AND w.enabled) THEN
        RETURN 0;
    END IF;
    INSERT INTO public.webhook_deliveries (webhook_id, user_id, event_id, event_type, ordering_key, payload)
    SELECT w.id, p_user_id, e.event_id, e.event_type, e.ordering_key, e.payload
    FROM unnest(p_types, p_keys, p_payloads, p_event_ids)
             WITH ORDINALITY AS e(event_type, ordering_key, payload, event_id, n)
    JOIN public.webhooks w ON w.user_id = p_user_id AND w.enabled AND e.event_type = ANY (w.event_types)
    ORDER BY e.n, w.id;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    IF v_n > 0 THEN
        PERFORM pg_notify('rarity_webhooks', '');
    END IF;
    RETURN v_n;
END
$$;
REVOKE ALL ON FUNCTION app_private.webhook_enqueue(uuid, text[], text[], jsonb[], text[])
    FROM PUBLIC, anon, authenticated, service_role;

-- The dashboard's event log feeds the webhooks too: messages (in / out), status changes, account
-- changes and deletions. Same body as before, plus the fan-out under the same per-user lock, so
-- deliveries are numbered in commit order like the events.
CREATE OR REPLACE FUNCTION app_api.append_user_events(
    p_user_id uuid, p_account_ids uuid[], p_kinds text[], p_payloads jsonb[]
) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_last bigint;
    v_ids bigint[] := '{}';
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
        v_ids := v_ids || v_last;
    END LOOP;
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
    PERFORM pg_notify('rarity_user_events', p_user_id::text || ':' || v_last::text);
    RETURN v_last;
END
$$;

-- Opt-outs and opt-ins (the consent ledger), ordered per lead.
CREATE FUNCTION app_private.consent_webhooks() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    PERFORM app_private.webhook_enqueue(
        NEW.user_id,
        ARRAY['consent.' || NEW.kind],
        ARRAY['lead:' || NEW.lead_id::text],
        ARRAY[jsonb_build_object(
            'lead_id', NEW.lead_id,
            'phone_number', (SELECT l.phone FROM public.leads l WHERE l.id = NEW.lead_id),
            'kind', NEW.kind,
            'source', NEW.source,
            'message_id', NEW.message_id,
            'created_at', NEW.created_at)],
        ARRAY['evt_consent_' || NEW.id::text]);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app_private.consent_webhooks() FROM PUBLIC, anon, authenticated, service_role;
CREATE TRIGGER consent_events_webhooks AFTER INSERT ON public.consent_events
    FOR EACH ROW EXECUTE FUNCTION app_private.consent_webhooks();

-- A campaign's leads by outcome (the campaign page's counts): the one definition, used by the
-- store and by the campaign.progress webhook. Invoker's rights: RLS decides what a user counts.
CREATE FUNCTION public.campaign_counts(p_campaign_id uuid) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = ''
    AS $$
    SELECT jsonb_build_object(
        'total', count(*),
        'pending', count(*) FILTER (WHERE s.state = 'pending'),
        'queued', count(*) FILTER (WHERE s.state = 'queued'),
        'sent', count(*) FILTER (WHERE s.state = 'sent'),
        'delivered', count(*) FILTER (WHERE s.state = 'delivered'),
        'read', count(*) FILTER (WHERE s.state = 'read'),
        'replied', count(*) FILTER (WHERE s.state = 'replied'),
        'failed', count(*) FILTER (WHERE s.state = 'failed'),
        'skipped', count(*) FILTER (WHERE s.state NOT IN ('pending', 'queued', 'sent', 'delivered',
                                                            'read', 'replied', 'failed')))
    FROM (
        SELECT CASE WHEN cl.state <> 'queued' THEN cl.state
                    WHEN m.status = 'failed' AND m.status_reason = 'not_on_whatsapp' THEN 'skipped'
                    WHEN m.id IS NULL OR m.status = 'failed' THEN 'failed'
                    WHEN EXISTS (SELECT 1 FROM public.whatsapp_messages i
                                 WHERE i.lead_id = cl.lead_id AND i.direction = 'in'
                                   AND i.created_at > m.created_at) THEN 'replied'
                    ELSE m.status END AS state
        FROM public.campaign_leads cl
        LEFT JOIN public.whatsapp_messages m ON m.id = cl.message_row_id
        WHERE cl.campaign_id = p_campaign_id
    ) s
    $$;
REVOKE ALL ON FUNCTION public.campaign_counts(uuid) FROM PUBLIC, anon, service_role;
GRANT EXECUTE ON FUNCTION public.campaign_counts(uuid) TO authenticated;

-- campaign.progress: every change of a campaign's status (started, paused with its reason,
-- resumed, completed, cancelled), with the counts at that moment; ordered per campaign.
CREATE FUNCTION app_private.campaign_webhooks() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.status = 'draft' THEN
        RETURN NULL;
    END IF;
    PERFORM app_private.webhook_enqueue(
        NEW.user_id,
        ARRAY['campaign.progress'],
        ARRAY['campaign:' || NEW.id::text],
        ARRAY[jsonb_build_object(
            'id', NEW.id,
            'name', NEW.name,
            'status', NEW.status,
            'previous_status', CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END,
            'pause_reason', NEW.pause_reason,
            'started_at', NEW.started_at,
            'finished_at', NEW.finished_at,
            'counts', public.campaign_counts(NEW.id))],
        ARRAY['evt_campaign_' || NEW.id::text || '_' || gen_random_uuid()::text]);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app_private.campaign_webhooks() FROM PUBLIC, anon, authenticated, service_role;
-- Deferred to the end of the transaction: a campaign created running gets its leads after its
-- own row, and the counts must include them.
CREATE CONSTRAINT TRIGGER campaigns_webhooks_insert AFTER INSERT ON public.campaigns
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION app_private.campaign_webhooks();
CREATE CONSTRAINT TRIGGER campaigns_webhooks_status AFTER UPDATE OF status ON public.campaigns
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION app_private.campaign_webhooks();

-- The delivery worker's side (rarity_app): claim, settle, redeliver, prune.

-- Up to p_limit due deliveries, each the oldest pending one of its endpoint and ordering key,
-- leased for p_lease_seconds (another instance skips them meanwhile; a crashed worker's lease
-- runs out and the row is tried again). Counts the attempt.
CREATE FUNCTION app_api.webhook_claim_due(p_limit integer, p_lease_seconds integer)
    RETURNS TABLE (delivery_id bigint, webhook_id uuid, url text, secret text, event_id text,
                   event_type text, payload jsonb, attempts integer, created_at timestamptz)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT d.id
        FROM public.webhook_deliveries d
        JOIN public.webhooks w ON w.id = d.webhook_id AND w.enabled
        WHERE d.state = 'pending' AND d.next_attempt_at <= now()
          AND (d.leased_until IS NULL OR d.leased_until < now())
          AND NOT EXISTS (SELECT 1 FROM public.webhook_deliveries e
                          WHERE e.webhook_id = d.webhook_id AND e.ordering_key = d.ordering_key
                            AND e.state = 'pending' AND e.id < d.id)
        ORDER BY d.next_attempt_at, d.id
        LIMIT p_limit
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE public.webhook_deliveries d
       SET leased_until = now() + make_interval(secs => p_lease_seconds),
           attempts = d.attempts + 1,
           last_attempt_at = now()
      FROM due, public.webhooks w
     WHERE d.id = due.id AND w.id = d.webhook_id
    RETURNING d.id, d.webhook_id, w.url, w.secret, d.event_id, d.event_type, d.payload, d.attempts,
              d.created_at;
END
$$;

-- The outcome of an attempt: delivered; or pending again at p_retry_at; or, with neither, failed.
CREATE FUNCTION app_api.webhook_settle(
    p_delivery_id bigint, p_delivered boolean, p_status integer, p_error text, p_retry_at timestamptz
) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
    UPDATE public.webhook_deliveries d
       SET state = CASE WHEN p_delivered THEN 'delivered'
                        WHEN p_retry_at IS NOT NULL THEN 'pending' ELSE 'failed' END,
           response_status = p_status,
           last_error = left(p_error, 500),
           next_attempt_at = coalesce(p_retry_at, d.next_attempt_at),
           leased_until = NULL,
           delivered_at = CASE WHEN p_delivered THEN now() END
     WHERE d.id = p_delivery_id
    $$;

-- A user's "redeliver": the same event (same webhook-id) queued again at the end of its order.
CREATE FUNCTION app_api.webhook_redeliver(p_user_id uuid, p_webhook_id uuid, p_delivery_id bigint)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO public.webhook_deliveries (webhook_id, user_id, event_id, event_type, ordering_key, payload)
    SELECT d.webhook_id, d.user_id, d.event_id, d.event_type, d.ordering_key, d.payload
    FROM public.webhook_deliveries d
    WHERE d.id = p_delivery_id AND d.webhook_id = p_webhook_id AND d.user_id = p_user_id
    RETURNING id INTO v_id;
    IF v_id IS NOT NULL THEN
        PERFORM pg_notify('rarity_webhooks', '');
    END IF;
    RETURN v_id;
END
$$;

-- Deliveries settled longer than p_age ago, in bounded batches; returns how many were deleted.
CREATE FUNCTION app_api.webhook_prune(p_age interval, p_batch integer) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_total bigint := 0;
    v_n bigint;
BEGIN
    LOOP
        DELETE FROM public.webhook_deliveries d
        WHERE d.id IN (SELECT o.id FROM public.webhook_deliveries o
                       WHERE o.created_at < now() - p_age AND o.state <> 'pending'
                       ORDER BY o.created_at LIMIT p_batch);
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_total := v_total + v_n;
        EXIT WHEN v_n < p_batch;
    END LOOP;
    RETURN v_total;
END
$$;

REVOKE ALL ON FUNCTION app_api.webhook_claim_due(integer, integer),
                       app_api.webhook_settle(bigint, boolean, integer, text, timestamptz),
                       app_api.webhook_redeliver(uuid, uuid, bigint),
                       app_api.webhook_prune(interval, integer)
    FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION app_api.webhook_claim_due(integer, integer),
                          app_api.webhook_settle(bigint, boolean, integer, text, timestamptz),
                          app_api.webhook_redeliver(uuid, uuid, bigint),
                          app_api.webhook_prune(interval, integer)
    TO rarity_app;

-- The webhook backlog for /metrics: deliveries pending (all users) and the oldest one's age.
CREATE FUNCTION app_api.webhook_stats()
    RETURNS TABLE (pending bigint, oldest timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT count(*), min(d.created_at) FROM public.webhook_deliveries d WHERE d.state = 'pending'
    $$;
REVOKE ALL ON FUNCTION app_api.webhook_stats() FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION app_api.webhook_stats() TO rarity_app;
