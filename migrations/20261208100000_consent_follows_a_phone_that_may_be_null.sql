-- On a host's adopted `public.leads` (see crates/store/src/adopt.rs) `phone` may be NULL, and the
-- host's app may clear it. Clearing the number of an opted-out lead made this trigger insert a
-- suppression with a NULL hash, so the host's UPDATE failed. A lead without a number has nothing
-- for the opt-out to follow; the old number stays suppressed. (Our own `leads.phone` is NOT NULL:
-- nothing changes there.)
CREATE OR REPLACE FUNCTION app_private.consent_follow_phone() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    IF NEW.phone IS NOT NULL AND NEW.user_id IS NOT NULL
       AND EXISTS (SELECT 1 FROM app_private.suppressions s
                   WHERE s.user_id = NEW.user_id AND s.phone_hash = app_private.phone_hash(OLD.user_id, OLD.phone)) THEN
        PERFORM app_private.lock_recipient(NEW.user_id, NEW.phone);
        INSERT INTO app_private.suppressions (user_id, phone_hash, source)
        VALUES (NEW.user_id, app_private.phone_hash(NEW.user_id, NEW.phone), 'number_changed')
        ON CONFLICT (user_id, phone_hash) DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
