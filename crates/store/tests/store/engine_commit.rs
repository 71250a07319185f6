//! The engine's commit: secrets, messages, leads and statuses in one transaction, acting as the
//! account's owner.

use crate::support::{
    TestResult, a_cipher, a_contact_sends, a_linked_account, a_store, a_user, an_account, owner,
};
use chrono::Utc;
use sqlx::Row;
use store::{
    EngineCommit, InboundOutcome, KeyKind, KeyWrite, MessageStatus, NewOutgoing,
    SessionStatusUpdate, StatusChange, StoreError,
};
use uuid::Uuid;

fn inbound(records: Vec<store::InboundRecord>) -> EngineCommit {
    EngineCommit {
        inbound: records,
        ..Default::default()
    }
}

fn status(message_id: &str, status: MessageStatus) -> StatusChange {
    StatusChange {
        message_id: message_id.to_owned(),
        status,
        reason: None,
        at: Utc::now(),
    }
}

fn key(kind: KeyKind, name: &str, value: Option<&[u8]>) -> KeyWrite {
    KeyWrite {
        kind,
        name: name.to_owned(),
        value: value.map(<[u8]>::to_vec),
    }
}

#[tokio::test]
async fn a_message_is_stored_once_and_creates_its_lead() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;

    let mut first = a_contact_sends("MSG1", "+447700900001", "Hello there");
    first.push_name = Some("  Ana\n".into());
    let report = engine
        .commit(session, user, inbound(vec![first.clone()]))
        .await?;
    let (id, lead) = match &report.inbound[..] {
        [
            (
                message_id,
                InboundOutcome::Inserted {
                    id,
                    lead_id: Some(lead),
                    lead_created: true,
                },
            ),
        ] if message_id == "MSG1" => (*id, *lead),
        other => panic!("unexpected outcome {other:?}"),
    };

    // Redelivered: one row, unchanged.
    let mut again = first.clone();
    again.text = Some("something else".into());
    let report = engine.commit(session, user, inbound(vec![again])).await?;
    assert_eq!(
        report.inbound,
        vec![("MSG1".to_owned(), InboundOutcome::Duplicate { id })]
    );
    assert!(engine.message_exists(session, user, "MSG1").await?);

    // The next message from the same number joins the same lead.
    let report = engine
        .commit(
            session,
            user,
            inbound(vec![a_contact_sends(
                "MSG2",
                "+44 7700 900001",
                "Still there?",
            )]),
        )
        .await?;
    assert!(matches!(
        report.inbound[..],
        [(_, InboundOutcome::Inserted { lead_id: Some(l), lead_created: false, .. })] if l == lead
    ));

    let mut tx = store.as_user(user).await?;
    let created = tx.lead_get(lead).await?;
    assert_eq!(
        (
            created.name.as_str(),
            created.phone.as_str(),
            created.source.as_deref()
        ),
        ("Ana", "+447700900001", Some("whatsapp"))
    );
    let stored = tx.message_get(id).await?;
    assert_eq!(
        (
            stored.direction.as_str(),
            stored.status.as_str(),
            stored.text.as_deref(),
            stored.r#type.as_str(),
            stored.account_id,
            stored.lead_id,
            stored.message_id.as_deref(),
            stored.phone_number.as_deref()
        ),
        (
            "in",
            "delivered",
            Some("Hello there"),
            "text",
            session,
            Some(lead),
            Some("MSG1"),
            Some("+447700900001")
        )
    );
    drop(tx);
    let mut conn = owner(&url).await?;
    let row = sqlx::query(
        "SELECT count(*), max(contact_jid), max(push_name) FROM whatsapp_messages WHERE message_id = 'MSG1'",
    )
    .fetch_one(&mut conn)
    .await?;
    assert_eq!(row.get::<i64, _>(0), 1);
    assert_eq!(
        row.get::<Option<String>, _>(1).as_deref(),
        Some("447700900001@s.whatsapp.net")
    );
    assert_eq!(row.get::<Option<String>, _>(2).as_deref(), Some("Ana"));
    Ok(())
}

#[tokio::test]
async fn a_message_sent_from_the_phone_and_a_contact_known_only_by_lid_are_stored() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;

    let mut from_me = a_contact_sends("OWN1", "+447700900002", "Sent from my phone");
    from_me.from_me = true;
    let mut lid_only = a_contact_sends("LID1", "+447700900003", "Hi");
    lid_only.contact_phone = None;
    lid_only.contact_jid = None;
    lid_only.contact_lid = Some("123456789@lid".into());
    let report = engine
        .commit(session, user, inbound(vec![from_me, lid_only]))
        .await?;
    let ids: Vec<Uuid> = report
        .inbound
        .iter()
        .map(|(_, outcome)| match outcome {
            InboundOutcome::Inserted { id, .. } => *id,
            other => panic!("{other:?}"),
        })
        .collect();
    let mut tx = store.as_user(user).await?;
    let own = tx.message_get(ids[0]).await?;
    assert_eq!(
        (own.direction.as_str(), own.status.as_str()),
        ("out", "sent")
    );
    assert!(own.lead_id.is_some());
    let lid = tx.message_get(ids[1]).await?;
    assert_eq!((lid.lead_id, lid.phone_number), (None, None));
    // Both show in the dashboard's chat list.
    assert_eq!(tx.conversations_list().await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_placeholder_is_completed_by_the_resend() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;

    let mut placeholder = a_contact_sends("MSG9", "+447700900004", "");
    placeholder.text = None;
    placeholder.undecryptable = true;
    let report = engine
        .commit(session, user, inbound(vec![placeholder.clone()]))
        .await?;
    let InboundOutcome::Inserted { id, .. } = report.inbound[0].1 else {
        panic!("{report:?}");
    };
    assert!(!engine.message_exists(session, user, "MSG9").await?);
    let mut tx = store.as_user(user).await?;
    let waiting = tx.message_get(id).await?;
    assert_eq!(
        (
            waiting.status.as_str(),
            waiting.status_reason.as_deref(),
            waiting.text
        ),
        ("failed", Some("undecryptable"), None)
    );
    drop(tx);

    // The same placeholder again changes nothing; the resend completes the row.
    let report = engine
        .commit(session, user, inbound(vec![placeholder]))
        .await?;
    assert_eq!(report.inbound[0].1, InboundOutcome::Duplicate { id });
    let resend = a_contact_sends("MSG9", "+447700900004", "Now readable");
    let report = engine
        .commit(session, user, inbound(vec![resend.clone()]))
        .await?;
    assert!(
        matches!(report.inbound[0].1, InboundOutcome::Completed { id: i, lead_id: Some(_) } if i == id),
        "{report:?}"
    );
    assert!(engine.message_exists(session, user, "MSG9").await?);
    let mut tx = store.as_user(user).await?;
    let done = tx.message_get(id).await?;
    assert_eq!(
        (
            done.status.as_str(),
            done.status_reason,
            done.text.as_deref()
        ),
        ("delivered", None, Some("Now readable"))
    );
    drop(tx);
    // A late copy of either kind is a duplicate now.
    let report = engine.commit(session, user, inbound(vec![resend])).await?;
    assert_eq!(report.inbound[0].1, InboundOutcome::Duplicate { id });
    Ok(())
}

/// One commit stores its whole batch with one statement per run of distinct message ids; the
/// outcomes are those of storing the records one by one, in order: a new number's lead is created
/// once, a redelivery (of a stored message or of one earlier in the same batch) is a duplicate, a
/// placeholder and its resend in the same batch end completed, and the messages and their events
/// keep the batch's order.
#[tokio::test]
async fn a_batch_is_stored_as_its_records_one_by_one_would_be() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let stored = engine
        .commit(
            session,
            user,
            inbound(vec![a_contact_sends("OLD", "+447700900010", "Earlier")]),
        )
        .await?;
    let InboundOutcome::Inserted { id: old_id, .. } = stored.inbound[0].1 else {
        panic!("{stored:?}");
    };
    let mut tx = store.as_user(user).await?;
    let cursor = tx.latest_event_id().await?;
    drop(tx);

    let mut with_lid = a_contact_sends("L1", "+447700900012", "from a number, with its LID");
    with_lid.contact_lid = Some("99887766@lid".into());
    let mut lid_only = a_contact_sends("L2", "+447700900012", "by LID alone");
    lid_only.contact_phone = None;
    lid_only.contact_jid = None;
    lid_only.contact_lid = Some("99887766@lid".into());
    let mut placeholder = a_contact_sends("P1", "+447700900011", "");
    placeholder.text = None;
    placeholder.undecryptable = true;
    let batch = vec![
        a_contact_sends("N1", "+447700900011", "first from a new number"),
        a_contact_sends("OLD", "+447700900010", "redelivered"),
        a_contact_sends("N2", "+447700900011", "second from it"),
        placeholder,
        a_contact_sends("N1", "+447700900011", "redelivered in the same batch"),
        a_contact_sends("P1", "+447700900011", "the resend"),
        a_contact_sends("N3", "+447700900010", "from the known number"),
        with_lid,
        lid_only,
    ];
    let report = engine.commit(session, user, inbound(batch)).await?;
    let ids: Vec<&str> = report.inbound.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(ids, ["N1", "OLD", "N2", "P1", "N1", "P1", "N3", "L1", "L2"]);
    let o = |i: usize| report.inbound[i].1.clone();
    let (n1, lead) = match o(0) {
        InboundOutcome::Inserted {
            id,
            lead_id: Some(lead),
            lead_created: true,
        } => (id, lead),
        other => panic!("N1: {other:?}"),
    };
    assert_eq!(o(1), InboundOutcome::Duplicate { id: old_id });
    let n2 = match o(2) {
        InboundOutcome::Inserted {
            id,
            lead_id: Some(l),
            lead_created: false,
        } if l == lead => id,
        other => panic!("N2: {other:?}"),
    };
    let p1 = match o(3) {
        InboundOutcome::Inserted {
            id,
            lead_id: Some(l),
            ..
        } if l == lead => id,
        other => panic!("P1: {other:?}"),
    };
    assert_eq!(o(4), InboundOutcome::Duplicate { id: n1 });
    assert_eq!(
        o(5),
        InboundOutcome::Completed {
            id: p1,
            lead_id: Some(lead)
        }
    );
    let n3 = match o(6) {
        InboundOutcome::Inserted {
            id,
            lead_created: false,
            lead_id: Some(_),
        } => id,
        other => panic!("N3: {other:?}"),
    };
    // A contact known by LID alone joins the lead an earlier record of the batch taught that LID.
    let (l1, l2) = match (o(7), o(8)) {
        (
            InboundOutcome::Inserted {
                id: a,
                lead_id: Some(la),
                lead_created: true,
            },
            InboundOutcome::Inserted {
                id: b,
                lead_id: Some(lb),
                lead_created: false,
            },
        ) if la == lb => (a, b),
        other => panic!("L1, L2: {other:?}"),
    };

    let mut tx = store.as_user(user).await?;
    let first = tx.message_get(n1).await?;
    assert_eq!(first.text.as_deref(), Some("first from a new number"));
    let completed = tx.message_get(p1).await?;
    assert_eq!(
        (completed.status.as_str(), completed.text.as_deref()),
        ("delivered", Some("the resend"))
    );
    // One lead for the new number.
    assert_eq!(
        tx.conversations_list()
            .await?
            .iter()
            .filter(|c| c.lead_id == Some(lead))
            .count(),
        1
    );
    // Events: each new or completed message once, in the batch's order, ids increasing.
    let events = tx.events_after(cursor, 100).await?;
    let got: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e.kind.clone(),
                e.payload["id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [n1, n2, p1, n3, l1, l2]
        .iter()
        .map(|id| ("message".to_owned(), id.to_string()))
        .collect();
    assert_eq!(got, want);
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(report.last_event, events.last().map(|e| e.id));
    drop(tx);

    // Stored in the batch's order (created_at follows it), each id once.
    let mut conn = owner(&url).await?;
    let order: Vec<String> = sqlx::query_scalar(
        "SELECT message_id FROM whatsapp_messages WHERE session_id = $1 AND message_id <> 'OLD' \
         ORDER BY created_at, id",
    )
    .bind(session)
    .fetch_all(&mut conn)
    .await?;
    assert_eq!(order, ["N1", "N2", "P1", "N3", "L1", "L2"]);
    let linked: Option<Uuid> =
        sqlx::query_scalar("SELECT lead_id FROM whatsapp_messages WHERE message_id = 'L2'")
            .fetch_one(&mut conn)
            .await?;
    assert!(linked.is_some(), "the stored row is linked too");
    Ok(())
}

#[tokio::test]
async fn a_failing_part_rolls_back_the_whole_commit() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = an_account(&store, user, "Unlinked").await?;
    // A fault inside the database, after the secrets and the first message were written.
    let mut conn = owner(&url).await?;
    sqlx::raw_sql(
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'disk on fire'; END $$; \
         CREATE TRIGGER boom BEFORE INSERT ON whatsapp_messages FOR EACH ROW \
         WHEN (NEW.message_id = 'BOOM') EXECUTE FUNCTION boom();",
    )
    .execute(&mut conn)
    .await?;

    let commit = EngineCommit {
        credentials: Some(b"creds".to_vec()),
        keys: vec![key(KeyKind::Session, "447700900005.0", Some(b"ratchet"))],
        inbound: vec![
            a_contact_sends("OK1", "+447700900005", "first"),
            a_contact_sends("BOOM", "+447700900005", "second"),
        ],
        ..Default::default()
    };
    let failed = engine.commit(session, user, commit).await;
    assert!(matches!(failed, Err(StoreError::Database(_))), "{failed:?}");

    let written: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM app_private.whatsapp_credentials) \
              + (SELECT count(*) FROM app_private.whatsapp_keys) \
              + (SELECT count(*) FROM whatsapp_messages) \
              + (SELECT count(*) FROM leads)",
    )
    .fetch_one(&mut conn)
    .await?;
    assert_eq!(written, 0, "a failed commit left rows behind");
    assert_eq!(engine.load_credentials(session).await?, None);
    Ok(())
}

#[tokio::test]
async fn a_commit_for_another_users_account_is_refused_and_changes_nothing() -> TestResult {
    let (store, url) = a_store().await?;
    let a = a_user(&store, "a@example.com").await?;
    let b = a_user(&store, "b@example.com").await?;
    let engine = store.engine(a_cipher());
    let account_a = a_linked_account(&store, &engine, a).await?;
    let account_b = a_linked_account(&store, &engine, b).await?;
    // B already has a lead for the contact who will write to A.
    let mut tx = store.as_user(b).await?;
    let b_lead = tx
        .lead_create(store::NewLead::new("B's Ana", "+447700900006"))
        .await?;
    tx.commit().await?;
    let mut conn = owner(&url).await?;
    let snapshot = "SELECT (SELECT count(*) FROM app_private.whatsapp_keys) || '/' || \
                           (SELECT count(*) FROM whatsapp_messages) || '/' || \
                           (SELECT count(*) FROM leads) || '/' || \
                           (SELECT string_agg(encode(ciphertext, 'hex'), ',' ORDER BY session_id) \
                            FROM app_private.whatsapp_credentials)";
    let before: String = sqlx::query_scalar(snapshot).fetch_one(&mut conn).await?;

    // A's account with B's user id, in every shape of commit.
    let mismatched = [
        EngineCommit {
            credentials: Some(b"stolen".to_vec()),
            ..Default::default()
        },
        EngineCommit {
            keys: vec![key(KeyKind::PreKey, "1", Some(b"k"))],
            ..Default::default()
        },
        inbound(vec![a_contact_sends("X1", "+447700900006", "hi")]),
        EngineCommit {
            statuses: vec![status("X1", MessageStatus::Read)],
            ..Default::default()
        },
        EngineCommit {
            attempts: vec!["X1".into()],
            ..Default::default()
        },
    ];
    for commit in mismatched {
        let shape = format!("{commit:?}");
        let outcome = engine.commit(account_a, b, commit).await;
        assert!(
            matches!(outcome, Err(StoreError::NotFound)),
            "{shape}: {outcome:?}"
        );
    }
    assert!(!engine.message_exists(account_a, b, "X1").await?);
    assert!(engine.queued_outgoing(account_a, b, 10).await?.is_empty());
    let after: String = sqlx::query_scalar(snapshot).fetch_one(&mut conn).await?;
    assert_eq!(after, before, "a refused commit changed something");

    // The same contact writing to A becomes A's own lead; B's stays B's.
    let report = engine
        .commit(
            account_a,
            a,
            inbound(vec![a_contact_sends("X1", "+447700900006", "hi")]),
        )
        .await?;
    let InboundOutcome::Inserted {
        lead_id: Some(a_lead),
        lead_created: true,
        ..
    } = report.inbound[0].1
    else {
        panic!("{report:?}");
    };
    assert_ne!(a_lead, b_lead.id);
    let mut tx = store.as_user(b).await?;
    assert_eq!(tx.leads_list().await?, vec![b_lead.clone()]);
    assert!(tx.conversations().await?.is_empty());
    drop(tx);
    let report = engine
        .commit(
            account_b,
            b,
            inbound(vec![a_contact_sends("X1", "+447700900006", "hi B")]),
        )
        .await?;
    assert!(
        matches!(report.inbound[0].1, InboundOutcome::Inserted { lead_id: Some(l), lead_created: false, .. } if l == b_lead.id),
        "the same WhatsApp id in another account is another message: {report:?}"
    );
    Ok(())
}

#[tokio::test]
async fn statuses_only_move_forward() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let mut tx = store.as_user(user).await?;
    let (first, _) = tx
        .message_enqueue(NewOutgoing {
            session_id: session,
            to: "+447700900007",
            text: "first",
            idempotency_key: None,
        })
        .await?;
    let (second, _) = tx
        .message_enqueue(NewOutgoing {
            session_id: session,
            to: "+447700900007",
            text: "second",
            idempotency_key: None,
        })
        .await?;
    tx.commit().await?;
    let first_id = first.message_id.clone().unwrap_or_default();
    let second_id = second.message_id.clone().unwrap_or_default();

    let steps = [
        (status(&first_id, MessageStatus::Delivered), true),
        (status(&first_id, MessageStatus::Sent), false),
        (status(&first_id, MessageStatus::Read), true),
        (status(&first_id, MessageStatus::Delivered), false),
        (status(&first_id, MessageStatus::Failed), false),
        (status("NO-SUCH-ID", MessageStatus::Read), false),
        (
            StatusChange {
                reason: Some("retries_exhausted".into()),
                ..status(&second_id, MessageStatus::Failed)
            },
            true,
        ),
        (status(&second_id, MessageStatus::Sent), false),
    ];
    for (change, takes_effect) in steps {
        let label = format!("{} → {}", change.message_id, change.status);
        let report = engine
            .commit(
                session,
                user,
                EngineCommit {
                    statuses: vec![change.clone()],
                    ..Default::default()
                },
            )
            .await?;
        assert_eq!(!report.statuses.is_empty(), takes_effect, "{label}");
        if takes_effect {
            assert_eq!(report.statuses[0].2, change.status, "{label}");
        }
    }
    let mut conn = owner(&url).await?;
    let row = sqlx::query(
        "SELECT status, sent_at IS NOT NULL, delivered_at IS NOT NULL, read_at IS NOT NULL \
         FROM whatsapp_messages WHERE id = $1",
    )
    .bind(first.id)
    .fetch_one(&mut conn)
    .await?;
    assert_eq!(row.get::<String, _>(0), "read");
    assert!(row.get::<bool, _>(1) && row.get::<bool, _>(2) && row.get::<bool, _>(3));
    let mut tx = store.as_user(user).await?;
    let failed = tx.message_get(second.id).await?;
    assert_eq!(
        (failed.status.as_str(), failed.status_reason.as_deref()),
        ("failed", Some("retries_exhausted"))
    );
    Ok(())
}

#[tokio::test]
async fn the_outbox_lists_queued_messages_oldest_first_and_counts_attempts() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let other = a_user(&store, "b@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let mut queued = Vec::new();
    for text in ["one", "two", "three"] {
        let mut tx = store.as_user(user).await?;
        let (message, _) = tx
            .message_enqueue(NewOutgoing {
                session_id: session,
                to: "+447700900008",
                text,
                idempotency_key: None,
            })
            .await?;
        tx.commit().await?;
        queued.push(message.message_id.unwrap_or_default());
    }

    // The engine is about to write the first to the socket, and crashes.
    engine
        .commit(
            session,
            user,
            EngineCommit {
                attempts: vec![queued[0].clone()],
                ..Default::default()
            },
        )
        .await?;
    let outbox = engine.queued_outgoing(session, user, 10).await?;
    assert_eq!(
        outbox
            .iter()
            .map(|m| (m.message_id.as_str(), m.text.as_str(), m.attempts))
            .collect::<Vec<_>>(),
        vec![
            (queued[0].as_str(), "one", 1),
            (queued[1].as_str(), "two", 0),
            (queued[2].as_str(), "three", 0)
        ]
    );
    assert_eq!(outbox[0].phone_number, "+447700900008");
    assert_eq!(engine.queued_outgoing(session, user, 2).await?.len(), 2);
    // Reading changed nothing.
    assert_eq!(engine.queued_outgoing(session, user, 10).await?, outbox);

    // Sent: it leaves the outbox but can still be found for a retry receipt.
    engine
        .commit(
            session,
            user,
            EngineCommit {
                statuses: vec![status(&queued[0], MessageStatus::Sent)],
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(engine.queued_outgoing(session, user, 10).await?.len(), 2);
    let resend = engine
        .outgoing_by_message_id(session, user, &queued[0])
        .await?;
    assert_eq!(resend.map(|m| m.text), Some("one".to_owned()));
    // Nobody else's outbox.
    assert!(engine.queued_outgoing(session, other, 10).await?.is_empty());
    assert_eq!(
        engine
            .outgoing_by_message_id(session, other, &queued[0])
            .await?,
        None
    );
    Ok(())
}

#[tokio::test]
async fn keys_are_written_loaded_deleted_and_wiped() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    engine
        .commit(
            session,
            user,
            EngineCommit {
                keys: vec![
                    key(KeyKind::PreKey, "1", Some(b"pre one")),
                    key(KeyKind::PreKey, "2", Some(b"pre two")),
                    key(KeyKind::Session, "1", Some(b"a session named 1")),
                    // The last write of a name in one commit wins.
                    key(KeyKind::PreKey, "3", Some(b"first")),
                    key(KeyKind::PreKey, "3", Some(b"second")),
                ],
                ..Default::default()
            },
        )
        .await?;
    let mut loaded = engine
        .load_keys(session, KeyKind::PreKey, &names(&["1", "2", "3", "404"]))
        .await?;
    loaded.sort();
    assert_eq!(
        loaded,
        vec![
            ("1".to_owned(), b"pre one".to_vec()),
            ("2".to_owned(), b"pre two".to_vec()),
            ("3".to_owned(), b"second".to_vec())
        ]
    );
    assert!(
        engine
            .load_keys(session, KeyKind::PreKey, &[])
            .await?
            .is_empty()
    );

    // A consumed pre-key is deleted; a session updated; in one commit.
    engine
        .commit(
            session,
            user,
            EngineCommit {
                keys: vec![
                    key(KeyKind::PreKey, "1", None),
                    key(KeyKind::Session, "1", Some(b"ratcheted")),
                ],
                ..Default::default()
            },
        )
        .await?;
    assert!(
        engine
            .load_keys(session, KeyKind::PreKey, &names(&["1"]))
            .await?
            .is_empty()
    );
    assert_eq!(
        engine
            .load_keys(session, KeyKind::Session, &names(&["1"]))
            .await?,
        vec![("1".to_owned(), b"ratcheted".to_vec())]
    );
    assert_eq!(
        engine.load_credentials(session).await?.as_deref(),
        Some(&b"noise key, identity key, adv secret"[..])
    );
    assert_eq!(engine.accounts_to_start().await?.len(), 1);

    // Logged out: everything goes, and the account is no longer linked.
    engine
        .update_session(
            session,
            SessionStatusUpdate {
                linked_at: Some(Utc::now()),
                ..Default::default()
            },
        )
        .await?;
    engine.wipe_credentials(session).await?;
    assert_eq!(engine.load_credentials(session).await?, None);
    assert!(
        engine
            .load_keys(session, KeyKind::Session, &names(&["1"]))
            .await?
            .is_empty()
    );
    assert!(engine.accounts_to_start().await?.is_empty());
    let mut tx = store.as_user(user).await?;
    assert_eq!(tx.whatsapp_session_get(session).await?.linked_at, None);
    Ok(())
}

#[tokio::test]
async fn start_up_lists_linked_accounts_that_have_not_expired() -> TestResult {
    let (store, _) = a_store().await?;
    let a = a_user(&store, "a@example.com").await?;
    let b = a_user(&store, "b@example.com").await?;
    let engine = store.engine(a_cipher());
    let linked = a_linked_account(&store, &engine, a).await?;
    let expired = a_linked_account(&store, &engine, b).await?;
    let unlinked = an_account(&store, b, "Never linked").await?;
    engine
        .update_session(
            expired,
            SessionStatusUpdate {
                status: Some(store::SessionStatus::Expired.into()),
                status_reason: Some("logged_out".into()),
                ..Default::default()
            },
        )
        .await?;
    let accounts = engine.accounts_to_start().await?;
    assert_eq!(
        accounts,
        vec![store::EngineAccount {
            session_id: linked,
            user_id: a,
            status: "inactive".into()
        }]
    );
    let any = engine.account(unlinked).await?;
    assert_eq!(
        any.map(|acc| (acc.user_id, acc.status)),
        Some((b, "inactive".into()))
    );
    assert_eq!(engine.account(Uuid::new_v4()).await?, None);
    Ok(())
}

#[tokio::test]
async fn the_engine_writes_the_state_users_can_only_read() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let linked_at = Utc::now();
    engine
        .update_session(
            session,
            SessionStatusUpdate {
                status: Some("active".into()),
                status_reason: Some("linked".into()),
                status_message: Some("Connected to WhatsApp.".into()),
                phone_number: Some("+44 7700 900009".into()),
                jid: Some("447700900009:12@s.whatsapp.net".into()),
                lid: Some("98765:12@lid".into()),
                push_name: Some("Sales".into()),
                linked_at: Some(linked_at),
                touch_last_seen: true,
            },
        )
        .await?;
    // None keeps what is there.
    engine
        .update_session(
            session,
            SessionStatusUpdate {
                status_message: Some("Still connected.".into()),
                ..Default::default()
            },
        )
        .await?;
    let mut tx = store.as_user(user).await?;
    let seen = tx.whatsapp_session_get(session).await?;
    assert_eq!(
        (
            seen.status.as_deref(),
            seen.status_reason.as_deref(),
            seen.status_message.as_deref(),
            seen.phone_number.as_deref(),
            seen.jid.as_deref(),
            seen.lid.as_deref(),
            seen.push_name.as_deref(),
        ),
        (
            Some("active"),
            Some("linked"),
            Some("Still connected."),
            Some("+447700900009"),
            Some("447700900009:12@s.whatsapp.net"),
            Some("98765:12@lid"),
            Some("Sales")
        )
    );
    assert_eq!(
        seen.linked_at.map(|t| t.timestamp_micros()),
        Some(linked_at.timestamp_micros())
    );
    drop(tx);

    for bad in [
        SessionStatusUpdate {
            status: Some("linked".into()),
            ..Default::default()
        },
        SessionStatusUpdate {
            status_reason: Some("Not A Word".into()),
            ..Default::default()
        },
        SessionStatusUpdate {
            phone_number: Some("12345".into()),
            ..Default::default()
        },
    ] {
        let outcome = engine.update_session(session, bad.clone()).await;
        assert!(
            matches!(outcome, Err(StoreError::Invalid { .. })),
            "{bad:?}: {outcome:?}"
        );
    }
    assert!(matches!(
        engine
            .update_session(Uuid::new_v4(), SessionStatusUpdate::default())
            .await,
        Err(StoreError::NotFound)
    ));
    Ok(())
}
