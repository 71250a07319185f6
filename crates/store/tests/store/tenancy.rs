//! The tenancy table: for each table × operation, user A acting on user B's rows is refused —
//! invisible (0 rows) for reads, updates and deletes, an RLS error for writes that would create or
//! move a row into B's ownership. Each refused case has an allowed twin acting on A's own rows, so
//! the table also proves the statements themselves work.

use crate::support::{TestResult, a_store, a_user, owner};
use sqlx::Row;
use uuid::Uuid;

/// Rows of one user: a lead, a WhatsApp session, a message in it, a template.
#[derive(Clone, Copy)]
struct Owned {
    user: Uuid,
    lead: Uuid,
    session: Uuid,
    message: Uuid,
    template: Uuid,
}

async fn arrange(
    conn: &mut sqlx::PgConnection,
    user: Uuid,
    phone: &str,
) -> Result<Owned, sqlx::Error> {
    let lead: Uuid = sqlx::query_scalar(
        "INSERT INTO leads (user_id, name, phone) VALUES ($1, 'L', $2) RETURNING id",
    )
    .bind(user)
    .bind(phone)
    .fetch_one(&mut *conn)
    .await?;
    let session: Uuid = sqlx::query_scalar(
        "INSERT INTO whatsapp_sessions (user_id, session_name) VALUES ($1, 'S') RETURNING id",
    )
    .bind(user)
    .fetch_one(&mut *conn)
    .await?;
    let message: Uuid = sqlx::query_scalar(
        "INSERT INTO whatsapp_messages (session_id, lead_id, message_id, phone_number, direction, content) \
         VALUES ($1, $2, 'm1', $3, 'in', '{\"text\":\"hi\"}') RETURNING id",
    )
    .bind(session)
    .bind(lead)
    .bind(phone)
    .fetch_one(&mut *conn)
    .await?;
    let template: Uuid = sqlx::query_scalar(
        "INSERT INTO whatsapp_templates (user_id, name, content) VALUES ($1, 'T', 'Hi') RETURNING id",
    )
    .bind(user)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Owned {
        user,
        lead,
        session,
        message,
        template,
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Succeeds and touches/returns exactly this many rows.
    Rows(usize),
    /// Fails with SQLSTATE 42501 (RLS WITH CHECK violation).
    RlsError,
}

/// (table, operation, SQL with $1 = target row/owner and $2 = a second id, whose rows, expectation)
/// `Mine` binds A's ids, `Theirs` binds B's ids; `Mixed` binds A's row and B's id.
#[derive(Clone, Copy)]
enum Bind {
    Mine,
    Theirs,
    MineToTheirs,
}

struct Case {
    table: &'static str,
    op: &'static str,
    sql: &'static str,
    bind: Bind,
    ids: fn(&Owned, &Owned) -> (Uuid, Uuid),
    expect: Expect,
}

const CASES: &[Case] = &[
    // leads
    Case {
        table: "leads",
        op: "select",
        sql: "SELECT id FROM leads WHERE id = $1 AND $2::uuid IS NOT NULL",
        bind: Bind::Theirs,
        ids: |_, b| (b.lead, b.user),
        expect: Expect::Rows(0),
    },
    Case {
        table: "leads",
        op: "select",
        sql: "SELECT id FROM leads WHERE id = $1 AND $2::uuid IS NOT NULL",
        bind: Bind::Mine,
        ids: |a, _| (a.lead, a.user),
        expect: Expect::Rows(1),
    },
    Case {
        table: "leads",
        op: "insert",
        sql: "INSERT INTO leads (user_id, name, phone) SELECT $1, 'x', '+15550000001' WHERE $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Theirs,
        ids: |_, b| (b.user, b.user),
        expect: Expect::RlsError,
    },
    Case {
        table: "leads",
        op: "insert",
        sql: "INSERT INTO leads (user_id, name, phone) SELECT $1, 'x', '+15550000001' WHERE $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Mine,
        ids: |a, _| (a.user, a.user),
        expect: Expect::Rows(1),
    },
    Case {
        table: "leads",
        op: "update",
        sql: "UPDATE leads SET name = 'taken' WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Theirs,
        ids: |_, b| (b.lead, b.user),
        expect: Expect::Rows(0),
    },
    Case {
        table: "leads",
        op: "update",
        sql: "UPDATE leads SET name = 'taken' WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Mine,
        ids: |a, _| (a.lead, a.user),
        expect: Expect::Rows(1),
    },
    Case {
        table: "leads",
        op: "update (give away)",
        sql: "UPDATE leads SET user_id = $2 WHERE id = $1 RETURNING id",
        bind: Bind::MineToTheirs,
        ids: |a, b| (a.lead, b.user),
        expect: Expect::RlsError,
    },
    Case {
        table: "leads",
        op: "delete",
        sql: "DELETE FROM leads WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Theirs,
        ids: |_, b| (b.lead, b.user),
        expect: Expect::Rows(0),
    },
    Case {
        table: "leads",
        op: "delete",
        sql: "DELETE FROM leads WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Mine,
        ids: |a, _| (a.lead, a.user),
        expect: Expect::Rows(1),
    },
    // whatsapp_sessions
    Case {
        table: "whatsapp_sessions",
        op: "select",
        sql: "SELECT id FROM whatsapp_sessions WHERE id = $1 AND $2::uuid IS NOT NULL",
        bind: Bind::Theirs,
        ids: |_, b| (b.session, b.user),
        expect: Expect::Rows(0),
    },
    Case {
        table: "whatsapp_sessions",
        op: "select",
        sql: "SELECT id FROM whatsapp_sessions WHERE id = $1 AND $2::uuid IS NOT NULL",
        bind: Bind::Mine,
        ids: |a, _| (a.session, a.user),
        expect: Expect::Rows(1),
    },
    Case {
        table: "whatsapp_sessions",
        op: "insert",
        sql: "INSERT INTO whatsapp_sessions (user_id, session_name) SELECT $1, 'x' WHERE $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Theirs,
        ids: |_, b| (b.user, b.user),
        expect: Expect::RlsError,
    },
    // Users may write only the name (column privileges): the owner is the default, auth.uid().
    Case {
        table: "whatsapp_sessions",
        op: "insert",
        sql: "INSERT INTO whatsapp_sessions (session_name) SELECT 'x' WHERE $1::uuid IS NOT NULL AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Mine,
        ids: |a, _| (a.user, a.user),
        expect: Expect::Rows(1),
    },
    Case {
        table: "whatsapp_sessions",
        op: "update",
        sql: "UPDATE whatsapp_sessions SET session_name = 'taken' WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Theirs,
        ids: |_, b| (b.session, b.user),
        expect: Expect::Rows(0),
    },
    Case {
        table: "whatsapp_sessions",
        op: "update",
        sql: "UPDATE whatsapp_sessions SET session_name = 'taken' WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Mine,
        ids: |a, _| (a.session, a.user),
        expect: Expect::Rows(1),
    },
    Case {
        table: "whatsapp_sessions",
        op: "update (give away)",
        sql: "UPDATE whatsapp_sessions SET user_id = $2 WHERE id = $1 RETURNING id",
        bind: Bind::MineToTheirs,
        ids: |a, b| (a.session, b.user),
        expect: Expect::RlsError,
    },
    Case {
        table: "whatsapp_sessions",
        op: "delete",
        sql: "DELETE FROM whatsapp_sessions WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Theirs,
        ids: |_, b| (b.session, b.user),
        expect: Expect::Rows(0),
    },
    Case {
        table: "whatsapp_sessions",
        op: "delete",
        sql: "DELETE FROM whatsapp_sessions WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Mine,
        ids: |a, _| (a.session, a.user),
        expect: Expect::Rows(1),
    },
    // whatsapp_messages
    Case {
        table: "whatsapp_messages",
        op: "select",
        sql: "SELECT id FROM whatsapp_messages WHERE id = $1 AND $2::uuid IS NOT NULL",
        bind: Bind::Theirs,
        ids: |_, b| (b.message, b.user),
        expect: Expect::Rows(0),
    },
    Case {
        table: "whatsapp_messages",
        op: "select",
        sql: "SELECT id FROM whatsapp_messages WHERE id = $1 AND $2::uuid IS NOT NULL",
        bind: Bind::Mine,
        ids: |a, _| (a.message, a.user),
        expect: Expect::Rows(1),
    },
    Case {
        table: "whatsapp_messages",
        op: "insert (their session)",
        sql: "INSERT INTO whatsapp_messages (session_id, phone_number, direction, content) SELECT $1, '+15550000002', 'out', '{}' WHERE $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Theirs,
        ids: |_, b| (b.session, b.user),
        expect: Expect::RlsError,
    },
    Case {
        table: "whatsapp_messages",
        op: "insert",
        sql: "INSERT INTO whatsapp_messages (session_id, phone_number, direction, content) SELECT $1, '+15550000002', 'out', '{}' WHERE $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Mine,
        ids: |a, _| (a.session, a.user),
        expect: Expect::Rows(1),
    },
    Case {
        table: "whatsapp_messages",
        op: "insert (their lead)",
        sql: "INSERT INTO whatsapp_messages (session_id, lead_id, phone_number, direction, content) VALUES ($1, $2, '+15550000002', 'out', '{}') RETURNING id",
        bind: Bind::MineToTheirs,
        ids: |a, b| (a.session, b.lead),
        expect: Expect::RlsError,
    },
    Case {
        table: "whatsapp_messages",
        op: "update",
        sql: "UPDATE whatsapp_messages SET status = 'read' WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Theirs,
        ids: |_, b| (b.message, b.user),
        expect: Expect::Rows(0),
    },
    Case {
        table: "whatsapp_messages",
        op: "update",
        sql: "UPDATE whatsapp_messages SET status = 'read' WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Mine,
        ids: |a, _| (a.message, a.user),
        expect: Expect::Rows(1),
    },
    Case {
        table: "whatsapp_messages",
        op: "update (move to their session)",
        sql: "UPDATE whatsapp_messages SET session_id = $2 WHERE id = $1 RETURNING id",
        bind: Bind::MineToTheirs,
        ids: |a, b| (a.message, b.session),
        expect: Expect::RlsError,
    },
    Case {
        table: "whatsapp_messages",
        op: "delete",
        sql: "DELETE FROM whatsapp_messages WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Theirs,
        ids: |_, b| (b.message, b.user),
        expect: Expect::Rows(0),
    },
    Case {
        table: "whatsapp_messages",
        op: "delete",
        sql: "DELETE FROM whatsapp_messages WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Mine,
        ids: |a, _| (a.message, a.user),
        expect: Expect::Rows(1),
    },
    // whatsapp_templates
    Case {
        table: "whatsapp_templates",
        op: "select",
        sql: "SELECT id FROM whatsapp_templates WHERE id = $1 AND $2::uuid IS NOT NULL",
        bind: Bind::Theirs,
        ids: |_, b| (b.template, b.user),
        expect: Expect::Rows(0),
    },
    Case {
        table: "whatsapp_templates",
        op: "select",
        sql: "SELECT id FROM whatsapp_templates WHERE id = $1 AND $2::uuid IS NOT NULL",
        bind: Bind::Mine,
        ids: |a, _| (a.template, a.user),
        expect: Expect::Rows(1),
    },
    Case {
        table: "whatsapp_templates",
        op: "insert",
        sql: "INSERT INTO whatsapp_templates (user_id, name, content) SELECT $1, 'x', 'y' WHERE $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Theirs,
        ids: |_, b| (b.user, b.user),
        expect: Expect::RlsError,
    },
    Case {
        table: "whatsapp_templates",
        op: "insert",
        sql: "INSERT INTO whatsapp_templates (user_id, name, content) SELECT $1, 'x', 'y' WHERE $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Mine,
        ids: |a, _| (a.user, a.user),
        expect: Expect::Rows(1),
    },
    Case {
        table: "whatsapp_templates",
        op: "update",
        sql: "UPDATE whatsapp_templates SET name = 'taken' WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Theirs,
        ids: |_, b| (b.template, b.user),
        expect: Expect::Rows(0),
    },
    Case {
        table: "whatsapp_templates",
        op: "update",
        sql: "UPDATE whatsapp_templates SET name = 'taken' WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Mine,
        ids: |a, _| (a.template, a.user),
        expect: Expect::Rows(1),
    },
    Case {
        table: "whatsapp_templates",
        op: "update (give away)",
        sql: "UPDATE whatsapp_templates SET user_id = $2 WHERE id = $1 RETURNING id",
        bind: Bind::MineToTheirs,
        ids: |a, b| (a.template, b.user),
        expect: Expect::RlsError,
    },
    Case {
        table: "whatsapp_templates",
        op: "delete",
        sql: "DELETE FROM whatsapp_templates WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Theirs,
        ids: |_, b| (b.template, b.user),
        expect: Expect::Rows(0),
    },
    Case {
        table: "whatsapp_templates",
        op: "delete",
        sql: "DELETE FROM whatsapp_templates WHERE id = $1 AND $2::uuid IS NOT NULL RETURNING id",
        bind: Bind::Mine,
        ids: |a, _| (a.template, a.user),
        expect: Expect::Rows(1),
    },
];

#[tokio::test]
async fn user_a_cannot_touch_user_b_rows_in_any_table() -> TestResult {
    let (store, url) = a_store().await?;
    let (a, b) = (
        a_user(&store, "a@example.com").await?,
        a_user(&store, "b@example.com").await?,
    );
    let mut conn = owner(&url).await?;
    let mine = arrange(&mut conn, a, "+442079460001").await?;
    let theirs = arrange(&mut conn, b, "+442079460002").await?;

    // Every table × operation is covered, refused and allowed.
    for table in [
        "leads",
        "whatsapp_sessions",
        "whatsapp_messages",
        "whatsapp_templates",
    ] {
        for op in ["select", "insert", "update", "delete"] {
            let of = |refused: bool| {
                CASES.iter().any(|c| {
                    c.table == table
                        && c.op.starts_with(op)
                        && matches!(c.bind, Bind::Mine) != refused
                        && (c.expect == Expect::Rows(1)) != refused
                })
            };
            assert!(
                of(true) && of(false),
                "{table} × {op} lacks a refused or an allowed case"
            );
        }
    }

    let mut failures = Vec::new();
    for case in CASES {
        let (first, second) = (case.ids)(&mine, &theirs);
        // Each case in its own transaction as A (an RLS error aborts the transaction; dropping rolls back).
        let mut tx = store.as_user(a).await?;
        let outcome = sqlx::query(case.sql)
            .bind(first)
            .bind(second)
            .fetch_all(tx.connection_for_tests())
            .await;
        let got = match &outcome {
            Ok(rows) => Ok(rows.len()),
            Err(sqlx::Error::Database(db)) => Err(db.code().map(|c| c.into_owned())),
            Err(other) => {
                return Err(format!("{} {}: unexpected error {other}", case.table, case.op).into());
            }
        };
        let ok = match case.expect {
            Expect::Rows(n) => got == Ok(n),
            Expect::RlsError => got == Err(Some("42501".to_owned())),
        };
        if !ok {
            failures.push(format!(
                "{} × {} ({:?}): expected {:?}, got {:?}",
                case.table,
                case.op,
                bind_name(case.bind),
                case.expect,
                got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "tenancy violations:\n{}",
        failures.join("\n")
    );

    // And nothing of B's changed (all cases rolled back, but check the refused ones really did nothing).
    let name: String = sqlx::query("SELECT name FROM leads WHERE id = $1")
        .bind(theirs.lead)
        .fetch_one(&mut conn)
        .await?
        .get(0);
    assert_eq!(name, "L");
    Ok(())
}

fn bind_name(bind: Bind) -> &'static str {
    match bind {
        Bind::Mine => "own rows",
        Bind::Theirs => "other user's rows",
        Bind::MineToTheirs => "own row → other user",
    }
}

#[tokio::test]
async fn the_store_api_only_shows_the_users_own_data() -> TestResult {
    let (store, url) = a_store().await?;
    let (a, b) = (
        a_user(&store, "a@example.com").await?,
        a_user(&store, "b@example.com").await?,
    );
    let mut conn = owner(&url).await?;
    let theirs = arrange(&mut conn, b, "+442079460002").await?;

    let mut tx = store.as_user(a).await?;
    assert!(tx.leads_list().await?.is_empty());
    assert!(tx.templates_list().await?.is_empty());
    assert!(tx.whatsapp_sessions_list().await?.is_empty());
    assert!(tx.conversations_list().await?.is_empty());
    assert!(matches!(
        tx.lead_get(theirs.lead).await,
        Err(store::StoreError::NotFound)
    ));
    assert!(matches!(
        tx.lead_delete(theirs.lead).await,
        Err(store::StoreError::NotFound)
    ));
    assert!(matches!(
        tx.template_delete(theirs.template).await,
        Err(store::StoreError::NotFound)
    ));
    let patch = store::LeadPatch {
        name: Some("mine now".into()),
        ..Default::default()
    };
    assert!(matches!(
        tx.lead_update(theirs.lead, patch).await,
        Err(store::StoreError::NotFound)
    ));
    tx.commit().await?;

    let mut tx = store.as_user(b).await?;
    assert_eq!(tx.leads_list().await?.len(), 1);
    assert_eq!(tx.conversations_list().await?.len(), 1);
    Ok(())
}
