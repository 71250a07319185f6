-- Supabase's default privileges can grant new tables and functions *directly* to anon,
-- authenticated and service_role; revoking from PUBLIC (000003) does not remove such grants.
-- Keep the accounts schemas private whatever the database's default privileges are.
REVOKE ALL ON ALL TABLES IN SCHEMA app_private FROM anon, authenticated, service_role;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA app_private FROM anon, authenticated, service_role;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA app_api FROM anon, authenticated, service_role;
REVOKE ALL ON SCHEMA app_private FROM anon, authenticated, service_role;
REVOKE ALL ON SCHEMA app_api FROM anon, authenticated, service_role;
-- The trigger helper is not an API either.
REVOKE ALL ON FUNCTION public.rarity_set_updated_at() FROM PUBLIC, anon, authenticated, service_role;
