-- Two costs every stored inbound message paid for nothing.
--
-- 1. The idempotency key is unique per account, but only outgoing messages sent through the API
--    with an `Idempotency-Key` have one: every other row (all inbound messages) still added a
--    (session_id, NULL) entry to the unique index. It becomes a partial unique index over the rows
--    that have a key; same name, so a violation still names it, and the outbox's
--    `ON CONFLICT (session_id, idempotency_key) WHERE idempotency_key IS NOT NULL` infers it.
--
-- 2. Every event row checked two foreign keys (its user in auth.users, its account in
--    whatsapp_sessions) while its transaction held the user's event-ordering lock: a lookup and a
--    row lock on the parent for each of a batch's events, about a third of the append's time.
--    Event rows are written only by app_api.append_user_events (SECURITY DEFINER, called by the
--    server with the ids of the user and account it is acting for), so the references are
--    right by construction; what the keys also gave was the cascade, which two statement-level
--    triggers now do: deleting users or accounts deletes their events, in the same statement.
--    (An event appended after its account was deleted — the `account_removed` event — has
--    account_id NULL, as before.)

ALTER TABLE public.whatsapp_messages
    DROP CONSTRAINT whatsapp_messages_session_id_idempotency_key_key;
CREATE UNIQUE INDEX whatsapp_messages_session_id_idempotency_key_key
    ON public.whatsapp_messages (session_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

ALTER TABLE public.user_events
    DROP CONSTRAINT user_events_user_id_fkey,
    DROP CONSTRAINT user_events_account_id_fkey;

CREATE FUNCTION app_private.user_events_forget_accounts() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    DELETE FROM public.user_events e USING gone g
    WHERE e.user_id = g.user_id AND e.account_id = g.id;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app_private.user_events_forget_accounts() FROM PUBLIC, anon, authenticated, service_role;
CREATE TRIGGER whatsapp_sessions_forget_events AFTER DELETE ON public.whatsapp_sessions
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION app_private.user_events_forget_accounts();

CREATE FUNCTION app_private.user_events_forget_users() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    DELETE FROM public.user_events e USING gone g WHERE e.user_id = g.id;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app_private.user_events_forget_users() FROM PUBLIC, anon, authenticated, service_role;
CREATE TRIGGER users_forget_events AFTER DELETE ON auth.users
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION app_private.user_events_forget_users();
