//! Consent: opt-out keywords recorded with the message, the suppression list enforced on every
//! write that would send, the automatic confirmation, explicit re-opt-in, an append-only ledger,
//! and the race between a send and an incoming STOP.

use crate::support::{
    TestResult, a_cipher, a_contact_sends, a_linked_account, a_store, a_user, owner, sqlstate,
};
use std::time::Duration;
use store::{
    ConsentKind, ConsentSource, ConsentState, EngineCommit, EngineStore, Message, NewConsent,
    NewOutgoing, PrivacySettingsInput, Store, StoreError,
};
use uuid::Uuid;

async fn queue(
    store: &Store,
    user: Uuid,
    session: Uuid,
    to: &str,
    text: &str,
) -> Result<Message, StoreError> {
    let mut tx = store.as_user(user).await?;
    let (message, _) = tx
        .message_enqueue(NewOutgoing {
            session_id: session,
            to,
            text,
            idempotency_key: None,
        })
        .await?;
    tx.commit().await?;
    Ok(message)
}

/// The contact's message arrives through the engine (one commit, like the real engine's).
async fn contact_says(
    engine: &EngineStore,
    session: Uuid,
    user: Uuid,
    id: &str,
    phone: &str,
    text: &str,
) -> Result<store::CommitReport, StoreError> {
    engine
        .commit(
            session,
            user,
            EngineCommit {
                inbound: vec![a_contact_sends(id, phone, text)],
                ..Default::default()
            },
        )
        .await
}

async fn lead_of(store: &Store, user: Uuid, phone: &str) -> Result<Uuid, StoreError> {
    let mut tx = store.as_user(user).await?;
    let lead = tx
        .leads_list()
        .await?
        .into_iter()
        .find(|l| l.phone == phone)
        .ok_or(StoreError::NotFound)?;
    tx.commit().await?;
    Ok(lead.id)
}

async fn state_of(store: &Store, user: Uuid, lead: Uuid) -> Result<store::LeadConsent, StoreError> {
    let mut tx = store.as_user(user).await?;
    let consent = tx.consent_of(lead).await?;
    tx.commit().await?;
    Ok(consent)
}

async fn status_of(url: &str, id: Uuid) -> Result<(String, Option<String>, i32), sqlx::Error> {
    let mut conn = owner(url).await?;
    sqlx::query_as("SELECT status, status_reason, attempts FROM whatsapp_messages WHERE id = $1")
        .bind(id)
        .fetch_one(&mut conn)
        .await
}

#[tokio::test]
async fn stop_and_its_variants_opt_the_lead_out_with_the_message_as_evidence() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;

    let variants = [
        "STOP",
        "stop",
        " Stop! ",
        "ＳＴＯＰ",
        "Arrêt",
        "¡Baja!",
        "parar",
        "STOPP",
        "Unsubscribe",
    ];
    for (i, text) in variants.iter().enumerate() {
        let phone = format!("+4477009001{i:02}");
        let report = contact_says(&engine, session, user, &format!("IN{i}"), &phone, text).await?;
        let row = match &report.inbound[0].1 {
            store::InboundOutcome::Inserted { id, .. } => *id,
            other => panic!("{other:?}"),
        };
        let lead = lead_of(&store, user, &phone).await?;
        let consent = state_of(&store, user, lead).await?;
        assert_eq!(consent.state, ConsentState::OptedOut, "{text:?}");
        assert_eq!(consent.events.len(), 1);
        let event = &consent.events[0];
        assert_eq!(
            (
                event.kind,
                event.source,
                event.evidence.as_str(),
                event.message_id
            ),
            (
                ConsentKind::OptOut,
                ConsentSource::Keyword,
                *text,
                Some(row)
            ),
            "{text:?}"
        );
    }
    // Not the whole message, or not a keyword: nothing recorded.
    for (i, text) in ["please don't stop", "stopped", "STOP STOP", "hello"]
        .iter()
        .enumerate()
    {
        let phone = format!("+4477009002{i:02}");
        contact_says(&engine, session, user, &format!("OK{i}"), &phone, text).await?;
        let lead = lead_of(&store, user, &phone).await?;
        assert_eq!(
            state_of(&store, user, lead).await?.state,
            ConsentState::Unknown,
            "{text:?}"
        );
    }
    // The user's own keywords replace the defaults.
    let mut tx = store.as_user(user).await?;
    tx.privacy_settings_save(PrivacySettingsInput {
        opt_out_keywords: vec!["Basta".into(), "stop".into()],
        ..Default::default()
    })
    .await?;
    tx.commit().await?;
    contact_says(&engine, session, user, "K1", "+447700900301", "BASTA!").await?;
    contact_says(&engine, session, user, "K2", "+447700900302", "baja").await?;
    let basta = lead_of(&store, user, "+447700900301").await?;
    let baja = lead_of(&store, user, "+447700900302").await?;
    assert_eq!(
        state_of(&store, user, basta).await?.state,
        ConsentState::OptedOut
    );
    assert_eq!(
        state_of(&store, user, baja).await?.state,
        ConsentState::Unknown
    );
    Ok(())
}

#[tokio::test]
async fn a_stop_is_stored_and_suppressed_together_or_not_at_all() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let queued = queue(&store, user, session, "+447700900001", "Offer").await?;
    // Counting the send attempt first makes it "in flight"; the same commit then carries the
    // contact's STOP and a second attempt of that message, which the STOP forbids: the database
    // refuses the commit, and neither the STOP nor the opt-out is stored.
    engine
        .commit(
            session,
            user,
            EngineCommit {
                attempts: vec![queued.message_id.clone().unwrap_or_default()],
                ..Default::default()
            },
        )
        .await?;
    let refused = engine
        .commit(
            session,
            user,
            EngineCommit {
                inbound: vec![a_contact_sends("STOP1", "+447700900001", "STOP")],
                attempts: vec![queued.message_id.clone().unwrap_or_default()],
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(refused, Err(StoreError::OptedOut)), "{refused:?}");
    let mut conn = owner(&url).await?;
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM whatsapp_messages WHERE message_id = 'STOP1'")
            .fetch_one(&mut conn)
            .await?;
    assert_eq!(stored, 0);
    let lead = lead_of(&store, user, "+447700900001").await?;
    assert_eq!(
        state_of(&store, user, lead).await?.state,
        ConsentState::Unknown
    );

    // Alone, it is stored with its opt-out.
    contact_says(&engine, session, user, "STOP1", "+447700900001", "STOP").await?;
    assert_eq!(
        state_of(&store, user, lead).await?.state,
        ConsentState::OptedOut
    );
    Ok(())
}

#[tokio::test]
async fn every_send_path_refuses_an_opted_out_lead_with_a_clear_error() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let other = a_user(&store, "b@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let second = a_linked_account(&store, &engine, user).await?;
    let theirs = a_linked_account(&store, &engine, other).await?;
    let phone = "+447700900001";

    let before = queue(&store, user, session, phone, "queued before the STOP").await?;
    let on_second = queue(&store, user, second, phone, "queued on another account").await?;
    let elsewhere = queue(&store, user, session, "+447700900999", "someone else").await?;
    contact_says(&engine, session, user, "S1", phone, "stop").await?;

    // 1. The outbox API (REST, chat, templates and campaigns all call it): refused, not queued.
    for to in [phone, "+44 7700 900001"] {
        let refused = queue(&store, user, session, to, "after the STOP").await;
        assert!(matches!(refused, Err(StoreError::OptedOut)), "{refused:?}");
        let err = refused.err().unwrap();
        assert!(err.is_client_error());
        assert!(err.to_string().contains("opted out"), "{err}");
    }
    // 2. A client writing the outbox directly (PostgREST): the database refuses the row.
    let mut tx = store.as_user(user).await?;
    let raw = sqlx::query(
        "INSERT INTO whatsapp_messages (session_id, message_id, phone_number, direction, content, status) \
         VALUES ($1, 'RAW1', $2, 'out', '{\"text\":\"x\"}', 'queued')",
    )
    .bind(session)
    .bind(phone)
    .execute(tx.connection_for_tests())
    .await;
    assert_eq!(sqlstate(raw).as_deref(), Some("23514"));
    drop(tx);
    // 3. What was queued before: failed with reason opted_out, on every account of the user, and
    //    the engine's outbox no longer hands it out; others' messages are untouched.
    for id in [before.id, on_second.id] {
        let (status, reason, attempts) = status_of(&url, id).await?;
        assert_eq!(
            (status.as_str(), reason.as_deref(), attempts),
            ("failed", Some("opted_out"), 0)
        );
    }
    assert_eq!(status_of(&url, elsewhere.id).await?.0, "queued");
    let outbox = engine.queued_outgoing(session, user, 100).await?;
    assert_eq!(
        outbox.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![elsewhere.id]
    );
    // 4. The engine beginning a send anyway (a row it read before the STOP): refused.
    let attempt = engine
        .commit(
            session,
            user,
            EngineCommit {
                attempts: vec![before.message_id.clone().unwrap_or_default()],
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(attempt, Err(StoreError::OptedOut)), "{attempt:?}");
    //    and a retry receipt for it finds nothing to send again.
    let retry = engine
        .outgoing_by_message_id(
            session,
            user,
            before.message_id.as_deref().unwrap_or_default(),
        )
        .await?;
    assert_eq!(retry, None);
    // 5. The list is the user's own: another user may still message that number.
    queue(&store, other, theirs, phone, "from another business").await?;
    Ok(())
}

#[tokio::test]
async fn only_an_explicit_recorded_opt_in_lifts_an_opt_out() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let other = a_user(&store, "b@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let phone = "+447700900001";
    contact_says(&engine, session, user, "S1", phone, "STOP").await?;
    let lead = lead_of(&store, user, phone).await?;

    // Bad inputs name their field; keyword events are the store's own; others' leads are 404.
    let bad = [
        (
            NewConsent {
                kind: "maybe".into(),
                source: "form".into(),
                evidence: "x".into(),
            },
            "kind",
        ),
        (
            NewConsent {
                kind: "opt_in".into(),
                source: "fax".into(),
                evidence: "x".into(),
            },
            "source",
        ),
        (
            NewConsent {
                kind: "opt_in".into(),
                source: "keyword".into(),
                evidence: "x".into(),
            },
            "source",
        ),
        (
            NewConsent {
                kind: "opt_in".into(),
                source: "form".into(),
                evidence: "  ".into(),
            },
            "evidence",
        ),
        (
            NewConsent {
                kind: "opt_in".into(),
                source: "form".into(),
                evidence: "x".repeat(2001),
            },
            "evidence",
        ),
        (
            NewConsent {
                kind: "opt_in".into(),
                source: "form".into(),
                evidence: "a\u{7}b".into(),
            },
            "evidence",
        ),
    ];
    for (input, field) in bad {
        let mut tx = store.as_user(user).await?;
        let got = tx.consent_record(lead, input).await;
        assert!(
            matches!(&got, Err(StoreError::Invalid { field: f, .. }) if *f == field),
            "{got:?}"
        );
    }
    let mut tx = store.as_user(other).await?;
    let got = tx
        .consent_record(
            lead,
            NewConsent {
                kind: "opt_in".into(),
                source: "form".into(),
                evidence: "x".into(),
            },
        )
        .await;
    assert!(matches!(got, Err(StoreError::NotFound)), "{got:?}");
    drop(tx);
    assert!(matches!(
        queue(&store, user, session, phone, "still no").await,
        Err(StoreError::OptedOut)
    ));

    let mut tx = store.as_user(user).await?;
    let event = tx
        .consent_record(
            lead,
            NewConsent {
                kind: "opt_in".into(),
                source: "form".into(),
                evidence: "Signed the newsletter form on 2026-12-06 (ticket 4411)".into(),
            },
        )
        .await?;
    tx.commit().await?;
    assert_eq!(
        (event.kind, event.source),
        (ConsentKind::OptIn, ConsentSource::Form)
    );
    let consent = state_of(&store, user, lead).await?;
    assert_eq!(consent.state, ConsentState::OptedIn);
    assert_eq!(
        consent.events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![ConsentKind::OptIn, ConsentKind::OptOut],
        "newest first, nothing replaced"
    );
    queue(&store, user, session, phone, "welcome back").await?;

    // An explicit opt-out (recorded by a person) suppresses as a keyword does.
    let mut tx = store.as_user(user).await?;
    tx.consent_record(
        lead,
        NewConsent {
            kind: "opt_out".into(),
            source: "chat".into(),
            evidence: "Asked on a call to stop messages".into(),
        },
    )
    .await?;
    tx.commit().await?;
    assert!(matches!(
        queue(&store, user, session, phone, "no").await,
        Err(StoreError::OptedOut)
    ));
    Ok(())
}

#[tokio::test]
async fn users_can_add_to_the_ledger_but_never_change_or_remove_it() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let other = a_user(&store, "b@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    contact_says(&engine, session, user, "S1", "+447700900001", "STOP").await?;
    let lead = lead_of(&store, user, "+447700900001").await?;

    let statements = [
        "UPDATE consent_events SET kind = 'opt_in'",
        "DELETE FROM consent_events",
        "TRUNCATE consent_events",
        "SELECT * FROM app_private.suppressions",
        "DELETE FROM app_private.suppressions",
        "INSERT INTO audit_log (user_id, action) VALUES (auth.uid(), 'opt_in')",
        "UPDATE audit_log SET action = 'export'",
        "DELETE FROM audit_log",
    ];
    for sql in statements {
        let mut tx = store.as_user(user).await?;
        let result = sqlx::query(sql).execute(tx.connection_for_tests()).await;
        assert_eq!(sqlstate(result).as_deref(), Some("42501"), "{sql}");
    }
    // Another user cannot record consent for this lead, even naming it.
    let mut tx = store.as_user(other).await?;
    let result = sqlx::query(
        "INSERT INTO consent_events (lead_id, kind, source, evidence) VALUES ($1, 'opt_in', 'api', 'x')",
    )
    .bind(lead)
    .execute(tx.connection_for_tests())
    .await;
    assert_eq!(sqlstate(result).as_deref(), Some("42501"));
    drop(tx);
    // Nor read it.
    let mut tx = store.as_user(other).await?;
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM consent_events")
        .fetch_one(tx.connection_for_tests())
        .await?;
    assert_eq!(seen, 0);
    assert_eq!(state_of(&store, user, lead).await?.events.len(), 1);
    Ok(())
}

#[tokio::test]
async fn the_automatic_confirmation_is_queued_once_and_is_the_only_message_let_through()
-> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let mut tx = store.as_user(user).await?;
    tx.privacy_settings_save(PrivacySettingsInput {
        opt_out_reply: Some("You will get no more messages from us.".into()),
        ..Default::default()
    })
    .await?;
    tx.commit().await?;
    let mut wakes = store.outbox_wakes().await?;
    let phone = "+447700900001";

    contact_says(&engine, session, user, "S1", phone, "STOP").await?;
    let woken = tokio::time::timeout(Duration::from_secs(5), wakes.next()).await??;
    assert_eq!(
        woken, session,
        "the account's sender is woken after the commit"
    );
    let outbox = engine.queued_outgoing(session, user, 10).await?;
    assert_eq!(
        outbox
            .iter()
            .map(|m| (m.phone_number.as_str(), m.text.as_str()))
            .collect::<Vec<_>>(),
        vec![(phone, "You will get no more messages from us.")]
    );
    // It passes the list when the engine sends it.
    engine
        .commit(
            session,
            user,
            EngineCommit {
                attempts: vec![outbox[0].message_id.clone()],
                ..Default::default()
            },
        )
        .await?;
    // A second STOP is recorded but not confirmed again.
    contact_says(&engine, session, user, "S2", phone, "stop!!").await?;
    let mut conn = owner(&url).await?;
    let confirmations: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM whatsapp_messages WHERE consent_exempt = 'opt_out_confirmation'",
    )
    .fetch_one(&mut conn)
    .await?;
    assert_eq!(confirmations, 1);
    let lead = lead_of(&store, user, phone).await?;
    assert_eq!(state_of(&store, user, lead).await?.events.len(), 2);

    // Nobody can mark their own row exempt to slip past the list, nor exempt an existing row.
    let mut tx = store.as_user(user).await?;
    let forged = sqlx::query(
        "INSERT INTO whatsapp_messages (session_id, message_id, phone_number, direction, content, status, consent_exempt) \
         VALUES ($1, 'FORGED', $2, 'out', '{\"text\":\"buy now\"}', 'queued', 'opt_out_confirmation')",
    )
    .bind(session)
    .bind(phone)
    .execute(tx.connection_for_tests())
    .await;
    assert_eq!(sqlstate(forged).as_deref(), Some("23514"));
    drop(tx);
    let mut tx = store.as_user(user).await?;
    let changed = sqlx::query("UPDATE whatsapp_messages SET consent_exempt = 'opt_out_confirmation' WHERE consent_exempt IS NULL")
        .execute(tx.connection_for_tests())
        .await;
    assert_eq!(sqlstate(changed).as_deref(), Some("23514"));
    Ok(())
}

/// A send that begins while an opt-out is being stored waits for it and is refused; one that
/// began before is in flight and may complete, but can never be sent again.
#[tokio::test]
async fn a_send_racing_an_incoming_stop_never_goes_out_after_the_opt_out_is_stored() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;

    // Deterministic interleaving: the opt-out's transaction is open (it holds the recipient's
    // lock and has suppressed the number) while the engine begins the send.
    let phone = "+447700900001";
    let message = queue(&store, user, session, phone, "Offer").await?;
    let lead = lead_of(&store, user, phone).await?;
    assert_eq!(engine.queued_outgoing(session, user, 10).await?.len(), 1);
    let mut stop = store.as_user(user).await?;
    stop.consent_record(
        lead,
        NewConsent {
            kind: "opt_out".into(),
            source: "chat".into(),
            evidence: "said stop".into(),
        },
    )
    .await?;
    let attempt = {
        let engine = engine.clone();
        let id = message.message_id.clone().unwrap_or_default();
        tokio::spawn(async move {
            engine
                .commit(
                    session,
                    user,
                    EngineCommit {
                        attempts: vec![id],
                        ..Default::default()
                    },
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !attempt.is_finished(),
        "the send waits for the opt-out in progress"
    );
    stop.commit().await?;
    let outcome = attempt.await?;
    assert!(matches!(outcome, Err(StoreError::OptedOut)), "{outcome:?}");
    assert_eq!(
        status_of(&url, message.id).await?,
        ("failed".into(), Some("opted_out".into()), 0)
    );

    // Real races, many times: each send either began first (counted, left in flight, and never
    // sent again) or is refused (failed, opted_out, never counted). Nothing else, no deadlock.
    let mut began = 0;
    let mut refused = 0;
    for i in 0..60 {
        let phone = format!("+4477009010{i:02}");
        let message = queue(&store, user, session, &phone, "Offer").await?;
        let id = message.message_id.clone().unwrap_or_default();
        let send = engine.commit(
            session,
            user,
            EngineCommit {
                attempts: vec![id.clone()],
                ..Default::default()
            },
        );
        let stop_id = format!("RACE{i}");
        let stop = contact_says(&engine, session, user, &stop_id, &phone, "STOP");
        let (send, stop) = tokio::join!(send, stop);
        stop?;
        let (status, reason, attempts) = status_of(&url, message.id).await?;
        match send {
            Ok(_) => {
                began += 1;
                assert_eq!(
                    (status.as_str(), attempts),
                    ("queued", 1),
                    "in flight: {reason:?}"
                );
            }
            Err(StoreError::OptedOut) => {
                refused += 1;
                assert_eq!(
                    (status.as_str(), reason.as_deref(), attempts),
                    ("failed", Some("opted_out"), 0)
                );
            }
            Err(other) => panic!("unexpected: {other:?}"),
        }
        // After the opt-out is stored, no send of it begins again.
        let again = engine
            .commit(
                session,
                user,
                EngineCommit {
                    attempts: vec![id],
                    ..Default::default()
                },
            )
            .await;
        assert!(matches!(again, Err(StoreError::OptedOut)), "{again:?}");
        assert!(
            engine
                .queued_outgoing(session, user, 100)
                .await?
                .iter()
                .all(|m| m.id != message.id)
        );
    }
    assert_eq!(began + refused, 60);
    Ok(())
}
