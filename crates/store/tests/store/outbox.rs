//! The user-facing message API: the outbox with idempotency keys, one message, the conversation
//! list and a conversation's pages.

use crate::support::{
    TestResult, a_cipher, a_contact_sends, a_linked_account, a_store, a_user, an_account,
};
use store::{
    EngineCommit, InboundOutcome, Message, MessageStatus, NewOutgoing, StatusChange, StoreError,
};
use uuid::Uuid;

fn to(session_id: Uuid, to: &'static str, text: &'static str) -> NewOutgoing<'static> {
    NewOutgoing {
        session_id,
        to,
        text,
        idempotency_key: None,
    }
}

#[tokio::test]
async fn a_message_is_queued_for_a_linked_account_of_the_user_only() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let other = a_user(&store, "b@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let unlinked = an_account(&store, user, "Not linked").await?;
    let theirs = a_linked_account(&store, &engine, other).await?;

    let long = "x".repeat(4097);
    let refusals: Vec<(NewOutgoing<'_>, &str)> = vec![
        (to(session, "07700 900011", "hi"), "to"),
        (to(session, "+44 7700 9000x", "hi"), "to"),
        (to(session, "+447700900011", "   "), "text"),
        (to(session, "+447700900011", "a\u{7}b"), "text"),
        (
            NewOutgoing {
                text: &long,
                ..to(session, "+447700900011", "")
            },
            "text",
        ),
        (
            NewOutgoing {
                idempotency_key: Some(""),
                ..to(session, "+447700900011", "hi")
            },
            "idempotency_key",
        ),
    ];
    for (new, field) in refusals {
        let mut tx = store.as_user(user).await?;
        let outcome = tx.message_enqueue(new).await;
        assert!(
            matches!(&outcome, Err(StoreError::Invalid { field: f, .. }) if *f == field),
            "{new:?}: {outcome:?}"
        );
    }
    for (session_id, expected) in [
        (Uuid::new_v4(), "NotFound"),
        (theirs, "NotFound"),
        (unlinked, "NotLinked"),
    ] {
        let mut tx = store.as_user(user).await?;
        let outcome = tx
            .message_enqueue(to(session_id, "+447700900011", "hi"))
            .await;
        let got = match &outcome {
            Err(StoreError::NotFound) => "NotFound",
            Err(StoreError::NotLinked) => "NotLinked",
            _ => "something else",
        };
        assert_eq!(got, expected, "{outcome:?}");
        assert!(outcome.err().is_some_and(|e| e.is_client_error()));
    }

    let text = "4096 is fine: ".to_owned() + &"é".repeat(4082);
    let mut tx = store.as_user(user).await?;
    let (message, created) = tx
        .message_enqueue(NewOutgoing {
            text: &text,
            ..to(session, "+44 7700 900011", "")
        })
        .await?;
    assert!(created);
    assert_eq!(
        (
            message.account_id,
            message.direction.as_str(),
            message.r#type.as_str(),
            message.status.as_str(),
            message.phone_number.as_deref(),
            message.text.as_deref(),
        ),
        (
            session,
            "out",
            "text",
            "queued",
            Some("+447700900011"),
            Some(text.as_str())
        )
    );
    let wa_id = message.message_id.clone().unwrap_or_default();
    assert!(wa_id.starts_with("3EB0") && wa_id.len() == 22, "{wa_id}");
    let lead = tx.lead_get(message.lead_id.ok_or("no lead")?).await?;
    assert_eq!(
        (
            lead.name.as_str(),
            lead.phone.as_str(),
            lead.source.as_deref()
        ),
        ("+447700900011", "+447700900011", Some("whatsapp"))
    );
    assert_eq!(tx.message_get(message.id).await?, message);
    tx.commit().await?;

    // The REST shape.
    let json = serde_json::to_value(&message)?;
    for field in [
        "id",
        "account_id",
        "lead_id",
        "message_id",
        "direction",
        "type",
        "text",
        "status",
        "status_reason",
        "created_at",
    ] {
        assert!(json.get(field).is_some(), "{field} missing from {json}");
    }
    let mut tx = store.as_user(other).await?;
    assert!(matches!(
        tx.message_get(message.id).await,
        Err(StoreError::NotFound)
    ));
    Ok(())
}

#[tokio::test]
async fn an_idempotency_key_returns_the_same_message_and_never_a_second() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let other_session = a_linked_account(&store, &engine, user).await?;
    let keyed = |session_id, text| NewOutgoing {
        idempotency_key: Some("order-42"),
        ..to(session_id, "+447700900012", text)
    };

    let mut tx = store.as_user(user).await?;
    let (first, created) = tx
        .message_enqueue(keyed(session, "Your order shipped"))
        .await?;
    assert!(created);
    tx.commit().await?;

    let mut tx = store.as_user(user).await?;
    let (again, created) = tx
        .message_enqueue(NewOutgoing {
            to: "+44 7700 900012",
            ..keyed(session, "Your order shipped")
        })
        .await?;
    assert_eq!((again, created), (first.clone(), false));
    let conflict = tx.message_enqueue(keyed(session, "Something else")).await;
    assert!(
        matches!(
            conflict,
            Err(StoreError::Conflict {
                field: "idempotency_key",
                ..
            })
        ),
        "{conflict:?}"
    );
    drop(tx);

    // Keys are per account.
    let mut tx = store.as_user(user).await?;
    let (elsewhere, created) = tx
        .message_enqueue(keyed(other_session, "Your order shipped"))
        .await?;
    assert!(created && elsewhere.id != first.id);
    tx.commit().await?;

    // Concurrent requests with one new key: one message, both get it.
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.as_user(user).await?;
                let outcome = tx
                    .message_enqueue(NewOutgoing {
                        idempotency_key: Some("race"),
                        ..to(session, "+447700900012", "once")
                    })
                    .await?;
                tx.commit().await?;
                Ok::<_, StoreError>(outcome)
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut created_count = 0;
    for task in tasks {
        let (message, created) = task.await??;
        ids.push(message.id);
        created_count += usize::from(created);
    }
    ids.dedup();
    assert_eq!((ids.len(), created_count), (1, 1));
    let mut conn = crate::support::owner(&url).await?;
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM whatsapp_messages WHERE idempotency_key = 'race'")
            .fetch_one(&mut conn)
            .await?;
    assert_eq!(rows, 1);
    Ok(())
}

#[tokio::test]
async fn conversations_have_one_entry_per_lead_newest_first_with_unread_counts() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let second_account = a_linked_account(&store, &engine, user).await?;

    let mut ana = a_contact_sends("A1", "+447700900013", "Hi from Ana");
    ana.push_name = Some("Ana".into());
    engine
        .commit(
            session,
            user,
            EngineCommit {
                inbound: vec![
                    ana.clone(),
                    a_contact_sends("A2", "+447700900013", "Are you there?"),
                    a_contact_sends("A3", "+447700900013", "Hello?"),
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
                statuses: vec![StatusChange {
                    message_id: "A1".into(),
                    status: MessageStatus::Read,
                    reason: None,
                    at: chrono::Utc::now(),
                }],
                ..Default::default()
            },
        )
        .await?;
    // Bob is written to last, through the second account.
    let mut tx = store.as_user(user).await?;
    let (to_bob, _) = tx
        .message_enqueue(to(second_account, "+447700900014", "Hi Bob"))
        .await?;
    tx.commit().await?;

    let mut tx = store.as_user(user).await?;
    let list = tx.conversations().await?;
    let shape: Vec<_> = list
        .iter()
        .map(|c| {
            (
                c.lead_name.as_str(),
                c.phone_number.as_str(),
                c.account_id,
                c.last_message.text.as_deref(),
                c.unread_count,
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (
                "+447700900014",
                "+447700900014",
                second_account,
                Some("Hi Bob"),
                0
            ),
            ("Ana", "+447700900013", session, Some("Hello?"), 2),
        ]
    );
    assert_eq!(list[0].last_message, to_bob);
    assert_eq!(list[0].lead_id, to_bob.lead_id.ok_or("no lead")?);
    Ok(())
}

#[tokio::test]
async fn a_conversation_is_paged_newest_first_with_an_opaque_cursor() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let other = a_user(&store, "b@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    // Seven messages, some in one commit (same transaction, still ordered).
    let records: Vec<_> = (1..=7)
        .map(|i| a_contact_sends(&format!("P{i}"), "+447700900015", &format!("message {i}")))
        .collect();
    let (first_batch, second_batch) = records.split_at(4);
    let mut lead = None;
    for batch in [first_batch, second_batch] {
        let report = engine
            .commit(
                session,
                user,
                EngineCommit {
                    inbound: batch.to_vec(),
                    ..Default::default()
                },
            )
            .await?;
        if let InboundOutcome::Inserted { lead_id, .. } = report.inbound[0].1 {
            lead = lead.or(lead_id);
        }
    }
    let lead = lead.ok_or("no lead")?;

    let mut tx = store.as_user(user).await?;
    let mut seen: Vec<Message> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let page = tx.conversation_messages(lead, cursor.as_deref(), 3).await?;
        pages.push(page.messages.len());
        seen.extend(page.messages);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, vec![3, 3, 1]);
    let texts: Vec<_> = seen.iter().filter_map(|m| m.text.clone()).collect();
    let expected: Vec<_> = (1..=7).rev().map(|i| format!("message {i}")).collect();
    assert_eq!(texts, expected);

    // Limits are clamped; garbage cursors and other users' leads are refused.
    assert_eq!(
        tx.conversation_messages(lead, None, 0)
            .await?
            .messages
            .len(),
        1
    );
    assert_eq!(
        tx.conversation_messages(lead, None, 10_000)
            .await?
            .messages
            .len(),
        7
    );
    assert!(matches!(
        tx.conversation_messages(lead, Some("not-a-cursor"), 3)
            .await,
        Err(StoreError::Invalid {
            field: "before",
            ..
        })
    ));
    drop(tx);
    let mut tx = store.as_user(other).await?;
    assert!(matches!(
        tx.conversation_messages(lead, None, 3).await,
        Err(StoreError::NotFound)
    ));
    Ok(())
}
