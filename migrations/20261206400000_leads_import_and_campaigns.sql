-- Leads at scale (imported columns, WhatsApp LID identity, a bulk-friendly quota) and campaigns:
-- a template sent to a segment of leads from a set of accounts, at a safe pace, tracked per lead.
--
-- Leads
-- - fields: the extra columns of an imported CSV (`{"city": "Leeds"}`), usable as template
--   variables. A JSON object of at most 8 KiB.
-- - wa_lid: the contact's WhatsApp LID once known, so a message from a LID-addressed contact finds
--   the lead it came from (one identity per person: phone and LID). Indexed, not unique (below).
-- - The per-user lead quota moves from a row trigger (a count per inserted row: quadratic for a
--   100,000-row import) to a statement trigger that counts once per statement, after the rows are
--   in, under the same per-user advisory lock. The default limit becomes 100,000 leads.
--
-- Campaigns
-- - campaigns: the template text is copied at creation (editing or deleting the template later
--   does not change what a running campaign sends); pacing limits are per campaign with safe
--   defaults and are enforced per sending account over every campaign's sends from it.
-- - campaign_accounts: the accounts a campaign may send from (rotation across them).
-- - campaign_leads: one row per campaign × lead (the primary key makes the segment a set). A row is
--   `pending`, then either `skipped` (with its reason) or `queued`: the outbox message is inserted
--   and the row points at it in the same transaction, so a crash can never queue a lead twice.
--   Delivered / read / failed come from that message; replied is an inbound message from the lead
--   after it.
-- - campaign_account_pacing: when each account may next send a campaign message (the jitter).

ALTER TABLE public.leads
    ADD COLUMN fields jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT leads_fields_check CHECK (jsonb_typeof(fields) = 'object' AND pg_column_size(fields) <= 8192),
    ADD COLUMN wa_lid text CONSTRAINT leads_wa_lid_check CHECK (char_length(wa_lid) <= 128);
-- Not UNIQUE on purpose: an UPDATE of a column with a unique index takes the row's FOR UPDATE lock,
-- which conflicts with the KEY SHARE lock every message insert takes on its lead (the foreign
-- key); the engine's inbound commit sets wa_lid while sends to the same lead are queued, and the
-- two then deadlock through the recipient's consent lock. A plain index gives NO KEY UPDATE; the
-- store sets wa_lid only when no other lead of the user has it.
CREATE INDEX leads_user_id_wa_lid_idx ON public.leads (user_id, wa_lid) WHERE wa_lid IS NOT NULL;

-- Sorting by name and by last change, paged by (key, id).
CREATE INDEX leads_user_id_name_idx ON public.leads (user_id, lower(name), id);
CREATE INDEX leads_user_id_updated_at_idx ON public.leads (user_id, updated_at DESC, id DESC);

DROP TRIGGER leads_enforce_quota ON public.leads;
DROP FUNCTION app_private.leads_enforce_quota();

UPDATE app_private.settings SET max_leads_per_user = 100000 WHERE max_leads_per_user = 10000;
ALTER TABLE app_private.settings ALTER COLUMN max_leads_per_user SET DEFAULT 100000;

CREATE FUNCTION app_private.leads_enforce_quota() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_limit integer;
    v_user uuid;
    v_count bigint;
BEGIN
    IF coalesce(current_setting('rarity.auto_lead', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    SELECT s.max_leads_per_user INTO v_limit FROM app_private.settings s WHERE s.singleton;
    v_limit := coalesce(v_limit, 100000);
    FOR v_user IN SELECT DISTINCT n.user_id FROM new_rows n ORDER BY 1 LOOP
        PERFORM pg_catalog.pg_advisory_xact_lock(
            pg_catalog.hashtextextended('rarity.leads.user.' || v_user::text, 0));
        SELECT count(*) INTO v_count FROM public.leads l WHERE l.user_id = v_user;
        IF v_count > v_limit THEN
            RAISE EXCEPTION 'you can have at most % leads', v_limit
                USING ERRCODE = 'check_violation',
                      CONSTRAINT = 'leads_per_user_quota',
                      DETAIL = v_limit::text;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
CREATE TRIGGER leads_enforce_quota AFTER INSERT ON public.leads
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION app_private.leads_enforce_quota();

CREATE TABLE public.campaigns (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL DEFAULT auth.uid() REFERENCES auth.users (id) ON DELETE CASCADE,
    name          text NOT NULL CONSTRAINT campaigns_name_check CHECK (char_length(btrim(name)) BETWEEN 1 AND 200),
    template_id   uuid REFERENCES public.whatsapp_templates (id) ON DELETE SET NULL,
    content       text NOT NULL CONSTRAINT campaigns_content_check CHECK (char_length(content) BETWEEN 1 AND 4096),
    status        text NOT NULL DEFAULT 'draft'
                  CONSTRAINT campaigns_status_check
                  CHECK (status IN ('draft', 'running', 'paused', 'completed', 'cancelled')),
    pause_reason  text CONSTRAINT campaigns_pause_reason_check CHECK (char_length(pause_reason) <= 500),
    start_at      timestamptz NOT NULL DEFAULT now(),
    time_zone     text NOT NULL DEFAULT 'UTC' CONSTRAINT campaigns_time_zone_check CHECK (char_length(time_zone) BETWEEN 1 AND 64),
    quiet_start   time,
    quiet_end     time,
    per_minute    integer NOT NULL DEFAULT 4 CONSTRAINT campaigns_per_minute_check CHECK (per_minute BETWEEN 1 AND 60),
    per_hour      integer NOT NULL DEFAULT 60 CONSTRAINT campaigns_per_hour_check CHECK (per_hour BETWEEN 1 AND 3600),
    per_day       integer NOT NULL DEFAULT 300 CONSTRAINT campaigns_per_day_check CHECK (per_day BETWEEN 1 AND 20000),
    first_contact_per_day integer NOT NULL DEFAULT 100
                  CONSTRAINT campaigns_first_contact_per_day_check CHECK (first_contact_per_day BETWEEN 0 AND 20000),
    jitter_seconds integer NOT NULL DEFAULT 20 CONSTRAINT campaigns_jitter_seconds_check CHECK (jitter_seconds BETWEEN 0 AND 3600),
    warm_up       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    CONSTRAINT campaigns_quiet_hours_check CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);
CREATE INDEX campaigns_user_id_created_at_idx ON public.campaigns (user_id, created_at DESC, id DESC);
CREATE INDEX campaigns_running_idx ON public.campaigns (start_at) WHERE status = 'running';
CREATE TRIGGER campaigns_set_updated_at BEFORE UPDATE ON public.campaigns
    FOR EACH ROW EXECUTE FUNCTION public.rarity_set_updated_at();

CREATE TABLE public.campaign_accounts (
    campaign_id uuid NOT NULL REFERENCES public.campaigns (id) ON DELETE CASCADE,
    session_id  uuid NOT NULL REFERENCES public.whatsapp_sessions (id) ON DELETE CASCADE,
    PRIMARY KEY (campaign_id, session_id)
);
CREATE INDEX campaign_accounts_session_id_idx ON public.campaign_accounts (session_id);

CREATE TABLE public.campaign_leads (
    campaign_id    uuid NOT NULL REFERENCES public.campaigns (id) ON DELETE CASCADE,
    lead_id        uuid NOT NULL REFERENCES public.leads (id) ON DELETE CASCADE,
    position       bigint NOT NULL,
    state          text NOT NULL DEFAULT 'pending'
                   CONSTRAINT campaign_leads_state_check CHECK (state IN ('pending', 'queued', 'skipped')),
    reason         text CONSTRAINT campaign_leads_reason_check CHECK (char_length(reason) <= 300),
    session_id     uuid REFERENCES public.whatsapp_sessions (id) ON DELETE SET NULL,
    message_row_id uuid REFERENCES public.whatsapp_messages (id) ON DELETE SET NULL,
    first_contact  boolean,
    queued_at      timestamptz,
    PRIMARY KEY (campaign_id, lead_id)
);
CREATE INDEX campaign_leads_pending_idx ON public.campaign_leads (campaign_id, position) WHERE state = 'pending';
CREATE INDEX campaign_leads_session_sends_idx ON public.campaign_leads (session_id, queued_at) WHERE state = 'queued';
CREATE INDEX campaign_leads_lead_id_idx ON public.campaign_leads (lead_id);
CREATE INDEX campaign_leads_message_row_id_idx ON public.campaign_leads (message_row_id);

CREATE TABLE public.campaign_account_pacing (
    session_id   uuid PRIMARY KEY REFERENCES public.whatsapp_sessions (id) ON DELETE CASCADE,
    next_send_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE public.campaigns ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.campaign_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.campaign_leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.campaign_account_pacing ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Users can manage their own campaigns"
    ON public.campaigns FOR ALL TO authenticated
    USING (user_id = (SELECT auth.uid()))
    WITH CHECK (user_id = (SELECT auth.uid())
                AND (template_id IS NULL OR EXISTS (SELECT 1 FROM public.whatsapp_templates t WHERE t.id = template_id)));

-- Child rows: visible when their campaign is (RLS applies inside the subqueries), and written only
-- pointing at the user's own campaign, accounts, leads and messages.
CREATE POLICY "Users can manage their own campaigns' accounts"
    ON public.campaign_accounts FOR ALL TO authenticated
    USING (EXISTS (SELECT 1 FROM public.campaigns c WHERE c.id = campaign_id))
    WITH CHECK (EXISTS (SELECT 1 FROM public.campaigns c WHERE c.id = campaign_id)
                AND EXISTS (SELECT 1 FROM public.whatsapp_sessions s WHERE s.id = session_id));

CREATE POLICY "Users can manage their own campaigns' leads"
    ON public.campaign_leads FOR ALL TO authenticated
    USING (EXISTS (SELECT 1 FROM public.campaigns c WHERE c.id = campaign_id))
    WITH CHECK (EXISTS (SELECT 1 FROM public.campaigns c WHERE c.id = campaign_id)
                AND EXISTS (SELECT 1 FROM public.leads l WHERE l.id = lead_id)
                AND (session_id IS NULL OR EXISTS (SELECT 1 FROM public.whatsapp_sessions s WHERE s.id = session_id))
                AND (message_row_id IS NULL OR EXISTS (SELECT 1 FROM public.whatsapp_messages m WHERE m.id = message_row_id)));

CREATE POLICY "Users can pace their own accounts"
    ON public.campaign_account_pacing FOR ALL TO authenticated
    USING (EXISTS (SELECT 1 FROM public.whatsapp_sessions s WHERE s.id = session_id))
    WITH CHECK (EXISTS (SELECT 1 FROM public.whatsapp_sessions s WHERE s.id = session_id));

REVOKE ALL ON public.campaigns, public.campaign_accounts, public.campaign_leads, public.campaign_account_pacing
    FROM PUBLIC, anon;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON public.campaigns, public.campaign_accounts, public.campaign_leads, public.campaign_account_pacing
    TO authenticated;
-- The rule of …04: no TRUNCATE/REFERENCES/TRIGGER for users.
REVOKE TRUNCATE, REFERENCES, TRIGGER
    ON public.campaigns, public.campaign_accounts, public.campaign_leads, public.campaign_account_pacing
    FROM authenticated;

-- The campaign runner's system path: which campaigns are due (running, start time passed), whoever
-- owns them. Everything else it does acts as the owner under RLS.
CREATE FUNCTION app_api.campaigns_due()
    RETURNS TABLE (campaign_id uuid, user_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT c.id, c.user_id FROM public.campaigns c
        WHERE c.status = 'running' AND c.start_at <= now()
        ORDER BY c.start_at, c.id
    $$;
REVOKE ALL ON FUNCTION app_api.campaigns_due() FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION app_api.campaigns_due() TO rarity_app;
