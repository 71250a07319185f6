//! Store tests against a real PostgreSQL (`TEST_DATABASE_URL`, default the local server).
//! One test binary with a module per area, so it links once.

mod accounts;
mod embedded;
mod engine_commit;
mod engine_crypto;
mod leads;
mod migrations;
mod outbox;
mod runtime_role;
mod session_limit;
mod supabase;
mod support;
mod tenancy;
mod whatsapp_privileges;
