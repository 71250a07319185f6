//! Media bookkeeping: a received file's row is stored with its message and queued for download;
//! the downloader's claims, leases and outcomes; outgoing media in one transaction; owners only;
//! unused files found for clean-up under their lock.

use crate::support::{TestResult, a_cipher, a_contact_sends, a_linked_account, a_store, a_user};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use store::{EngineCommit, MediaOutcome, NewMedia, NewMediaOutgoing, StoreError};

fn a_photo(descriptor: &[u8]) -> NewMedia {
    NewMedia {
        kind: "image".into(),
        mimetype: "image/jpeg".into(),
        file_name: None,
        file_length: 1234,
        width: Some(640),
        height: Some(480),
        seconds: None,
        ptt: false,
        thumbnail: Some(vec![0xFF, 0xD8, 0xFF, 0xE0]),
        descriptor: descriptor.to_vec(),
    }
}

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// A PDF (already uploaded) to send from `session` to `to`.
fn a_pdf<'a>(session: uuid::Uuid, to: &'a str, caption: &'a str) -> NewMediaOutgoing<'a> {
    NewMediaOutgoing {
        session_id: session,
        to,
        caption,
        idempotency_key: None,
        sha256: SHA,
        media: NewMedia {
            kind: "document".into(),
            mimetype: "application/pdf".into(),
            file_length: 42,
            descriptor: b"upload".to_vec(),
            ..NewMedia::default()
        },
    }
}

#[tokio::test]
async fn a_received_file_is_queued_with_its_message_claimed_once_and_settled() -> TestResult {
    let (store, _url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;

    let mut record = a_contact_sends("IMG1", "+447700900001", "");
    record.text = None;
    record.media = Some(a_photo(b"descriptor-1"));
    let report = engine
        .commit(
            session,
            user,
            EngineCommit {
                inbound: vec![record.clone()],
                ..Default::default()
            },
        )
        .await?;
    let row = match report.inbound[0].1 {
        store::InboundOutcome::Inserted { id, .. } => id,
        ref other => panic!("{other:?}"),
    };
    let mut tx = store.as_user(user).await?;
    let message = tx.message_get(row).await?;
    tx.commit().await?;
    assert_eq!(message.r#type, "image");
    assert_eq!(message.text, None, "no caption, no label");
    let media = message.media.expect("the file is described");
    assert_eq!(media.state, "pending");
    assert_eq!((media.width, media.height), (Some(640), Some(480)));
    assert!(media.has_thumbnail);

    // A redelivery changes nothing (one row, still pending).
    engine
        .commit(
            session,
            user,
            EngineCommit {
                inbound: vec![record],
                ..Default::default()
            },
        )
        .await?;

    // Claimed once: the lease keeps a second claimer (another instance) away.
    let jobs = engine.media_claim_due(10, Duration::from_secs(600)).await?;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].message_row_id, row);
    assert_eq!(jobs[0].attempts, 1);
    assert!(
        engine
            .media_claim_due(10, Duration::from_secs(600))
            .await?
            .is_empty()
    );
    let detail = engine.media_job(&jobs[0]).await?.expect("still there");
    assert_eq!(detail.descriptor.as_deref(), Some(&b"descriptor-1"[..]));
    assert_eq!(detail.message_id.as_deref(), Some("IMG1"));
    assert_eq!(detail.direction, "in");

    // Later: due again after the delay, with the new descriptor.
    engine
        .media_settle(
            &jobs[0],
            MediaOutcome::Later {
                after: Duration::from_secs(1),
                reason: "uploaded again".into(),
                descriptor: Some(b"descriptor-2".to_vec()),
            },
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let jobs = engine.media_claim_due(10, Duration::from_secs(600)).await?;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].attempts, 2);
    let detail = engine.media_job(&jobs[0]).await?.unwrap();
    assert_eq!(detail.descriptor.as_deref(), Some(&b"descriptor-2"[..]));

    // Stored: the message shows it, and an event tells the open chat.
    let (message, cursor) = engine
        .media_settle(&jobs[0], MediaOutcome::Stored { sha256: SHA.into() })
        .await?
        .expect("settled");
    assert_eq!(message.media.unwrap().state, "stored");
    assert!(cursor.is_some());
    // Settling twice does nothing (another instance got there first).
    assert!(
        engine
            .media_settle(
                &jobs[0],
                MediaOutcome::Failed {
                    reason: "late".into()
                }
            )
            .await?
            .is_none()
    );
    let mut tx = store.as_user(user).await?;
    let file = tx.media_file(row).await?;
    tx.commit().await?;
    assert_eq!(file.sha256.as_deref(), Some(SHA));
    assert_eq!(file.state, "stored");

    // Owners only.
    let other = a_user(&store, "b@example.com").await?;
    let mut tx = store.as_user(other).await?;
    assert!(matches!(
        tx.media_file(row).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        tx.media_thumbnail(row).await,
        Err(StoreError::NotFound)
    ));
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn outgoing_media_is_one_transaction_and_repeats_are_the_same_request() -> TestResult {
    let (store, _url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let new = |sha: &'static str, key: Option<&'static str>| {
        let mut pdf = a_pdf(session, "+44 7700 900002", "");
        pdf.idempotency_key = key;
        pdf.sha256 = sha;
        pdf.media.file_name = Some("../Brochure.pdf".into());
        pdf
    };
    let mut tx = store.as_user(user).await?;
    let (message, created) = tx.media_message_enqueue(new(SHA, Some("k1"))).await?;
    tx.commit().await?;
    assert!(created);
    assert_eq!(message.r#type, "document");
    assert_eq!(message.status, "queued");
    let media = message.media.clone().unwrap();
    assert_eq!(media.state, "stored");
    assert_eq!(media.file_name.as_deref(), Some("Brochure.pdf"), "no path");
    let wa_id = message.message_id.clone().unwrap();
    assert_eq!(
        engine.outgoing_media(session, user, &wa_id).await?,
        Some(b"upload".to_vec())
    );
    // The engine sends it like any queued message.
    let queued = engine.queued_outgoing(session, user, 10).await?;
    assert_eq!(queued.len(), 1);

    let mut tx = store.as_user(user).await?;
    let (again, created) = tx.media_message_enqueue(new(SHA, Some("k1"))).await?;
    assert!(!created);
    assert_eq!(again.id, message.id);
    let repeat = tx
        .outgoing_repeat(session, "k1", "+447700900002", "", Some(SHA))
        .await?;
    assert_eq!(repeat.map(|m| m.id), Some(message.id));
    let other_file = "0".repeat(64);
    assert!(matches!(
        tx.outgoing_repeat(session, "k1", "+447700900002", "", Some(&other_file))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(
        tx.outgoing_repeat(session, "k2", "+447700900002", "", None)
            .await?
            .is_none()
    );
    // Bad input is refused before anything is written.
    let mut bad = new("not-a-hash", None);
    assert!(matches!(
        tx.media_message_enqueue(bad.clone()).await,
        Err(StoreError::Invalid {
            field: "sha256",
            ..
        })
    ));
    bad.sha256 = SHA;
    bad.media.kind = "hologram".into();
    assert!(matches!(
        tx.media_message_enqueue(bad).await,
        Err(StoreError::Invalid { field: "kind", .. })
    ));
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn the_last_row_of_a_file_going_leaves_it_for_clean_up_under_its_lock() -> TestResult {
    let (store, _url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let send = |to: &'static str| a_pdf(session, to, "Brochure");
    let mut tx = store.as_user(user).await?;
    let (first, _) = tx.media_message_enqueue(send("+447700900002")).await?;
    let (second, _) = tx.media_message_enqueue(send("+447700900003")).await?;
    tx.commit().await?;

    // One of two rows goes: the file is still used.
    let mut tx = store.as_user(user).await?;
    sqlx::query("DELETE FROM public.whatsapp_messages WHERE id = $1")
        .bind(first.id)
        .execute(tx.connection_for_tests())
        .await?;
    tx.commit().await?;
    let orphans = engine.media_orphans(10, Duration::ZERO).await?;
    assert_eq!(orphans, vec![(user, SHA.to_owned())]);
    let deleted = AtomicBool::new(false);
    let flag = &deleted;
    let unused = engine
        .media_release_orphan(user, SHA, move || async move {
            flag.store(true, Ordering::SeqCst);
            Ok::<(), std::io::Error>(())
        })
        .await?;
    assert!(
        !unused && !deleted.load(Ordering::SeqCst),
        "still used by the second message"
    );
    assert!(engine.media_orphans(10, Duration::ZERO).await?.is_empty());

    // The last one goes: now it is unused and deleted.
    let mut tx = store.as_user(user).await?;
    sqlx::query("DELETE FROM public.whatsapp_messages WHERE id = $1")
        .bind(second.id)
        .execute(tx.connection_for_tests())
        .await?;
    tx.commit().await?;
    // A failed deletion keeps the orphan for the next round.
    let failed = engine
        .media_release_orphan(user, SHA, || async {
            Err::<(), _>(std::io::Error::other("storage down"))
        })
        .await?;
    assert!(!failed);
    assert_eq!(engine.media_orphans(10, Duration::ZERO).await?.len(), 1);
    assert!(
        engine
            .media_release_orphan(user, SHA, move || async move {
                flag.store(true, Ordering::SeqCst);
                Ok::<(), std::io::Error>(())
            })
            .await?
    );
    assert!(deleted.load(Ordering::SeqCst));
    assert!(engine.media_orphans(10, Duration::ZERO).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn media_past_its_retention_leaves_the_message_and_frees_the_file() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let other = a_user(&store, "b@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let other_session = a_linked_account(&store, &engine, other).await?;
    let send = |session, caption: &'static str| a_pdf(session, "+447700900002", caption);
    let mut tx = store.as_user(user).await?;
    let (old, _) = tx
        .media_message_enqueue(send(session, "Old brochure"))
        .await?;
    tx.privacy_settings_save(store::PrivacySettingsInput {
        retention_media_days: Some(30),
        ..Default::default()
    })
    .await?;
    tx.commit().await?;
    // The other user keeps everything; their (equally old) file stays.
    let mut tx = store.as_user(other).await?;
    let (theirs, _) = tx
        .media_message_enqueue(send(other_session, "Kept"))
        .await?;
    tx.commit().await?;
    let mut conn = crate::support::owner(&url).await?;
    sqlx::query("UPDATE public.whatsapp_media SET created_at = now() - interval '31 days'")
        .execute(&mut conn)
        .await?;

    let report = store.retention_purge(100).await?;
    assert_eq!(report.media, 1);
    assert_eq!(report.media_per_user.get(&user), Some(&1));
    let mut tx = store.as_user(user).await?;
    let message = tx.message_get(old.id).await?;
    tx.commit().await?;
    assert_eq!(
        message.text.as_deref(),
        Some("Old brochure"),
        "the message stays"
    );
    let media = message.media.unwrap();
    assert_eq!(media.state, "failed");
    assert_eq!(
        media.state_reason.as_deref(),
        Some("removed after 30 days (media retention)")
    );
    assert_eq!(
        engine.media_orphans(10, Duration::ZERO).await?,
        vec![(user, SHA.to_owned())],
        "the file is left for the clean-up"
    );
    let mut tx = store.as_user(other).await?;
    assert_eq!(tx.media_file(theirs.id).await?.state, "stored");
    tx.commit().await?;
    // Audited with the count.
    let audited: serde_json::Value = sqlx::query_scalar(
        "SELECT details FROM public.audit_log WHERE user_id = $1 AND action = 'retention_purge'",
    )
    .bind(user)
    .fetch_one(&mut conn)
    .await?;
    assert_eq!(audited["media_files"], 1);
    Ok(())
}
