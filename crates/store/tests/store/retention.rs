//! Retention: per-user settings and the purge — exactly what is past retention goes, in bounded
//! batches, while sends and reads carry on, and two purges at once do not conflict.

use crate::support::{TestResult, a_cipher, a_linked_account, a_store, a_user, owner};
use std::time::{Duration, Instant};
use store::{NewLead, NewOutgoing, PrivacySettingsInput, Store, StoreError};
use uuid::Uuid;

/// `n` messages in `session` to `phone` (half in, half out), each `age_days` plus a few seconds
/// old. Written as the owner with one statement: fast enough for 100,000.
async fn old_messages(
    url: &str,
    session: Uuid,
    lead: Option<Uuid>,
    phone: &str,
    prefix: &str,
    n: i64,
    age_days: i64,
) -> Result<(), sqlx::Error> {
    let mut conn = owner(url).await?;
    sqlx::query(
        "INSERT INTO whatsapp_messages (session_id, lead_id, message_id, phone_number, direction, \
           content, status, created_at) \
         SELECT $1, $2, $3 || g, $4, CASE WHEN g % 2 = 0 THEN 'in' ELSE 'out' END, \
           jsonb_build_object('text', $3 || ' message ' || g), \
           CASE WHEN g % 2 = 0 THEN 'delivered' ELSE 'sent' END, \
           now() - make_interval(days => $6::int) - make_interval(secs => g) \
         FROM generate_series(1, $5::bigint) AS g",
    )
    .bind(session)
    .bind(lead)
    .bind(prefix)
    .bind(phone)
    .bind(n)
    .bind(i32::try_from(age_days).unwrap_or(i32::MAX))
    .execute(&mut conn)
    .await?;
    Ok(())
}

async fn count(url: &str, sql: &str, session: Uuid) -> Result<i64, sqlx::Error> {
    let mut conn = owner(url).await?;
    sqlx::query_scalar(sql)
        .bind(session)
        .fetch_one(&mut conn)
        .await
}

async fn keep_messages_for(store: &Store, user: Uuid, days: Option<i32>) -> Result<(), StoreError> {
    let mut tx = store.as_user(user).await?;
    tx.privacy_settings_save(PrivacySettingsInput {
        retention_messages_days: days,
        ..Default::default()
    })
    .await?;
    tx.commit().await
}

#[tokio::test]
async fn settings_are_checked_and_kept_per_user() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let other = a_user(&store, "b@example.com").await?;
    let mut tx = store.as_user(user).await?;
    let defaults = tx.privacy_settings().await?;
    assert_eq!(
        defaults.opt_out_keywords,
        store::DEFAULT_OPT_OUT_KEYWORDS.to_vec()
    );
    assert_eq!(
        (
            defaults.opt_out_reply,
            defaults.retention_messages_days,
            defaults.updated_at
        ),
        (None, None, None)
    );
    drop(tx);

    let bad: Vec<(PrivacySettingsInput, &str)> = vec![
        (
            PrivacySettingsInput {
                retention_messages_days: Some(0),
                ..Default::default()
            },
            "retention_messages_days",
        ),
        (
            PrivacySettingsInput {
                retention_media_days: Some(3651),
                ..Default::default()
            },
            "retention_media_days",
        ),
        (
            PrivacySettingsInput {
                retention_closed_leads_days: Some(-5),
                ..Default::default()
            },
            "retention_closed_leads_days",
        ),
        (
            PrivacySettingsInput {
                opt_out_keywords: vec![],
                ..Default::default()
            },
            "opt_out_keywords",
        ),
        (
            PrivacySettingsInput {
                opt_out_keywords: vec!["x".repeat(65)],
                ..Default::default()
            },
            "opt_out_keywords",
        ),
        (
            PrivacySettingsInput {
                opt_out_reply: Some("y".repeat(1001)),
                ..Default::default()
            },
            "opt_out_reply",
        ),
        (
            PrivacySettingsInput {
                opt_out_reply: Some("a\u{0}b".into()),
                ..Default::default()
            },
            "opt_out_reply",
        ),
    ];
    for (input, field) in bad {
        let mut tx = store.as_user(user).await?;
        let got = tx.privacy_settings_save(input).await;
        assert!(
            matches!(&got, Err(StoreError::Invalid { field: f, .. }) if *f == field),
            "{got:?}"
        );
    }

    let mut tx = store.as_user(user).await?;
    let saved = tx
        .privacy_settings_save(PrivacySettingsInput {
            opt_out_keywords: vec!["stop".into(), "Arrêt".into()],
            opt_out_reply: Some("  Done — no more messages.  ".into()),
            retention_messages_days: Some(30),
            retention_media_days: Some(7),
            retention_closed_leads_days: Some(365),
        })
        .await?;
    tx.commit().await?;
    assert_eq!(saved.opt_out_keywords, vec!["STOP", "ARRET"]);
    assert_eq!(
        saved.opt_out_reply.as_deref(),
        Some("Done — no more messages.")
    );
    assert_eq!(
        (
            saved.retention_messages_days,
            saved.retention_media_days,
            saved.retention_closed_leads_days
        ),
        (Some(30), Some(7), Some(365))
    );
    let mut tx = store.as_user(user).await?;
    assert_eq!(tx.privacy_settings().await?, saved);
    drop(tx);
    let mut tx = store.as_user(other).await?;
    assert_eq!(tx.privacy_settings().await?.retention_messages_days, None);
    drop(tx);

    // The change is in the audit log, with values and no content.
    let mut tx = store.as_user(user).await?;
    let log = tx.audit_log(None, 10).await?;
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"retention_changed"), "{actions:?}");
    assert!(actions.contains(&"opt_out_settings_changed"), "{actions:?}");
    let retention = log
        .iter()
        .find(|e| e.action == "retention_changed")
        .unwrap();
    assert_eq!(retention.details["messages_days"], 30);
    Ok(())
}

#[tokio::test]
async fn the_purge_deletes_exactly_what_is_past_retention_while_sends_and_reads_continue()
-> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let other = a_user(&store, "b@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let theirs = a_linked_account(&store, &engine, other).await?;
    keep_messages_for(&store, user, Some(30)).await?;

    // 100,000 messages past 30 days; 1,000 just inside it; the other user's old ones (no
    // retention set); an old message still queued (never purged: it has not been sent).
    old_messages(&url, session, None, "+447700900001", "old", 100_000, 31).await?;
    old_messages(&url, session, None, "+447700900002", "recent", 1_000, 29).await?;
    old_messages(&url, theirs, None, "+447700900003", "theirs", 1_000, 400).await?;
    let mut conn = owner(&url).await?;
    sqlx::query(
        "INSERT INTO whatsapp_messages (session_id, message_id, phone_number, direction, content, status, created_at) \
         VALUES ($1, 'QUEUED-OLD', '+447700900004', 'out', '{\"text\":\"q\"}', 'queued', now() - interval '90 days')",
    )
    .bind(session)
    .execute(&mut conn)
    .await?;

    // Sends and reads keep going during the purge; each must stay quick.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let store = store.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            let mut rounds = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || rounds < 3 {
                let started = Instant::now();
                let mut tx = store.as_user(user).await?;
                let (sent, _) = tx
                    .message_enqueue(NewOutgoing {
                        session_id: session,
                        to: "+447700900005",
                        text: "sent during the purge",
                        idempotency_key: None,
                    })
                    .await?;
                tx.commit().await?;
                let mut tx = store.as_user(user).await?;
                tx.message_get(sent.id).await?;
                tx.leads_list().await?;
                tx.commit().await?;
                slowest = slowest.max(started.elapsed());
                rounds += 1;
            }
            Ok::<_, StoreError>((rounds, slowest))
        })
    };
    let report = store.retention_purge(1_000).await?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (rounds, slowest) = traffic.await??;
    eprintln!(
        "purged {} messages in {} batches, {:?}; meanwhile {rounds} send+read rounds, slowest {slowest:?}",
        report.messages, report.batches, report.elapsed
    );

    assert_eq!(report.messages, 100_000);
    assert_eq!(report.per_user.get(&user).map(|c| c.0), Some(100_000));
    assert!(!report.per_user.contains_key(&other));
    assert!(report.batches >= 100, "bounded batches: {}", report.batches);
    let left = |pattern: &'static str| {
        let url = url.clone();
        async move {
            count(&url, &format!("SELECT count(*) FROM whatsapp_messages WHERE session_id = $1 AND message_id LIKE '{pattern}'"), session).await
        }
    };
    assert_eq!(left("old%").await?, 0);
    assert_eq!(left("recent%").await?, 1_000);
    assert_eq!(left("QUEUED-OLD").await?, 1);
    assert_eq!(
        count(
            &url,
            "SELECT count(*) FROM whatsapp_messages WHERE session_id = $1",
            theirs
        )
        .await?,
        1_000
    );
    assert!(rounds >= 3);
    assert!(
        slowest < Duration::from_secs(3),
        "a send or read waited {slowest:?}"
    );
    // Logged for the user, with counts.
    let mut tx = store.as_user(user).await?;
    let log = tx.audit_log(None, 5).await?;
    let purge = log
        .iter()
        .find(|e| e.action == "retention_purge")
        .expect("audited");
    assert_eq!(purge.details["messages"], 100_000);
    Ok(())
}

#[tokio::test]
async fn two_purges_at_once_share_the_work_without_conflict() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    keep_messages_for(&store, user, Some(10)).await?;
    old_messages(&url, session, None, "+447700900001", "old", 100_000, 11).await?;
    old_messages(&url, session, None, "+447700900002", "new", 500, 9).await?;
    // Two "instances": separate pools on the same database.
    let second = Store::connect(&store::StoreConfig::new(url.clone())).await?;

    let (a, b) = tokio::join!(store.retention_purge(500), second.retention_purge(500));
    let (a, b) = (a?, b?);
    eprintln!(
        "instance A purged {} in {} batches, instance B {} in {} batches",
        a.messages, a.batches, b.messages, b.batches
    );
    assert_eq!(
        a.messages + b.messages,
        100_000,
        "each row deleted exactly once"
    );
    assert_eq!(
        count(&url, "SELECT count(*) FROM whatsapp_messages WHERE session_id = $1 AND message_id LIKE 'old%'", session).await?,
        0
    );
    assert_eq!(
        count(
            &url,
            "SELECT count(*) FROM whatsapp_messages WHERE session_id = $1",
            session
        )
        .await?,
        500
    );
    Ok(())
}

#[tokio::test]
async fn closed_leads_past_retention_are_erased_and_open_or_recent_ones_kept() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let mut tx = store.as_user(user).await?;
    tx.privacy_settings_save(PrivacySettingsInput {
        retention_closed_leads_days: Some(30),
        ..Default::default()
    })
    .await?;
    let mut ids = Vec::new();
    for (name, phone, status) in [
        ("Won long ago", "+447700900001", "won"),
        ("Lost long ago", "+447700900002", "lost"),
        ("Open long ago", "+447700900003", "new"),
        ("Won recently", "+447700900004", "won"),
    ] {
        let mut lead = NewLead::new(name, phone);
        lead.status = Some(store::LeadStatus::parse(status)?);
        ids.push(tx.lead_create(lead).await?.id);
    }
    tx.commit().await?;
    let mut conn = owner(&url).await?;
    // updated_at is set by a trigger on UPDATE; age the first three with the trigger off.
    sqlx::query("ALTER TABLE leads DISABLE TRIGGER leads_set_updated_at")
        .execute(&mut conn)
        .await?;
    sqlx::query("UPDATE leads SET updated_at = now() - interval '40 days' WHERE id = ANY ($1)")
        .bind(&ids[..3])
        .execute(&mut conn)
        .await?;
    sqlx::query("ALTER TABLE leads ENABLE TRIGGER leads_set_updated_at")
        .execute(&mut conn)
        .await?;
    old_messages(&url, session, Some(ids[0]), "+447700900001", "won", 10, 1).await?;

    let report = store.retention_purge(100).await?;
    assert_eq!((report.leads, report.lead_messages), (2, 10));
    let left: Vec<String> = sqlx::query_scalar("SELECT name FROM leads ORDER BY name")
        .fetch_all(&mut conn)
        .await?;
    assert_eq!(left, vec!["Open long ago", "Won recently"]);
    let messages: i64 = sqlx::query_scalar("SELECT count(*) FROM whatsapp_messages")
        .fetch_one(&mut conn)
        .await?;
    assert_eq!(messages, 0);
    Ok(())
}
