-- What `/metrics` reads about the whole database (every user's accounts and outbox), as the runtime
-- role through two narrow SECURITY DEFINER functions: counts only, no row of anyone's data.

-- Accounts per status (an account that never connected has status NULL or 'inactive').
CREATE FUNCTION app_api.account_status_counts()
    RETURNS TABLE (status text, accounts bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT coalesce(s.status, 'inactive'), count(*)
        FROM public.whatsapp_sessions s
        GROUP BY 1
    $$;

-- Messages waiting to be sent, and when the oldest was queued (NULL when none). Served by the
-- partial outbox index (status = 'queued' AND direction = 'out').
CREATE FUNCTION app_api.outbox_stats()
    RETURNS TABLE (depth bigint, oldest timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
    AS $$
        SELECT count(*), min(m.created_at)
        FROM public.whatsapp_messages m
        WHERE m.status = 'queued' AND m.direction = 'out'
    $$;

REVOKE ALL ON FUNCTION app_api.account_status_counts(), app_api.outbox_stats()
    FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION app_api.account_status_counts(), app_api.outbox_stats() TO rarity_app;
