//! The audit log: written by the database for sign-ins, account links and removals, key
//! rotation, exports, erasure, opt-outs and settings; readable by its user only; never naming a
//! contact.

use crate::support::{TestResult, a_cipher, a_linked_account, a_store, a_user, another_cipher};
use store::{ExportScope, NewConsent, NewLead, SessionStatusUpdate};

#[tokio::test]
async fn security_and_privacy_actions_land_in_the_users_own_audit_log() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let other = a_user(&store, "b@example.com").await?;
    let engine = store.engine(a_cipher());

    store
        .accounts()
        .create_web_session(user, &[1; 32], std::time::Duration::from_secs(60))
        .await?;
    let session = a_linked_account(&store, &engine, user).await?;
    engine
        .update_session(
            session,
            SessionStatusUpdate {
                linked_at: Some(chrono::Utc::now()),
                ..Default::default()
            },
        )
        .await?;
    store
        .rotate_encryption_key(&a_cipher(), &another_cipher(7))
        .await?;
    let engine = store.engine(another_cipher(7));
    engine.wipe_credentials(session).await?;
    let mut tx = store.as_user(user).await?;
    let lead = tx
        .lead_create(NewLead::new("Audited Person", "+447700900001"))
        .await?;
    tx.consent_record(
        lead.id,
        NewConsent {
            kind: "opt_out".into(),
            source: "chat".into(),
            evidence: "said so".into(),
        },
    )
    .await?;
    tx.whatsapp_session_delete(session).await?;
    tx.commit().await?;
    let prepared = store
        .export_prepare(user, ExportScope::Lead(lead.id))
        .await?;
    prepared.write_zip(Vec::new()).await?;
    store.erase_lead(user, lead.id).await?;

    let mut tx = store.as_user(user).await?;
    let log = tx.audit_log(None, 100).await?;
    let mut actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    actions.reverse();
    assert_eq!(
        actions,
        vec![
            "sign_in",
            "whatsapp_linked",
            "key_rotated",
            "whatsapp_unlinked",
            "opt_out",
            "whatsapp_removed",
            "lead_export",
            "lead_erased",
        ]
    );
    for entry in &log {
        let text = entry.details.to_string();
        assert!(
            !text.contains("7700900001") && !text.contains("Audited"),
            "{text}"
        );
    }
    // Paging back from an entry.
    let older = tx.audit_log(Some(log[1].id), 100).await?;
    assert_eq!(older.len(), log.len() - 2);
    drop(tx);
    let mut tx = store.as_user(other).await?;
    assert!(tx.audit_log(None, 100).await?.is_empty());
    Ok(())
}
