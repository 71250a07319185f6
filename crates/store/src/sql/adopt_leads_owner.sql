-- The host's owner column is not named `user_id` (`LEADS_OWNER_COLUMN`, here "__OWNER__"). Our
-- SQL, policies and functions say `user_id`, so the adopted table gets a `user_id` of ours that
-- always equals the host's owner column: filled from it once (with the host's triggers switched
-- off for that one statement, so e.g. its `updated_at` trigger does not touch every row), then
-- kept equal by a trigger in both directions (our inserts set `user_id`, the host's set its own
-- column; a change of either on update moves the other). Runs before the adoption block, inside
-- migration 20261126000002's transaction, which holds the table's lock throughout.
ALTER TABLE public.leads ADD COLUMN user_id uuid;

DO $owner$
DECLARE
    v_trigger record;
    v_saved jsonb := '[]';
BEGIN
    FOR v_trigger IN
        SELECT t.tgname::text AS name, t.tgenabled::text AS state FROM pg_catalog.pg_trigger t
        WHERE t.tgrelid = 'public.leads'::regclass AND NOT t.tgisinternal AND t.tgenabled <> 'D'
    LOOP
        v_saved := v_saved || jsonb_build_object('name', v_trigger.name, 'state', v_trigger.state);
    END LOOP;
    ALTER TABLE public.leads DISABLE TRIGGER USER;
    UPDATE public.leads SET user_id = "__OWNER__";
    FOR v_trigger IN SELECT e ->> 'name' AS name, e ->> 'state' AS state FROM jsonb_array_elements(v_saved) e LOOP
        EXECUTE format('ALTER TABLE public.leads %s TRIGGER %I',
                       CASE v_trigger.state WHEN 'R' THEN 'ENABLE REPLICA'
                                            WHEN 'A' THEN 'ENABLE ALWAYS'
                                            ELSE 'ENABLE' END,
                       v_trigger.name);
    END LOOP;
END
$owner$;

CREATE FUNCTION public.rarity_leads_owner_sync() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.user_id IS NULL THEN
            NEW.user_id := NEW."__OWNER__";
        ELSE
            NEW."__OWNER__" := NEW.user_id;
        END IF;
    ELSIF NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        NEW."__OWNER__" := NEW.user_id;
    ELSE
        NEW.user_id := NEW."__OWNER__";
    END IF;
    RETURN NEW;
END
$$;
-- Supabase's default privileges grant new functions to its API roles directly.
REVOKE ALL ON FUNCTION public.rarity_leads_owner_sync() FROM PUBLIC, anon, authenticated, service_role;
-- BEFORE triggers fire in name order: "zz_" makes this one last, so it sees what the host's own
-- BEFORE triggers (e.g. one setting the owner to auth.uid()) have decided.
CREATE TRIGGER zz_rarity_leads_owner_sync BEFORE INSERT OR UPDATE ON public.leads
    FOR EACH ROW EXECUTE FUNCTION public.rarity_leads_owner_sync();
