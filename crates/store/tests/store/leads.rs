//! Leads, templates and conversations through the store API: validation, conflicts, verbatim text.

use crate::support::{TestResult, a_store, a_user};
use store::{LeadPatch, LeadStatus, NewLead, NewTemplate, StoreError};

#[tokio::test]
async fn a_lead_is_created_normalised_and_updated() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let mut tx = store.as_user(user).await?;
    let lead = tx
        .lead_create(NewLead {
            company: Some("  Acme ".into()),
            email: Some(" Ana@Acme.COM".into()),
            source: Some("".into()),
            ..NewLead::new(" Ana ", "+44 20 7946 0958")
        })
        .await?;
    assert_eq!(
        (
            lead.name.as_str(),
            lead.phone.as_str(),
            lead.company.as_deref(),
            lead.email.as_deref(),
            lead.source,
            lead.status,
            lead.user_id
        ),
        (
            "Ana",
            "+442079460958",
            Some("Acme"),
            Some("ana@acme.com"),
            None,
            LeadStatus::New,
            user
        )
    );

    let patch = LeadPatch {
        status: Some(LeadStatus::Qualified),
        company: Some(String::new()),
        campaign: Some("Spring".into()),
        ..Default::default()
    };
    let updated = tx.lead_update(lead.id, patch).await?;
    assert_eq!(
        (
            updated.status,
            updated.company.clone(),
            updated.campaign.as_deref(),
            updated.name.as_str()
        ),
        (LeadStatus::Qualified, None, Some("Spring"), "Ana")
    );
    assert!(updated.updated_at >= lead.updated_at);
    assert_eq!(tx.lead_get(lead.id).await?, updated);
    tx.commit().await?;

    let mut tx = store.as_user(user).await?;
    assert_eq!(tx.leads_list().await?, vec![updated.clone()]);
    tx.lead_delete(updated.id).await?;
    assert!(matches!(
        tx.lead_get(updated.id).await,
        Err(StoreError::NotFound)
    ));
    Ok(())
}

#[tokio::test]
async fn bad_input_is_a_typed_validation_error() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let cases: Vec<(NewLead, &str)> = vec![
        (NewLead::new("Ana", "020 7946 0958"), "phone"),
        (NewLead::new("Ana", "+44 20 7946 095x"), "phone"),
        (NewLead::new("   ", "+442079460958"), "name"),
        (NewLead::new("x".repeat(201), "+442079460958"), "name"),
        (NewLead::new("Ana\0", "+442079460958"), "name"),
        (
            NewLead {
                email: Some("not-an-email".into()),
                ..NewLead::new("Ana", "+442079460958")
            },
            "email",
        ),
        (
            NewLead {
                company: Some("c".repeat(201)),
                ..NewLead::new("Ana", "+442079460958")
            },
            "company",
        ),
        (
            NewLead {
                campaign: Some("c".repeat(101)),
                ..NewLead::new("Ana", "+442079460958")
            },
            "campaign",
        ),
    ];
    for (input, expected_field) in cases {
        let mut tx = store.as_user(user).await?;
        match tx.lead_create(input.clone()).await {
            Err(StoreError::Invalid { field, .. }) => {
                assert_eq!(field, expected_field, "{input:?}")
            }
            other => panic!("{input:?}: expected Invalid {expected_field}, got {other:?}"),
        }
    }
    let mut tx = store.as_user(user).await?;
    assert!(
        tx.leads_list().await?.is_empty(),
        "nothing invalid was stored"
    );
    Ok(())
}

#[tokio::test]
async fn the_same_phone_twice_is_a_conflict_for_one_user_only() -> TestResult {
    let (store, _) = a_store().await?;
    let (a, b) = (
        a_user(&store, "a@example.com").await?,
        a_user(&store, "b@example.com").await?,
    );
    let mut tx = store.as_user(a).await?;
    tx.lead_create(NewLead::new("Ana", "+442079460958")).await?;
    tx.commit().await?;

    let mut tx = store.as_user(a).await?;
    let again = tx
        .lead_create(NewLead::new("Ana again", "+44 (20) 7946-0958"))
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict { field: "phone", .. })),
        "{again:?}"
    );
    assert!(
        again
            .err()
            .is_some_and(|e| e.is_client_error() && !e.to_string().contains("leads_"))
    );

    let mut tx = store.as_user(b).await?;
    tx.lead_create(NewLead::new("Someone else's Ana", "+442079460958"))
        .await?;
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn sql_and_html_in_names_are_stored_verbatim() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let names = [
        "Robert'); DROP TABLE leads;--",
        "<script>alert('x')</script>",
        "<img src=x onerror=alert(1)> & \"quotes\" \\ backslash",
        "名前 — émoji 🎉",
    ];
    let mut tx = store.as_user(user).await?;
    for (i, name) in names.iter().enumerate() {
        tx.lead_create(NewLead::new(*name, format!("+4420794600{i:02}")))
            .await?;
    }
    tx.commit().await?;
    let mut tx = store.as_user(user).await?;
    let mut stored: Vec<String> = tx.leads_list().await?.into_iter().map(|l| l.name).collect();
    stored.sort();
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    expected.sort();
    assert_eq!(stored, expected);
    Ok(())
}

#[tokio::test]
async fn templates_collect_their_variables() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let mut tx = store.as_user(user).await?;
    let t = tx
        .template_create(NewTemplate {
            name: "Welcome".into(),
            content: "Hi {{name}} from {{company}}!\nBye".into(),
            ..Default::default()
        })
        .await?;
    assert_eq!(
        (t.variables.clone(), t.category.as_str()),
        (vec!["name".to_owned(), "company".to_owned()], "general")
    );
    assert_eq!(tx.templates_list().await?, vec![t.clone()]);
    assert!(matches!(
        tx.template_create(NewTemplate {
            name: "Empty".into(),
            content: "  ".into(),
            ..Default::default()
        })
        .await,
        Err(StoreError::Invalid {
            field: "content",
            ..
        })
    ));
    tx.template_delete(t.id).await?;
    assert!(tx.templates_list().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn conversations_show_the_latest_message_per_phone() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let mut tx = store.as_user(user).await?;
    let session = tx.whatsapp_session_create("Sales phone").await?;
    let lead = tx.lead_create(NewLead::new("Ana", "+442079460958")).await?;
    let rows = [
        ("+442079460958", "in", "first", "2026-01-01T10:00:00Z"),
        (
            "+442079460958",
            "out",
            "latest to Ana",
            "2026-01-01T11:00:00Z",
        ),
        ("+14155552671", "in", "only one", "2026-01-01T10:30:00Z"),
    ];
    for (phone, direction, text, at) in rows {
        sqlx::query(
            "INSERT INTO whatsapp_messages (session_id, lead_id, phone_number, direction, content, created_at) \
             VALUES ($1, CASE WHEN $2 = '+442079460958' THEN $5::uuid END, $2, $3, jsonb_build_object('text', $4::text), $6::timestamptz)",
        )
        .bind(session.id)
        .bind(phone)
        .bind(direction)
        .bind(text)
        .bind(lead.id)
        .bind(at)
        .execute(tx.connection_for_tests())
        .await?;
    }
    let chats = tx.conversations_list().await?;
    let summary: Vec<(String, String, Option<String>)> = chats
        .into_iter()
        .map(|c| {
            (
                c.phone_number,
                c.content["text"].as_str().unwrap_or_default().to_owned(),
                c.lead_name,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "+442079460958".to_owned(),
                "latest to Ana".to_owned(),
                Some("Ana".to_owned())
            ),
            ("+14155552671".to_owned(), "only one".to_owned(), None),
        ]
    );
    assert_eq!(tx.whatsapp_sessions_list().await?, vec![session]);
    Ok(())
}
