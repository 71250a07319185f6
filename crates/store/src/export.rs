//! "Export my data" and "Export this lead": a ZIP of CSV and JSON files, written as a stream.
//!
//! Constant memory whatever the size: rows come from PostgreSQL as a stream (one query per file,
//! all in one REPEATABLE READ, READ ONLY transaction, so every file shows the same moment), each
//! row is serialised into a small buffer that is flushed into the current ZIP entry every
//! [`CHUNK`] bytes, and the ZIP entries are streamed with data descriptors (sizes and CRC after the
//! data), so no file is ever held whole. The writer is any `tokio::io::AsyncWrite`: the HTTP layer
//! passes one end of a pipe whose other end is the response body, so a slow client slows the
//! database read instead of filling memory.
//!
//! The transaction acts as the user under RLS, like every request: another user's rows cannot
//! appear. Exports are audited (`export` / `lead_export`) before the snapshot is taken.

use crate::consent::CONSENT_COLUMNS;
use crate::user_tx::act_as;
use crate::{Store, StoreError};
use async_zip::base::write::ZipFileWriter;
use async_zip::{Compression, ZipEntryBuilder};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use futures_util::io::{AsyncWrite, AsyncWriteExt};
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// Serialised rows are handed to the ZIP writer in chunks of about this many bytes.
const CHUNK: usize = 64 * 1024;

/// What to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportScope {
    /// Everything the user has.
    Account,
    /// One lead: the lead, their consent records, conversations and messages.
    Lead(Uuid),
}

/// Rows written per file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    pub leads: u64,
    pub consent_records: u64,
    pub conversations: u64,
    pub messages: u64,
    pub templates: u64,
    pub accounts: u64,
    pub audit_entries: u64,
    pub campaigns: u64,
    pub campaign_recipients: u64,
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading failed (or the lead is not the user's: [`StoreError::NotFound`]).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing failed: usually the client went away.
    #[error("writing the export failed: {0}")]
    Write(String),
}

impl From<sqlx::Error> for ExportError {
    fn from(e: sqlx::Error) -> Self {
        ExportError::Store(StoreError::from(e))
    }
}

impl From<async_zip::error::ZipError> for ExportError {
    fn from(e: async_zip::error::ZipError) -> Self {
        ExportError::Write(e.to_string())
    }
}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> Self {
        ExportError::Write(e.to_string())
    }
}

impl From<csv::Error> for ExportError {
    fn from(e: csv::Error) -> Self {
        ExportError::Write(e.to_string())
    }
}

impl From<serde_json::Error> for ExportError {
    fn from(e: serde_json::Error) -> Self {
        ExportError::Write(e.to_string())
    }
}

/// A checked, audited export waiting to be written ([`Store::export_prepare`]).
#[derive(Debug)]
pub struct PreparedExport {
    store: Store,
    user_id: Uuid,
    scope: ExportScope,
    /// The lead's number (lead scope): messages to or from it without a lead link belong too.
    lead_phone: Option<String>,
    /// A rough size of the ZIP ([`PreparedExport::estimated_bytes`]).
    estimated_bytes: u64,
}

/// One exported file's rows: the row type and its CSV header (the field order). Every file's
/// query takes `$1` (the lead, or NULL for the whole account) and `$2` (the lead's number).
trait ExportRow: for<'r> FromRow<'r, PgRow> + Serialize + Send + Unpin {
    const HEADERS: &'static [&'static str];
}

#[derive(Debug, Serialize, FromRow)]
pub(crate) struct LeadRow {
    id: Uuid,
    name: String,
    phone: String,
    company: Option<String>,
    email: Option<String>,
    status: String,
    source: Option<String>,
    campaign: Option<String>,
    consent: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ExportRow for LeadRow {
    const HEADERS: &'static [&'static str] = &[
        "id",
        "name",
        "phone",
        "company",
        "email",
        "status",
        "source",
        "campaign",
        "consent",
        "created_at",
        "updated_at",
    ];
}

#[derive(Debug, Serialize, FromRow)]
pub(crate) struct ConsentRow {
    id: Uuid,
    lead_id: Uuid,
    kind: String,
    source: String,
    evidence: String,
    message_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl ExportRow for ConsentRow {
    const HEADERS: &'static [&'static str] = &[
        "id",
        "lead_id",
        "kind",
        "source",
        "evidence",
        "message_id",
        "created_at",
    ];
}

#[derive(Debug, Serialize, FromRow)]
pub(crate) struct ConversationRow {
    lead_id: Option<Uuid>,
    contact: String,
    account_id: Uuid,
    messages: i64,
    received: i64,
    sent: i64,
    first_message_at: DateTime<Utc>,
    last_message_at: DateTime<Utc>,
}

impl ExportRow for ConversationRow {
    const HEADERS: &'static [&'static str] = &[
        "lead_id",
        "contact",
        "account_id",
        "messages",
        "received",
        "sent",
        "first_message_at",
        "last_message_at",
    ];
}

#[derive(Debug, Serialize, FromRow)]
pub(crate) struct MessageRow {
    id: Uuid,
    account_id: Uuid,
    lead_id: Option<Uuid>,
    message_id: Option<String>,
    direction: String,
    #[sqlx(rename = "type")]
    r#type: String,
    text: Option<String>,
    status: String,
    status_reason: Option<String>,
    phone_number: Option<String>,
    contact_jid: Option<String>,
    contact_lid: Option<String>,
    push_name: Option<String>,
    created_at: DateTime<Utc>,
    wa_timestamp: Option<DateTime<Utc>>,
    sent_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    read_at: Option<DateTime<Utc>>,
}

impl ExportRow for MessageRow {
    const HEADERS: &'static [&'static str] = &[
        "id",
        "account_id",
        "lead_id",
        "message_id",
        "direction",
        "type",
        "text",
        "status",
        "status_reason",
        "phone_number",
        "contact_jid",
        "contact_lid",
        "push_name",
        "created_at",
        "wa_timestamp",
        "sent_at",
        "delivered_at",
        "read_at",
    ];
}

#[derive(Debug, Serialize, FromRow)]
pub(crate) struct TemplateRow {
    id: Uuid,
    name: String,
    content: String,
    /// The variable names as a JSON array.
    variables: String,
    category: String,
    created_at: DateTime<Utc>,
}

impl ExportRow for TemplateRow {
    const HEADERS: &'static [&'static str] = &[
        "id",
        "name",
        "content",
        "variables",
        "category",
        "created_at",
    ];
}

#[derive(Debug, Serialize, FromRow)]
pub(crate) struct AccountRow {
    id: Uuid,
    session_name: String,
    phone_number: Option<String>,
    status: Option<String>,
    status_reason: Option<String>,
    linked_at: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl ExportRow for AccountRow {
    const HEADERS: &'static [&'static str] = &[
        "id",
        "session_name",
        "phone_number",
        "status",
        "status_reason",
        "linked_at",
        "last_seen",
        "created_at",
    ];
}

#[derive(Debug, Serialize, FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    action: String,
    /// The entry's details as a JSON object.
    details: String,
    created_at: DateTime<Utc>,
}

impl ExportRow for AuditRow {
    const HEADERS: &'static [&'static str] = &["id", "action", "details", "created_at"];
}

#[derive(Debug, Serialize, FromRow)]
pub(crate) struct CampaignRow {
    id: Uuid,
    name: String,
    template_id: Option<Uuid>,
    content: String,
    status: String,
    pause_reason: Option<String>,
    /// The accounts it sends from, space-separated ids.
    account_ids: String,
    start_at: DateTime<Utc>,
    time_zone: String,
    /// `HH:MM` in `time_zone`, both or neither.
    quiet_start: Option<String>,
    quiet_end: Option<String>,
    per_minute: i32,
    per_hour: i32,
    per_day: i32,
    first_contact_per_day: i32,
    jitter_seconds: i32,
    warm_up: bool,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl ExportRow for CampaignRow {
    const HEADERS: &'static [&'static str] = &[
        "id",
        "name",
        "template_id",
        "content",
        "status",
        "pause_reason",
        "account_ids",
        "start_at",
        "time_zone",
        "quiet_start",
        "quiet_end",
        "per_minute",
        "per_hour",
        "per_day",
        "first_contact_per_day",
        "jitter_seconds",
        "warm_up",
        "created_at",
        "started_at",
        "finished_at",
    ];
}

/// A lead's place in a campaign: whether its message was queued (and which), or why it was
/// skipped.
#[derive(Debug, Serialize, FromRow)]
pub(crate) struct CampaignRecipientRow {
    campaign_id: Uuid,
    campaign_name: String,
    lead_id: Uuid,
    position: i64,
    state: String,
    reason: Option<String>,
    account_id: Option<Uuid>,
    /// The queued message's `id` in `messages`.
    message_id: Option<Uuid>,
    first_contact: Option<bool>,
    queued_at: Option<DateTime<Utc>>,
}

impl ExportRow for CampaignRecipientRow {
    const HEADERS: &'static [&'static str] = &[
        "campaign_id",
        "campaign_name",
        "lead_id",
        "position",
        "state",
        "reason",
        "account_id",
        "message_id",
        "first_contact",
        "queued_at",
    ];
}

const CAMPAIGNS_SQL: &str = "SELECT c.id, c.name, c.template_id, c.content, c.status, \
       c.pause_reason, \
       coalesce((SELECT string_agg(a.session_id::text, ' ' ORDER BY a.session_id) \
                 FROM public.campaign_accounts a WHERE a.campaign_id = c.id), '') AS account_ids, \
       c.start_at, c.time_zone, to_char(c.quiet_start, 'HH24:MI') AS quiet_start, \
       to_char(c.quiet_end, 'HH24:MI') AS quiet_end, c.per_minute, c.per_hour, c.per_day, \
       c.first_contact_per_day, c.jitter_seconds, c.warm_up, c.created_at, c.started_at, \
       c.finished_at FROM public.campaigns c \
     WHERE $1::uuid IS NULL AND $2::text IS NULL ORDER BY c.created_at, c.id";

const CAMPAIGN_RECIPIENTS_SQL: &str = "SELECT r.campaign_id, c.name AS campaign_name, r.lead_id, \
       r.position, r.state, r.reason, r.session_id AS account_id, r.message_row_id AS message_id, \
       r.first_contact, r.queued_at \
     FROM public.campaign_leads r JOIN public.campaigns c ON c.id = r.campaign_id \
     WHERE ($1::uuid IS NULL OR r.lead_id = $1) AND ($2::text IS NULL OR r.lead_id IS NOT NULL) \
     ORDER BY c.created_at, r.campaign_id, r.position";

const LEADS_SQL: &str = "SELECT l.id, coalesce(l.name, '') AS name, coalesce(l.phone, '') AS phone, \
       l.company, l.email, coalesce(l.status, '') AS status, l.source, \
       l.campaign, \
       CASE WHEN public.rarity_is_suppressed(l.phone) THEN 'opted_out' \
            WHEN (SELECT e.kind FROM public.consent_events e WHERE e.lead_id = l.id \
                  ORDER BY e.created_at DESC, e.id DESC LIMIT 1) = 'opt_in' THEN 'opted_in' \
            ELSE 'unknown' END AS consent, \
       l.created_at, coalesce(l.updated_at, l.created_at) AS updated_at \
     FROM public.leads l WHERE ($1::uuid IS NULL OR l.id = $1) AND ($2::text IS NULL OR l.phone = $2) \
     ORDER BY l.created_at, l.id";

const MESSAGES_WHERE: &str =
    "($1::uuid IS NULL OR m.lead_id = $1 OR (m.lead_id IS NULL AND m.phone_number = $2))";

fn consent_sql() -> String {
    format!(
        "SELECT {CONSENT_COLUMNS} FROM public.consent_events e \
         WHERE ($1::uuid IS NULL OR e.lead_id = $1) AND ($2::text IS NULL OR e.lead_id IS NOT NULL) \
         ORDER BY e.created_at, e.id"
    )
}

fn conversations_sql() -> String {
    format!(
        "SELECT m.lead_id, coalesce(m.phone_number, m.contact_lid, m.contact_jid) AS contact, \
           m.session_id AS account_id, count(*) AS messages, \
           count(*) FILTER (WHERE m.direction = 'in') AS received, \
           count(*) FILTER (WHERE m.direction = 'out') AS sent, \
           min(m.created_at) AS first_message_at, max(m.created_at) AS last_message_at \
         FROM public.whatsapp_messages m WHERE {MESSAGES_WHERE} \
         GROUP BY 1, 2, 3 ORDER BY max(m.created_at) DESC, 2, 3"
    )
}

fn messages_sql() -> String {
    format!(
        "SELECT m.id, m.session_id AS account_id, m.lead_id, m.message_id, m.direction, \
           m.message_type AS \"type\", m.content->>'text' AS text, m.status, m.status_reason, \
           m.phone_number, m.contact_jid, m.contact_lid, m.push_name, m.created_at, \
           m.wa_timestamp, m.sent_at, m.delivered_at, m.read_at \
         FROM public.whatsapp_messages m WHERE {MESSAGES_WHERE} ORDER BY m.created_at, m.id"
    )
}

const TEMPLATES_SQL: &str = "SELECT t.id, t.name, t.content, t.variables::text AS variables, \
       t.category, t.created_at FROM public.whatsapp_templates t \
     WHERE $1::uuid IS NULL AND $2::text IS NULL ORDER BY t.created_at, t.id";

const ACCOUNTS_SQL: &str = "SELECT s.id, s.session_name, s.phone_number, s.status, \
       s.status_reason, s.linked_at, s.last_seen, s.created_at FROM public.whatsapp_sessions s \
     WHERE $1::uuid IS NULL AND $2::text IS NULL ORDER BY s.created_at, s.id";

const AUDIT_SQL: &str = "SELECT a.id, a.action, a.details::text AS details, a.created_at \
     FROM public.audit_log a \
     WHERE a.user_id = (SELECT auth.uid()) AND $1::uuid IS NULL AND $2::text IS NULL ORDER BY a.id";

const README: &str = "Rarity Leads - data export\n\
\n\
Each table is here twice: as CSV (UTF-8, comma-separated, a header row, RFC 3339 times in UTC)\n\
and as JSON (an array of objects with the same fields).\n\
\n\
  leads            the leads, with their current consent state (opted_in, opted_out, unknown)\n\
  consent_events   the consent ledger: every opt-in and opt-out with its source and evidence\n\
  conversations    one row per contact and WhatsApp account: message counts, first and last\n\
  messages         every message, sent and received, with its delivery state and times\n\
  templates        message templates (account export only)\n\
  accounts         linked WhatsApp accounts, without their credentials (account export only)\n\
  audit_log        security- and privacy-relevant actions on this account (account export only)\n\
  campaigns        campaigns: text, accounts, schedule, quiet hours, pacing (account export only)\n\
  campaign_recipients  each lead's place in a campaign: queued (with its message id in\n\
                   messages) or skipped and why\n\
  privacy_settings.json  opt-out keywords, automatic reply, retention periods (account export)\n\
  webhooks.json    webhook endpoints: URL, event types, on or off - not their secrets (account export)\n\
  summary.json     when this export was taken, what it covers and how many rows each file has\n\
\n\
Media: the files themselves are not included yet. Each message's type says whether it carried\n\
a photo, audio, video or document; the dashboard serves the file while it is kept.\n\
\n\
All files show the same moment: they were read in one database snapshot.\n";

/// One growing ZIP and the reusable buffers rows are serialised into.
struct ZipOut<W: AsyncWrite + Unpin> {
    zip: ZipFileWriter<W>,
    buf: Vec<u8>,
}

fn entry(name: &str) -> ZipEntryBuilder {
    ZipEntryBuilder::new(name.to_owned().into(), Compression::Deflate)
}

impl<W: AsyncWrite + Unpin> ZipOut<W> {
    async fn whole(&mut self, name: &str, data: &[u8]) -> Result<(), ExportError> {
        let mut writer = self.zip.write_entry_stream(entry(name)).await?;
        writer.write_all(data).await?;
        writer.close().await?;
        Ok(())
    }

    /// `<base>.csv` and `<base>.json` from two passes of the same query over the snapshot.
    async fn table<T: ExportRow>(
        &mut self,
        conn: &mut PgConnection,
        base: &str,
        sql: &str,
        lead: Option<Uuid>,
        phone: Option<&str>,
    ) -> Result<u64, ExportError> {
        let mut rows_written = 0u64;
        {
            let mut writer = self
                .zip
                .write_entry_stream(entry(&format!("{base}.csv")))
                .await?;
            let csv_writer = |buf: Vec<u8>| {
                csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(buf)
            };
            let mut csv = csv_writer(std::mem::take(&mut self.buf));
            csv.write_record(T::HEADERS)?;
            let mut rows = sqlx::query_as::<_, T>(sql)
                .bind(lead)
                .bind(phone)
                .fetch(&mut *conn);
            while let Some(row) = rows.try_next().await? {
                csv.serialize(&row)?;
                rows_written += 1;
                if rows_written.is_multiple_of(64) {
                    csv.flush()?;
                    if csv.get_ref().len() >= CHUNK {
                        let mut bytes = csv
                            .into_inner()
                            .map_err(|e| ExportError::Write(e.to_string()))?;
                        writer.write_all(&bytes).await?;
                        bytes.clear();
                        csv = csv_writer(bytes);
                    }
                }
            }
            drop(rows);
            let mut bytes = csv
                .into_inner()
                .map_err(|e| ExportError::Write(e.to_string()))?;
            writer.write_all(&bytes).await?;
            bytes.clear();
            self.buf = bytes;
            writer.close().await?;
        }
        {
            let mut writer = self
                .zip
                .write_entry_stream(entry(&format!("{base}.json")))
                .await?;
            self.buf.clear();
            self.buf.push(b'[');
            let mut first = true;
            let mut rows = sqlx::query_as::<_, T>(sql)
                .bind(lead)
                .bind(phone)
                .fetch(&mut *conn);
            while let Some(row) = rows.try_next().await? {
                self.buf
                    .extend_from_slice(if first { b"\n" } else { b",\n" });
                first = false;
                serde_json::to_writer(&mut self.buf, &row)?;
                if self.buf.len() >= CHUNK {
                    writer.write_all(&self.buf).await?;
                    self.buf.clear();
                }
            }
            drop(rows);
            self.buf.extend_from_slice(b"\n]\n");
            writer.write_all(&self.buf).await?;
            self.buf.clear();
            writer.close().await?;
        }
        Ok(rows_written)
    }
}

impl Store {
    /// Checks that the lead (lead scope) is the user's ([`StoreError::NotFound`] otherwise) and
    /// writes the audit entry. Call before answering, so a bad id is a 404, not a broken download.
    pub async fn export_prepare(
        &self,
        user_id: Uuid,
        scope: ExportScope,
    ) -> Result<PreparedExport, StoreError> {
        let mut tx = self.as_user(user_id).await?;
        let (action, details, lead_phone) = match scope {
            ExportScope::Account => ("export", serde_json::json!({}), None),
            ExportScope::Lead(id) => {
                let lead = tx.lead_get(id).await?;
                (
                    "lead_export",
                    serde_json::json!({ "lead_id": id }),
                    Some(lead.phone),
                )
            }
        };
        sqlx::query("SELECT public.rarity_audit_export($1, $2)")
            .bind(action)
            .bind(details)
            .execute(tx.conn())
            .await?;
        // What the ZIP will roughly weigh, for a progress bar: the rows that dominate it, at the
        // compressed sizes measured on real exports (~75 bytes a message, ~120 a lead).
        let lead = match scope {
            ExportScope::Account => None,
            ExportScope::Lead(id) => Some(id),
        };
        let (messages, leads): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM public.whatsapp_messages m                      WHERE $1::uuid IS NULL OR m.lead_id = $1),                     (SELECT count(*) FROM public.leads l WHERE $1::uuid IS NULL OR l.id = $1)",
        )
        .bind(lead)
        .fetch_one(tx.conn())
        .await?;
        tx.commit().await?;
        let estimated_bytes = 4096
            + u64::try_from(messages).unwrap_or(0) * 75
            + u64::try_from(leads).unwrap_or(0) * 120;
        Ok(PreparedExport {
            store: self.clone(),
            user_id,
            scope,
            lead_phone,
            estimated_bytes,
        })
    }
}

impl PreparedExport {
    /// Roughly how many bytes the ZIP will be (from the row counts): enough for a progress bar,
    /// never a promise.
    pub fn estimated_bytes(&self) -> u64 {
        self.estimated_bytes
    }

    /// A file name for the download, e.g. `rarity-export-2026-12-06.zip`.
    pub fn file_name(&self) -> String {
        let day = Utc::now().format("%Y-%m-%d");
        match self.scope {
            ExportScope::Account => format!("rarity-export-{day}.zip"),
            ExportScope::Lead(id) => {
                format!("rarity-lead-{}-{day}.zip", &id.simple().to_string()[..8])
            }
        }
    }

    /// Writes the ZIP to `out` (then shuts it down). Memory use does not grow with the data.
    pub async fn write_zip<W>(self, out: W) -> Result<ExportSummary, ExportError>
    where
        W: tokio::io::AsyncWrite + Unpin,
    {
        let mut tx = self.store.pool.begin().await.map_err(StoreError::from)?;
        // One snapshot for every file; nothing here writes.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        act_as(&mut tx, self.user_id).await?;
        let generated_at = Utc::now();
        let (lead, phone) = match self.scope {
            ExportScope::Account => (None, None),
            ExportScope::Lead(id) => (Some(id), self.lead_phone.as_deref()),
        };
        let account = lead.is_none();

        let mut out = ZipOut {
            zip: ZipFileWriter::with_tokio(out),
            buf: Vec::with_capacity(CHUNK + 4096),
        };
        out.whole("README.txt", README.as_bytes()).await?;
        let mut summary = ExportSummary {
            leads: out
                .table::<LeadRow>(&mut tx, "leads", LEADS_SQL, lead, phone)
                .await?,
            consent_records: out
                .table::<ConsentRow>(&mut tx, "consent_events", &consent_sql(), lead, phone)
                .await?,
            conversations: out
                .table::<ConversationRow>(
                    &mut tx,
                    "conversations",
                    &conversations_sql(),
                    lead,
                    phone,
                )
                .await?,
            messages: out
                .table::<MessageRow>(&mut tx, "messages", &messages_sql(), lead, phone)
                .await?,
            campaign_recipients: out
                .table::<CampaignRecipientRow>(
                    &mut tx,
                    "campaign_recipients",
                    CAMPAIGN_RECIPIENTS_SQL,
                    lead,
                    phone,
                )
                .await?,
            ..ExportSummary::default()
        };
        if account {
            summary.templates = out
                .table::<TemplateRow>(&mut tx, "templates", TEMPLATES_SQL, None, None)
                .await?;
            summary.accounts = out
                .table::<AccountRow>(&mut tx, "accounts", ACCOUNTS_SQL, None, None)
                .await?;
            summary.audit_entries = out
                .table::<AuditRow>(&mut tx, "audit_log", AUDIT_SQL, None, None)
                .await?;
            summary.campaigns = out
                .table::<CampaignRow>(&mut tx, "campaigns", CAMPAIGNS_SQL, None, None)
                .await?;
            let settings = {
                let row: Option<crate::PrivacySettings> = sqlx::query_as(
                    "SELECT opt_out_keywords, opt_out_reply, retention_messages_days, \
                       retention_media_days, retention_closed_leads_days, updated_at \
                     FROM public.privacy_settings WHERE user_id = (SELECT auth.uid())",
                )
                .fetch_optional(&mut *tx)
                .await?;
                row.unwrap_or_default()
            };
            out.whole(
                "privacy_settings.json",
                &serde_json::to_vec_pretty(&settings)?,
            )
            .await?;
            // Webhook endpoints as the owner sees them (never the signing secret); the events
            // they carried are the messages, consent records and campaigns exported here.
            let webhooks: Vec<crate::Webhook> = sqlx::query_as(
                "SELECT id, url, description, event_types, enabled, created_at, updated_at \
                 FROM public.webhooks ORDER BY created_at, id",
            )
            .fetch_all(&mut *tx)
            .await?;
            out.whole("webhooks.json", &serde_json::to_vec_pretty(&webhooks)?)
                .await?;
        }
        let meta = serde_json::json!({
            "generated_at": generated_at,
            "scope": match self.scope {
                ExportScope::Account => serde_json::json!({ "account": self.user_id }),
                ExportScope::Lead(id) => serde_json::json!({ "lead": id }),
            },
            "rows": summary,
            "media": "files not included yet: each message's type says what it carried",
        });
        out.whole("summary.json", &serde_json::to_vec_pretty(&meta)?)
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        let mut inner = out.zip.close().await?.into_inner();
        tokio::io::AsyncWriteExt::shutdown(&mut inner).await?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CSV header must name the fields in the order serde writes them.
    fn header_of<T: Serialize>(row: &T) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(row).unwrap();
        let bytes = w.into_inner().unwrap();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn csv_headers_match_the_fields() {
        let now = Utc::now();
        let id = Uuid::nil();
        let message = MessageRow {
            id,
            account_id: id,
            lead_id: None,
            message_id: None,
            direction: "in".into(),
            r#type: "text".into(),
            text: None,
            status: "sent".into(),
            status_reason: None,
            phone_number: None,
            contact_jid: None,
            contact_lid: None,
            push_name: None,
            created_at: now,
            wa_timestamp: None,
            sent_at: None,
            delivered_at: None,
            read_at: None,
        };
        assert_eq!(header_of(&message), MessageRow::HEADERS.join(","));
        let lead = LeadRow {
            id,
            name: String::new(),
            phone: String::new(),
            company: None,
            email: None,
            status: String::new(),
            source: None,
            campaign: None,
            consent: String::new(),
            created_at: now,
            updated_at: now,
        };
        assert_eq!(header_of(&lead), LeadRow::HEADERS.join(","));
        let consent = ConsentRow {
            id,
            lead_id: id,
            kind: String::new(),
            source: String::new(),
            evidence: String::new(),
            message_id: None,
            created_at: now,
        };
        assert_eq!(header_of(&consent), ConsentRow::HEADERS.join(","));
        let conversation = ConversationRow {
            lead_id: None,
            contact: String::new(),
            account_id: id,
            messages: 0,
            received: 0,
            sent: 0,
            first_message_at: now,
            last_message_at: now,
        };
        assert_eq!(header_of(&conversation), ConversationRow::HEADERS.join(","));
        let template = TemplateRow {
            id,
            name: String::new(),
            content: String::new(),
            variables: String::new(),
            category: String::new(),
            created_at: now,
        };
        assert_eq!(header_of(&template), TemplateRow::HEADERS.join(","));
        let account = AccountRow {
            id,
            session_name: String::new(),
            phone_number: None,
            status: None,
            status_reason: None,
            linked_at: None,
            last_seen: None,
            created_at: now,
        };
        assert_eq!(header_of(&account), AccountRow::HEADERS.join(","));
        let audit = AuditRow {
            id: 1,
            action: String::new(),
            details: String::new(),
            created_at: now,
        };
        assert_eq!(header_of(&audit), AuditRow::HEADERS.join(","));
        let campaign = CampaignRow {
            id,
            name: String::new(),
            template_id: None,
            content: String::new(),
            status: String::new(),
            pause_reason: None,
            account_ids: String::new(),
            start_at: now,
            time_zone: String::new(),
            quiet_start: None,
            quiet_end: None,
            per_minute: 1,
            per_hour: 1,
            per_day: 1,
            first_contact_per_day: 1,
            jitter_seconds: 0,
            warm_up: false,
            created_at: now,
            started_at: None,
            finished_at: None,
        };
        assert_eq!(header_of(&campaign), CampaignRow::HEADERS.join(","));
        let recipient = CampaignRecipientRow {
            campaign_id: id,
            campaign_name: String::new(),
            lead_id: id,
            position: 0,
            state: String::new(),
            reason: None,
            account_id: None,
            message_id: None,
            first_contact: None,
            queued_at: None,
        };
        assert_eq!(
            header_of(&recipient),
            CampaignRecipientRow::HEADERS.join(",")
        );
    }
}
