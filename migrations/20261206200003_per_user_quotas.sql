-- Per-user quotas on what users create themselves: leads and templates. Enforced by triggers like
-- the WhatsApp account limit (…20261206000001): a per-user transaction-scoped advisory lock, then a
-- count, so concurrent inserts cannot both pass; the error names a constraint the store maps to
-- `StoreError::QuotaReached`, with the limit as DETAIL.
--
-- Leads the WhatsApp integration creates for a new contact (a message in from, or sent to, a number
-- the user has no lead for) are never refused: refusing would lose an incoming message. They count
-- towards the quota all the same. The store marks those inserts with the transaction-local setting
-- `rarity.auto_lead = 'on'`.
--
-- The limits live in app_private.settings; an operator changes them with
-- `UPDATE app_private.settings SET max_leads_per_user = …` (as the owner).

ALTER TABLE app_private.settings
    ADD COLUMN max_leads_per_user integer NOT NULL DEFAULT 10000
               CONSTRAINT settings_max_leads_per_user_check CHECK (max_leads_per_user BETWEEN 1 AND 10000000),
    ADD COLUMN max_templates_per_user integer NOT NULL DEFAULT 500
               CONSTRAINT settings_max_templates_per_user_check CHECK (max_templates_per_user BETWEEN 1 AND 100000);

CREATE FUNCTION app_private.leads_enforce_quota() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_limit integer;
    v_count bigint;
BEGIN
    IF coalesce(current_setting('rarity.auto_lead', true), '') = 'on' THEN
        RETURN NEW;
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('rarity.leads.user.' || NEW.user_id::text, 0));
    SELECT s.max_leads_per_user INTO v_limit FROM app_private.settings s WHERE s.singleton;
    v_limit := coalesce(v_limit, 10000);
    SELECT count(*) INTO v_count FROM public.leads l WHERE l.user_id = NEW.user_id;
    IF v_count >= v_limit THEN
        RAISE EXCEPTION 'you can have at most % leads', v_limit
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'leads_per_user_quota',
                  DETAIL = v_limit::text;
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION app_private.whatsapp_templates_enforce_quota() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_limit integer;
    v_count bigint;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('rarity.whatsapp_templates.user.' || NEW.user_id::text, 0));
    SELECT s.max_templates_per_user INTO v_limit FROM app_private.settings s WHERE s.singleton;
    v_limit := coalesce(v_limit, 500);
    SELECT count(*) INTO v_count FROM public.whatsapp_templates t WHERE t.user_id = NEW.user_id;
    IF v_count >= v_limit THEN
        RAISE EXCEPTION 'you can have at most % templates', v_limit
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'whatsapp_templates_per_user_quota',
                  DETAIL = v_limit::text;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER leads_enforce_quota BEFORE INSERT ON public.leads
    FOR EACH ROW EXECUTE FUNCTION app_private.leads_enforce_quota();
CREATE TRIGGER whatsapp_templates_enforce_quota BEFORE INSERT ON public.whatsapp_templates
    FOR EACH ROW EXECUTE FUNCTION app_private.whatsapp_templates_enforce_quota();

-- Template listing is paged by (name, id).
CREATE INDEX whatsapp_templates_user_id_name_idx ON public.whatsapp_templates (user_id, name, id);

REVOKE ALL ON FUNCTION app_private.leads_enforce_quota(), app_private.whatsapp_templates_enforce_quota()
    FROM PUBLIC, anon, authenticated, service_role;
