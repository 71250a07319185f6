-- Media: the file a media message carries (image, voice note / audio, video, document, sticker).
--
-- One row per media message, beside its `whatsapp_messages` row (deleted with it). The file itself
-- lives in the media storage (local disk or S3), content-addressed per user by the SHA-256 of the
-- plaintext (`sha256`): a brochure sent to 500 leads is stored once.
--
-- - state: `pending` (received, not downloaded yet: the downloader's queue, with `next_attempt_at`
--   and `attempts`), `stored` (in our storage, verified against WhatsApp's hashes), `failed` (given
--   up, with the reason: tampered, hash mismatch, expired and not re-uploaded, too large …).
-- - descriptor: WhatsApp's own description of the file (the message protobuf: URL, direct path,
--   media key, hashes) — what downloads it again or sends it. Readable by its owner like the rest of
--   the row: the key decrypts only the owner's own file, which we keep in plaintext anyway.
-- - thumbnail: the small JPEG WhatsApp carries in the message (shown before the file is fetched).

CREATE TABLE public.whatsapp_media (
    message_row_id  uuid PRIMARY KEY REFERENCES public.whatsapp_messages (id) ON DELETE CASCADE,
    session_id      uuid NOT NULL REFERENCES public.whatsapp_sessions (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL DEFAULT auth.uid() REFERENCES auth.users (id) ON DELETE CASCADE,
    kind            text NOT NULL CONSTRAINT whatsapp_media_kind_check
                    CHECK (kind IN ('image', 'audio', 'video', 'document', 'sticker')),
    mimetype        text NOT NULL CONSTRAINT whatsapp_media_mimetype_check
                    CHECK (mimetype ~ '^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$'),
    file_name       text CONSTRAINT whatsapp_media_file_name_check CHECK (char_length(file_name) BETWEEN 1 AND 255),
    file_length     bigint NOT NULL CONSTRAINT whatsapp_media_file_length_check CHECK (file_length >= 0),
    width           integer CONSTRAINT whatsapp_media_width_check CHECK (width BETWEEN 1 AND 100000),
    height          integer CONSTRAINT whatsapp_media_height_check CHECK (height BETWEEN 1 AND 100000),
    seconds         integer CONSTRAINT whatsapp_media_seconds_check CHECK (seconds BETWEEN 0 AND 86400),
    ptt             boolean NOT NULL DEFAULT false,
    thumbnail       bytea CONSTRAINT whatsapp_media_thumbnail_check CHECK (octet_length(thumbnail) <= 65536),
    sha256          text CONSTRAINT whatsapp_media_sha256_check CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    state           text NOT NULL CONSTRAINT whatsapp_media_state_check
                    CHECK (state IN ('pending', 'stored', 'failed')),
    state_reason    text CONSTRAINT whatsapp_media_state_reason_check CHECK (char_length(state_reason) <= 300),
    attempts        integer NOT NULL DEFAULT 0 CONSTRAINT whatsapp_media_attempts_check CHECK (attempts >= 0),
    next_attempt_at timestamptz,
    descriptor      bytea CONSTRAINT whatsapp_media_descriptor_check CHECK (octet_length(descriptor) <= 262144),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT whatsapp_media_stored_check CHECK (state <> 'stored' OR sha256 IS NOT NULL)
);
-- The downloader's queue, soonest first.
CREATE INDEX whatsapp_media_due_idx ON public.whatsapp_media (next_attempt_at)
    WHERE state = 'pending';
-- "Does anything still use this file?" (storage clean-up) and the per-user file listing.
CREATE INDEX whatsapp_media_user_sha256_idx ON public.whatsapp_media (user_id, sha256)
    WHERE sha256 IS NOT NULL;
CREATE INDEX whatsapp_media_session_id_idx ON public.whatsapp_media (session_id);

CREATE TRIGGER whatsapp_media_set_updated_at BEFORE UPDATE ON public.whatsapp_media
    FOR EACH ROW EXECUTE FUNCTION public.rarity_set_updated_at();

ALTER TABLE public.whatsapp_media ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Users can access the media of their messages"
    ON public.whatsapp_media FOR ALL TO authenticated
    USING (user_id = (SELECT auth.uid()))
    WITH CHECK (
        user_id = (SELECT auth.uid())
        AND EXISTS (SELECT 1 FROM public.whatsapp_sessions s
                    WHERE s.id = session_id AND s.user_id = (SELECT auth.uid()))
        AND EXISTS (SELECT 1 FROM public.whatsapp_messages m
                    WHERE m.id = message_row_id AND m.session_id = session_id)
    );

REVOKE ALL ON public.whatsapp_media FROM PUBLIC, anon;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.whatsapp_media TO authenticated;
REVOKE TRUNCATE, REFERENCES, TRIGGER ON public.whatsapp_media FROM authenticated;

-- Files no row uses any more (the last message carrying them was deleted: erasure, retention,
-- an account removed). The media clean-up deletes them from storage, re-checking under a lock.
CREATE TABLE app_private.media_orphans (
    user_id    uuid NOT NULL,
    sha256     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, sha256)
);
REVOKE ALL ON app_private.media_orphans FROM PUBLIC, anon, authenticated, service_role;

CREATE FUNCTION app_private.whatsapp_media_note_orphan() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    IF OLD.sha256 IS NOT NULL THEN
        INSERT INTO app_private.media_orphans (user_id, sha256)
        VALUES (OLD.user_id, OLD.sha256)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app_private.whatsapp_media_note_orphan() FROM PUBLIC, anon, authenticated, service_role;

CREATE TRIGGER whatsapp_media_note_orphan AFTER DELETE ON public.whatsapp_media
    FOR EACH ROW EXECUTE FUNCTION app_private.whatsapp_media_note_orphan();

-- The downloader's system path: claims up to p_limit due downloads (any user's), pushing each one's
-- next attempt p_lease_seconds ahead so that another instance does not take it meanwhile; the rest
-- of the work acts as the owner under RLS.
CREATE FUNCTION app_api.media_claim_due(p_limit integer, p_lease_seconds integer)
    RETURNS TABLE (message_row_id uuid, session_id uuid, user_id uuid, attempts integer)
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        UPDATE public.whatsapp_media m
           SET next_attempt_at = now() + make_interval(secs => p_lease_seconds),
               attempts = m.attempts + 1
          FROM (SELECT d.message_row_id FROM public.whatsapp_media d
                 WHERE d.state = 'pending' AND d.next_attempt_at <= now()
                 ORDER BY d.next_attempt_at
                 LIMIT p_limit
                 FOR UPDATE SKIP LOCKED) due
         WHERE m.message_row_id = due.message_row_id
        RETURNING m.message_row_id, m.session_id, m.user_id, m.attempts
    $$;
REVOKE ALL ON FUNCTION app_api.media_claim_due(integer, integer) FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION app_api.media_claim_due(integer, integer) TO rarity_app;

-- The clean-up's system path: orphans older than p_min_age_seconds, oldest first.
CREATE FUNCTION app_api.media_orphans(p_limit integer, p_min_age_seconds integer)
    RETURNS TABLE (user_id uuid, sha256 text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT o.user_id, o.sha256 FROM app_private.media_orphans o
         WHERE o.created_at <= now() - make_interval(secs => p_min_age_seconds)
         ORDER BY o.created_at
         LIMIT p_limit
    $$;
REVOKE ALL ON FUNCTION app_api.media_orphans(integer, integer) FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION app_api.media_orphans(integer, integer) TO rarity_app;

-- Takes the file's lock (exclusive: no upload of the same file meanwhile), forgets the orphan, and
-- says whether the file is really unused (so the caller deletes it from storage before committing).
CREATE FUNCTION app_api.media_release_orphan(p_user_id uuid, p_sha256 text)
    RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_user_id::text || p_sha256, 7));
    DELETE FROM app_private.media_orphans o WHERE o.user_id = p_user_id AND o.sha256 = p_sha256;
    RETURN NOT EXISTS (SELECT 1 FROM public.whatsapp_media m
                        WHERE m.user_id = p_user_id AND m.sha256 = p_sha256);
END
$$;
REVOKE ALL ON FUNCTION app_api.media_release_orphan(uuid, text) FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION app_api.media_release_orphan(uuid, text) TO rarity_app;

-- A file removed from a row without deleting the row (the media retention below) is an orphan
-- candidate too.
CREATE FUNCTION app_private.whatsapp_media_note_replaced() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    IF OLD.sha256 IS NOT NULL AND OLD.sha256 IS DISTINCT FROM NEW.sha256 THEN
        INSERT INTO app_private.media_orphans (user_id, sha256)
        VALUES (OLD.user_id, OLD.sha256)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app_private.whatsapp_media_note_replaced() FROM PUBLIC, anon, authenticated, service_role;

CREATE TRIGGER whatsapp_media_note_replaced AFTER UPDATE OF sha256 ON public.whatsapp_media
    FOR EACH ROW EXECUTE FUNCTION app_private.whatsapp_media_note_replaced();

-- Media retention (privacy_settings.retention_media_days): one batch of files older than the
-- user's period is removed — the message stays (with its caption), its file is gone with the
-- reason, and the file itself is deleted from storage by the clean-up once no row uses it.
CREATE FUNCTION app_api.retention_purge_media(p_batch integer) RETURNS TABLE (user_id uuid, removed bigint)
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        WITH doomed AS (
            SELECT old.message_row_id, p.user_id, p.retention_media_days
            FROM public.privacy_settings p
            CROSS JOIN LATERAL (
                SELECT x.message_row_id FROM public.whatsapp_media x
                WHERE x.user_id = p.user_id
                  AND x.state = 'stored'
                  AND x.created_at < now() - make_interval(days => p.retention_media_days)
                ORDER BY x.created_at
                LIMIT p_batch
                FOR UPDATE OF x SKIP LOCKED
            ) old
            WHERE p.retention_media_days IS NOT NULL
            LIMIT p_batch
        ), gone AS (
            UPDATE public.whatsapp_media x
               SET state = 'failed', sha256 = NULL, descriptor = NULL,
                   state_reason = format('removed after %s days (media retention)', d.retention_media_days)
              FROM doomed d
             WHERE x.message_row_id = d.message_row_id
            RETURNING d.user_id
        )
        SELECT g.user_id, count(*) FROM gone g GROUP BY g.user_id
    $$;
REVOKE ALL ON FUNCTION app_api.retention_purge_media(integer) FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION app_api.retention_purge_media(integer) TO rarity_app;
