//! Store tests against a real PostgreSQL (`TEST_DATABASE_URL`, default the local server).
//! One test binary with a module per area, so it links once.

mod accounts;
mod api_keys;
mod audit;
mod campaigns;
mod consent;
mod embedded;
mod engine_commit;
mod engine_crypto;
mod erasure;
mod events;
mod export;
mod host_leads;
mod leads;
mod media;
mod migrations;
mod outbox;
mod relay;
mod retention;
mod runtime_role;
mod session_limit;
mod supabase;
mod support;
mod tenancy;
mod webhooks;
mod whatsapp_privileges;
