//! Store tests against a real PostgreSQL (`TEST_DATABASE_URL`, default the local server).
//! One test binary with a module per area, so it links once.

mod accounts;
mod embedded;
mod leads;
mod migrations;
mod runtime_role;
mod supabase;
mod support;
mod tenancy;
