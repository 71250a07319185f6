-- Several instances on one database: a request that reaches an instance which does not hold the
-- account (read receipts, typing, presence) stores the command here and notifies; the instance
-- holding the account takes it and carries it out. Commands are short-lived (a typing indicator
-- two minutes late is wrong, not late): older ones are dropped when taken.

CREATE TABLE app_private.account_commands (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES public.whatsapp_sessions (id) ON DELETE CASCADE,
    command    jsonb NOT NULL CONSTRAINT account_commands_command_check
               CHECK (jsonb_typeof(command) = 'object' AND octet_length(command::text) <= 65536),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_commands_session_id_idx ON app_private.account_commands (session_id, id);
REVOKE ALL ON app_private.account_commands FROM PUBLIC, anon, authenticated, service_role;

-- Stores a command for the user's account and notifies the instances (channel
-- rarity_account_command, payload the account id), after checking the account is the user's.
CREATE FUNCTION app_api.account_command_push(p_session_id uuid, p_user_id uuid, p_command jsonb)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
    AS $$
BEGIN
    PERFORM 1 FROM public.whatsapp_sessions s WHERE s.id = p_session_id AND s.user_id = p_user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such WhatsApp account for this user'
            USING ERRCODE = 'no_data_found', CONSTRAINT = 'whatsapp_sessions_owner';
    END IF;
    INSERT INTO app_private.account_commands (session_id, command) VALUES (p_session_id, p_command);
    PERFORM pg_notify('rarity_account_command', p_session_id::text);
END
$$;
REVOKE ALL ON FUNCTION app_api.account_command_push(uuid, uuid, jsonb) FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION app_api.account_command_push(uuid, uuid, jsonb) TO rarity_app;

-- Takes (deletes and returns, oldest first) the commands for the listed accounts — the ones the
-- calling instance holds — and drops any command older than p_max_age_seconds.
CREATE FUNCTION app_api.account_commands_take(p_session_ids uuid[], p_max_age_seconds integer)
    RETURNS TABLE (session_id uuid, command jsonb)
    LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$
        WITH taken AS (
            DELETE FROM app_private.account_commands c
             WHERE c.session_id = ANY (p_session_ids)
                OR c.created_at < now() - make_interval(secs => p_max_age_seconds)
            RETURNING c.id, c.session_id, c.command, c.created_at
        )
        SELECT t.session_id, t.command FROM taken t
         WHERE t.session_id = ANY (p_session_ids)
           AND t.created_at >= now() - make_interval(secs => p_max_age_seconds)
         ORDER BY t.id
    $$;
REVOKE ALL ON FUNCTION app_api.account_commands_take(uuid[], integer) FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION app_api.account_commands_take(uuid[], integer) TO rarity_app;
