//! The same migrations apply to a Supabase database, where `auth` already exists (with more columns
//! and functions than ours) — they must use those objects, not replace them.

use crate::support::{TestResult, owner};
use sqlx::Row;
use store::{NewLead, Store, StoreConfig};
use uuid::Uuid;

/// A condensed restatement of Supabase's auth schema shape (public docs / supabase/auth migrations):
/// extra columns, the partial unique email index, and its `auth.uid()` definition.
pub(crate) const SUPABASE_AUTH: &str = r#"
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN NOINHERIT; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated NOLOGIN NOINHERIT; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN CREATE ROLE service_role NOLOGIN NOINHERIT; END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
CREATE SCHEMA auth;
CREATE TABLE auth.users (
  instance_id uuid,
  id uuid NOT NULL PRIMARY KEY,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz,
  updated_at timestamptz,
  phone text UNIQUE DEFAULT NULL,
  is_sso_user boolean NOT NULL DEFAULT false,
  deleted_at timestamptz
);
CREATE UNIQUE INDEX users_email_partial_key ON auth.users (email) WHERE (is_sso_user = false);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $f$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$f$;
COMMENT ON FUNCTION auth.uid() IS 'Deprecated. Use auth.jwt() -> ''sub'' instead.';
CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $f$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$f$;
CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $f$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$f$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.uid(), auth.role(), auth.jwt() TO anon, authenticated, service_role;
-- Supabase's generous default privileges for objects the migrating role creates.
ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO anon, authenticated, service_role;
"#;

#[tokio::test]
async fn migrations_apply_to_a_supabase_style_auth_schema_and_keep_it() -> TestResult {
    let url = store::test_support::fresh_database().await?;
    let mut conn = owner(&url).await?;
    sqlx::raw_sql(SUPABASE_AUTH).execute(&mut conn).await?;
    let uid_oid: i64 = sqlx::query_scalar("SELECT 'auth.uid()'::regprocedure::oid::bigint")
        .fetch_one(&mut conn)
        .await?;
    let users_oid: i64 = sqlx::query_scalar("SELECT 'auth.users'::regclass::oid::bigint")
        .fetch_one(&mut conn)
        .await?;
    // A user Supabase Auth created (e.g. by magic link), with columns our minimal table lacks.
    let supabase_user = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO auth.users (id, aud, role, email, raw_user_meta_data, created_at) \
         VALUES ($1, 'authenticated', 'authenticated', 'sb@example.com', '{\"name\":\"Sb\"}', now())",
    )
    .bind(supabase_user)
    .execute(&mut conn)
    .await?;

    let store = Store::connect(&StoreConfig::new(url.clone())).await?;
    store.readiness().await?;

    // The existing objects are the same objects, untouched.
    let after_uid: i64 = sqlx::query_scalar("SELECT 'auth.uid()'::regprocedure::oid::bigint")
        .fetch_one(&mut conn)
        .await?;
    let after_users: i64 = sqlx::query_scalar("SELECT 'auth.users'::regclass::oid::bigint")
        .fetch_one(&mut conn)
        .await?;
    assert_eq!(
        (after_uid, after_users),
        (uid_oid, users_oid),
        "auth objects were replaced"
    );
    let comment: Option<String> =
        sqlx::query_scalar("SELECT obj_description('auth.uid()'::regprocedure, 'pg_proc')")
            .fetch_one(&mut conn)
            .await?;
    assert_eq!(
        comment.as_deref(),
        Some("Deprecated. Use auth.jwt() -> 'sub' instead.")
    );
    let columns: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'auth' AND table_name = 'users'",
    )
    .fetch_one(&mut conn)
    .await?;
    assert_eq!(columns, 15, "auth.users keeps Supabase's columns");

    // A Supabase-issued JWT's user: already present, so ensuring it writes nothing; it gets tenancy.
    store
        .accounts()
        .ensure_jwt_user(supabase_user, Some("sb@example.com"))
        .await?;
    let meta: serde_json::Value =
        sqlx::query("SELECT raw_user_meta_data FROM auth.users WHERE id = $1")
            .bind(supabase_user)
            .fetch_one(&mut conn)
            .await?
            .get(0);
    assert_eq!(meta["name"], "Sb");
    let mut tx = store.as_user(supabase_user).await?;
    tx.lead_create(NewLead::new("From Supabase", "+351912345678"))
        .await?;
    tx.commit().await?;

    // Our own sign-up writes into Supabase's table; its unique email index reports EmailTaken.
    let local = store
        .accounts()
        .create_user("local@example.com", "$argon2id$h")
        .await?;
    let mut tx = store.as_user(local).await?;
    assert!(
        tx.leads_list().await?.is_empty(),
        "the other user's lead must not be visible"
    );
    drop(tx);
    assert!(matches!(
        store
            .accounts()
            .create_user("SB@example.com", "$argon2id$h")
            .await,
        Err(store::StoreError::EmailTaken)
    ));

    // Despite the default privileges, the private parts stay private to API roles.
    for sql in [
        "SELECT count(*) FROM app_private.credentials",
        "SELECT count(*) FROM app_private.web_sessions",
        "SELECT count(*) FROM app_api.credentials('sb@example.com')",
    ] {
        let mut tx = store.as_user(local).await?;
        let result = sqlx::query(sql).fetch_one(tx.connection_for_tests()).await;
        let state = match &result {
            Err(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
            _ => None,
        };
        assert_eq!(
            state.as_deref(),
            Some("42501"),
            "{sql} must be refused as a user"
        );
    }
    for (role, table) in [
        ("anon", "public.leads"),
        ("anon", "public.whatsapp_messages"),
        ("authenticated", "app_private.credentials"),
        ("authenticated", "app_private.web_sessions"),
        ("authenticated", "app_private.whatsapp_credentials"),
        ("authenticated", "app_private.whatsapp_keys"),
        ("authenticated", "app_private.settings"),
        ("anon", "app_private.whatsapp_keys"),
        ("service_role", "app_private.whatsapp_credentials"),
        ("service_role", "app_private.whatsapp_keys"),
    ] {
        let granted: bool = sqlx::query_scalar("SELECT has_table_privilege($1, $2, 'SELECT')")
            .bind(role)
            .bind(table)
            .fetch_one(&mut conn)
            .await?;
        assert!(!granted, "{role} must not read {table}");
    }
    // Default privileges granted ALL, which includes TRUNCATE (RLS does not filter it).
    for table in [
        "public.leads",
        "public.whatsapp_sessions",
        "public.whatsapp_messages",
        "public.whatsapp_templates",
    ] {
        for privilege in ["TRUNCATE", "REFERENCES", "TRIGGER"] {
            let granted: bool =
                sqlx::query_scalar("SELECT has_table_privilege('authenticated', $1, $2)")
                    .bind(table)
                    .bind(privilege)
                    .fetch_one(&mut conn)
                    .await?;
            assert!(
                !granted,
                "authenticated must not have {privilege} on {table}"
            );
        }
    }
    // Column privileges on accounts survive the default privileges: PostgREST users can read the
    // state and rename, nothing more.
    for (column, privilege, expected) in [
        ("session_name", "UPDATE", true),
        ("status", "SELECT", true),
        ("status", "UPDATE", false),
        ("status", "INSERT", false),
        ("session_data", "SELECT", false),
        ("session_data", "UPDATE", false),
        ("qr_code", "SELECT", false),
        ("phone_number", "UPDATE", false),
        ("user_id", "UPDATE", false),
    ] {
        let granted: bool = sqlx::query_scalar(
            "SELECT has_column_privilege('authenticated', 'public.whatsapp_sessions', $1, $2)",
        )
        .bind(column)
        .bind(privilege)
        .fetch_one(&mut conn)
        .await?;
        assert_eq!(
            granted, expected,
            "authenticated {privilege} on whatsapp_sessions.{column}"
        );
    }
    for function in [
        "app_api.credentials(text)",
        "app_api.whatsapp_load_credentials(uuid)",
        "app_api.whatsapp_wipe_credentials(uuid)",
        "app_api.whatsapp_accounts_to_start()",
        "app_private.whatsapp_sessions_enforce_limit()",
    ] {
        for role in ["anon", "authenticated", "service_role"] {
            let callable: bool =
                sqlx::query_scalar("SELECT has_function_privilege($1, $2, 'EXECUTE')")
                    .bind(role)
                    .bind(function)
                    .fetch_one(&mut conn)
                    .await?;
            assert!(!callable, "{role} must not execute {function}");
        }
    }
    Ok(())
}
