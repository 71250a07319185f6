//! A host's Supabase project that already has its own `public.leads` (the Rarity Leads SaaS): the
//! migrations adopt it — its columns, rows, indexes, constraints and policies stay as they were,
//! we add what we need beside them — our store works on it, and running them again is a no-op.
//! A table we cannot adopt is refused with every reason at once, and left untouched.

use crate::supabase::SUPABASE_AUTH;
use crate::support::{TestResult, a_cipher, a_contact_sends, a_linked_account, owner};
use sqlx::PgConnection;
use store::{EngineCommit, NewLead, Store, StoreConfig, StoreError};
use uuid::Uuid;

/// The host's table as a typical Supabase app has it: its own columns beside the usual ones (no
/// `source`/`campaign`, which we add), statuses of its own, a nullable name and phone, a
/// `shared` flag its policies use, its own index and unique key, and grants to `anon` for its
/// public web form.
const HOST_LEADS: &str = r#"
CREATE TABLE public.leads (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  name text,
  email varchar(320),
  phone text,
  company text,
  status text NOT NULL DEFAULT 'open',
  pipeline_stage text DEFAULT 'inbox',
  score integer NOT NULL DEFAULT 0 CHECK (score BETWEEN 0 AND 100),
  notes text,
  shared boolean NOT NULL DEFAULT false,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz,
  CONSTRAINT host_leads_email_per_user UNIQUE (user_id, email)
);
CREATE INDEX leads_pipeline_stage_idx ON public.leads (user_id, pipeline_stage);
ALTER TABLE public.leads ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Host: owners manage their leads" ON public.leads
  FOR ALL TO authenticated USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);
CREATE POLICY "Host: shared leads are visible to the team" ON public.leads
  FOR SELECT TO authenticated USING (shared);
CREATE POLICY "Host: the web form may add leads" ON public.leads
  FOR INSERT TO anon WITH CHECK (status = 'open' AND NOT shared);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.leads TO authenticated;
GRANT INSERT ON public.leads TO anon;
"#;

/// The host's columns, rows, indexes, constraints, policies and triggers as text, to compare
/// before and after.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    columns: Vec<String>,
    rows: String,
    indexes: Vec<String>,
    constraints: Vec<String>,
    policies: Vec<String>,
    triggers: Vec<String>,
    rls: (bool, bool),
}

const HOST_COLUMNS: &str = "id, user_id, name, email, phone, company, status, pipeline_stage, score, \
                            notes, shared, created_at, updated_at";

async fn snapshot(conn: &mut PgConnection) -> Result<Snapshot, sqlx::Error> {
    let columns = sqlx::query_scalar(
        "SELECT concat_ws(' ', column_name, data_type, character_maximum_length, is_nullable, column_default) \
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'leads' \
         ORDER BY ordinal_position",
    )
    .fetch_all(&mut *conn)
    .await?;
    let rows = sqlx::query_scalar(&format!(
        "SELECT coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t.id)), '') \
         FROM (SELECT {HOST_COLUMNS} FROM public.leads) t"
    ))
    .fetch_one(&mut *conn)
    .await?;
    let indexes = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'leads' ORDER BY indexname",
    )
    .fetch_all(&mut *conn)
    .await?;
    let constraints = sqlx::query_scalar(
        "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE conrelid = 'public.leads'::regclass ORDER BY conname",
    )
    .fetch_all(&mut *conn)
    .await?;
    let policies = sqlx::query_scalar(
        "SELECT concat_ws(' | ', policyname, permissive, roles::text, cmd, qual, with_check) \
         FROM pg_policies WHERE schemaname = 'public' AND tablename = 'leads' ORDER BY policyname",
    )
    .fetch_all(&mut *conn)
    .await?;
    let triggers = sqlx::query_scalar(
        "SELECT tgname || ' ' || tgenabled::text FROM pg_trigger \
         WHERE tgrelid = 'public.leads'::regclass AND NOT tgisinternal ORDER BY tgname",
    )
    .fetch_all(&mut *conn)
    .await?;
    let rls = sqlx::query_as(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'public.leads'::regclass",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Snapshot {
        columns,
        rows,
        indexes,
        constraints,
        policies,
        triggers,
        rls,
    })
}

/// `before`'s entries are all in `after`, unchanged.
fn kept(what: &str, before: &[String], after: &[String]) {
    for entry in before {
        assert!(
            after.contains(entry),
            "{what} changed or lost: {entry}\nafter: {after:#?}"
        );
    }
}

async fn auth_user(conn: &mut PgConnection, email: &str) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO auth.users (id, aud, role, email, created_at) \
         VALUES ($1, 'authenticated', 'authenticated', $2, now())",
    )
    .bind(id)
    .bind(email)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// A host project: Supabase's auth, the host's `leads` with two users' rows.
async fn a_host_project() -> Result<(String, Uuid, Uuid), Box<dyn std::error::Error + Send + Sync>>
{
    let url = store::test_support::fresh_database().await?;
    let mut conn = owner(&url).await?;
    sqlx::raw_sql(SUPABASE_AUTH).execute(&mut conn).await?;
    sqlx::raw_sql(HOST_LEADS).execute(&mut conn).await?;
    let ana = auth_user(&mut conn, "ana@host.example").await?;
    let bob = auth_user(&mut conn, "bob@host.example").await?;
    sqlx::query(
        "INSERT INTO public.leads (user_id, name, email, phone, company, status, pipeline_stage, score, notes, shared, updated_at) VALUES \
         ($1, 'Maria Host', 'maria@client.example', '+351911111111', 'Client Lda', 'negotiation', 'demo', 80, 'Call back Monday', false, now()), \
         ($1, NULL, NULL, '0911 222 333', NULL, 'open', 'inbox', 10, 'From the fair; no name yet', false, NULL), \
         ($1, NULL, NULL, '+351955555555', NULL, 'open', 'inbox', 5, 'Called us, left no name', false, NULL), \
         ($1, 'Nuno No Phone', 'nuno@client.example', NULL, NULL, 'won', 'closed', 100, NULL, false, NULL), \
         ($2, 'Bob''s Shared Lead', NULL, '+447700900123', 'Team Co', 'contacted', 'qualified', 55, 'Shared with the team', true, now())",
    )
    .bind(ana)
    .bind(bob)
    .execute(&mut conn)
    .await?;
    Ok((url, ana, bob))
}

/// What a host client (PostgREST with the user's JWT) sees: `authenticated` with the claims,
/// without our store's flag.
async fn host_client_sees(conn: &mut PgConnection, user: Uuid) -> Result<i64, sqlx::Error> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query("SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)")
        .bind(serde_json::json!({ "sub": user, "role": "authenticated" }).to_string())
        .execute(&mut *tx)
        .await?;
    let seen = sqlx::query_scalar("SELECT count(*) FROM public.leads")
        .fetch_one(&mut *tx)
        .await?;
    tx.rollback().await?;
    Ok(seen)
}

#[tokio::test]
async fn a_host_leads_table_is_adopted_and_keeps_its_rows_columns_and_policies() -> TestResult {
    let (url, ana, bob) = a_host_project().await?;
    let mut conn = owner(&url).await?;
    let before = snapshot(&mut conn).await?;
    let host_ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM public.leads ORDER BY id")
        .fetch_all(&mut conn)
        .await?;
    assert_eq!(
        host_client_sees(&mut conn, ana).await?,
        5,
        "own 4 + Bob's shared one"
    );

    let store = Store::connect(&StoreConfig::new(url.clone())).await?;
    store.readiness().await?;
    let after = snapshot(&mut conn).await?;

    // Every host row, column value, column, index, constraint and policy is as it was.
    assert_eq!(after.rows, before.rows, "the host's rows changed");
    kept("column", &before.columns, &after.columns);
    kept("index", &before.indexes, &after.indexes);
    kept("constraint", &before.constraints, &after.constraints);
    kept("policy", &before.policies, &after.policies);
    kept("trigger", &before.triggers, &after.triggers);
    assert_eq!(after.rls, before.rls);
    // What we added: our columns the host lacked, nullable or with a constant default, and no
    // CHECK on any column of the host's (old rows must stay updatable).
    let added: Vec<&String> = after
        .columns
        .iter()
        .filter(|c| !before.columns.contains(c))
        .collect();
    let names: Vec<&str> = added.iter().filter_map(|c| c.split(' ').next()).collect();
    assert_eq!(
        names,
        ["source", "campaign", "fields", "wa_lid"],
        "{added:#?}"
    );
    for column in ["name", "phone", "status", "email", "company", "updated_at"] {
        let checked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_constraint c JOIN pg_attribute a \
               ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) \
             WHERE c.conrelid = 'public.leads'::regclass AND c.contype = 'c' AND a.attname = $1",
        )
        .bind(column)
        .fetch_one(&mut conn)
        .await?;
        assert_eq!(checked, 0, "a CHECK was added to the host's `{column}`");
    }
    let added_policies: Vec<&String> = after
        .policies
        .iter()
        .filter(|p| !before.policies.contains(p))
        .collect();
    assert_eq!(added_policies.len(), 2, "{added_policies:#?}");
    assert!(
        added_policies
            .iter()
            .any(|p| p.starts_with("Rarity WhatsApp: own leads only in the store | RESTRICTIVE"))
    );
    assert!(added_policies.iter().any(|p| {
        p.starts_with("Rarity WhatsApp: users manage their own leads in the store | PERMISSIVE")
    }));
    // The host's grants to its web form stay; TRUNCATE (which RLS does not filter) is gone.
    for (role, privilege, expected) in [
        ("anon", "INSERT", true),
        ("authenticated", "SELECT", true),
        ("authenticated", "TRUNCATE", false),
    ] {
        let granted: bool =
            sqlx::query_scalar("SELECT has_table_privilege($1, 'public.leads', $2)")
                .bind(role)
                .bind(privilege)
                .fetch_one(&mut conn)
                .await?;
        assert_eq!(granted, expected, "{role} {privilege} on public.leads");
    }

    // Our store: the user's own leads only, host rows read as our shape, left as they are.
    let mut tx = store.as_user(ana).await?;
    let mut leads = tx.leads_list().await?;
    leads.sort_by(|a, b| (&a.name, &a.phone).cmp(&(&b.name, &b.phone)));
    let seen: Vec<(&str, &str, &str)> = leads
        .iter()
        .map(|l| (l.name.as_str(), l.phone.as_str(), l.status.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("", "+351955555555", "new"),
            ("", "0911 222 333", "new"),
            ("Maria Host", "+351911111111", "new"),
            ("Nuno No Phone", "", "won"),
        ],
        "Bob's shared lead is the host's team feature, not visible in our store"
    );
    let maria = leads.iter().find(|l| l.name == "Maria Host").map(|l| l.id);
    let created = tx
        .lead_create(NewLead::new("Carla New", "+351933333333"))
        .await?;
    tx.commit().await?;
    // The host's defaults fill the host's columns of a lead we create.
    let (stage, score, shared): (Option<String>, i32, bool) =
        sqlx::query_as("SELECT pipeline_stage, score, shared FROM public.leads WHERE id = $1")
            .bind(created.id)
            .fetch_one(&mut conn)
            .await?;
    assert_eq!((stage.as_deref(), score, shared), (Some("inbox"), 0, false));
    // The host's clients keep their own rules (the team sees shared leads).
    assert_eq!(host_client_sees(&mut conn, ana).await?, 6);
    assert_eq!(host_client_sees(&mut conn, bob).await?, 1);

    // WhatsApp: a message from a host lead's number links to that lead; one from a new number
    // creates a lead.
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, ana).await?;
    engine
        .commit(
            session,
            ana,
            EngineCommit {
                inbound: vec![
                    a_contact_sends("HOST1", "+351911111111", "Olá, about the demo"),
                    a_contact_sends("NEW1", "+351944444444", "Hi, saw your ad"),
                    a_contact_sends("NONAME1", "+351955555555", "It's me again"),
                ],
                ..Default::default()
            },
        )
        .await?;
    let links: Vec<(String, Option<Uuid>)> = sqlx::query_as(
        "SELECT message_id, lead_id FROM public.whatsapp_messages ORDER BY message_id",
    )
    .fetch_all(&mut conn)
    .await?;
    assert_eq!(links[0].0, "HOST1");
    assert_eq!(links[0].1, maria, "linked to the host's lead");
    let nameless: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM public.leads WHERE phone = '+351955555555'")
            .fetch_one(&mut conn)
            .await?;
    assert_eq!(links[2], ("NONAME1".to_owned(), nameless));
    let new_lead = links[1].1.ok_or("the new number got no lead")?;
    assert!(!host_ids.contains(&new_lead));
    let (owner_of, phone, status, source): (Uuid, String, String, Option<String>) =
        sqlx::query_as("SELECT user_id, phone, status, source FROM public.leads WHERE id = $1")
            .bind(new_lead)
            .fetch_one(&mut conn)
            .await?;
    assert_eq!(
        (owner_of, phone.as_str(), status.as_str(), source.as_deref()),
        (ana, "+351944444444", "open", Some("whatsapp")),
        "a lead we create takes the host's default status"
    );

    // The rest of the store reads host rows too: the chats list, the data export (the host's
    // own status values as they are), and a CSV import into existing leads, which keeps what the
    // file does not name (a missing name stays missing, a host status stays).
    let mut tx = store.as_user(ana).await?;
    let chats = tx.conversations().await?;
    assert_eq!(chats.len(), 3, "{chats:#?}");
    assert!(
        chats
            .iter()
            .any(|c| c.lead_name.is_empty() && c.phone_number == "+351955555555")
    );
    let report = tx
        .leads_import(
            b"phone,company\n+351955555555,Acme\n+351911111111,Client SA\n",
            &store::ImportOptions::default(),
        )
        .await?;
    tx.commit().await?;
    assert_eq!((report.updated, report.created), (2, 0), "{report:#?}");
    let imported: Vec<(Option<String>, String, Option<String>)> = sqlx::query_as(
        "SELECT name, status, company FROM public.leads \
         WHERE phone IN ('+351955555555', '+351911111111') ORDER BY phone",
    )
    .fetch_all(&mut conn)
    .await?;
    assert_eq!(
        imported,
        [
            (
                Some("Maria Host".to_owned()),
                "negotiation".to_owned(),
                Some("Client SA".to_owned())
            ),
            (None, "open".to_owned(), Some("Acme".to_owned())),
        ]
    );
    let (_, files) = crate::export::export(&store, ana, store::ExportScope::Account).await?;
    let exported = crate::export::csv_rows(&files["leads.csv"])?;
    let mut statuses: Vec<&str> = exported.iter().map(|r| r["status"].as_str()).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        ["negotiation", "new", "open", "open", "open", "won"],
        "every one of Ana's leads, with the host's statuses"
    );

    // A campaign over host leads: the nameless one is sent to, the one whose number is not in
    // international format is skipped with that reason (never sent to a made-up number).
    crate::campaigns::active(&engine, session).await?;
    let local: Uuid =
        sqlx::query_scalar("SELECT id FROM public.leads WHERE phone = '0911 222 333'")
            .fetch_one(&mut conn)
            .await?;
    let mut tx = store.as_user(ana).await?;
    let campaign = tx
        .campaign_create(store::NewCampaign {
            name: "Host leads".into(),
            content: Some("Hello from us".into()),
            account_ids: vec![session],
            // Skips cost no pacing; the send does, so the skip goes first.
            lead_ids: Some(vec![local, nameless.ok_or("no nameless lead")?]),
            start: true,
            ..store::NewCampaign::default()
        })
        .await?;
    tx.commit().await?;
    crate::campaigns::run(
        &store.campaign_runner(),
        campaign.id,
        ana,
        store::Pace::default(),
        10,
    )
    .await?;
    let mut tx = store.as_user(ana).await?;
    let mut states: Vec<(String, String, String, Option<String>)> = tx
        .campaign_leads(campaign.id, None, None, 10)
        .await?
        .into_iter()
        .map(|l| (l.name, l.phone, l.state, l.reason))
        .collect();
    drop(tx);
    states.sort();
    assert_eq!(
        states,
        [
            (
                String::new(),
                "+351955555555".to_owned(),
                "queued".to_owned(),
                None
            ),
            (
                String::new(),
                "0911 222 333".to_owned(),
                "skipped".to_owned(),
                Some("no phone number in international format".to_owned())
            ),
        ]
    );

    let mut tx = store.as_user(bob).await?;
    let bobs: Vec<String> = tx.leads_list().await?.into_iter().map(|l| l.name).collect();
    assert_eq!(bobs, ["Bob's Shared Lead"]);
    drop(tx);

    // A contact who opts out by WhatsApp, and whose number the host's app then clears: the
    // host's update goes through (nothing to carry the opt-out to; the old number stays out).
    engine
        .commit(
            session,
            ana,
            EngineCommit {
                inbound: vec![a_contact_sends("STOP1", "+351944444444", "STOP")],
                ..Default::default()
            },
        )
        .await?;
    let mut tx = store.as_user(ana).await?;
    assert!(
        matches!(
            tx.consent_of(new_lead).await?.state,
            store::ConsentState::OptedOut
        ),
        "the STOP opted out"
    );
    drop(tx);
    sqlx::query("UPDATE public.leads SET phone = NULL WHERE id = $1")
        .bind(new_lead)
        .execute(&mut conn)
        .await?;

    // The host's own writes go on as before: an old row with a host status and a local number
    // is updatable, and the web form inserts as anon.
    sqlx::query("UPDATE public.leads SET notes = 'Met at the fair', score = 20 WHERE phone = '0911 222 333'")
        .execute(&mut conn)
        .await?;
    let mut form = sqlx::Connection::begin(&mut conn).await?;
    sqlx::query("SET LOCAL ROLE anon")
        .execute(&mut *form)
        .await?;
    sqlx::query(
        "INSERT INTO public.leads (user_id, name, phone) VALUES ($1, 'Web form', '912 000 111')",
    )
    .bind(bob)
    .execute(&mut *form)
    .await?;
    form.commit().await?;

    // Running the migrations again changes nothing.
    let applied = "SELECT string_agg(version || ':' || encode(checksum, 'hex') || ':' || installed_on, ',' ORDER BY version) \
                   FROM _sqlx_migrations";
    let log: String = sqlx::query_scalar(applied).fetch_one(&mut conn).await?;
    let settled = snapshot(&mut conn).await?;
    let again = Store::connect(&StoreConfig::new(url.clone())).await?;
    again.readiness().await?;
    assert_eq!(
        sqlx::query_scalar::<_, String>(applied)
            .fetch_one(&mut conn)
            .await?,
        log
    );
    assert_eq!(snapshot(&mut conn).await?, settled);
    Ok(())
}

#[tokio::test]
async fn a_host_leads_table_that_cannot_be_adopted_is_refused_and_left_alone() -> TestResult {
    let url = store::test_support::fresh_database().await?;
    let mut conn = owner(&url).await?;
    sqlx::raw_sql(SUPABASE_AUTH).execute(&mut conn).await?;
    sqlx::raw_sql(
        "CREATE TABLE public.leads (id bigserial PRIMARY KEY, owner_id uuid, phone text, \
                                    org_id uuid NOT NULL, fields jsonb, company text NOT NULL DEFAULT '', \
                                    created_at timestamptz); \
         INSERT INTO public.leads (owner_id, phone, org_id) VALUES (gen_random_uuid(), '+351911111111', gen_random_uuid());",
    )
    .execute(&mut conn)
    .await?;
    let before = snapshot_loose(&mut conn).await?;

    let result = Store::connect(&StoreConfig::new(url.clone())).await;
    let Err(StoreError::Config(message)) = result else {
        panic!("expected a refusal, got {result:?}");
    };
    for reason in [
        "`id` is bigint",
        "no `user_id uuid`",
        "`fields` column",
        "`org_id` is NOT NULL without a default",
        "`company` is NOT NULL",
        "`created_at` has no default",
        "1 lead(s) have no `created_at`",
        "row-level security is off",
        "Nothing was changed",
    ] {
        assert!(
            message.contains(reason),
            "{reason:?} missing from: {message}"
        );
    }
    assert_eq!(snapshot_loose(&mut conn).await?, before);
    let log: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut conn)
        .await?;
    assert!(!log, "no migration may run");
    Ok(())
}

#[tokio::test]
async fn two_leads_of_one_owner_with_one_number_are_refused_until_merged() -> TestResult {
    let (url, ana, _) = a_host_project().await?;
    let mut conn = owner(&url).await?;
    sqlx::query(
        "INSERT INTO public.leads (user_id, name, phone, status) VALUES ($1, 'Maria again', '+351911111111', 'open')",
    )
    .bind(ana)
    .execute(&mut conn)
    .await?;
    let result = Store::connect(&StoreConfig::new(url.clone())).await;
    let Err(StoreError::Config(message)) = result else {
        panic!("expected a refusal, got {result:?}");
    };
    assert!(message.contains("1 phone number(s)"), "{message}");

    // Merged by the host: adoption goes ahead.
    sqlx::query("DELETE FROM public.leads WHERE name = 'Maria again'")
        .execute(&mut conn)
        .await?;
    Store::connect(&StoreConfig::new(url.clone()))
        .await?
        .readiness()
        .await?;
    Ok(())
}

/// Columns and rows of any `public.leads` (the refused one has none of the host columns above).
async fn snapshot_loose(conn: &mut PgConnection) -> Result<(Vec<String>, String), sqlx::Error> {
    let columns = sqlx::query_scalar(
        "SELECT concat_ws(' ', column_name, data_type, is_nullable, column_default) \
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'leads' \
         ORDER BY ordinal_position",
    )
    .fetch_all(&mut *conn)
    .await?;
    let rows = sqlx::query_scalar(
        "SELECT md5(string_agg(l::text, ',' ORDER BY l.id)) FROM public.leads l",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((columns, rows))
}

/// A host whose owner column is `owner_id` (defaulting to the signed-in user), with an
/// `updated_at` trigger of its own and a trigger it keeps switched off.
const HOST_LEADS_OWNER_ID: &str = r#"
CREATE TABLE public.leads (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_id uuid NOT NULL DEFAULT auth.uid() REFERENCES auth.users (id) ON DELETE CASCADE,
  name text,
  phone text,
  status text NOT NULL DEFAULT 'open',
  score integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION public.host_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE TRIGGER host_touch BEFORE UPDATE ON public.leads FOR EACH ROW EXECUTE FUNCTION public.host_touch();
CREATE FUNCTION public.host_never() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'switched off by the host'; END $$;
CREATE TRIGGER host_off BEFORE UPDATE ON public.leads FOR EACH ROW EXECUTE FUNCTION public.host_never();
ALTER TABLE public.leads DISABLE TRIGGER host_off;
ALTER TABLE public.leads ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Host: owners read their leads" ON public.leads
  FOR SELECT TO authenticated USING (owner_id = auth.uid());
CREATE POLICY "Host: owners add leads" ON public.leads
  FOR INSERT TO authenticated WITH CHECK (owner_id = auth.uid());
GRANT SELECT, INSERT, UPDATE, DELETE ON public.leads TO authenticated;
"#;

async fn rows_of_owner_id_table(conn: &mut PgConnection) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT md5(string_agg(t::text, E'\\n' ORDER BY t.id)) \
         FROM (SELECT id, owner_id, name, phone, status, score, created_at, updated_at FROM public.leads) t",
    )
    .fetch_one(&mut *conn)
    .await
}

fn owner_id_settings() -> store::StoreSettings {
    store::StoreSettings {
        leads_owner_column: Some("owner_id".to_owned()),
        ..store::StoreSettings::default()
    }
}

#[tokio::test]
async fn a_host_owner_column_of_another_name_is_configured_and_kept_equal_to_user_id() -> TestResult
{
    let url = store::test_support::fresh_database().await?;
    let mut conn = owner(&url).await?;
    sqlx::raw_sql(SUPABASE_AUTH).execute(&mut conn).await?;
    sqlx::raw_sql(HOST_LEADS_OWNER_ID)
        .execute(&mut conn)
        .await?;
    let ana = auth_user(&mut conn, "ana@host.example").await?;
    let bob = auth_user(&mut conn, "bob@host.example").await?;
    sqlx::query(
        "INSERT INTO public.leads (owner_id, name, phone, status, score, created_at, updated_at) VALUES \
         ($1, 'Maria Host', '+351911111111', 'negotiation', 80, '2026-01-02', '2026-01-03'), \
         ($2, 'Bob''s Lead', '+447700900123', 'open', 10, '2026-01-04', '2026-01-05')",
    )
    .bind(ana)
    .bind(bob)
    .execute(&mut conn)
    .await?;
    let rows = rows_of_owner_id_table(&mut conn).await?;

    // Without LEADS_OWNER_COLUMN the table is refused, with the way out in the message.
    let result = Store::connect(&StoreConfig::new(url.clone())).await;
    let Err(StoreError::Config(message)) = result else {
        panic!("expected a refusal, got {result:?}");
    };
    assert!(message.contains("set LEADS_OWNER_COLUMN"), "{message}");
    // Nor with a lead column of its own named as the owner.
    let result = Store::connect_with(
        &StoreConfig::new(url.clone()),
        &store::StoreSettings {
            leads_owner_column: Some("id".to_owned()),
            ..store::StoreSettings::default()
        },
    )
    .await;
    let Err(StoreError::Config(message)) = result else {
        panic!("expected a refusal, got {result:?}");
    };
    assert!(
        message.contains("one of the lead's own columns"),
        "{message}"
    );

    let store = Store::connect_with(&StoreConfig::new(url.clone()), &owner_id_settings()).await?;
    store.readiness().await?;
    assert_eq!(
        rows_of_owner_id_table(&mut conn).await?,
        rows,
        "the host's rows changed (its updated_at trigger must not fire on our fill)"
    );
    let triggers: Vec<(String, String)> = sqlx::query_as(
        "SELECT tgname::text, tgenabled::text FROM pg_trigger \
         WHERE tgrelid = 'public.leads'::regclass AND tgname IN ('host_touch', 'host_off') ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await?;
    assert_eq!(
        triggers,
        [
            ("host_off".to_owned(), "D".to_owned()),
            ("host_touch".to_owned(), "O".to_owned())
        ],
        "the host's triggers are as the host left them"
    );
    let unequal: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM public.leads WHERE user_id IS DISTINCT FROM owner_id",
    )
    .fetch_one(&mut conn)
    .await?;
    assert_eq!(unequal, 0);

    // Our store: own leads only; a lead we create and one from WhatsApp belong to the user in the
    // host's column too.
    let mut tx = store.as_user(ana).await?;
    let names: Vec<String> = tx.leads_list().await?.into_iter().map(|l| l.name).collect();
    assert_eq!(names, ["Maria Host"]);
    let created = tx
        .lead_create(NewLead::new("Carla New", "+351933333333"))
        .await?;
    tx.commit().await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, ana).await?;
    engine
        .commit(
            session,
            ana,
            EngineCommit {
                inbound: vec![a_contact_sends("NEW1", "+351944444444", "Hi")],
                ..Default::default()
            },
        )
        .await?;
    let owners: Vec<(String, Option<Uuid>)> = sqlx::query_as(
        "SELECT phone, owner_id FROM public.leads WHERE id = $1 OR phone = '+351944444444' ORDER BY phone",
    )
    .bind(created.id)
    .fetch_all(&mut conn)
    .await?;
    assert_eq!(
        owners,
        [
            ("+351933333333".to_owned(), Some(ana)),
            ("+351944444444".to_owned(), Some(ana))
        ]
    );

    // The host's clients write only their column: a lead they create (owner from its default)
    // and a lead they hand to someone else follow in `user_id`, so our store agrees.
    let mut host = sqlx::Connection::begin(&mut conn).await?;
    sqlx::query("SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)")
        .bind(serde_json::json!({ "sub": bob, "role": "authenticated" }).to_string())
        .execute(&mut *host)
        .await?;
    sqlx::query(
        "INSERT INTO public.leads (name, phone) VALUES ('Bob via the host app', '+447700900456')",
    )
    .execute(&mut *host)
    .await?;
    // The host lets owners add and read, not change or delete: our policies do not widen that
    // for its clients (they apply only in our store's transactions).
    for sql in [
        "UPDATE public.leads SET score = 99",
        "DELETE FROM public.leads",
    ] {
        let touched = sqlx::query(sql).execute(&mut *host).await?.rows_affected();
        assert_eq!(touched, 0, "{sql} as a host client");
    }
    host.commit().await?;
    sqlx::query("UPDATE public.leads SET owner_id = $1 WHERE name = 'Maria Host'")
        .bind(bob)
        .execute(&mut conn)
        .await?;
    let mut tx = store.as_user(bob).await?;
    let mut names: Vec<String> = tx.leads_list().await?.into_iter().map(|l| l.name).collect();
    names.sort();
    assert_eq!(names, ["Bob via the host app", "Bob's Lead", "Maria Host"]);
    drop(tx);
    let mut tx = store.as_user(ana).await?;
    assert!(
        !tx.leads_list()
            .await?
            .iter()
            .any(|l| l.name == "Maria Host")
    );
    drop(tx);

    // Running again, with or without the setting (it only matters when adopting), is a no-op.
    let applied = "SELECT string_agg(version || ':' || installed_on, ',' ORDER BY version) FROM _sqlx_migrations";
    let log: String = sqlx::query_scalar(applied).fetch_one(&mut conn).await?;
    let rows = rows_of_owner_id_table(&mut conn).await?;
    Store::connect_with(&StoreConfig::new(url.clone()), &owner_id_settings()).await?;
    Store::connect(&StoreConfig::new(url.clone())).await?;
    assert_eq!(
        sqlx::query_scalar::<_, String>(applied)
            .fetch_one(&mut conn)
            .await?,
        log
    );
    assert_eq!(rows_of_owner_id_table(&mut conn).await?, rows);
    Ok(())
}
