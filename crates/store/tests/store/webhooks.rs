//! Webhooks: deliveries queued with the event (same transaction), only for subscribed endpoints,
//! claimed one per conversation at a time, settled, redelivered, pruned; owners only.

use std::time::Duration;

use chrono::Utc;
use store::{DeliveryOutcome, NewConsent, NewLead, NewWebhook, StoreError, WebhookPatch};
use uuid::Uuid;

use crate::support::*;

fn hook(url: &str, types: &[&str]) -> NewWebhook {
    NewWebhook {
        url: url.into(),
        description: None,
        event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        enabled: None,
    }
}

/// `(event_type, ordering_key, event_id)` of a webhook's deliveries, oldest first.
async fn queued(url: &str, webhook: Uuid) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT event_type, ordering_key, event_id FROM public.webhook_deliveries \
         WHERE webhook_id = $1 ORDER BY id",
    )
    .bind(webhook)
    .fetch_all(&mut owner(url).await?)
    .await
}

#[tokio::test]
async fn events_fan_out_to_subscribed_endpoints_with_the_change_itself() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "hooks@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;

    let mut tx = store.as_user(user).await?;
    let messages = tx
        .webhook_create(&hook(
            "https://hooks.example.com/in",
            &["message.inbound", "message.status", "consent.opt_out"],
        ))
        .await?;
    let accounts = tx
        .webhook_create(&hook(
            "https://hooks.example.com/acc",
            &["account.state", "account.deleted"],
        ))
        .await?;
    let paused = tx
        .webhook_create(&NewWebhook {
            enabled: Some(false),
            ..hook("https://hooks.example.com/off", &["message.inbound"])
        })
        .await?;
    tx.commit().await?;
    assert!(messages.secret.starts_with("whsec_"), "{}", messages.secret);
    assert_ne!(messages.secret, accounts.secret);
    // Nothing before an endpoint existed was queued (linking the account came first).
    assert!(queued(&url, accounts.webhook.id).await?.is_empty());

    engine
        .commit(
            session,
            user,
            store::EngineCommit {
                inbound: vec![
                    a_contact_sends("W1", "+447700900101", "first"),
                    a_contact_sends("W2", "+447700900102", "other chat"),
                    a_contact_sends("W3", "+447700900101", "second"),
                ],
                ..Default::default()
            },
        )
        .await?;
    let got = queued(&url, messages.webhook.id).await?;
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|(t, _, _)| t == "message.inbound"));
    let chat1 = format!("chat:{session}:+447700900101");
    assert_eq!(got[0].1, chat1);
    assert_eq!(got[1].1, format!("chat:{session}:+447700900102"));
    assert_eq!(got[2].1, chat1);
    assert!(got.iter().all(|(_, _, id)| id.starts_with("evt_")));
    assert!(
        queued(&url, accounts.webhook.id).await?.is_empty(),
        "not subscribed to messages"
    );
    assert!(
        queued(&url, paused.webhook.id).await?.is_empty(),
        "a paused endpoint gets nothing"
    );

    // The payload is the message as the API shows it.
    let mut tx = store.as_user(user).await?;
    let page = tx.webhook_deliveries(messages.webhook.id, None, 10).await?;
    assert_eq!(page.deliveries.len(), 3);
    assert_eq!(page.deliveries[0].payload["text"], "second", "newest first");
    assert_eq!(page.deliveries[2].payload["phone_number"], "+447700900101");
    assert_eq!(page.deliveries[2].payload["direction"], "in");
    assert_eq!(page.deliveries[2].state, "pending");

    // A change rolled back queues nothing; a committed one does.
    tx.whatsapp_session_rename(session, "Renamed").await?;
    tx.rollback().await?;
    assert!(queued(&url, accounts.webhook.id).await?.is_empty());
    let mut tx = store.as_user(user).await?;
    tx.whatsapp_session_rename(session, "Renamed").await?;
    tx.commit().await?;
    let acc = queued(&url, accounts.webhook.id).await?;
    assert_eq!(acc.len(), 1, "{acc:?}");
    assert_eq!(acc[0].0, "account.state");
    assert_eq!(acc[0].1, format!("account:{session}"));

    // An opt-out reaches the endpoint that asked for it, ordered per lead.
    let mut tx = store.as_user(user).await?;
    let lead = tx.lead_create(NewLead::new("Opt", "+447700900199")).await?;
    tx.consent_record(
        lead.id,
        NewConsent {
            kind: "opt_out".into(),
            source: "api".into(),
            evidence: "asked by phone".into(),
        },
    )
    .await?;
    tx.commit().await?;
    let got = queued(&url, messages.webhook.id).await?;
    assert_eq!(got.len(), 4);
    assert_eq!(got[3].0, "consent.opt_out");
    assert_eq!(got[3].1, format!("lead:{}", lead.id));

    // Erasing a lead takes the copies of its messages and consent records along; the other
    // contact's stay.
    let mut tx = store.as_user(user).await?;
    let lead_of_first = tx
        .webhook_deliveries(messages.webhook.id, None, 10)
        .await?
        .deliveries
        .iter()
        .find(|d| d.payload["phone_number"] == "+447700900101")
        .and_then(|d| d.payload["lead_id"].as_str().map(str::to_owned))
        .expect("the message names its lead");
    tx.commit().await?;
    store.erase_lead(user, lead_of_first.parse()?).await?;
    store.erase_lead(user, lead.id).await?;
    let left = queued(&url, messages.webhook.id).await?;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].1, format!("chat:{session}:+447700900102"));

    // Deleting the account: account.deleted.
    let mut tx = store.as_user(user).await?;
    tx.whatsapp_session_delete(session).await?;
    tx.commit().await?;
    let acc = queued(&url, accounts.webhook.id).await?;
    assert_eq!(acc.last().map(|a| a.0.as_str()), Some("account.deleted"));
    Ok(())
}

#[tokio::test]
async fn claims_keep_each_conversation_in_order_and_settle_retry_fail_and_redeliver() -> TestResult
{
    let (store, url) = a_store().await?;
    let user = a_user(&store, "claims@example.com").await?;
    let other = a_user(&store, "other@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let mut tx = store.as_user(user).await?;
    let created = tx
        .webhook_create(&hook("https://hooks.example.com/x", &["message.inbound"]))
        .await?;
    tx.commit().await?;
    let webhook = created.webhook.id;
    engine
        .commit(
            session,
            user,
            store::EngineCommit {
                inbound: vec![
                    a_contact_sends("C1", "+447700900201", "one"),
                    a_contact_sends("C2", "+447700900201", "two"),
                    a_contact_sends("D1", "+447700900202", "elsewhere"),
                ],
                ..Default::default()
            },
        )
        .await?;

    let lease = Duration::from_secs(60);
    // One per conversation: C1 and D1, not C2 (it waits behind C1).
    let jobs = store.webhook_claim_due(10, lease).await?;
    let texts: Vec<&str> = jobs
        .iter()
        .map(|j| j.payload["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(texts, ["one", "elsewhere"], "{jobs:?}");
    assert!(
        jobs.iter()
            .all(|j| j.secret == created.secret && j.attempts == 1)
    );
    assert!(
        !format!("{:?}", jobs[0]).contains(&created.secret),
        "Debug hides the secret"
    );
    // Leased: nobody else gets them meanwhile.
    assert!(store.webhook_claim_due(10, lease).await?.is_empty());

    let (c1, d1) = (jobs[0].delivery_id, jobs[1].delivery_id);
    store
        .webhook_settle(
            c1,
            &DeliveryOutcome::Retry {
                status: Some(503),
                error: "the receiver answered HTTP 503".into(),
                at: Utc::now() + chrono::TimeDelta::hours(1),
            },
        )
        .await?;
    store
        .webhook_settle(d1, &DeliveryOutcome::Delivered { status: 204 })
        .await?;
    // C1 is not due yet and C2 still waits behind it.
    assert!(store.webhook_claim_due(10, lease).await?.is_empty());
    // Due again: C1 comes back (second attempt) and still before C2.
    sqlx::query("UPDATE public.webhook_deliveries SET next_attempt_at = now() WHERE id = $1")
        .bind(c1)
        .execute(&mut owner(&url).await?)
        .await?;
    let again = store.webhook_claim_due(10, lease).await?;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].delivery_id, again[0].attempts), (c1, 2));
    store
        .webhook_settle(
            c1,
            &DeliveryOutcome::Failed {
                status: None,
                error: "cannot connect to the receiver; gave up after 2 attempts".into(),
            },
        )
        .await?;
    // Failed for good: the conversation moves on.
    let next = store.webhook_claim_due(10, lease).await?;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].payload["text"], "two");
    store
        .webhook_settle(
            next[0].delivery_id,
            &DeliveryOutcome::Delivered { status: 200 },
        )
        .await?;

    // The log shows each outcome.
    let mut tx = store.as_user(user).await?;
    let page = tx.webhook_deliveries(webhook, None, 2).await?;
    assert_eq!(page.deliveries.len(), 2);
    let cursor = page.next_cursor.clone().expect("a second page");
    let rest = tx.webhook_deliveries(webhook, Some(&cursor), 10).await?;
    assert_eq!(rest.deliveries.len(), 1);
    assert!(rest.next_cursor.is_none());
    let failed = tx
        .webhook_deliveries(webhook, None, 10)
        .await?
        .deliveries
        .into_iter()
        .find(|d| d.id == c1)
        .expect("C1 in the log");
    assert_eq!(failed.state, "failed");
    assert_eq!(failed.attempts, 2);
    assert!(
        failed
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("gave up")
    );
    assert!(matches!(
        tx.webhook_deliveries(webhook, Some("not-a-cursor"), 10)
            .await,
        Err(StoreError::Invalid {
            field: "before",
            ..
        })
    ));

    // Redeliver: the same event (same webhook-id) queued again.
    let copy = tx.webhook_redeliver(webhook, c1).await?;
    tx.commit().await?;
    assert_eq!(copy.state, "pending");
    assert_eq!(copy.event_id, failed.event_id);
    assert_ne!(copy.id, c1);
    let jobs = store.webhook_claim_due(10, lease).await?;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].event_id, failed.event_id);

    // Owners only: another user sees no endpoint, no log, cannot redeliver or change it.
    let mut tx = store.as_user(other).await?;
    assert!(tx.webhooks_list().await?.is_empty());
    assert!(matches!(
        tx.webhook_deliveries(webhook, None, 10).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        tx.webhook_redeliver(webhook, c1).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        tx.webhook_update(
            webhook,
            &WebhookPatch {
                enabled: Some(false),
                ..Default::default()
            }
        )
        .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        tx.webhook_delete(webhook).await,
        Err(StoreError::NotFound)
    ));
    tx.rollback().await?;
    // Nor can the owner read the secret back through SQL (column privileges).
    let mut tx = store.as_user(user).await?;
    let read = sqlx::query_scalar::<_, String>("SELECT secret FROM public.webhooks")
        .fetch_one(tx.connection_for_tests())
        .await;
    assert_eq!(sqlstate(read).as_deref(), Some("42501"));
    tx.rollback().await?;

    // Settled deliveries age out; pending ones stay.
    sqlx::query("UPDATE public.webhook_deliveries SET created_at = now() - interval '40 days'")
        .execute(&mut owner(&url).await?)
        .await?;
    let pruned = store.webhook_prune(30).await?;
    assert_eq!(pruned, 3, "the three settled ones");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM public.webhook_deliveries")
        .fetch_one(&mut owner(&url).await?)
        .await?;
    assert_eq!(left, 1, "the leased redelivery is still pending");
    Ok(())
}

#[tokio::test]
async fn endpoints_are_validated_limited_and_rotated() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "limits@example.com").await?;
    let mut tx = store.as_user(user).await?;
    for (new, field) in [
        (hook("", &["message.inbound"]), "url"),
        (hook("https://x.example/", &[]), "event_types"),
        (
            hook("https://x.example/", &["message.everything"]),
            "event_types",
        ),
        (hook("ftp://x.example/", &["message.inbound"]), "url"),
        (
            NewWebhook {
                description: Some("d".repeat(201)),
                ..hook("https://x.example/", &["message.inbound"])
            },
            "description",
        ),
    ] {
        match tx.webhook_create(&new).await {
            Err(StoreError::Invalid { field: f, .. }) => assert_eq!(f, field, "{new:?}"),
            other => panic!("{new:?}: {other:?}"),
        }
        // A refused statement aborts the transaction: start a fresh one.
        tx.rollback().await?;
        tx = store.as_user(user).await?;
    }
    let first = tx
        .webhook_create(&hook(
            "https://x.example/",
            &["message.inbound", "message.inbound", "campaign.progress"],
        ))
        .await?;
    assert_eq!(
        first.webhook.event_types,
        ["message.inbound", "campaign.progress"]
    );
    let rotated = tx.webhook_rotate_secret(first.webhook.id).await?;
    assert_ne!(rotated.secret, first.secret);
    let changed = tx
        .webhook_update(
            first.webhook.id,
            &WebhookPatch {
                url: Some("https://y.example/hook".into()),
                description: Some("CRM".into()),
                enabled: Some(false),
                event_types: None,
            },
        )
        .await?;
    assert_eq!(changed.url, "https://y.example/hook");
    assert_eq!(changed.description.as_deref(), Some("CRM"));
    assert!(!changed.enabled);
    assert_eq!(changed.event_types, first.webhook.event_types);
    for i in 1..10 {
        tx.webhook_create(&hook(
            &format!("https://x.example/{i}"),
            &["message.inbound"],
        ))
        .await?;
    }
    match tx
        .webhook_create(&hook("https://x.example/11", &["message.inbound"]))
        .await
    {
        Err(StoreError::QuotaReached { what, limit }) => {
            assert_eq!((what, limit), ("webhooks", 10));
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn a_campaign_reports_its_progress_with_counts() -> TestResult {
    let (store, url) = a_store().await?;
    let engine = store.engine(a_cipher());
    let user = a_user(&store, "campaign-hooks@example.com").await?;
    let account = a_linked_account(&store, &engine, user).await?;
    let mut tx = store.as_user(user).await?;
    let created = tx
        .webhook_create(&hook("https://x.example/", &["campaign.progress"]))
        .await?;
    let a = tx.lead_create(NewLead::new("Ann", "+447700900301")).await?;
    let b = tx.lead_create(NewLead::new("Bo", "+447700900302")).await?;
    let campaign = tx
        .campaign_create(store::NewCampaign {
            name: "Spring".into(),
            content: Some("Hello {{name}}".into()),
            account_ids: vec![account],
            lead_ids: Some(vec![a.id, b.id]),
            start: true,
            ..store::NewCampaign::default()
        })
        .await?;
    tx.commit().await?;
    let mut tx = store.as_user(user).await?;
    tx.campaign_pause(campaign.id).await?;
    tx.commit().await?;
    let got = queued(&url, created.webhook.id).await?;
    assert_eq!(got.len(), 2, "started, paused: {got:?}");
    assert!(
        got.iter()
            .all(|(t, k, _)| t == "campaign.progress" && *k == format!("campaign:{}", campaign.id))
    );
    let mut tx = store.as_user(user).await?;
    let log = tx
        .webhook_deliveries(created.webhook.id, None, 10)
        .await?
        .deliveries;
    let (paused, started) = (&log[0].payload, &log[1].payload);
    assert_eq!(started["status"], "running");
    assert_eq!(
        started["counts"]["total"], 2,
        "counts include the leads added after the row"
    );
    assert_eq!(started["counts"]["pending"], 2);
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["previous_status"], "running");
    assert_eq!(paused["pause_reason"], "Paused by you");
    // The campaign page's counts come from the same definition.
    assert_eq!(tx.campaign_get(campaign.id).await?.counts.total, 2);
    Ok(())
}
