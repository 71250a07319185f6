-- Supabase's default privileges grant ALL on every new table to anon, authenticated and
-- service_role, and ALL includes TRUNCATE (which row-level security does not filter: one user
-- could empty every tenant's table), REFERENCES and TRIGGER. Migration …02 granted users exactly
-- SELECT/INSERT/UPDATE/DELETE but did not take these away. Users need none of them.
REVOKE TRUNCATE, REFERENCES, TRIGGER
    ON public.leads, public.whatsapp_sessions, public.whatsapp_messages, public.whatsapp_templates
    FROM anon, authenticated;
