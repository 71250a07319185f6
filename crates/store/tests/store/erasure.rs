//! Erasure: "Erase this lead" and account deletion leave no trace of the person in any table —
//! checked by scanning every row of every table as text — except the suppression-list hash of
//! someone who opted out, which keeps them from ever being messaged again. (There is no media
//! storage yet, so there is nothing else to scan.)

use crate::support::{
    TestResult, a_cipher, a_contact_sends, a_linked_account, a_store, a_user, owner,
};
use sqlx::PgConnection;
use store::{EngineCommit, KeyKind, KeyWrite, NewConsent, NewLead, NewOutgoing, StoreError};
use uuid::Uuid;

/// Every (table, needle) where a row of `table`, as text, contains the needle, or its hex form
/// (bytea columns print as hex). System schemas and the migrations' own SQL are not data.
async fn traces(
    conn: &mut PgConnection,
    needles: &[&str],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg_toast%' AND c.relname <> '_sqlx_migrations' \
         ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    assert!(tables.len() >= 10, "{tables:?}");
    let mut found = Vec::new();
    for table in &tables {
        for needle in needles {
            let hex: String = needle.bytes().map(|b| format!("{b:02x}")).collect();
            let n: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM {table} t WHERE strpos(t::text, $1) > 0 OR strpos(t::text, $2) > 0"
            ))
            .bind(needle)
            .bind(&hex)
            .fetch_one(&mut *conn)
            .await?;
            if n > 0 {
                found.push((table.clone(), (*needle).to_owned()));
            }
        }
    }
    Ok(found)
}

#[tokio::test]
async fn erasing_a_lead_leaves_no_trace_and_an_opted_out_number_stays_unreachable() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let phone = "+447700900123";
    let digits = "447700900123";
    let name = "Zelda Quintessa";
    let push_name = "Zee Q.";
    let secret = "zq-secret-order-8841";
    let lid = "98765432100123@lid";

    // Everything the product keeps about a person: the lead, consent records, messages both ways
    // (one arriving by LID only), a queued outbox row, Signal keys for their devices, and the
    // event log the engine's commits append to.
    let mut tx = store.as_user(user).await?;
    let lead = tx.lead_create(NewLead::new(name, phone)).await?;
    tx.consent_record(
        lead.id,
        NewConsent {
            kind: "opt_in".into(),
            source: "form".into(),
            evidence: format!("{name} signed up"),
        },
    )
    .await?;
    tx.message_enqueue(NewOutgoing {
        session_id: session,
        to: phone,
        text: &format!("Hi {name}, your {secret} shipped"),
        idempotency_key: Some("erase-1"),
    })
    .await?;
    tx.commit().await?;
    let mut first = a_contact_sends("IN1", phone, &format!("Thanks! {secret}"));
    first.push_name = Some(push_name.into());
    first.contact_lid = Some(lid.into());
    let mut by_lid = a_contact_sends("IN2", phone, &format!("also {secret} via lid"));
    by_lid.contact_phone = None;
    by_lid.contact_jid = Some(lid.into());
    by_lid.contact_lid = Some(lid.into());
    let key = |kind, name: &str| KeyWrite {
        kind,
        name: name.into(),
        value: Some(b"signal state".to_vec()),
    };
    engine
        .commit(
            session,
            user,
            EngineCommit {
                inbound: vec![first, by_lid],
                keys: vec![
                    key(KeyKind::Session, &format!("{digits}.0")),
                    key(KeyKind::Session, &format!("{digits}.3")),
                    key(KeyKind::Identity, &format!("{digits}.0")),
                    key(KeyKind::Session, "98765432100123@lid.0"),
                    key(KeyKind::Session, "447700900999.0"),
                    key(KeyKind::PreKey, "17"),
                ],
                ..Default::default()
            },
        )
        .await?;
    engine
        .commit(
            session,
            user,
            EngineCommit {
                inbound: vec![a_contact_sends("IN3", phone, "STOP")],
                ..Default::default()
            },
        )
        .await?;
    // Someone else, who must stay.
    let mut tx = store.as_user(user).await?;
    let keeper = tx
        .lead_create(NewLead::new("Kept Person", "+447700900999"))
        .await?;
    tx.commit().await?;
    engine
        .commit(
            session,
            user,
            EngineCommit {
                inbound: vec![a_contact_sends("K1", "+447700900999", "keep me")],
                ..Default::default()
            },
        )
        .await?;

    let needles = [phone, digits, name, push_name, secret, "98765432100123"];
    let mut conn = owner(&url).await?;
    let before = traces(&mut conn, &needles).await?;
    for table in [
        "public.leads",
        "public.whatsapp_messages",
        "public.consent_events",
        "app_private.whatsapp_keys",
    ] {
        assert!(
            before.iter().any(|(t, _)| t == table),
            "the scan must see {table} first: {before:?}"
        );
    }

    let report = store.erase_lead(user, lead.id).await?;
    assert_eq!(report.messages, 4, "{report:?}"); // the outbox row, 2 in (one by LID), the STOP
    assert_eq!(report.signal_keys, 4, "{report:?}");
    assert_eq!(report.consent_records, 2, "{report:?}");
    assert!(report.still_suppressed);

    let after = traces(&mut conn, &needles).await?;
    assert!(after.is_empty(), "traces left: {after:?}");
    // The other lead, their message and their keys are untouched; our own pre-key too.
    let kept: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM leads WHERE id = $1) + (SELECT count(*) FROM whatsapp_messages WHERE lead_id = $1) \
         + (SELECT count(*) FROM app_private.whatsapp_keys WHERE name IN ('447700900999.0', '17'))",
    )
    .bind(keeper.id)
    .fetch_one(&mut conn)
    .await?;
    assert_eq!(kept, 4);

    // Opted out, erased, still never messaged — nor re-created as a lead by trying.
    let mut tx = store.as_user(user).await?;
    assert!(tx.is_suppressed("+44 7700 900123").await?);
    let refused = tx
        .message_enqueue(NewOutgoing {
            session_id: session,
            to: phone,
            text: "come back",
            idempotency_key: None,
        })
        .await;
    assert!(matches!(refused, Err(StoreError::OptedOut)), "{refused:?}");
    drop(tx);
    assert!(traces(&mut conn, &[phone, name]).await?.is_empty());

    // The audit entry has counts, no person.
    let mut tx = store.as_user(user).await?;
    let log = tx.audit_log(None, 20).await?;
    let erased = log
        .iter()
        .find(|e| e.action == "lead_erased")
        .expect("audited");
    assert_eq!(erased.details["messages"], 4);
    assert!(!erased.details.to_string().contains(digits));
    drop(tx);

    // Someone else's lead, or none: 404, nothing changes.
    let other = a_user(&store, "b@example.com").await?;
    for (who, id) in [(other, keeper.id), (user, Uuid::new_v4()), (user, lead.id)] {
        let got = store.erase_lead(who, id).await;
        assert!(matches!(got, Err(StoreError::NotFound)), "{got:?}");
    }
    Ok(())
}

#[tokio::test]
async fn deleting_an_account_erases_all_of_the_users_data_and_nobody_elses() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "leaving@example.com").await?;
    let stays = a_user(&store, "staying@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let theirs = a_linked_account(&store, &engine, stays).await?;
    store
        .accounts()
        .create_web_session(user, &[7; 32], std::time::Duration::from_secs(600))
        .await?;
    let mut tx = store.as_user(user).await?;
    let lead = tx
        .lead_create(NewLead::new("Departing Lead", "+447700900555"))
        .await?;
    tx.template_create(store::NewTemplate {
        name: "Tmpl".into(),
        content: "Hello departing-template".into(),
        ..Default::default()
    })
    .await?;
    tx.privacy_settings_save(store::PrivacySettingsInput {
        retention_messages_days: Some(90),
        ..Default::default()
    })
    .await?;
    tx.consent_record(
        lead.id,
        NewConsent {
            kind: "opt_in".into(),
            source: "import".into(),
            evidence: "departing-evidence".into(),
        },
    )
    .await?;
    tx.commit().await?;
    engine
        .commit(
            session,
            user,
            EngineCommit {
                inbound: vec![a_contact_sends("D1", "+447700900555", "departing-text")],
                ..Default::default()
            },
        )
        .await?;
    engine
        .commit(
            theirs,
            stays,
            EngineCommit {
                inbound: vec![a_contact_sends("D1", "+447700900555", "staying-text")],
                ..Default::default()
            },
        )
        .await?;

    let needles = [
        user.to_string(),
        "leaving@example.com".into(),
        "Departing Lead".into(),
        "departing-text".into(),
        "departing-template".into(),
        "departing-evidence".into(),
        session.to_string(),
    ];
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    let mut conn = owner(&url).await?;
    assert!(!traces(&mut conn, &needles).await?.is_empty());

    let report = store.delete_user(user).await?;
    assert_eq!((report.leads, report.accounts, report.messages), (1, 1, 1));
    let left = traces(&mut conn, &needles).await?;
    assert!(left.is_empty(), "traces left: {left:?}");
    // One record that it happened, with counts only.
    let record: (Option<Uuid>, serde_json::Value) =
        sqlx::query_as("SELECT user_id, details FROM audit_log WHERE action = 'account_deleted'")
            .fetch_one(&mut conn)
            .await?;
    assert_eq!(record.0, None);
    assert_eq!(record.1["messages"], 1);
    // The other user keeps everything.
    let kept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM whatsapp_messages WHERE session_id = $1")
            .bind(theirs)
            .fetch_one(&mut conn)
            .await?;
    assert_eq!(kept, 1);
    assert!(matches!(
        store.delete_user(user).await,
        Err(StoreError::NotFound)
    ));
    Ok(())
}
