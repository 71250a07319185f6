-- The seed's WhatsApp tables plus `leads`, with row-level security as the tenancy boundary.
--
-- Policies are FOR ALL TO authenticated with both USING (which rows are visible / can be changed) and
-- WITH CHECK (what a new or changed row may look like), so a user can neither read another user's
-- rows nor write a row owned by someone else, nor point a message at another user's session or lead.
-- `(SELECT auth.uid())` is evaluated once per statement (Supabase's recommended form).
-- Constraint names are explicit: the store maps them to typed errors.

CREATE FUNCTION public.rarity_set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
    AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TABLE public.leads (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL DEFAULT auth.uid() REFERENCES auth.users (id) ON DELETE CASCADE,
    name       text NOT NULL CONSTRAINT leads_name_check CHECK (char_length(btrim(name)) BETWEEN 1 AND 200),
    phone      text NOT NULL CONSTRAINT leads_phone_check CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
    company    text CONSTRAINT leads_company_check CHECK (char_length(company) <= 200),
    email      text CONSTRAINT leads_email_check CHECK (char_length(email) <= 254),
    status     text NOT NULL DEFAULT 'new'
               CONSTRAINT leads_status_check CHECK (status IN ('new', 'contacted', 'qualified', 'won', 'lost')),
    source     text CONSTRAINT leads_source_check CHECK (char_length(source) <= 100),
    campaign   text CONSTRAINT leads_campaign_check CHECK (char_length(campaign) <= 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT leads_user_id_phone_key UNIQUE (user_id, phone)
);
CREATE INDEX leads_user_id_created_at_idx ON public.leads (user_id, created_at DESC);
CREATE TRIGGER leads_set_updated_at BEFORE UPDATE ON public.leads
    FOR EACH ROW EXECUTE FUNCTION public.rarity_set_updated_at();

CREATE TABLE public.whatsapp_sessions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL DEFAULT auth.uid() REFERENCES auth.users (id) ON DELETE CASCADE,
    phone_number text,
    session_name text NOT NULL CONSTRAINT whatsapp_sessions_session_name_check
                 CHECK (char_length(btrim(session_name)) BETWEEN 1 AND 100),
    session_data jsonb, -- encrypted session credentials
    status       text DEFAULT 'inactive'
                 CONSTRAINT whatsapp_sessions_status_check
                 CHECK (status IN ('active', 'inactive', 'connecting', 'expired', 'error')),
    qr_code      text,
    last_seen    timestamptz DEFAULT now(),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX whatsapp_sessions_user_id_idx ON public.whatsapp_sessions (user_id);
CREATE TRIGGER whatsapp_sessions_set_updated_at BEFORE UPDATE ON public.whatsapp_sessions
    FOR EACH ROW EXECUTE FUNCTION public.rarity_set_updated_at();

CREATE TABLE public.whatsapp_messages (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id   uuid NOT NULL REFERENCES public.whatsapp_sessions (id) ON DELETE CASCADE,
    lead_id      uuid REFERENCES public.leads (id) ON DELETE SET NULL,
    message_id   text, -- WhatsApp message id
    phone_number text NOT NULL,
    direction    text NOT NULL CONSTRAINT whatsapp_messages_direction_check CHECK (direction IN ('in', 'out')),
    message_type text NOT NULL DEFAULT 'text'
                 CONSTRAINT whatsapp_messages_message_type_check
                 CHECK (message_type IN ('text', 'image', 'audio', 'video', 'document')),
    content      jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'sent'
                 CONSTRAINT whatsapp_messages_status_check CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT whatsapp_messages_session_id_message_id_key UNIQUE (session_id, message_id)
);
CREATE INDEX whatsapp_messages_conversation_idx
    ON public.whatsapp_messages (session_id, phone_number, created_at DESC);
CREATE INDEX whatsapp_messages_lead_id_idx ON public.whatsapp_messages (lead_id);

CREATE TABLE public.whatsapp_templates (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL DEFAULT auth.uid() REFERENCES auth.users (id) ON DELETE CASCADE,
    name       text NOT NULL CONSTRAINT whatsapp_templates_name_check CHECK (char_length(btrim(name)) BETWEEN 1 AND 200),
    content    text NOT NULL CONSTRAINT whatsapp_templates_content_check CHECK (char_length(content) BETWEEN 1 AND 4096),
    variables  jsonb NOT NULL DEFAULT '[]'
               CONSTRAINT whatsapp_templates_variables_check CHECK (jsonb_typeof(variables) = 'array'),
    category   text NOT NULL DEFAULT 'general'
               CONSTRAINT whatsapp_templates_category_check CHECK (char_length(category) BETWEEN 1 AND 50),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX whatsapp_templates_user_id_idx ON public.whatsapp_templates (user_id);

ALTER TABLE public.leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.whatsapp_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.whatsapp_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.whatsapp_templates ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Users can manage their own leads"
    ON public.leads FOR ALL TO authenticated
    USING (user_id = (SELECT auth.uid()))
    WITH CHECK (user_id = (SELECT auth.uid()));

CREATE POLICY "Users can manage their own WhatsApp sessions"
    ON public.whatsapp_sessions FOR ALL TO authenticated
    USING (user_id = (SELECT auth.uid()))
    WITH CHECK (user_id = (SELECT auth.uid()));

CREATE POLICY "Users can access messages from their sessions"
    ON public.whatsapp_messages FOR ALL TO authenticated
    USING (
        session_id IN (SELECT s.id FROM public.whatsapp_sessions s WHERE s.user_id = (SELECT auth.uid()))
    )
    WITH CHECK (
        session_id IN (SELECT s.id FROM public.whatsapp_sessions s WHERE s.user_id = (SELECT auth.uid()))
        AND (lead_id IS NULL
             OR lead_id IN (SELECT l.id FROM public.leads l WHERE l.user_id = (SELECT auth.uid())))
    );

CREATE POLICY "Users can manage their own templates"
    ON public.whatsapp_templates FOR ALL TO authenticated
    USING (user_id = (SELECT auth.uid()))
    WITH CHECK (user_id = (SELECT auth.uid()));

-- Only `authenticated` gets table privileges (Supabase's default privileges may also have granted
-- them to anon; anon has no business here).
REVOKE ALL ON public.leads, public.whatsapp_sessions, public.whatsapp_messages, public.whatsapp_templates
    FROM PUBLIC, anon;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON public.leads, public.whatsapp_sessions, public.whatsapp_messages, public.whatsapp_templates
    TO authenticated;
