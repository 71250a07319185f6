//! Export: the ZIP holds exactly the user's rows (compared field by field with the database),
//! nothing of another user's, and a lead's export only that lead. The 1,000,000-message memory
//! measurement is `a_million_messages_export_in_constant_memory` (ignored by default; run it with
//! `--ignored --nocapture`, release build recommended).

use crate::support::{
    TestResult, a_cipher, a_contact_sends, a_linked_account, a_store, a_user, owner,
};
// async_zip 0.0.19 marks its readers deprecated in favour of a `read1` module it does not ship yet.
#[allow(deprecated)]
use async_zip::base::read::seek::ZipFileReader;
use std::collections::BTreeMap;
use store::{EngineCommit, ExportScope, NewConsent, NewLead, NewOutgoing, Store, StoreError};
use uuid::Uuid;

/// The ZIP's files by name (read back with the central directory, as unzip tools do).
#[allow(deprecated)]
async fn unzip(
    bytes: Vec<u8>,
) -> Result<BTreeMap<String, String>, Box<dyn std::error::Error + Send + Sync>> {
    let mut zip = ZipFileReader::new(futures_util::io::Cursor::new(bytes)).await?;
    let mut files = BTreeMap::new();
    for i in 0..zip.file().entries().len() {
        let name = zip.file().entries()[i].filename().as_str()?.to_owned();
        let mut reader = zip.reader_with_entry(i).await?;
        let mut text = String::new();
        reader.read_to_string_checked(&mut text).await?;
        files.insert(name, text);
    }
    Ok(files)
}

pub(crate) async fn export(
    store: &Store,
    user: Uuid,
    scope: ExportScope,
) -> Result<
    (store::ExportSummary, BTreeMap<String, String>),
    Box<dyn std::error::Error + Send + Sync>,
> {
    let prepared = store.export_prepare(user, scope).await?;
    let mut bytes: Vec<u8> = Vec::new();
    let summary = prepared.write_zip(&mut bytes).await?;
    Ok((summary, unzip(bytes).await?))
}

pub(crate) fn csv_rows(text: &str) -> Result<Vec<BTreeMap<String, String>>, csv::Error> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers()?.clone();
    reader
        .records()
        .map(|r| {
            r.map(|r| {
                headers
                    .iter()
                    .map(str::to_owned)
                    .zip(r.iter().map(str::to_owned))
                    .collect()
            })
        })
        .collect()
}

/// One user's data: two leads with consent records, many messages (more than one write chunk)
/// with awkward texts, a template. Returns (first lead, second lead).
async fn a_busy_user(
    store: &Store,
    user: Uuid,
    tag: &str,
    phone_base: u64,
) -> Result<(Uuid, Uuid), Box<dyn std::error::Error + Send + Sync>> {
    let engine = store.engine(a_cipher());
    let session = a_linked_account(store, &engine, user).await?;
    let mut tx = store.as_user(user).await?;
    let first = tx
        .lead_create(NewLead::new(
            format!("{tag} First, \"quoted\""),
            format!("+44770090{phone_base:04}"),
        ))
        .await?;
    let second = tx
        .lead_create(NewLead::new(
            format!("{tag} Second"),
            format!("+44770090{:04}", phone_base + 1),
        ))
        .await?;
    tx.consent_record(
        first.id,
        NewConsent {
            kind: "opt_in".into(),
            source: "form".into(),
            evidence: format!("{tag} form, line1\nline2"),
        },
    )
    .await?;
    // A webhook endpoint (subscribed to nothing this test triggers).
    tx.webhook_create(&store::NewWebhook {
        url: format!("https://hooks.example.com/{tag}"),
        description: Some(format!("{tag} CRM")),
        event_types: vec!["campaign.progress".into()],
        enabled: None,
    })
    .await?;
    tx.template_create(store::NewTemplate {
        name: format!("{tag} template"),
        content: format!("Hi {{{{name}}}} from {tag}"),
        ..Default::default()
    })
    .await?;
    // A draft campaign to both leads (nothing is sent before it starts).
    tx.campaign_create(store::NewCampaign {
        name: format!("{tag} campaign"),
        content: Some(format!("Hi {{{{name}}}}, {tag} news")),
        account_ids: vec![session],
        lead_ids: Some(vec![first.id, second.id]),
        quiet_start: Some("21:00".into()),
        quiet_end: Some("08:30".into()),
        ..store::NewCampaign::default()
    })
    .await?;
    for i in 0..600 {
        let lead = if i % 3 == 0 { &second } else { &first };
        tx.message_enqueue(NewOutgoing {
            session_id: session,
            to: &lead.phone,
            text: &format!("{tag} out {i}, with \"quotes\",\nand a newline é€"),
            idempotency_key: None,
        })
        .await?;
    }
    tx.commit().await?;
    let inbound: Vec<_> = (0..900)
        .map(|i| {
            a_contact_sends(
                &format!("{tag}-IN{i}"),
                &first.phone,
                &format!("{tag} in {i} 😀"),
            )
        })
        .collect();
    engine
        .commit(
            session,
            user,
            EngineCommit {
                inbound,
                ..Default::default()
            },
        )
        .await?;
    Ok((first.id, second.id))
}

#[tokio::test]
async fn the_zip_matches_the_database_exactly_and_holds_nothing_of_another_user() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let other = a_user(&store, "b@example.com").await?;
    let (first, second) = a_busy_user(&store, user, "ALPHA", 1000).await?;
    a_busy_user(&store, other, "BRAVO", 2000).await?;

    let (summary, files) = export(&store, user, ExportScope::Account).await?;
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    for expected in [
        "README.txt",
        "leads.csv",
        "leads.json",
        "consent_events.csv",
        "consent_events.json",
        "conversations.csv",
        "conversations.json",
        "messages.csv",
        "messages.json",
        "templates.csv",
        "templates.json",
        "accounts.csv",
        "accounts.json",
        "audit_log.csv",
        "audit_log.json",
        "campaigns.csv",
        "campaigns.json",
        "campaign_recipients.csv",
        "campaign_recipients.json",
        "privacy_settings.json",
        "webhooks.json",
        "summary.json",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert_eq!(
        (
            summary.leads,
            summary.messages,
            summary.consent_records,
            summary.templates,
            summary.campaigns,
            summary.campaign_recipients
        ),
        (2, 1500, 1, 1, 1, 2)
    );
    // The user's webhook endpoint, never its secret.
    let hooks: serde_json::Value = serde_json::from_str(&files["webhooks.json"])?;
    assert_eq!(hooks[0]["url"], "https://hooks.example.com/ALPHA");
    assert!(!files["webhooks.json"].contains("whsec_"));
    // Nothing of the other user, anywhere.
    for (name, text) in &files {
        assert!(!text.contains("BRAVO"), "{name} holds another user's data");
        assert!(
            !text.contains(&other.to_string()),
            "{name} names the other user"
        );
    }

    // messages.csv and messages.json both equal the database, row by row and field by field.
    let mut conn = owner(&url).await?;
    // (id, text, direction, status, phone, created at)
    type Row = (
        Uuid,
        Option<String>,
        String,
        String,
        Option<String>,
        chrono::DateTime<chrono::Utc>,
    );
    let db: Vec<Row> = sqlx::query_as(
        "SELECT m.id, m.content->>'text', m.direction, m.status, m.phone_number, m.created_at \
         FROM whatsapp_messages m JOIN whatsapp_sessions s ON s.id = m.session_id \
         WHERE s.user_id = $1 ORDER BY m.created_at, m.id",
    )
    .bind(user)
    .fetch_all(&mut conn)
    .await?;
    assert_eq!(db.len(), 1500);
    let csv = csv_rows(&files["messages.csv"])?;
    let json: Vec<serde_json::Value> = serde_json::from_str(&files["messages.json"])?;
    assert_eq!((csv.len(), json.len()), (db.len(), db.len()));
    for ((row, (c, j)), _) in db.iter().zip(csv.iter().zip(&json)).zip(0..) {
        let (id, text, direction, status, phone, created_at) = row;
        assert_eq!(c["id"], id.to_string());
        assert_eq!(j["id"], id.to_string());
        assert_eq!(Some(c["text"].clone()), text.clone());
        assert_eq!(j["text"].as_str(), text.as_deref());
        assert_eq!((&c["direction"], &c["status"]), (direction, status));
        assert_eq!(j["phone_number"].as_str(), phone.as_deref());
        let exported: chrono::DateTime<chrono::Utc> = c["created_at"].parse()?;
        assert_eq!(&exported, created_at);
    }
    // Leads, consent and templates too.
    let leads = csv_rows(&files["leads.csv"])?;
    let db_leads: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, name FROM leads WHERE user_id = $1 ORDER BY created_at, id")
            .bind(user)
            .fetch_all(&mut conn)
            .await?;
    let exported: Vec<(String, String)> = leads
        .iter()
        .map(|l| (l["id"].clone(), l["name"].clone()))
        .collect();
    let expected: Vec<(String, String)> = db_leads
        .iter()
        .map(|(id, name)| (id.to_string(), name.clone()))
        .collect();
    assert_eq!(exported, expected);
    let alpha = leads
        .iter()
        .find(|l| l["id"] == first.to_string())
        .expect("first lead");
    assert_eq!(alpha["name"], "ALPHA First, \"quoted\"");
    assert_eq!(alpha["consent"], "opted_in");
    let consent: Vec<serde_json::Value> = serde_json::from_str(&files["consent_events.json"])?;
    assert_eq!(consent[0]["evidence"], "ALPHA form, line1\nline2");
    let templates = csv_rows(&files["templates.csv"])?;
    assert_eq!(templates[0]["content"], "Hi {{name}} from ALPHA");
    let conversations = csv_rows(&files["conversations.csv"])?;
    let total: i64 = conversations
        .iter()
        .map(|c| c["messages"].parse::<i64>().unwrap_or(0))
        .sum();
    assert_eq!(total, 1500);
    // The campaign as the database holds it, and each lead's place in it.
    let db_campaign: (Uuid, String, String) = sqlx::query_as(
        "SELECT c.id, c.content, a.session_id::text FROM campaigns c \
         JOIN campaign_accounts a ON a.campaign_id = c.id WHERE c.user_id = $1",
    )
    .bind(user)
    .fetch_one(&mut conn)
    .await?;
    let campaigns = csv_rows(&files["campaigns.csv"])?;
    assert_eq!(campaigns.len(), 1);
    let c = &campaigns[0];
    assert_eq!(
        (&c["id"], &c["name"], &c["content"], &c["status"]),
        (
            &db_campaign.0.to_string(),
            &"ALPHA campaign".to_owned(),
            &db_campaign.1,
            &"draft".to_owned()
        )
    );
    assert_eq!(c["account_ids"], db_campaign.2);
    assert_eq!(
        (&c["quiet_start"], &c["quiet_end"]),
        (&"21:00".to_owned(), &"08:30".to_owned())
    );
    let campaigns_json: Vec<serde_json::Value> = serde_json::from_str(&files["campaigns.json"])?;
    assert_eq!(
        campaigns_json[0]["per_minute"],
        c["per_minute"].parse::<i64>()?
    );
    let recipients = csv_rows(&files["campaign_recipients.csv"])?;
    let mut leads_in: Vec<String> = recipients.iter().map(|r| r["lead_id"].clone()).collect();
    leads_in.sort();
    let mut expected_leads = vec![first.to_string(), second.to_string()];
    expected_leads.sort();
    assert_eq!(leads_in, expected_leads);
    assert!(recipients.iter().all(|r| r["campaign_id"] == c["id"]
        && r["campaign_name"] == "ALPHA campaign"
        && r["state"] == "pending"));
    let audit: Vec<serde_json::Value> = serde_json::from_str(&files["audit_log.json"])?;
    assert!(
        audit.iter().any(|e| e["action"] == "export"),
        "the export itself is audited"
    );

    // One lead: that lead, their consent, their messages; nothing else.
    let (summary, files) = export(&store, user, ExportScope::Lead(second)).await?;
    assert_eq!(
        (summary.leads, summary.messages, summary.consent_records),
        (1, 200, 0)
    );
    assert!(!files.contains_key("templates.csv") && !files.contains_key("audit_log.json"));
    assert!(!files.contains_key("campaigns.csv"));
    let recipients = csv_rows(&files["campaign_recipients.csv"])?;
    assert_eq!(summary.campaign_recipients, 1);
    assert_eq!(recipients.len(), 1);
    assert_eq!(recipients[0]["lead_id"], second.to_string());
    let messages = csv_rows(&files["messages.csv"])?;
    assert!(messages.iter().all(|m| m["lead_id"] == second.to_string()));
    assert!(!files.values().any(|t| t.contains("ALPHA First")));
    Ok(())
}

#[tokio::test]
async fn exporting_someone_elses_lead_or_no_lead_is_not_found() -> TestResult {
    let (store, _) = a_store().await?;
    let user = a_user(&store, "a@example.com").await?;
    let other = a_user(&store, "b@example.com").await?;
    let mut tx = store.as_user(other).await?;
    let theirs = tx
        .lead_create(NewLead::new("Theirs", "+447700900001"))
        .await?;
    tx.commit().await?;
    for id in [theirs.id, Uuid::new_v4()] {
        let got = store.export_prepare(user, ExportScope::Lead(id)).await;
        assert!(matches!(got, Err(StoreError::NotFound)), "{got:?}");
    }
    // An empty account still exports (headers only).
    let (summary, files) = export(&store, user, ExportScope::Account).await?;
    assert_eq!(summary.messages, 0);
    assert!(
        files["messages.csv"].starts_with("id,account_id,lead_id,message_id,direction,type,text")
    );
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&files["messages.json"])?.len(),
        0
    );
    Ok(())
}

/// Peak resident memory (VmHWM) since the last reset, in KiB; resets it again.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn reset_peak_rss() {
    // "5" resets the peak RSS counter (Linux ≥ 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A sink that counts bytes (the export's size) and keeps nothing.
struct Counting(u64);

impl tokio::io::AsyncWrite for Counting {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0 += buf.len() as u64;
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
#[ignore = "seeds 1,000,000 messages (minutes); run with --ignored --nocapture"]
async fn a_million_messages_export_in_constant_memory() -> TestResult {
    let (store, url) = a_store().await?;
    let user = a_user(&store, "big@example.com").await?;
    let engine = store.engine(a_cipher());
    let session = a_linked_account(&store, &engine, user).await?;
    let mut conn = owner(&url).await?;
    let mut seeded = 0i64;
    for (size, label) in [(100_000i64, "100k"), (900_000, "1M")] {
        sqlx::query(
            "INSERT INTO whatsapp_messages (session_id, message_id, phone_number, direction, content, status, created_at) \
             SELECT $1, 'M' || g, '+4477009' || lpad((g % 1000)::text, 5, '0'), \
               CASE WHEN g % 2 = 0 THEN 'in' ELSE 'out' END, \
               jsonb_build_object('text', 'Message number ' || g || ' with some ordinary sales text in it'), \
               CASE WHEN g % 2 = 0 THEN 'delivered' ELSE 'sent' END, now() - make_interval(secs => g) \
             FROM generate_series($2::bigint, $3::bigint) AS g",
        )
        .bind(session)
        .bind(seeded + 1)
        .bind(seeded + size)
        .execute(&mut conn)
        .await?;
        seeded += size;
        sqlx::query("ANALYZE whatsapp_messages")
            .execute(&mut conn)
            .await?;
        let before = {
            reset_peak_rss();
            peak_rss_kib()
        };
        let started = std::time::Instant::now();
        let prepared = store.export_prepare(user, ExportScope::Account).await?;
        let mut sink = Counting(0);
        let summary = prepared.write_zip(&mut sink).await?;
        let peak = peak_rss_kib();
        println!(
            "export of {label} messages ({} rows): {:.1} MB zip in {:.1?}; RSS before {} MiB, peak during export {} MiB",
            summary.messages,
            sink.0 as f64 / 1e6,
            started.elapsed(),
            before / 1024,
            peak / 1024,
        );
        assert_eq!(summary.messages, u64::try_from(seeded)?);
    }
    Ok(())
}
