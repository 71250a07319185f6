-- API keys for server-to-server use (`Authorization: Bearer rk_…`): created and revoked by their
-- owner in Settings, shown once, stored only as SHA-256 (the key is 256 random bits: a plain hash
-- cannot be reversed or brute-forced), scoped, with the last time each was used.

CREATE TABLE public.api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL DEFAULT auth.uid() REFERENCES auth.users (id) ON DELETE CASCADE,
    name         text NOT NULL CONSTRAINT api_keys_name_check CHECK (char_length(btrim(name)) BETWEEN 1 AND 100),
    -- The first characters of the key, to recognise it in the list (`rk_AbCd…`).
    prefix       text NOT NULL CONSTRAINT api_keys_prefix_check CHECK (prefix ~ '^rk_[A-Za-z0-9_-]{4,8}$'),
    key_hash     bytea NOT NULL CONSTRAINT api_keys_key_hash_check CHECK (octet_length(key_hash) = 32),
    scopes       text[] NOT NULL CONSTRAINT api_keys_scopes_check
                 CHECK (cardinality(scopes) BETWEEN 1 AND 3 AND scopes <@ ARRAY['read', 'send', 'manage']),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);
CREATE INDEX api_keys_user_id_idx ON public.api_keys (user_id, created_at DESC);

ALTER TABLE public.api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can manage their own API keys"
    ON public.api_keys FOR ALL TO authenticated
    USING (user_id = (SELECT auth.uid()))
    WITH CHECK (user_id = (SELECT auth.uid()));
REVOKE ALL ON public.api_keys FROM PUBLIC, anon;
-- The hash is never read back by users (nor through PostgREST): column grants.
GRANT SELECT (id, user_id, name, prefix, scopes, created_at, last_used_at, revoked_at),
      INSERT (name, prefix, key_hash, scopes),
      UPDATE (revoked_at),
      DELETE
    ON public.api_keys TO authenticated;

-- A user's keys at most (a bound on what one account can create).
CREATE FUNCTION app_private.api_keys_enforce_limit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    IF (SELECT count(*) FROM public.api_keys k WHERE k.user_id = NEW.user_id AND k.revoked_at IS NULL) >= 50 THEN
        RAISE EXCEPTION 'you can have at most 50 active API keys'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'api_keys_per_user_quota', DETAIL = '50';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION app_private.api_keys_enforce_limit() FROM PUBLIC, anon, authenticated, service_role;
CREATE TRIGGER api_keys_enforce_limit BEFORE INSERT ON public.api_keys
    FOR EACH ROW EXECUTE FUNCTION app_private.api_keys_enforce_limit();

-- The system path of authentication: the live key with this hash (its owner and scopes), noting
-- when it was used (at most once a minute, so a busy key does not write on every request).
CREATE FUNCTION app_api.api_key_authenticate(p_key_hash bytea)
    RETURNS TABLE (key_id uuid, user_id uuid, scopes text[])
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    RETURN QUERY
    UPDATE public.api_keys k
       SET last_used_at = now()
     WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL
       AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute')
    RETURNING k.id, k.user_id, k.scopes;
    IF NOT FOUND THEN
        RETURN QUERY
        SELECT k.id, k.user_id, k.scopes FROM public.api_keys k
         WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION app_api.api_key_authenticate(bytea) FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION app_api.api_key_authenticate(bytea) TO rarity_app;
