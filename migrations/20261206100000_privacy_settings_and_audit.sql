-- Privacy settings per user (opt-out keywords, the automatic confirmation, retention periods) and
-- the audit log of security- and privacy-relevant actions.
--
-- The audit log is written by the database itself (triggers and SECURITY DEFINER functions), never
-- by a user: `authenticated` may only read its own rows, so nothing a user (or a PostgREST client)
-- does can add, change or remove an entry. `user_id` has no foreign key on purpose: when a user
-- deletes their account, the one record that says so outlives them (with user_id NULL, see
-- …_retention_and_erasure.sql). Details never carry a phone number, a name or a message text, so
-- erasing a lead never has to rewrite the log.

CREATE TABLE public.privacy_settings (
    user_id                     uuid PRIMARY KEY DEFAULT auth.uid() REFERENCES auth.users (id) ON DELETE CASCADE,
    -- Compared with whole inbound messages, case- and accent-insensitively (the store normalises).
    opt_out_keywords            text[] NOT NULL
                                DEFAULT ARRAY['STOP', 'STOPP', 'UNSUBSCRIBE', 'PARAR', 'BAJA', 'ARRET']
                                CONSTRAINT privacy_settings_opt_out_keywords_check
                                CHECK (cardinality(opt_out_keywords) BETWEEN 1 AND 50
                                       AND char_length(array_to_string(opt_out_keywords, '')) <= 3200),
    -- The automatic reply to an opt-out; NULL = none.
    opt_out_reply               text CONSTRAINT privacy_settings_opt_out_reply_check
                                CHECK (char_length(opt_out_reply) BETWEEN 1 AND 1000),
    -- Days to keep each kind of data; NULL = keep.
    retention_messages_days     integer CONSTRAINT privacy_settings_retention_messages_days_check
                                CHECK (retention_messages_days BETWEEN 1 AND 3650),
    retention_media_days        integer CONSTRAINT privacy_settings_retention_media_days_check
                                CHECK (retention_media_days BETWEEN 1 AND 3650),
    retention_closed_leads_days integer CONSTRAINT privacy_settings_retention_closed_leads_days_check
                                CHECK (retention_closed_leads_days BETWEEN 1 AND 3650),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER privacy_settings_set_updated_at BEFORE UPDATE ON public.privacy_settings
    FOR EACH ROW EXECUTE FUNCTION public.rarity_set_updated_at();

ALTER TABLE public.privacy_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can manage their own privacy settings"
    ON public.privacy_settings FOR ALL TO authenticated
    USING (user_id = (SELECT auth.uid()))
    WITH CHECK (user_id = (SELECT auth.uid()));
REVOKE ALL ON public.privacy_settings FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT, UPDATE ON public.privacy_settings TO authenticated;

CREATE TABLE public.audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid,
    action     text NOT NULL CONSTRAINT audit_log_action_check CHECK (action IN (
                   'sign_in', 'whatsapp_linked', 'whatsapp_unlinked', 'whatsapp_removed',
                   'key_rotated', 'export', 'lead_export', 'lead_erased', 'account_deleted',
                   'opt_out', 'opt_in', 'retention_changed', 'opt_out_settings_changed',
                   'retention_purge')),
    details    jsonb NOT NULL DEFAULT '{}'
               CONSTRAINT audit_log_details_check CHECK (jsonb_typeof(details) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_user_id_id_idx ON public.audit_log (user_id, id DESC);

ALTER TABLE public.audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can read their own audit log"
    ON public.audit_log FOR SELECT TO authenticated
    USING (user_id = (SELECT auth.uid()));
REVOKE ALL ON public.audit_log FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT ON public.audit_log TO authenticated;

-- The one writer of the audit log (runs as the owner).
CREATE FUNCTION app_private.audit(p_user_id uuid, p_action text, p_details jsonb) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        INSERT INTO public.audit_log (user_id, action, details)
        VALUES (p_user_id, p_action, coalesce(p_details, '{}'::jsonb));
    $$;

-- Exports are started by the user's own request (a read-only transaction cannot log itself), so
-- users may log exactly these two actions, for themselves only.
CREATE FUNCTION public.rarity_audit_export(p_action text, p_details jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    IF auth.uid() IS NULL OR p_action NOT IN ('export', 'lead_export') THEN
        RAISE EXCEPTION 'only exports are logged this way'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'audit_log_action_check';
    END IF;
    PERFORM app_private.audit(auth.uid(), p_action, p_details);
END
$$;

-- Sign-ins: every new dashboard session (a Supabase JWT has no server-side session to log).
CREATE FUNCTION app_private.audit_sign_in() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    PERFORM app_private.audit(NEW.user_id, 'sign_in', '{}'::jsonb);
    RETURN NULL;
END
$$;
CREATE TRIGGER web_sessions_audit_sign_in AFTER INSERT ON app_private.web_sessions
    FOR EACH ROW EXECUTE FUNCTION app_private.audit_sign_in();

-- WhatsApp accounts linked (linked_at set), unlinked (cleared: logged out here or on the phone)
-- and removed. The account's own name is the user's label, not a contact's data.
CREATE FUNCTION app_private.audit_whatsapp_session() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM app_private.audit(OLD.user_id, 'whatsapp_removed',
            jsonb_build_object('account_id', OLD.id, 'account_name', OLD.session_name));
        RETURN NULL;
    END IF;
    IF OLD.linked_at IS NULL AND NEW.linked_at IS NOT NULL THEN
        PERFORM app_private.audit(NEW.user_id, 'whatsapp_linked',
            jsonb_build_object('account_id', NEW.id, 'account_name', NEW.session_name));
    ELSIF OLD.linked_at IS NOT NULL AND NEW.linked_at IS NULL THEN
        PERFORM app_private.audit(NEW.user_id, 'whatsapp_unlinked',
            jsonb_build_object('account_id', NEW.id, 'account_name', NEW.session_name));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER whatsapp_sessions_audit_link AFTER UPDATE OF linked_at ON public.whatsapp_sessions
    FOR EACH ROW EXECUTE FUNCTION app_private.audit_whatsapp_session();
CREATE TRIGGER whatsapp_sessions_audit_delete AFTER DELETE ON public.whatsapp_sessions
    FOR EACH ROW EXECUTE FUNCTION app_private.audit_whatsapp_session();

-- `server rotate-key` re-encrypts each account's credentials row once per rotation.
CREATE FUNCTION app_private.audit_key_rotation() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    PERFORM app_private.audit(s.user_id, 'key_rotated',
        jsonb_build_object('account_id', s.id, 'key_id', NEW.key_id))
    FROM public.whatsapp_sessions s WHERE s.id = NEW.session_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER whatsapp_credentials_audit_rotation AFTER UPDATE OF key_id ON app_private.whatsapp_credentials
    FOR EACH ROW WHEN (OLD.key_id IS DISTINCT FROM NEW.key_id)
    EXECUTE FUNCTION app_private.audit_key_rotation();

-- Retention and opt-out settings changes (the values, never message content). A first save is
-- compared with the defaults, so only what the user actually set is logged.
CREATE FUNCTION app_private.audit_privacy_settings() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_old public.privacy_settings;
BEGIN
    IF TG_OP = 'INSERT' THEN
        v_old := ROW(NEW.user_id, ARRAY['STOP', 'STOPP', 'UNSUBSCRIBE', 'PARAR', 'BAJA', 'ARRET'],
                     NULL, NULL, NULL, NULL, NEW.updated_at)::public.privacy_settings;
    ELSE
        v_old := OLD;
    END IF;
    IF v_old.retention_messages_days IS DISTINCT FROM NEW.retention_messages_days
       OR v_old.retention_media_days IS DISTINCT FROM NEW.retention_media_days
       OR v_old.retention_closed_leads_days IS DISTINCT FROM NEW.retention_closed_leads_days THEN
        PERFORM app_private.audit(NEW.user_id, 'retention_changed', jsonb_build_object(
            'messages_days', NEW.retention_messages_days,
            'media_days', NEW.retention_media_days,
            'closed_leads_days', NEW.retention_closed_leads_days));
    END IF;
    IF v_old.opt_out_keywords IS DISTINCT FROM NEW.opt_out_keywords
       OR v_old.opt_out_reply IS DISTINCT FROM NEW.opt_out_reply THEN
        PERFORM app_private.audit(NEW.user_id, 'opt_out_settings_changed', jsonb_build_object(
            'keywords', cardinality(NEW.opt_out_keywords),
            'automatic_reply', NEW.opt_out_reply IS NOT NULL));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER privacy_settings_audit AFTER INSERT OR UPDATE ON public.privacy_settings
    FOR EACH ROW EXECUTE FUNCTION app_private.audit_privacy_settings();

REVOKE ALL ON FUNCTION app_private.audit(uuid, text, jsonb),
                       app_private.audit_sign_in(),
                       app_private.audit_whatsapp_session(),
                       app_private.audit_key_rotation(),
                       app_private.audit_privacy_settings()
    FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION public.rarity_audit_export(text, jsonb) FROM PUBLIC, anon, service_role;
GRANT EXECUTE ON FUNCTION public.rarity_audit_export(text, jsonb) TO authenticated;
