//! A received message (or one the user sent from their phone) stored once, linked to its lead.
//! Runs inside [`super::EngineStore::commit`]'s transaction, acting as the account's owner.

use crate::StoreError;
use crate::domain::{PhoneE164, display_name};
use crate::lead_link::lead_for_phone;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// A message the engine decrypted (or could not decrypt yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundRecord {
    /// WhatsApp's id of the message.
    pub message_id: String,
    /// E.164 `+<digits>` when known (from the phone-number JID); links or creates the lead. A
    /// number that is not valid E.164 is treated as unknown.
    pub contact_phone: Option<String>,
    pub contact_jid: Option<String>,
    pub contact_lid: Option<String>,
    /// The contact's WhatsApp display name; names a lead created for it.
    pub push_name: Option<String>,
    /// Sent by the user from their phone or another device: stored as direction `out`, status `sent`.
    pub from_me: bool,
    /// `None` together with `undecryptable = true` stores a placeholder.
    pub text: Option<String>,
    /// Could not be decrypted (yet): stored as `{"placeholder": true}`, status `failed`, reason
    /// `undecryptable`, and completed in place when the resend decrypts.
    pub undecryptable: bool,
    /// WhatsApp's timestamp (`wa_timestamp`); `created_at` is when it was stored.
    pub timestamp: DateTime<Utc>,
    /// The file of a media message (`text` is then its caption, if any): stored as `pending`
    /// beside the message, for the downloader.
    pub media: Option<crate::media::NewMedia>,
}

/// What happened to one inbound record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundOutcome {
    /// Stored for the first time.
    Inserted {
        id: Uuid,
        lead_id: Option<Uuid>,
        lead_created: bool,
    },
    /// Already stored (a redelivery); nothing changed. The engine drops it silently.
    Duplicate { id: Uuid },
    /// A stored placeholder now has its content.
    Completed { id: Uuid, lead_id: Option<Uuid> },
}

const ID_MAX: usize = 128;
const JID_MAX: usize = 128;
const NAME_MAX: usize = 200;
pub(crate) const UNDECRYPTABLE: &str = "undecryptable";

/// A record checked and shaped for SQL.
pub(crate) struct ValidInbound {
    pub message_id: String,
    phone: Option<PhoneE164>,
    jid: Option<String>,
    lid: Option<String>,
    push_name: Option<String>,
    direction: &'static str,
    status: &'static str,
    reason: Option<&'static str>,
    content: serde_json::Value,
    timestamp: DateTime<Utc>,
    media: Option<crate::media::ValidMedia>,
}

fn check_id(field: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            field,
            format!("must be 1 to {max} characters without control characters"),
        ));
    }
    Ok(())
}

fn optional_id(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, StoreError> {
    match value {
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => check_id(field, &v, max).map(|()| Some(v)),
        None => Ok(None),
    }
}

impl ValidInbound {
    pub(crate) fn parse(record: InboundRecord) -> Result<ValidInbound, StoreError> {
        check_id("message_id", &record.message_id, ID_MAX)?;
        let placeholder = record.undecryptable && record.text.is_none() && record.media.is_none();
        let media = record
            .media
            .map(crate::media::NewMedia::validate)
            .transpose()?;
        let content = match (&record.text, placeholder) {
            // PostgreSQL's jsonb cannot hold U+0000; anything else is kept verbatim.
            (Some(text), _) => json!({ "text": text.replace('\0', "\u{FFFD}") }),
            (None, true) => json!({ "placeholder": true }),
            // A media message without a caption.
            (None, false) if media.is_some() => json!({}),
            (None, false) => {
                return Err(StoreError::invalid(
                    "text",
                    "an inbound record needs a text or undecryptable = true",
                ));
            }
        };
        let (direction, status) = match (record.from_me, placeholder) {
            (_, true) => (if record.from_me { "out" } else { "in" }, "failed"),
            (true, false) => ("out", "sent"),
            // Received and not read yet: counts as unread until a read status moves it on.
            (false, false) => ("in", "delivered"),
        };
        let jid = optional_id("contact_jid", record.contact_jid, JID_MAX)?;
        let lid = optional_id("contact_lid", record.contact_lid, JID_MAX)?;
        let phone = record
            .contact_phone
            .as_deref()
            .and_then(|p| PhoneE164::parse(p).ok());
        if phone.is_none() && jid.is_none() && lid.is_none() {
            return Err(StoreError::invalid(
                "contact_phone",
                "an inbound record needs a phone number, JID or LID",
            ));
        }
        Ok(ValidInbound {
            message_id: record.message_id,
            phone,
            jid,
            lid,
            push_name: display_name(record.push_name.as_deref(), NAME_MAX),
            direction,
            status,
            reason: placeholder.then_some(UNDECRYPTABLE),
            content,
            timestamp: record.timestamp,
            media,
        })
    }
}

#[derive(sqlx::FromRow)]
struct Upserted {
    message_id: String,
    id: Uuid,
    lead_id: Option<Uuid>,
    inserted: bool,
    /// The LID the message's lead already has (most messages: the one they came from).
    lead_lid: Option<String>,
}

/// Stores a commit's records in order: each is inserted, completes a stored placeholder, or is
/// recognised as a duplicate. The records go in with one statement per run of distinct message
/// ids (a batch that repeats an id — a redelivery inside one batch — is split where it repeats,
/// so the second copy meets the first as a stored row, as it would in a later batch).
pub(crate) async fn store_all(
    conn: &mut PgConnection,
    keywords: &mut crate::consent::KeywordCache,
    session_id: Uuid,
    user_id: Uuid,
    records: Vec<ValidInbound>,
) -> Result<Vec<(String, InboundOutcome)>, StoreError> {
    let mut outcomes = Vec::with_capacity(records.len());
    let mut run: Vec<ValidInbound> = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for record in records {
        if !ids.insert(record.message_id.clone()) {
            let chunk = std::mem::take(&mut run);
            store_run(conn, keywords, session_id, user_id, chunk, &mut outcomes).await?;
            ids.clear();
            ids.insert(record.message_id.clone());
        }
        run.push(record);
    }
    store_run(conn, keywords, session_id, user_id, run, &mut outcomes).await?;
    Ok(outcomes)
}

/// Records with distinct message ids: one INSERT for all of them, then each one's follow-up.
async fn store_run(
    conn: &mut PgConnection,
    keywords: &mut crate::consent::KeywordCache,
    session_id: Uuid,
    user_id: Uuid,
    run: Vec<ValidInbound>,
    outcomes: &mut Vec<(String, InboundOutcome)>,
) -> Result<(), StoreError> {
    if run.is_empty() {
        return Ok(());
    }
    // The lead (if the user has one for this number) is looked up inline. `created_at` is the
    // clock, not the transaction start, taken row by row in the records' order, so a batch keeps
    // its order. On conflict only a stored placeholder is overwritten, and only by real content.
    let upserted: Vec<Upserted> = sqlx::query_as(
        "INSERT INTO public.whatsapp_messages AS m \
           (session_id, lead_id, message_id, phone_number, contact_jid, contact_lid, push_name, \
            direction, message_type, content, status, status_reason, wa_timestamp, sent_at, created_at) \
         SELECT $1, (SELECT l.id FROM public.leads l WHERE l.phone = r.phone OR l.wa_lid = r.lid \
                     ORDER BY (l.phone = r.phone) DESC NULLS LAST LIMIT 1), \
                r.message_id, r.phone, r.jid, r.lid, r.push_name, r.direction, r.message_type, \
                r.content, r.status, r.reason, r.ts, \
                CASE WHEN r.direction = 'out' AND r.status = 'sent' THEN r.ts END, clock_timestamp() \
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                     $8::text[], $9::jsonb[], $10::text[], $11::text[], $12::timestamptz[]) \
              WITH ORDINALITY AS r(message_id, phone, jid, lid, push_name, direction, message_type, \
                                   content, status, reason, ts, n) \
         ORDER BY r.n \
         ON CONFLICT ON CONSTRAINT whatsapp_messages_session_id_message_id_key DO UPDATE SET \
           lead_id = coalesce(m.lead_id, EXCLUDED.lead_id), \
           phone_number = coalesce(EXCLUDED.phone_number, m.phone_number), \
           contact_jid = coalesce(EXCLUDED.contact_jid, m.contact_jid), \
           contact_lid = coalesce(EXCLUDED.contact_lid, m.contact_lid), \
           push_name = coalesce(EXCLUDED.push_name, m.push_name), \
           direction = EXCLUDED.direction, content = EXCLUDED.content, status = EXCLUDED.status, \
           message_type = EXCLUDED.message_type, \
           status_reason = EXCLUDED.status_reason, wa_timestamp = EXCLUDED.wa_timestamp, \
           sent_at = EXCLUDED.sent_at \
         WHERE m.status_reason = 'undecryptable' AND m.content ? 'placeholder' \
           AND NOT (EXCLUDED.content ? 'placeholder') \
         RETURNING m.message_id, m.id, m.lead_id, (m.xmax = 0) AS inserted, \
           (SELECT l.wa_lid FROM public.leads l WHERE l.id = m.lead_id) AS lead_lid",
    )
    .bind(session_id)
    .bind(run.iter().map(|r| r.message_id.as_str()).collect::<Vec<_>>())
    .bind(
        run.iter()
            .map(|r| r.phone.as_ref().map(PhoneE164::as_str))
            .collect::<Vec<_>>(),
    )
    .bind(run.iter().map(|r| r.jid.as_deref()).collect::<Vec<_>>())
    .bind(run.iter().map(|r| r.lid.as_deref()).collect::<Vec<_>>())
    .bind(run.iter().map(|r| r.push_name.as_deref()).collect::<Vec<_>>())
    .bind(run.iter().map(|r| r.direction).collect::<Vec<_>>())
    .bind(
        run.iter()
            .map(|r| r.media.as_ref().map_or("text", |m| m.message_type()))
            .collect::<Vec<_>>(),
    )
    .bind(run.iter().map(|r| &r.content).collect::<Vec<_>>())
    .bind(run.iter().map(|r| r.status).collect::<Vec<_>>())
    .bind(run.iter().map(|r| r.reason).collect::<Vec<_>>())
    .bind(run.iter().map(|r| r.timestamp).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;

    let mut rows: HashMap<String, Upserted> = upserted
        .into_iter()
        .map(|row| (row.message_id.clone(), row))
        .collect();
    // Not returned = already stored and not a placeholder this completes: a redelivery.
    let missing: Vec<&str> = run
        .iter()
        .filter(|r| !rows.contains_key(&r.message_id))
        .map(|r| r.message_id.as_str())
        .collect();
    let mut duplicates: HashMap<String, Uuid> = HashMap::new();
    if !missing.is_empty() {
        let found: Vec<(String, Uuid)> = sqlx::query_as(
            "SELECT message_id, id FROM public.whatsapp_messages \
             WHERE session_id = $1 AND message_id = ANY($2)",
        )
        .bind(session_id)
        .bind(&missing)
        .fetch_all(&mut *conn)
        .await?;
        duplicates.extend(found);
    }
    // The stored ones, in order; the others are redeliveries.
    let mut stored: Vec<(ValidInbound, Upserted)> = Vec::with_capacity(run.len());
    let mut order: Vec<Result<(), (String, Uuid)>> = Vec::with_capacity(run.len());
    for record in run {
        match rows.remove(&record.message_id) {
            Some(row) => {
                order.push(Ok(()));
                stored.push((record, row));
            }
            None => {
                let id = *duplicates
                    .get(&record.message_id)
                    .ok_or(StoreError::NotFound)?;
                order.push(Err((record.message_id, id)));
            }
        }
    }
    let leads = finish(conn, keywords, session_id, user_id, &stored).await?;
    let mut stored = stored.into_iter().zip(leads);
    for entry in order {
        outcomes.push(match entry {
            Err((message_id, id)) => (message_id, InboundOutcome::Duplicate { id }),
            Ok(()) => {
                let ((record, row), (lead_id, lead_created)) =
                    stored.next().ok_or(StoreError::NotFound)?;
                let outcome = if row.inserted {
                    InboundOutcome::Inserted {
                        id: row.id,
                        lead_id,
                        lead_created,
                    }
                } else {
                    InboundOutcome::Completed {
                        id: row.id,
                        lead_id,
                    }
                };
                (record.message_id, outcome)
            }
        });
    }
    Ok(())
}

/// What follows the insert of stored records, a statement per step rather than per record: their
/// files, their leads (created for numbers that have none, once per number; the first record from
/// it reports the creation), the leads' LIDs, opt-out keywords. Returns each record's
/// (lead, lead created).
async fn finish(
    conn: &mut PgConnection,
    keywords: &mut crate::consent::KeywordCache,
    session_id: Uuid,
    user_id: Uuid,
    stored: &[(ValidInbound, Upserted)],
) -> Result<Vec<(Option<Uuid>, bool)>, StoreError> {
    for (record, row) in stored {
        if let Some(media) = &record.media {
            crate::media::insert(conn, row.id, session_id, user_id, media, None).await?;
        }
    }

    // A number the user has no lead for yet gets one (a placeholder too, so the conversation
    // shows that something arrived).
    let mut leads: Vec<(Option<Uuid>, bool)> = Vec::with_capacity(stored.len());
    let mut by_phone: HashMap<&str, Uuid> = HashMap::new();
    let (mut linked_rows, mut linked_leads) = (Vec::new(), Vec::new());
    for (record, row) in stored {
        let (Some(phone), None) = (&record.phone, row.lead_id) else {
            leads.push((row.lead_id, false));
            continue;
        };
        let (lead, created) = match by_phone.get(phone.as_str()) {
            Some(lead) => (*lead, false),
            None => {
                let name = record
                    .push_name
                    .clone()
                    .unwrap_or_else(|| phone.as_str().to_owned());
                let (lead, created) = lead_for_phone(conn, user_id, phone, &name).await?;
                by_phone.insert(phone.as_str(), lead);
                (lead, created)
            }
        };
        linked_rows.push(row.id);
        linked_leads.push(lead);
        leads.push((Some(lead), created));
    }
    link_rows(conn, &linked_rows, &linked_leads).await?;

    // One identity per person: the lead learns the contact's LID, so a later message addressed
    // by LID alone (no phone number) finds the same lead. Once per (lead, LID).
    let mut taught = std::collections::HashSet::new();
    for ((record, row), (lead_id, _)) in stored.iter().zip(&leads) {
        let known = row.lead_id.is_some() && row.lead_lid.is_some();
        let (Some(lead), Some(lid), false) = (lead_id, &record.lid, known) else {
            continue;
        };
        if !taught.insert((*lead, lid.as_str())) {
            continue;
        }
        sqlx::query(
            "UPDATE public.leads SET wa_lid = $2 WHERE id = $1 AND wa_lid IS NULL \
             AND NOT EXISTS (SELECT 1 FROM public.leads o WHERE o.wa_lid = $2)",
        )
        .bind(lead)
        .bind(lid)
        .execute(&mut *conn)
        .await?;
    }

    // A record known only by its LID whose lead learnt that LID above, from an earlier record of
    // this batch (stored one by one, its insert would have found the lead).
    let lid_only: Vec<(usize, &str)> = stored
        .iter()
        .enumerate()
        .filter(|(i, (record, _))| leads[*i].0.is_none() && record.phone.is_none())
        .filter_map(|(i, (record, _))| record.lid.as_deref().map(|lid| (i, lid)))
        .collect();
    if !taught.is_empty() && !lid_only.is_empty() {
        let lids: Vec<&str> = lid_only.iter().map(|(_, lid)| *lid).collect();
        let found: HashMap<String, Uuid> =
            sqlx::query_as("SELECT wa_lid, id FROM public.leads WHERE wa_lid = ANY($1)")
                .bind(&lids)
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .collect();
        let (mut rows, mut to) = (Vec::new(), Vec::new());
        for (i, lid) in lid_only {
            if let Some(lead) = found.get(lid) {
                rows.push(stored[i].1.id);
                to.push(*lead);
                leads[i] = (Some(*lead), false);
            }
        }
        link_rows(conn, &rows, &to).await?;
    }

    // An opt-out keyword from the contact is recorded in this transaction, so "stored" and
    // "suppressed" are one fact (see `crate::consent`).
    for ((record, row), (lead_id, _)) in stored.iter().zip(&leads) {
        if record.direction == "in"
            && let (Some(lead), Some(phone), Some(text)) = (
                lead_id,
                &record.phone,
                record.content.get("text").and_then(|t| t.as_str()),
            )
        {
            crate::consent::on_inbound_text(
                conn, keywords, user_id, session_id, row.id, *lead, phone, text,
            )
            .await?;
        }
    }
    Ok(leads)
}

/// Sets `lead_id` of message rows `rows[i]` to `leads[i]`, in one statement.
async fn link_rows(
    conn: &mut PgConnection,
    rows: &[Uuid],
    leads: &[Uuid],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE public.whatsapp_messages m SET lead_id = v.lead \
         FROM unnest($1::uuid[], $2::uuid[]) AS v(id, lead) WHERE m.id = v.id",
    )
    .bind(rows)
    .bind(leads)
    .execute(conn)
    .await?;
    Ok(())
}
