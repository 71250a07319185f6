-- Messages as the session engine writes them: an outbox (`queued`), delivery states with a reason,
-- the contact's JID/LID beside the normalised phone number, idempotent sends and placeholders.
--
-- - status: queued → sent → delivered → read, or queued → failed (the store keeps it monotonic).
--   The default stays 'sent' for rows written before the engine existed; the outbox inserts 'queued'.
-- - content: `{"text": "…"}` for text; `{"placeholder": true}` (status failed, reason undecryptable)
--   for a message that could not be decrypted yet — the resend completes the same row.
-- - phone_number becomes optional: a contact known only by its LID still has its message stored.
-- - UNIQUE (session_id, message_id) stays: a duplicate delivery collapses into one row.
-- - idempotency_key: unique per session (NULLs are distinct, so only keyed rows are constrained).

ALTER TABLE public.whatsapp_messages DROP CONSTRAINT whatsapp_messages_status_check;

ALTER TABLE public.whatsapp_messages
    ADD CONSTRAINT whatsapp_messages_status_check
        CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    ALTER COLUMN phone_number DROP NOT NULL,
    ADD COLUMN status_reason   text CONSTRAINT whatsapp_messages_status_reason_check
                               CHECK (char_length(status_reason) <= 200),
    ADD COLUMN contact_jid     text CONSTRAINT whatsapp_messages_contact_jid_check CHECK (char_length(contact_jid) <= 128),
    ADD COLUMN contact_lid     text CONSTRAINT whatsapp_messages_contact_lid_check CHECK (char_length(contact_lid) <= 128),
    ADD COLUMN push_name       text CONSTRAINT whatsapp_messages_push_name_check CHECK (char_length(push_name) <= 200),
    ADD COLUMN wa_timestamp    timestamptz,
    ADD COLUMN idempotency_key text CONSTRAINT whatsapp_messages_idempotency_key_check
                               CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    ADD COLUMN attempts        integer NOT NULL DEFAULT 0 CONSTRAINT whatsapp_messages_attempts_check CHECK (attempts >= 0),
    ADD COLUMN updated_at      timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN sent_at         timestamptz,
    ADD COLUMN delivered_at    timestamptz,
    ADD COLUMN read_at         timestamptz,
    ADD CONSTRAINT whatsapp_messages_contact_check
        CHECK (phone_number IS NOT NULL OR contact_jid IS NOT NULL OR contact_lid IS NOT NULL),
    ADD CONSTRAINT whatsapp_messages_session_id_idempotency_key_key UNIQUE (session_id, idempotency_key);

COMMENT ON COLUMN public.whatsapp_messages.wa_timestamp IS 'When WhatsApp says the message was sent; created_at is when we stored it.';
COMMENT ON COLUMN public.whatsapp_messages.attempts IS 'Outgoing: how many times the engine began writing it to the socket.';

CREATE TRIGGER whatsapp_messages_set_updated_at BEFORE UPDATE ON public.whatsapp_messages
    FOR EACH ROW EXECUTE FUNCTION public.rarity_set_updated_at();

-- The engine's outbox: a session's queued outgoing messages, oldest first.
CREATE INDEX whatsapp_messages_outbox_idx ON public.whatsapp_messages (session_id, created_at, id)
    WHERE status = 'queued' AND direction = 'out';
-- A lead's conversation, newest first, paged by (created_at, id). Also serves the lead_id foreign
-- key (ON DELETE SET NULL), so the older single-column index goes.
CREATE INDEX whatsapp_messages_lead_timeline_idx ON public.whatsapp_messages (lead_id, created_at DESC, id DESC);
DROP INDEX public.whatsapp_messages_lead_id_idx;
-- Unread counts per lead (inbound, delivered, not yet read).
CREATE INDEX whatsapp_messages_unread_idx ON public.whatsapp_messages (lead_id)
    WHERE direction = 'in' AND status = 'delivered';
