-- Several server instances on one database: a message queued through instance A for an account
-- that instance B connects must wake B's sender. Every queued outgoing row notifies
-- `rarity_outbox` with its account id on commit (PostgreSQL folds identical notifications of one
-- transaction into one); each instance listens and wakes the account if it runs it
-- (store::OUTBOX_WAKE_CHANNEL, server::engine::forward_outbox_wakes).
CREATE FUNCTION app_private.notify_outbox() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
    PERFORM pg_notify('rarity_outbox', NEW.session_id::text);
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION app_private.notify_outbox() FROM PUBLIC;
DO $$
BEGIN
    EXECUTE 'REVOKE ALL ON FUNCTION app_private.notify_outbox() FROM anon, authenticated, service_role';
EXCEPTION WHEN undefined_object THEN NULL;
END
$$;

CREATE TRIGGER whatsapp_messages_notify_outbox AFTER INSERT ON public.whatsapp_messages
    FOR EACH ROW WHEN (NEW.direction = 'out' AND NEW.status = 'queued')
    EXECUTE FUNCTION app_private.notify_outbox();
