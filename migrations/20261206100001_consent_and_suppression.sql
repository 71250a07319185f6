-- Consent: an append-only ledger per lead, a suppression list that outlives erasure, and the one
-- place every send path meets it — the outbox itself.
--
-- - `consent_events` is the ledger: opt-in and opt-out events with source and evidence. Users may
--   read and add their own; nobody but the owner may change or delete one (no UPDATE/DELETE
--   grants). Erasing a lead deletes its events (they are about that person), as the owner.
-- - `app_private.suppressions` is what sending checks: per user, a SHA-256 of a per-database secret
--   pepper, the user id and the E.164 number. An erased person who opted out stays on it, so they
--   are still never messaged, and nothing on it names them. Only the ledger's trigger writes it
--   (an opt-out adds, an explicit opt-in removes).
-- - Every queued outgoing row is checked when it is inserted (whoever inserts it: the store's
--   outbox, a campaign, a PostgREST client) and again when the engine counts a send attempt, the
--   last write before the stanza goes out. Both checks and the opt-out take the same per-recipient
--   advisory lock, so "the opt-out is stored" and "this send began" are ordered: a send that
--   begins after the opt-out committed is refused, and an opt-out marks every queued row that has
--   not begun as failed (`opted_out`). The error carries the constraint name the store maps to
--   `StoreError::OptedOut`.
-- - The automatic confirmation of an opt-out must reach the person who just opted out. It is the
--   one exempt row (`consent_exempt = 'opt_out_confirmation'`), and the exemption is earned only
--   once, in the transaction that created the suppression: a client cannot mark a row exempt to
--   slip past the list.

CREATE TABLE app_private.privacy_secret (
    singleton boolean PRIMARY KEY DEFAULT true CONSTRAINT privacy_secret_singleton_check CHECK (singleton),
    pepper    bytea NOT NULL CONSTRAINT privacy_secret_pepper_check CHECK (octet_length(pepper) >= 16)
);
-- 244 random bits (two v4 UUIDs); gen_random_uuid is built in since PostgreSQL 13.
INSERT INTO app_private.privacy_secret (pepper)
VALUES (decode(replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''), 'hex'));

CREATE FUNCTION app_private.phone_hash(p_user_id uuid, p_phone text) RETURNS bytea
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT sha256(s.pepper || convert_to(p_user_id::text || ':' || p_phone, 'UTF8'))
        FROM app_private.privacy_secret s
        WHERE s.singleton
    $$;

-- One user's sends to, and opt-outs of, one number take turns (held to the end of the transaction).
CREATE FUNCTION app_private.lock_recipient(p_user_id uuid, p_phone text) RETURNS void
    LANGUAGE sql SET search_path = ''
    AS $$
        SELECT pg_advisory_xact_lock(hashtextextended('rarity.consent:' || p_user_id::text || ':' || p_phone, 0))
    $$;

CREATE TABLE app_private.suppressions (
    user_id      uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    phone_hash   bytea NOT NULL CONSTRAINT suppressions_phone_hash_check CHECK (octet_length(phone_hash) = 32),
    source       text NOT NULL CONSTRAINT suppressions_source_check CHECK (char_length(source) <= 50),
    opted_out_at timestamptz NOT NULL DEFAULT now(),
    -- The transaction that put the number on the list may queue one confirmation (see above).
    created_xact xid8 NOT NULL DEFAULT pg_current_xact_id(),
    confirmed    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (user_id, phone_hash)
);

CREATE TABLE public.consent_events (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL DEFAULT auth.uid() REFERENCES auth.users (id) ON DELETE CASCADE,
    lead_id    uuid NOT NULL REFERENCES public.leads (id) ON DELETE CASCADE,
    kind       text NOT NULL CONSTRAINT consent_events_kind_check CHECK (kind IN ('opt_in', 'opt_out')),
    source     text NOT NULL CONSTRAINT consent_events_source_check
               CHECK (source IN ('import', 'form', 'chat', 'api', 'keyword')),
    evidence   text NOT NULL CONSTRAINT consent_events_evidence_check CHECK (char_length(evidence) BETWEEN 1 AND 2000),
    -- The message that carried it (an opt-out keyword), while that message is kept.
    message_id uuid REFERENCES public.whatsapp_messages (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX consent_events_lead_id_idx ON public.consent_events (lead_id, created_at DESC, id DESC);
-- Deleting messages (retention, erasure) sets message_id NULL here: without this index every
-- deleted message would scan the ledger.
CREATE INDEX consent_events_message_id_idx ON public.consent_events (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX consent_events_user_id_idx ON public.consent_events (user_id);

ALTER TABLE public.consent_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can read their own consent records"
    ON public.consent_events FOR SELECT TO authenticated
    USING (user_id = (SELECT auth.uid()));
-- The lead and the message must be the user's own (RLS applies inside the subqueries).
CREATE POLICY "Users can record consent for their own leads"
    ON public.consent_events FOR INSERT TO authenticated
    WITH CHECK (
        user_id = (SELECT auth.uid())
        AND EXISTS (SELECT 1 FROM public.leads l WHERE l.id = consent_events.lead_id)
        AND (consent_events.message_id IS NULL
             OR EXISTS (SELECT 1 FROM public.whatsapp_messages m WHERE m.id = consent_events.message_id))
    );
REVOKE ALL ON public.consent_events FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT ON public.consent_events TO authenticated;

ALTER TABLE public.whatsapp_messages
    ADD COLUMN consent_exempt text CONSTRAINT whatsapp_messages_consent_exempt_check
        CHECK (consent_exempt IN ('opt_out_confirmation'));
COMMENT ON COLUMN public.whatsapp_messages.consent_exempt IS
    'opt_out_confirmation: the automatic reply to an opt-out, the one message the suppression list lets through.';

-- The ledger drives the list. An opt-out also fails every queued row to that number that has not
-- begun sending (attempts = 0); rows already written to WhatsApp once are left to their ack, and a
-- re-send of them is refused at the attempt.
CREATE FUNCTION app_private.consent_apply() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_phone text;
    v_hash bytea;
BEGIN
    SELECT l.phone INTO v_phone FROM public.leads l WHERE l.id = NEW.lead_id;
    PERFORM app_private.lock_recipient(NEW.user_id, v_phone);
    v_hash := app_private.phone_hash(NEW.user_id, v_phone);
    IF NEW.kind = 'opt_out' THEN
        INSERT INTO app_private.suppressions (user_id, phone_hash, source)
        VALUES (NEW.user_id, v_hash, NEW.source)
        ON CONFLICT (user_id, phone_hash) DO NOTHING;
        UPDATE public.whatsapp_messages m
        SET status = 'failed', status_reason = 'opted_out'
        FROM public.whatsapp_sessions s
        WHERE s.user_id = NEW.user_id AND m.session_id = s.id
          AND m.direction = 'out' AND m.status = 'queued' AND m.attempts = 0
          AND m.consent_exempt IS NULL AND m.phone_number = v_phone;
    ELSE
        DELETE FROM app_private.suppressions s WHERE s.user_id = NEW.user_id AND s.phone_hash = v_hash;
    END IF;
    PERFORM app_private.audit(NEW.user_id, NEW.kind,
        jsonb_build_object('lead_id', NEW.lead_id, 'source', NEW.source));
    RETURN NULL;
END
$$;
CREATE TRIGGER consent_events_apply AFTER INSERT ON public.consent_events
    FOR EACH ROW EXECUTE FUNCTION app_private.consent_apply();

-- A lead whose number changes keeps its opt-out: the new number joins the list too.
CREATE FUNCTION app_private.consent_follow_phone() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM app_private.suppressions s
               WHERE s.user_id = NEW.user_id AND s.phone_hash = app_private.phone_hash(OLD.user_id, OLD.phone)) THEN
        PERFORM app_private.lock_recipient(NEW.user_id, NEW.phone);
        INSERT INTO app_private.suppressions (user_id, phone_hash, source)
        VALUES (NEW.user_id, app_private.phone_hash(NEW.user_id, NEW.phone), 'number_changed')
        ON CONFLICT (user_id, phone_hash) DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER leads_consent_follow_phone AFTER UPDATE OF phone ON public.leads
    FOR EACH ROW WHEN (OLD.phone IS DISTINCT FROM NEW.phone)
    EXECUTE FUNCTION app_private.consent_follow_phone();

-- Queued outgoing rows (insert) and send attempts (attempts going up) to a suppressed number are
-- refused, except the one earned confirmation.
CREATE FUNCTION app_private.whatsapp_messages_check_consent() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
DECLARE
    v_user uuid;
    v_hash bytea;
BEGIN
    IF NEW.phone_number IS NULL THEN
        RETURN NEW; -- the engine sends only to numbers
    END IF;
    SELECT s.user_id INTO v_user FROM public.whatsapp_sessions s WHERE s.id = NEW.session_id;
    IF v_user IS NULL THEN
        RETURN NEW; -- the foreign key refuses it
    END IF;
    PERFORM app_private.lock_recipient(v_user, NEW.phone_number);
    v_hash := app_private.phone_hash(v_user, NEW.phone_number);
    IF NEW.consent_exempt = 'opt_out_confirmation' THEN
        IF TG_OP = 'INSERT' THEN
            UPDATE app_private.suppressions s SET confirmed = true
            WHERE s.user_id = v_user AND s.phone_hash = v_hash
              AND NOT s.confirmed AND s.created_xact = pg_current_xact_id();
            IF NOT FOUND THEN
                RAISE EXCEPTION 'only the opt-out just recorded may be confirmed'
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'whatsapp_messages_consent_exempt_unearned';
            END IF;
        END IF;
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM app_private.suppressions s WHERE s.user_id = v_user AND s.phone_hash = v_hash) THEN
        RAISE EXCEPTION 'this contact opted out of WhatsApp messages from you'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'whatsapp_messages_recipient_opted_out';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER whatsapp_messages_check_consent BEFORE INSERT ON public.whatsapp_messages
    FOR EACH ROW WHEN (NEW.direction = 'out' AND NEW.status = 'queued')
    EXECUTE FUNCTION app_private.whatsapp_messages_check_consent();
CREATE TRIGGER whatsapp_messages_check_consent_on_attempt BEFORE UPDATE OF attempts ON public.whatsapp_messages
    FOR EACH ROW WHEN (NEW.direction = 'out' AND NEW.attempts > OLD.attempts)
    EXECUTE FUNCTION app_private.whatsapp_messages_check_consent();

-- The exemption is fixed at insert.
CREATE FUNCTION app_private.whatsapp_messages_fix_exemption() RETURNS trigger
    LANGUAGE plpgsql SET search_path = ''
    AS $$
BEGIN
    RAISE EXCEPTION 'consent_exempt cannot be changed'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'whatsapp_messages_consent_exempt_fixed';
END
$$;
CREATE TRIGGER whatsapp_messages_fix_exemption BEFORE UPDATE OF consent_exempt ON public.whatsapp_messages
    FOR EACH ROW WHEN (OLD.consent_exempt IS DISTINCT FROM NEW.consent_exempt)
    EXECUTE FUNCTION app_private.whatsapp_messages_fix_exemption();

-- What users (and the store acting as them) may ask: is this number on my list; did this
-- transaction just put it there (so its confirmation may be queued).
CREATE FUNCTION public.rarity_is_suppressed(p_phone text) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT EXISTS (SELECT 1 FROM app_private.suppressions s
                       WHERE s.user_id = auth.uid() AND s.phone_hash = app_private.phone_hash(auth.uid(), p_phone))
    $$;

CREATE FUNCTION public.rarity_opt_out_confirmable(p_phone text) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT EXISTS (SELECT 1 FROM app_private.suppressions s
                       WHERE s.user_id = auth.uid() AND s.phone_hash = app_private.phone_hash(auth.uid(), p_phone)
                         AND NOT s.confirmed AND s.created_xact = pg_current_xact_id())
    $$;

-- Private whatever the database's default privileges are (see migration …04).
REVOKE ALL ON app_private.privacy_secret, app_private.suppressions FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION app_private.phone_hash(uuid, text),
                       app_private.lock_recipient(uuid, text),
                       app_private.consent_apply(),
                       app_private.consent_follow_phone(),
                       app_private.whatsapp_messages_check_consent(),
                       app_private.whatsapp_messages_fix_exemption()
    FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION public.rarity_is_suppressed(text), public.rarity_opt_out_confirmable(text)
    FROM PUBLIC, anon, service_role;
GRANT EXECUTE ON FUNCTION public.rarity_is_suppressed(text), public.rarity_opt_out_confirmable(text)
    TO authenticated;
-- The new ledger follows the rule of …04 (no TRUNCATE/REFERENCES/TRIGGER for users).
REVOKE TRUNCATE, REFERENCES, TRIGGER ON public.consent_events, public.privacy_settings, public.audit_log
    FROM anon, authenticated;
