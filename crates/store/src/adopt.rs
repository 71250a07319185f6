//! Adopting a host's `public.leads` instead of creating ours.
//!
//! On a host's Supabase project, `public.leads` may exist before we do: it is the host SaaS's own
//! table, with its rows, columns and policies. Migration 20261126000002 creates `public.leads`,
//! so it would abort there; and applied migrations cannot be edited (sqlx checks checksums). So
//! before the migrator runs, [`migrator`] looks: when `public.leads` exists and that migration has
//! not been applied, the table is the host's. It is checked ([`check_host_leads`]: every problem
//! at once, in one message), and the migrations are run with that one migration's text adapted
//! (its `leads` part replaced by `sql/adopt_leads.sql`, which adds only what is missing) under
//! its *original* checksum. Every later run sees the migration applied with the checksum it
//! expects and uses [`crate::MIGRATOR`] unchanged, so re-runs are no-ops and a deployment that
//! created its own `leads` is never touched by this module. Later migrations apply as they are:
//! they only add columns, indexes, triggers and functions the check makes sure can be added.

use crate::{MIGRATOR, StoreError};
use sqlx::PgPool;
use sqlx::migrate::{Migration, Migrator};
use std::borrow::Cow;

/// The migration that creates `public.leads` on a database without one.
pub(crate) const LEADS_MIGRATION: i64 = 20261126000002;

/// What replaces that migration's `CREATE TABLE public.leads …` block when adopting.
const ADOPT_SQL: &str = include_str!("sql/adopt_leads.sql");
/// Put before [`ADOPT_SQL`] when the host's owner column is not `user_id` (`__OWNER__` → its name).
const OWNER_SQL: &str = include_str!("sql/adopt_leads_owner.sql");
/// The owner column's name in our own schema, and `LEADS_OWNER_COLUMN`'s default.
pub const DEFAULT_OWNER_COLUMN: &str = "user_id";
/// Our trigger and function keeping `user_id` equal to a differently named owner column.
const OWNER_SYNC_TRIGGER: &str = "zz_rarity_leads_owner_sync";
const OWNER_SYNC_FUNCTION: &str = "public.rarity_leads_owner_sync()";

/// The start and end of the `leads` block in migration …0002 (its text is frozen by its checksum).
const LEADS_BLOCK_START: &str = "CREATE TABLE public.leads (";
const LEADS_BLOCK_END: &str = "CREATE TRIGGER leads_set_updated_at BEFORE UPDATE ON public.leads\n    \
     FOR EACH ROW EXECUTE FUNCTION public.rarity_set_updated_at();\n";
/// Our own table's policy, for everyone acting as a user; an adopted table gets one that applies
/// only in the store's transactions instead (see `sql/adopt_leads.sql`).
const LEADS_POLICY: &str = "CREATE POLICY \"Users can manage their own leads\"\n    \
     ON public.leads FOR ALL TO authenticated\n    \
     USING (user_id = (SELECT auth.uid()))\n    \
     WITH CHECK (user_id = (SELECT auth.uid()));\n";
/// Grants on the host's table are the host's: we revoke nothing there (its `anon` web form may
/// insert leads), and only grant `authenticated` what our users need (the `GRANT` is kept).
const REVOKE_FROM: &str = "REVOKE ALL ON public.leads, public.whatsapp_sessions,";
const REVOKE_TO: &str = "REVOKE ALL ON public.whatsapp_sessions,";

/// Columns of ours a host table may already have, and the types we can use as they are.
const TEXT_COLUMNS: [&str; 7] = [
    "name", "phone", "company", "email", "status", "source", "campaign",
];
const TIME_COLUMNS: [&str; 2] = ["created_at", "updated_at"];
/// Added by later migrations with a plain `ADD COLUMN`: the host must not have them.
const LATER_COLUMNS: [&str; 2] = ["fields", "wa_lid"];
/// Columns our inserts set (with `id` from its default).
const WRITTEN_COLUMNS: [&str; 9] = [
    "user_id", "name", "phone", "company", "email", "status", "source", "campaign", "fields",
];
/// Of those, the ones every insert sets to a value; `status` is left to its default by the
/// engine's "new contact" insert, and the rest may be NULL (no company, no email…).
const ALWAYS_SET: [&str; 3] = ["user_id", "name", "phone"];
const MAY_BE_NULL: [&str; 4] = ["company", "email", "source", "campaign"];
/// Names later migrations create on `public.leads` without `IF NOT EXISTS`.
const LATER_INDEXES: [&str; 4] = [
    "leads_closed_updated_at_idx",
    "leads_user_id_wa_lid_idx",
    "leads_user_id_name_idx",
    "leads_user_id_updated_at_idx",
];
const LATER_TRIGGERS: [&str; 2] = ["leads_consent_follow_phone", "leads_enforce_quota"];
const STORE_POLICIES: [&str; 2] = [
    "Rarity WhatsApp: users manage their own leads in the store",
    "Rarity WhatsApp: own leads only in the store",
];

/// The migrator to run: `None` for [`MIGRATOR`] itself (a fresh database, or `leads` already
/// ours or already adopted), `Some` with migration …0002 adapted when a host's `public.leads` is
/// there to adopt. A host table that cannot be adopted is [`StoreError::Config`] naming every
/// problem.
///
/// `owner_column` (`LEADS_OWNER_COLUMN`) names the host table's owner column; it is read only
/// here, when adopting: afterwards the schema itself keeps `user_id` equal to it.
pub(crate) async fn migrator(
    owner: &PgPool,
    owner_column: &str,
) -> Result<Option<Migrator>, StoreError> {
    if !valid_owner_column(owner_column) {
        return Err(StoreError::Config(format!(
            "LEADS_OWNER_COLUMN must be a lower-case SQL name (a-z, 0-9, _; at most 63), got {owner_column:?}"
        )));
    }
    // Unqualified, as sqlx names its table: resolved by the owner's search_path like sqlx does.
    let (has_leads, has_log): (bool, bool) = sqlx::query_as(
        "SELECT to_regclass('public.leads') IS NOT NULL, to_regclass('_sqlx_migrations') IS NOT NULL",
    )
    .fetch_one(owner)
    .await?;
    if !has_leads {
        return Ok(None);
    }
    if has_log {
        let applied: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM _sqlx_migrations WHERE version = $1)")
                .bind(LEADS_MIGRATION)
                .fetch_one(owner)
                .await?;
        if applied {
            return Ok(None);
        }
    }
    check_host_leads(owner, owner_column).await?;
    Ok(Some(adopting_migrator(owner_column)?))
}

/// [`MIGRATOR`] with migration …0002's `leads` part replaced by the adoption block; same
/// versions, same checksums.
pub(crate) fn adopting_migrator(owner_column: &str) -> Result<Migrator, StoreError> {
    let migrations = MIGRATOR
        .iter()
        .map(|m| {
            if m.version == LEADS_MIGRATION && m.migration_type.is_up_migration() {
                adopted(m, owner_column)
            } else {
                Ok(m.clone())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Migrator {
        migrations: Cow::Owned(migrations),
        ignore_missing: MIGRATOR.ignore_missing,
        locking: MIGRATOR.locking,
        no_tx: MIGRATOR.no_tx,
    })
}

/// A lower-case, unquoted SQL identifier: safe to write into the adoption SQL as `"name"`.
pub fn valid_owner_column(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn adopted(original: &Migration, owner_column: &str) -> Result<Migration, StoreError> {
    let sql: &str = &original.sql;
    let unknown = || {
        StoreError::Config(format!(
            "migration {LEADS_MIGRATION} is not the text this build knows how to adapt"
        ))
    };
    let start = once(sql, LEADS_BLOCK_START).ok_or_else(unknown)?;
    let end = once(sql, LEADS_BLOCK_END).ok_or_else(unknown)? + LEADS_BLOCK_END.len();
    if end <= start {
        return Err(unknown());
    }
    let mut text = String::with_capacity(sql.len() + ADOPT_SQL.len());
    text.push_str(&sql[..start]);
    if owner_column != DEFAULT_OWNER_COLUMN {
        // Checked by `valid_owner_column`: no quote can end the identifier early.
        text.push_str(&OWNER_SQL.replace("__OWNER__", owner_column));
    }
    text.push_str(ADOPT_SQL);
    text.push_str(&sql[end..]);
    once(&text, LEADS_POLICY).ok_or_else(unknown)?;
    once(&text, REVOKE_FROM).ok_or_else(unknown)?;
    let text = text
        .replacen(LEADS_POLICY, "", 1)
        .replacen(REVOKE_FROM, REVOKE_TO, 1);
    Ok(Migration {
        sql: Cow::Owned(text),
        // The original checksum: later runs compare against the file, which is unchanged.
        checksum: original.checksum.clone(),
        ..original.clone()
    })
}

/// The byte offset of `needle` if it occurs exactly once in `haystack`.
fn once(haystack: &str, needle: &str) -> Option<usize> {
    let first = haystack.find(needle)?;
    haystack[first + needle.len()..]
        .find(needle)
        .is_none()
        .then_some(first)
}

#[derive(sqlx::FromRow)]
struct HostColumn {
    name: String,
    type_name: String,
    not_null: bool,
    has_default: bool,
    generated: bool,
}

/// Everything that stops us from adopting the host's `public.leads`, in one error.
async fn check_host_leads(owner: &PgPool, owner_column: &str) -> Result<(), StoreError> {
    let mut problems: Vec<String> = Vec::new();
    let (kind, rls, forced, owned, owner_name): (String, bool, bool, bool, String) =
        sqlx::query_as(
            "SELECT c.relkind::text, c.relrowsecurity, c.relforcerowsecurity, \
                pg_has_role(current_user, c.relowner, 'USAGE'), pg_get_userbyid(c.relowner)::text \
         FROM pg_class c WHERE c.oid = 'public.leads'::regclass",
        )
        .fetch_one(owner)
        .await?;
    if kind != "r" && kind != "p" {
        problems.push("it is not a table (a view or another kind of relation)".to_owned());
        return Err(refusal(&problems));
    }
    if !owned {
        problems.push(format!(
            "it is owned by {owner_name}: run the migrations as that role (DATABASE_URL)"
        ));
    }
    if !rls {
        problems.push(
            "row-level security is off on it: enable it (with the host's own policies) first, \
             since enabling it for you would change what the host's clients can see"
                .to_owned(),
        );
    }

    if forced {
        problems.push(
            "FORCE ROW LEVEL SECURITY is on: the owner's own maintenance (our migrations, erasure, \
             retention) would be filtered by the policies"
                .to_owned(),
        );
    }

    let columns: Vec<HostColumn> = sqlx::query_as(
        "SELECT a.attname::text AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name, \
                a.attnotnull AS not_null, (a.atthasdef OR a.attidentity <> '') AS has_default, \
                a.attgenerated <> '' AS generated \
         FROM pg_catalog.pg_attribute a \
         WHERE a.attrelid = 'public.leads'::regclass AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attnum",
    )
    .fetch_all(owner)
    .await?;
    let column = |name: &str| columns.iter().find(|c| c.name == name);
    match column("id") {
        None => problems.push("it has no `id uuid` column".to_owned()),
        Some(id) if id.type_name != "uuid" => {
            problems.push(format!("its `id` is {}, not uuid", id.type_name))
        }
        Some(id) if !id.has_default => problems.push(
            "its `id` has no default (e.g. gen_random_uuid()): we create leads without one"
                .to_owned(),
        ),
        Some(_) => {}
    }
    let renamed = owner_column != DEFAULT_OWNER_COLUMN;
    match column(owner_column) {
        None if renamed => problems.push(format!(
            "it has no `{owner_column}` column, which LEADS_OWNER_COLUMN names as its owner column"
        )),
        None => problems.push(
            "it has no `user_id uuid` owner column (the auth.users id of the lead's owner); \
             if yours has another name, set LEADS_OWNER_COLUMN to it"
                .to_owned(),
        ),
        Some(c) if c.type_name != "uuid" => problems.push(format!(
            "its owner column `{owner_column}` is {}, not uuid",
            c.type_name
        )),
        Some(c) if c.generated => problems.push(format!(
            "its owner column `{owner_column}` is a generated column: we write it"
        )),
        Some(_) => {}
    }
    let is_ours = std::iter::once("id")
        .chain(TEXT_COLUMNS)
        .chain(TIME_COLUMNS)
        .chain(LATER_COLUMNS)
        .any(|c| c == owner_column);
    if renamed && is_ours {
        problems.push(format!(
            "LEADS_OWNER_COLUMN names `{owner_column}`, one of the lead's own columns, not an owner"
        ));
    }
    if renamed && column(DEFAULT_OWNER_COLUMN).is_some() {
        problems.push(format!(
            "it has a `user_id` column besides `{owner_column}` (LEADS_OWNER_COLUMN): we would add \
             a `user_id` kept equal to the owner column; unset LEADS_OWNER_COLUMN if `user_id` is \
             the owner"
        ));
    }
    for name in TEXT_COLUMNS {
        if let Some(c) = column(name)
            && c.type_name != "text"
            && !c.type_name.starts_with("character varying")
        {
            problems.push(format!(
                "its `{name}` is {}, not text or varchar",
                c.type_name
            ));
        }
    }
    for name in TIME_COLUMNS {
        if let Some(c) = column(name)
            && c.type_name != "timestamp with time zone"
        {
            problems.push(format!("its `{name}` is {}, not timestamptz", c.type_name));
        }
    }
    for name in LATER_COLUMNS {
        if column(name).is_some() {
            problems.push(format!(
                "it has a `{name}` column, a name we add a column of our own under"
            ));
        }
    }
    for c in &columns {
        let name = c.name.as_str();
        // A renamed owner column is set from `user_id` by our trigger, before NOT NULL is checked.
        let always_set = ALWAYS_SET.contains(&name) || name == owner_column;
        if c.generated && (WRITTEN_COLUMNS.contains(&name) || name == owner_column) {
            problems.push(format!("its `{name}` is a generated column: we write it"));
        } else if c.not_null && MAY_BE_NULL.contains(&name) {
            problems.push(format!(
                "its `{name}` is NOT NULL: leads we create often have none (no company, no email…)"
            ));
        } else if c.not_null && !c.has_default && !always_set && name != "id" {
            problems.push(format!(
                "its `{name}` is NOT NULL without a default: leads we create do not always set it"
            ));
        }
    }

    // Leads are listed and paged by `created_at`: every row needs one, now and later.
    if let Some(c) = column("created_at")
        && c.type_name == "timestamp with time zone"
    {
        if !c.not_null && !c.has_default {
            problems.push(
                "its `created_at` has no default: leads your app creates would have none, and we \
                 list leads by it (add DEFAULT now())"
                    .to_owned(),
            );
        }
        let missing: i64 =
            sqlx::query_scalar("SELECT count(*) FROM public.leads WHERE created_at IS NULL")
                .fetch_one(owner)
                .await?;
        if missing > 0 {
            problems.push(format!(
                "{missing} lead(s) have no `created_at`: fill them (e.g. from updated_at or now())"
            ));
        }
    }

    let has_id_key: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c \
                        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
                        WHERE c.conrelid = 'public.leads'::regclass AND c.contype IN ('p', 'u') \
                          AND cardinality(c.conkey) = 1 AND a.attname = 'id')",
    )
    .fetch_one(owner)
    .await?;
    if !has_id_key && column("id").is_some() {
        problems.push(
            "its `id` is neither its primary key nor UNIQUE: our tables reference leads by id"
                .to_owned(),
        );
    }

    let has_unique_phone: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c \
                        WHERE c.conrelid = 'public.leads'::regclass AND c.conname = 'leads_user_id_phone_key')",
    )
    .fetch_one(owner)
    .await?;
    if !has_unique_phone
        && problems.is_empty()
        && column("phone").is_some()
        && column(owner_column).is_some()
    {
        // `owner_column` is a checked identifier (`valid_owner_column`).
        let duplicated: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM (SELECT 1 FROM public.leads \
                                   WHERE \"{owner_column}\" IS NOT NULL AND phone IS NOT NULL \
                                   GROUP BY \"{owner_column}\", phone HAVING count(*) > 1) d"
        ))
        .fetch_one(owner)
        .await?;
        if duplicated > 0 {
            problems.push(format!(
                "{duplicated} phone number(s) appear on more than one lead of the same owner: \
                 we add UNIQUE (user_id, phone) (one lead per number per user); merge them first"
            ));
        }
    }

    for index in LATER_INDEXES {
        let taken: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(format!("public.{index}"))
            .fetch_one(owner)
            .await?;
        if taken {
            problems.push(format!(
                "the name `{index}` is taken; we create an index under it"
            ));
        }
    }
    let mut triggers = LATER_TRIGGERS.to_vec();
    if renamed {
        triggers.push(OWNER_SYNC_TRIGGER);
        let function_taken: bool = sqlx::query_scalar("SELECT to_regprocedure($1) IS NOT NULL")
            .bind(OWNER_SYNC_FUNCTION)
            .fetch_one(owner)
            .await?;
        if function_taken {
            problems.push(format!(
                "a function {OWNER_SYNC_FUNCTION} exists already; we create one under that name"
            ));
        }
    }
    let taken: Vec<String> = sqlx::query_scalar(
        "SELECT t.tgname::text FROM pg_catalog.pg_trigger t \
         WHERE t.tgrelid = 'public.leads'::regclass AND t.tgname = ANY($1) ORDER BY 1",
    )
    .bind(&triggers)
    .fetch_all(owner)
    .await?;
    for trigger in taken {
        problems.push(format!(
            "it has a trigger named `{trigger}`, a name we create one under"
        ));
    }
    let taken: Vec<String> = sqlx::query_scalar(
        "SELECT p.polname::text FROM pg_catalog.pg_policy p \
         WHERE p.polrelid = 'public.leads'::regclass AND p.polname = ANY($1) ORDER BY 1",
    )
    .bind(&STORE_POLICIES[..])
    .fetch_all(owner)
    .await?;
    for policy in taken {
        problems.push(format!(
            "it has a policy named \"{policy}\", a name we create one under"
        ));
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(refusal(&problems))
    }
}

fn refusal(problems: &[String]) -> StoreError {
    StoreError::Config(format!(
        "the database already has a public.leads table, which we adopt rather than create, but \
         it cannot be adopted as it is: {}. Nothing was changed. See the README, \"Adopting the \
         host's leads table\"",
        problems.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leads_migration_is_adapted_and_keeps_its_checksum() {
        let migrator =
            adopting_migrator(DEFAULT_OWNER_COLUMN).expect("migration …0002 is the text we know");
        let (original, adapted) = MIGRATOR
            .iter()
            .zip(migrator.iter())
            .find(|(m, _)| m.version == LEADS_MIGRATION)
            .expect("the leads migration");
        assert_eq!(adapted.checksum, original.checksum);
        assert!(!adapted.sql.contains(LEADS_BLOCK_START));
        assert!(!adapted.sql.contains(LEADS_POLICY));
        assert!(!adapted.sql.contains(REVOKE_FROM));
        assert!(
            adapted
                .sql
                .contains("CREATE TABLE public.whatsapp_messages")
        );
        assert!(adapted.sql.contains(ADOPT_SQL));
        assert!(!adapted.sql.contains(OWNER_SYNC_TRIGGER));
        // Every other migration is the file itself.
        for (a, b) in MIGRATOR.iter().zip(migrator.iter()) {
            assert_eq!(a.version, b.version);
            if a.version != LEADS_MIGRATION {
                assert_eq!(a.sql, b.sql);
            }
        }
    }

    #[test]
    fn a_renamed_owner_column_is_kept_equal_to_user_id() {
        let migrator = adopting_migrator("owner_id").expect("adapted");
        let adapted = migrator
            .iter()
            .find(|m| m.version == LEADS_MIGRATION)
            .expect("the leads migration");
        assert!(
            adapted
                .sql
                .contains("UPDATE public.leads SET user_id = \"owner_id\";")
        );
        assert!(adapted.sql.contains(OWNER_SYNC_TRIGGER));
        assert!(!adapted.sql.contains("__OWNER__"));
        // The owner block comes first: the adoption block's UNIQUE (user_id, phone) needs it.
        assert!(adapted.sql.find(OWNER_SYNC_TRIGGER) < adapted.sql.find("leads_user_id_phone_key"));
    }

    #[test]
    fn owner_column_names_are_plain_identifiers() {
        for good in ["user_id", "owner_id", "created_by", "_owner2"] {
            assert!(valid_owner_column(good), "{good}");
        }
        for bad in [
            "",
            "Owner",
            "owner id",
            "owner\"; DROP TABLE x; --",
            "1st",
            &"a".repeat(64),
        ] {
            assert!(!valid_owner_column(bad), "{bad}");
        }
    }
}
