//! Lead lists (search, filters, sorting, paging), CSV import and the campaign runner, against a
//! real PostgreSQL. The end-to-end campaign (real engine, offline WhatsApp, SIGKILL) is in the
//! server's black-box tests; here the runner's rules are checked one by one.

use crate::support::{TestResult, a_cipher, a_contact_sends, a_linked_account, a_store, a_user};
use std::collections::{HashMap, HashSet};
use store::{
    ColumnTarget, ImportOptions, LeadQuery, LeadSort, NewCampaign, NewConsent, NewLead, Pace,
    Pacing, SessionStatusUpdate, StoreError,
};
use uuid::Uuid;

fn gb() -> ImportOptions {
    ImportOptions {
        default_country: Some("GB".into()),
        ..ImportOptions::default()
    }
}

#[tokio::test]
async fn a_csv_imports_what_is_good_and_reports_each_bad_line() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let other = a_user(&store, "b@example.com").await?;
    // The other user already has a lead with a number in the file: it must stay untouched.
    let mut tx = store.as_user(other).await?;
    let theirs = tx
        .lead_create(NewLead::new("Theirs", "+44 7700 900001"))
        .await?;
    tx.commit().await?;
    // The user has one too: it is updated (merged), not duplicated.
    let mut tx = store.as_user(user).await?;
    let mine = tx
        .lead_create(NewLead {
            company: Some("Old Co".into()),
            ..NewLead::new("Mine", "+44 7700 900002")
        })
        .await?;
    tx.commit().await?;

    let mut csv = String::from("\u{feff}Name,Phone,Company,City,Stage\n");
    csv.push_str("Ann,07700 900001,\"Acme, Inc.\",Leeds,new\n"); // line 2
    csv.push_str("Bad Number,12345,,,\n"); // line 3: bad
    csv.push_str("No Country,+,,,\n"); // line 4: bad
    csv.push_str("\"Multi\nLine\",07700 900003,,York,qualified\n"); // lines 5-6
    csv.push_str("Ann Again,+44 7700 900001,,Hull,\n"); // line 7: merged into line 2
    csv.push_str("Bad Status,07700 900004,,,maybe\n"); // line 8: bad
    csv.push_str("Mine New Name,07700900002,,,\n"); // line 9: updates the existing lead
    for i in 0..9_993 {
        csv.push_str(&format!("Lead {i},07700 9{:05},Co {i},Town,\n", i + 100));
    }
    let mut tx = store.as_user(user).await?;
    let report = tx.leads_import(csv.as_bytes(), &gb()).await?;
    tx.commit().await?;

    assert_eq!(report.rows, 10_000);
    let bad: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(bad, vec![3, 4, 8], "{:?}", report.errors);
    assert!(
        report.errors[2].reason.contains("maybe"),
        "{:?}",
        report.errors
    );
    assert_eq!(report.merged, 1);
    // 10,000 rows - 3 bad - 1 merged = 9,996 leads written: one existing updated, the rest new.
    assert_eq!((report.created, report.updated), (9_995, 1));

    let mut tx = store.as_user(user).await?;
    let count = tx.leads_count(&LeadQuery::default()).await?;
    assert_eq!(
        count as usize,
        report.created + 1,
        "created + the lead that existed"
    );
    let ann = tx
        .leads_query(
            &LeadQuery {
                search: Some("7700 900001".into()),
                ..LeadQuery::default()
            },
            None,
            10,
        )
        .await?;
    assert_eq!(ann.leads.len(), 1);
    let ann = &ann.leads[0];
    assert_eq!(ann.phone, "+447700900001");
    assert_eq!(
        ann.company.as_deref(),
        Some("Acme, Inc."),
        "an empty cell erases nothing"
    );
    assert_eq!(ann.name, "Ann Again", "later non-empty values win");
    assert_eq!(ann.fields.0.get("city").map(String::as_str), Some("Hull"));
    let multi = tx
        .leads_query(
            &LeadQuery {
                search: Some("7700 900003".into()),
                ..LeadQuery::default()
            },
            None,
            10,
        )
        .await?;
    assert_eq!(multi.leads[0].name, "Multi\nLine");
    assert_eq!(multi.leads[0].status, store::LeadStatus::Qualified);
    let updated = tx.lead_get(mine.id).await?;
    assert_eq!(updated.name, "Mine New Name");
    assert_eq!(
        updated.company.as_deref(),
        Some("Old Co"),
        "an empty cell erases nothing"
    );
    tx.commit().await?;

    let mut tx = store.as_user(other).await?;
    assert_eq!(tx.lead_get(theirs.id).await?, theirs);
    assert_eq!(tx.leads_count(&LeadQuery::default()).await?, 1);
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn an_import_refused_as_a_whole_writes_nothing() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let mut owner = crate::support::owner(&url).await?;
    sqlx::query("UPDATE app_private.settings SET max_leads_per_user = 50")
        .execute(&mut owner)
        .await?;
    let mut csv = String::from("name,phone\n");
    for i in 0..60 {
        csv.push_str(&format!("L{i},+4477009{i:05}\n"));
    }
    let mut tx = store.as_user(user).await?;
    let err = tx.leads_import(csv.as_bytes(), &gb()).await.unwrap_err();
    assert!(matches!(err, StoreError::QuotaReached { .. }), "{err:?}");
    drop(tx);
    let mut tx = store.as_user(user).await?;
    assert_eq!(tx.leads_count(&LeadQuery::default()).await?, 0);

    // No phone column; a mapping naming two columns the same; an unknown country.
    for (csv, options, field) in [
        ("name,city\nA,B\n", gb(), "mapping"),
        (
            "a,b\n1,2\n",
            ImportOptions {
                mapping: vec![ColumnTarget::Phone, ColumnTarget::Phone],
                ..gb()
            },
            "mapping",
        ),
        (
            "phone\n+447700900001\n",
            ImportOptions {
                default_country: Some("Narnia".into()),
                ..ImportOptions::default()
            },
            "default_country",
        ),
    ] {
        match tx.leads_import(csv.as_bytes(), &options).await {
            Err(StoreError::Invalid { field: f, .. }) => assert_eq!(f, field, "{csv}"),
            other => panic!("{csv}: {other:?}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn lead_lists_search_filter_sort_and_page_without_repeats() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let mut csv = String::from("name,phone,company,status\n");
    for i in 0..250 {
        let status = if i % 5 == 0 { "won" } else { "new" };
        csv.push_str(&format!(
            "Person {i:03},+4477001{i:05},Company {},{status}\n",
            i % 7
        ));
    }
    let mut tx = store.as_user(user).await?;
    tx.leads_import(csv.as_bytes(), &ImportOptions::default())
        .await?;
    tx.commit().await?;

    let mut tx = store.as_user(user).await?;
    for sort in LeadSort::ALL {
        let query = LeadQuery {
            sort,
            ..LeadQuery::default()
        };
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = tx.leads_query(&query, cursor.as_deref(), 60).await?;
            seen.extend(page.leads.iter().map(|l| l.name.clone()));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 250, "{sort:?}");
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 250, "{sort:?}");
        if sort == LeadSort::Name {
            assert_eq!(seen.first().map(String::as_str), Some("Person 000"));
            assert_eq!(seen.last().map(String::as_str), Some("Person 249"));
        }
        if sort == LeadSort::NameDesc {
            assert_eq!(seen.first().map(String::as_str), Some("Person 249"));
        }
    }
    let won = LeadQuery {
        status: Some(store::LeadStatus::Won),
        search: Some("company 3".into()),
        ..LeadQuery::default()
    };
    let page = tx.leads_query(&won, None, 200).await?;
    assert!(!page.leads.is_empty());
    assert!(
        page.leads.iter().all(
            |l| l.status == store::LeadStatus::Won && l.company.as_deref() == Some("Company 3")
        )
    );
    assert_eq!(tx.leads_count(&won).await?, page.leads.len() as i64);
    // `%` is not a wildcard.
    let none = LeadQuery {
        search: Some("%".into()),
        ..LeadQuery::default()
    };
    assert_eq!(tx.leads_count(&none).await?, 0);
    // A cursor of another order is refused, as is garbage.
    let by_name = LeadQuery {
        sort: LeadSort::Name,
        ..LeadQuery::default()
    };
    let cursor = tx
        .leads_query(&by_name, None, 10)
        .await?
        .next_cursor
        .unwrap();
    assert!(matches!(
        tx.leads_query(&LeadQuery::default(), Some(&cursor), 10)
            .await,
        Err(StoreError::Invalid {
            field: "cursor",
            ..
        })
    ));
    assert!(tx.leads_query(&by_name, Some("zz"), 10).await.is_err());
    Ok(())
}

/// Marks an account active as the engine would once connected.
pub(crate) async fn active(engine: &store::EngineStore, session: Uuid) -> TestResult {
    engine
        .update_session(
            session,
            SessionStatusUpdate {
                status: Some("active".into()),
                status_reason: Some("linked".into()),
                linked_at: Some(chrono::Utc::now() - chrono::Duration::days(30)),
                ..Default::default()
            },
        )
        .await?;
    Ok(())
}

/// Ticks the campaign until it completes or pauses (or `max` ticks), sleeping as asked.
pub(crate) async fn run(
    runner: &store::CampaignRunner,
    campaign: Uuid,
    user: Uuid,
    pace: Pace,
    max: usize,
) -> Result<Vec<store::TickOutcome>, StoreError> {
    let mut outcomes = Vec::new();
    for _ in 0..max {
        let outcome = runner.tick(campaign, user, pace).await?;
        let done = outcome.completed || outcome.paused.is_some() || outcome.next_tick.is_none();
        let wait = outcome.next_tick;
        outcomes.push(outcome);
        if done {
            break;
        }
        if let Some(wait) = wait {
            tokio::time::sleep(wait.min(std::time::Duration::from_millis(200))).await;
        }
    }
    Ok(outcomes)
}

#[tokio::test]
async fn a_campaign_queues_each_lead_once_within_the_caps_and_skips_with_reasons() -> TestResult {
    let (store, _) = a_store().await?;
    let engine = store.engine(a_cipher());
    let user = a_user(&store, "a@example.com").await?;
    let a = a_linked_account(&store, &engine, user).await?;
    let b = a_linked_account(&store, &engine, user).await?;
    active(&engine, a).await?;
    active(&engine, b).await?;
    let mut csv = String::from("name,phone,company,offer\n");
    for i in 0..30 {
        // Lead 7 has no company: the template's {{company}} has no fallback → skipped.
        let company = if i == 7 {
            String::new()
        } else {
            format!("Co{i}")
        };
        csv.push_str(&format!("Lead {i},+4477002{i:05},{company},{}\n", i * 10));
    }
    let mut tx = store.as_user(user).await?;
    tx.leads_import(csv.as_bytes(), &ImportOptions::default())
        .await?;
    // Lead 3 opted out.
    let lead3 = tx
        .leads_query(
            &LeadQuery {
                search: Some("Lead 3".into()),
                sort: LeadSort::Name,
                ..LeadQuery::default()
            },
            None,
            1,
        )
        .await?
        .leads
        .remove(0);
    tx.consent_record(
        lead3.id,
        NewConsent {
            kind: "opt_out".into(),
            source: "form".into(),
            evidence: "asked on the phone".into(),
        },
    )
    .await?;
    let campaign = tx
        .campaign_create(NewCampaign {
            name: "Spring".into(),
            content: Some("Hi {{first_name}} from {{company}}: {{offer|no}} off".into()),
            account_ids: vec![a, b],
            segment: Some(LeadQuery {
                sort: LeadSort::Name,
                ..LeadQuery::default()
            }),
            pacing: Pacing {
                per_minute: 3,
                per_hour: 1000,
                jitter_seconds: 1,
                warm_up: false,
                ..Pacing::default()
            },
            start: true,
            ..NewCampaign::default()
        })
        .await?;
    tx.commit().await?;
    assert_eq!(campaign.counts.total, 30);
    assert_eq!(campaign.status, "running");

    // A minute of pacing lasts 60 / 600 = 0.1 s.
    let pace = Pace { scale: 600.0 };
    let runner = store.campaign_runner();
    let outcomes = run(&runner, campaign.id, user, pace, 2_000).await?;
    assert!(outcomes.last().unwrap().completed, "{:?}", outcomes.last());

    let mut tx = store.as_user(user).await?;
    let rows = tx.campaign_leads(campaign.id, None, None, 500).await?;
    assert_eq!(rows.len(), 30);
    let skipped: HashMap<String, String> = rows
        .iter()
        .filter(|r| r.state == "skipped")
        .map(|r| (r.name.clone(), r.reason.clone().unwrap_or_default()))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert_eq!(skipped["Lead 3"], "opted out");
    assert!(skipped["Lead 7"].contains("{{company}}"), "{skipped:?}");
    let queued: Vec<_> = rows.iter().filter(|r| r.state == "queued").collect();
    assert_eq!(queued.len(), 28);
    for row in &queued {
        let i: usize = row.name.trim_start_matches("Lead ").parse()?;
        assert_eq!(
            row.text.as_deref(),
            Some(format!("Hi Lead from Co{i}: {} off", i * 10).as_str())
        );
    }
    // Rotation: both accounts sent.
    let per_account: HashMap<Uuid, Vec<chrono::DateTime<chrono::Utc>>> =
        queued.iter().fold(HashMap::new(), |mut m, r| {
            m.entry(r.account_id.unwrap())
                .or_default()
                .push(r.queued_at.unwrap());
            m
        });
    assert_eq!(per_account.len(), 2);
    // Caps: at most 3 per pacing minute (100 ms) per account, whichever window we look at.
    for times in per_account.values() {
        let mut times = times.clone();
        times.sort();
        for w in times.windows(4) {
            let span = (w[3] - w[0]).num_microseconds().unwrap();
            assert!(span >= 100_000, "4 sends within {span} µs");
        }
    }
    // Exactly one outbox message per queued lead.
    let messages: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM public.whatsapp_messages WHERE idempotency_key LIKE 'campaign:%'",
    )
    .fetch_one(tx.connection_for_tests())
    .await?;
    assert_eq!(messages, 28);
    let c = tx.campaign_get(campaign.id).await?;
    assert_eq!(
        (c.status.as_str(), c.counts.queued, c.counts.skipped),
        ("completed", 28, 2)
    );
    Ok(())
}

#[tokio::test]
async fn a_logged_out_account_or_a_failure_burst_pauses_the_campaign_with_the_reason() -> TestResult
{
    let (store, _) = a_store().await?;
    let engine = store.engine(a_cipher());
    let user = a_user(&store, "a@example.com").await?;
    let a = a_linked_account(&store, &engine, user).await?;
    active(&engine, a).await?;
    let mut csv = String::from("name,phone\n");
    for i in 0..10 {
        csv.push_str(&format!("Lead {i},+4477003{i:05}\n"));
    }
    let mut tx = store.as_user(user).await?;
    tx.leads_import(csv.as_bytes(), &ImportOptions::default())
        .await?;
    let campaign = tx
        .campaign_create(NewCampaign {
            name: "Logout".into(),
            content: Some("Hello {{name}}".into()),
            account_ids: vec![a],
            segment: Some(LeadQuery::default()),
            pacing: Pacing {
                per_minute: 60,
                jitter_seconds: 0,
                warm_up: false,
                ..Pacing::default()
            },
            start: true,
            ..NewCampaign::default()
        })
        .await?;
    tx.commit().await?;
    let runner = store.campaign_runner();
    let pace = Pace { scale: 6000.0 };
    let first = runner.tick(campaign.id, user, pace).await?;
    assert_eq!(first.queued.len(), 1);

    engine
        .update_session(
            a,
            SessionStatusUpdate {
                status: Some("expired".into()),
                status_reason: Some("logged_out".into()),
                status_message: Some("The phone logged this device out".into()),
                ..Default::default()
            },
        )
        .await?;
    let paused = runner.tick(campaign.id, user, pace).await?;
    let reason = paused.paused.expect("paused");
    assert!(
        reason.contains("Sales phone") && reason.contains("logged this device out"),
        "{reason}"
    );
    let mut tx = store.as_user(user).await?;
    let c = tx.campaign_get(campaign.id).await?;
    assert_eq!(c.status, "paused");
    assert_eq!(c.pause_reason.as_deref(), Some(reason.as_str()));
    assert_eq!(c.counts.pending, 9, "nothing more was queued");
    // A paused campaign is not ticked on: nothing happens.
    tx.commit().await?;
    let idle = runner.tick(campaign.id, user, pace).await?;
    assert!(idle.queued.is_empty() && idle.next_tick.is_none());

    // Resumed on an account that is active again, then 5 failures in a row pause it again.
    active(&engine, a).await?;
    let mut tx = store.as_user(user).await?;
    tx.campaign_start(campaign.id).await?;
    tx.commit().await?;
    let mut queued = Vec::new();
    for _ in 0..200 {
        let o = runner.tick(campaign.id, user, pace).await?;
        queued.extend(o.queued.iter().map(|m| m.message_id.clone().unwrap()));
        if queued.len() >= 5 || o.paused.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(queued.len(), 5);
    let fail = |reason: &str| -> Vec<store::StatusChange> {
        queued
            .iter()
            .map(|id| store::StatusChange {
                message_id: id.clone(),
                status: store::MessageStatus::Failed,
                reason: Some(reason.into()),
                at: chrono::Utc::now(),
            })
            .collect()
    };
    // Numbers without WhatsApp are skipped with that reason, not failures of the account.
    let not_on_whatsapp: Vec<_> = fail("not_on_whatsapp").into_iter().take(2).collect();
    engine
        .commit(
            a,
            user,
            store::EngineCommit {
                statuses: not_on_whatsapp,
                ..Default::default()
            },
        )
        .await?;
    let mut tx = store.as_user(user).await?;
    let skipped = tx
        .campaign_leads(campaign.id, Some("skipped"), None, 50)
        .await?;
    assert_eq!(skipped.len(), 2);
    assert!(
        skipped
            .iter()
            .all(|l| l.reason.as_deref() == Some("no WhatsApp"))
    );
    assert_eq!(tx.campaign_get(campaign.id).await?.counts.skipped, 2);
    tx.commit().await?;
    let statuses = fail("no_usable_device");
    engine
        .commit(
            a,
            user,
            store::EngineCommit {
                statuses: statuses[2..].to_vec(),
                ..Default::default()
            },
        )
        .await?;
    let going = runner.tick(campaign.id, user, pace).await?;
    assert!(
        going.paused.is_none(),
        "3 failures and 2 without WhatsApp do not pause it"
    );
    let mut more = Vec::new();
    for _ in 0..200 {
        let o = runner.tick(campaign.id, user, pace).await?;
        more.extend(o.queued.iter().map(|m| m.message_id.clone().unwrap()));
        if more.len() >= 2 || o.paused.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let more: Vec<store::StatusChange> = more
        .into_iter()
        .map(|id| store::StatusChange {
            message_id: id,
            status: store::MessageStatus::Failed,
            reason: Some("no_usable_device".into()),
            at: chrono::Utc::now(),
        })
        .collect();
    assert_eq!(more.len(), 2);
    engine
        .commit(
            a,
            user,
            store::EngineCommit {
                statuses: more,
                ..Default::default()
            },
        )
        .await?;
    let paused = runner.tick(campaign.id, user, pace).await?;
    let reason = paused.paused.expect("paused after a burst");
    assert!(
        reason.contains("5 of the last") && reason.contains("no_usable_device"),
        "{reason}"
    );
    Ok(())
}

#[tokio::test]
async fn a_reply_after_the_campaign_message_marks_the_lead_replied() -> TestResult {
    let (store, _) = a_store().await?;
    let engine = store.engine(a_cipher());
    let user = a_user(&store, "a@example.com").await?;
    let a = a_linked_account(&store, &engine, user).await?;
    active(&engine, a).await?;
    let mut tx = store.as_user(user).await?;
    let lead = tx.lead_create(NewLead::new("Rae", "+447700400001")).await?;
    let campaign = tx
        .campaign_create(NewCampaign {
            name: "Reply".into(),
            content: Some("Hello {{name}}".into()),
            account_ids: vec![a],
            lead_ids: Some(vec![lead.id, Uuid::new_v4()]),
            start: true,
            ..NewCampaign::default()
        })
        .await?;
    tx.commit().await?;
    assert_eq!(
        campaign.counts.total, 1,
        "an id that is not the user's lead is dropped"
    );
    let runner = store.campaign_runner();
    let o = runner.tick(campaign.id, user, Pace::default()).await?;
    assert_eq!(o.queued.len(), 1);
    engine
        .commit(
            a,
            user,
            store::EngineCommit {
                inbound: vec![a_contact_sends("REPLY1", "+447700400001", "Yes please")],
                ..Default::default()
            },
        )
        .await?;
    let mut tx = store.as_user(user).await?;
    let c = tx.campaign_get(campaign.id).await?;
    assert_eq!(c.counts.replied, 1, "{:?}", c.counts);
    let rows = tx
        .campaign_leads(campaign.id, Some("replied"), None, 10)
        .await?;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].replied_at.is_some());
    Ok(())
}
