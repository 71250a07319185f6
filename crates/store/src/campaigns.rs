//! Campaigns as their owner sees them: create (template, accounts, segment, schedule, quiet hours,
//! pacing), start / pause / resume / cancel, progress counts and the per-lead table. Sending is the
//! runner's ([`crate::CampaignRunner`]).
//!
//! A lead's state in a campaign: `pending` (not yet its turn), `skipped` (with its reason: opted
//! out, missing variable, no WhatsApp — WhatsApp's device lookup at send time found no device for
//! the number, so nothing was sent), or its message's state — `queued`, `sent`, `delivered`, `read`,
//! `failed` (with the engine's reason) — and `replied` once an inbound message from the lead
//! arrived after ours (a failed send is never counted as replied).

use crate::domain::optional_text;
use crate::leads::{LeadQuery, NAME_MAX, SEGMENT_MAX};
use crate::{StoreError, UserTx};
use chrono::{DateTime, NaiveDateTime, NaiveTime, Utc};
use uuid::Uuid;

/// Pacing limits of a campaign; every one has a safe default (see the migration and
/// ARCHITECTURE.md). Enforced per sending account over all campaigns' sends from it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(default)]
pub struct Pacing {
    pub per_minute: i32,
    pub per_hour: i32,
    pub per_day: i32,
    /// Messages per day to leads the account never wrote to before.
    pub first_contact_per_day: i32,
    /// A random extra wait of 0 to this many seconds after each send.
    pub jitter_seconds: i32,
    /// Newly linked accounts start at 20 messages on their first day, doubling daily up to
    /// `per_day`.
    pub warm_up: bool,
}

impl Default for Pacing {
    fn default() -> Pacing {
        Pacing {
            per_minute: 4,
            per_hour: 60,
            per_day: 300,
            first_contact_per_day: 100,
            jitter_seconds: 20,
            warm_up: true,
        }
    }
}

impl Pacing {
    fn validate(&self) -> Result<(), StoreError> {
        let check = |field, value: i32, min, max, message| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(StoreError::invalid(field, message))
            }
        };
        check("per_minute", self.per_minute, 1, 60, "must be 1 to 60")?;
        check("per_hour", self.per_hour, 1, 3600, "must be 1 to 3600")?;
        check("per_day", self.per_day, 1, 20_000, "must be 1 to 20000")?;
        check(
            "first_contact_per_day",
            self.first_contact_per_day,
            0,
            20_000,
            "must be 0 to 20000",
        )?;
        check(
            "jitter_seconds",
            self.jitter_seconds,
            0,
            3600,
            "must be 0 to 3600",
        )
    }
}

/// Input of [`UserTx::campaign_create`].
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[schema(
    description = "A new campaign: its text (`template_id` or `content`), the accounts it \
    sends from, its leads (`lead_ids` or `segment`), schedule, quiet hours and pacing."
)]
#[serde(default)]
pub struct NewCampaign {
    pub name: String,
    /// The template whose text is sent (copied now). Either this or `content`.
    pub template_id: Option<Uuid>,
    pub content: Option<String>,
    /// The accounts it sends from, in rotation (at least one).
    pub account_ids: Vec<Uuid>,
    /// A picked list of leads…
    pub lead_ids: Option<Vec<Uuid>>,
    /// …or a saved filter, resolved now.
    pub segment: Option<LeadQuery>,
    /// When to begin (default: now).
    pub start_at: Option<DateTime<Utc>>,
    /// …or when to begin as a wall-clock time in `time_zone` (the dashboard's date and time
    /// field); `start_at` wins when both are given.
    pub start_local: Option<NaiveDateTime>,
    /// IANA time zone of the quiet hours (default UTC).
    pub time_zone: Option<String>,
    /// `HH:MM`, both or neither: no message is sent from quiet_start until quiet_end.
    pub quiet_start: Option<String>,
    pub quiet_end: Option<String>,
    pub pacing: Pacing,
    /// Start at once (`running`); otherwise it is a `draft` until started.
    pub start: bool,
}

/// Lead counts by state.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct CampaignCounts {
    pub total: i64,
    pub pending: i64,
    pub queued: i64,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub replied: i64,
    pub failed: i64,
    pub skipped: i64,
}

impl CampaignCounts {
    /// Leads whose turn has come and gone (everything but pending and queued).
    pub fn done(&self) -> i64 {
        self.total - self.pending - self.queued
    }
}

/// A campaign with its accounts and counts.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    sqlx::FromRow,
    utoipa::ToSchema,
)]
pub struct Campaign {
    pub id: Uuid,
    pub name: String,
    pub template_id: Option<Uuid>,
    pub content: String,
    pub status: String,
    pub pause_reason: Option<String>,
    pub start_at: DateTime<Utc>,
    pub time_zone: String,
    pub quiet_start: Option<String>,
    pub quiet_end: Option<String>,
    #[sqlx(flatten)]
    pub pacing: Pacing,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub account_ids: Vec<Uuid>,
    #[sqlx(skip)]
    pub counts: CampaignCounts,
}

impl sqlx::FromRow<'_, sqlx::postgres::PgRow> for Pacing {
    fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Pacing {
            per_minute: row.try_get("per_minute")?,
            per_hour: row.try_get("per_hour")?,
            per_day: row.try_get("per_day")?,
            first_contact_per_day: row.try_get("first_contact_per_day")?,
            jitter_seconds: row.try_get("jitter_seconds")?,
            warm_up: row.try_get("warm_up")?,
        })
    }
}

/// One lead of a campaign.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    sqlx::FromRow,
    utoipa::ToSchema,
)]
pub struct CampaignLead {
    pub lead_id: Uuid,
    pub name: String,
    pub phone: String,
    pub position: i64,
    /// pending, skipped, queued, sent, delivered, read, replied or failed.
    pub state: String,
    pub reason: Option<String>,
    pub account_id: Option<Uuid>,
    /// The outbox message (`whatsapp_messages.id`).
    pub message_id: Option<Uuid>,
    pub text: Option<String>,
    pub queued_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub replied_at: Option<DateTime<Utc>>,
}

/// The states of [`CampaignLead::state`].
pub const CAMPAIGN_LEAD_STATES: [&str; 8] = [
    "pending",
    "skipped",
    "queued",
    "sent",
    "delivered",
    "read",
    "replied",
    "failed",
];

const CAMPAIGN_COLUMNS: &str = "c.id, c.name, c.template_id, c.content, c.status, c.pause_reason, \
     c.start_at, c.time_zone, to_char(c.quiet_start, 'HH24:MI') AS quiet_start, \
     to_char(c.quiet_end, 'HH24:MI') AS quiet_end, c.per_minute, c.per_hour, c.per_day, \
     c.first_contact_per_day, c.jitter_seconds, c.warm_up, c.created_at, c.started_at, \
     c.finished_at, \
     coalesce((SELECT array_agg(ca.session_id ORDER BY ca.session_id) FROM public.campaign_accounts ca \
               WHERE ca.campaign_id = c.id), '{}') AS account_ids";

/// Each campaign lead with its derived state (see the module docs), over `campaign_leads cl`.
/// (Name and phone may be NULL on a host's adopted `leads`: read as `''`, as `LEAD_COLUMNS` does.)
const LEAD_STATE_SQL: &str = "SELECT cl.lead_id, coalesce(l.name, '') AS name, coalesce(l.phone, '') AS phone, cl.position, \
       CASE WHEN cl.state <> 'queued' THEN cl.state \
            WHEN m.status = 'failed' AND m.status_reason = 'not_on_whatsapp' THEN 'skipped' \
            WHEN m.id IS NULL OR m.status = 'failed' THEN 'failed' \
            WHEN r.replied_at IS NOT NULL THEN 'replied' \
            ELSE m.status END AS state, \
       CASE WHEN cl.state <> 'queued' THEN cl.reason \
            WHEN m.id IS NULL THEN 'message deleted' \
            WHEN m.status = 'failed' AND m.status_reason = 'not_on_whatsapp' THEN 'no WhatsApp' \
            WHEN m.status = 'failed' THEN m.status_reason END AS reason, \
       cl.session_id AS account_id, cl.message_row_id AS message_id, m.content->>'text' AS text, \
       cl.queued_at, m.sent_at, m.delivered_at, m.read_at, r.replied_at \
     FROM public.campaign_leads cl \
     JOIN public.leads l ON l.id = cl.lead_id \
     LEFT JOIN public.whatsapp_messages m ON m.id = cl.message_row_id \
     LEFT JOIN LATERAL (SELECT min(i.created_at) AS replied_at FROM public.whatsapp_messages i \
                        WHERE i.lead_id = cl.lead_id AND i.direction = 'in' \
                          AND m.status <> 'failed' AND i.created_at > m.created_at) r ON true \
     WHERE cl.campaign_id = $1";

fn quiet_time(field: &'static str, input: Option<&str>) -> Result<Option<NaiveTime>, StoreError> {
    match input.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveTime::parse_from_str(s, "%H:%M")
            .map(Some)
            .map_err(|_| StoreError::invalid(field, "must be a time such as 21:00")),
    }
}

impl UserTx {
    /// Creates a campaign and its segment. Refusals name the field: no accounts, an account or
    /// template that is not the user's (`NotFound`-like `Invalid`), an empty segment, a bad time
    /// zone or quiet hours, pacing out of range.
    pub async fn campaign_create(&mut self, new: NewCampaign) -> Result<Campaign, StoreError> {
        let name = crate::domain::required_text("name", &new.name, NAME_MAX)?;
        new.pacing.validate()?;
        let content = match (new.template_id, new.content.as_deref()) {
            (Some(id), _) => sqlx::query_scalar::<_, String>(
                "SELECT content FROM public.whatsapp_templates WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or_else(|| StoreError::invalid("template_id", "is not one of your templates"))?,
            (None, Some(text)) => crate::domain::multiline_text("content", text, 4096)?,
            (None, None) => {
                return Err(StoreError::invalid(
                    "template_id",
                    "choose a template (or give the message text)",
                ));
            }
        };
        if new.account_ids.is_empty() {
            return Err(StoreError::invalid(
                "account_ids",
                "choose at least one WhatsApp account to send from",
            ));
        }
        let accounts: i64 =
            sqlx::query_scalar("SELECT count(*) FROM public.whatsapp_sessions WHERE id = ANY($1)")
                .bind(&new.account_ids)
                .fetch_one(&mut *self.tx)
                .await?;
        let mut distinct = new.account_ids.clone();
        distinct.sort();
        distinct.dedup();
        if accounts != distinct.len() as i64 {
            return Err(StoreError::invalid(
                "account_ids",
                "lists an account that is not yours",
            ));
        }
        let time_zone = optional_text("time_zone", new.time_zone.as_deref(), 64)?
            .unwrap_or_else(|| "UTC".to_owned());
        let zone_ok: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names WHERE name = $1)",
        )
        .bind(&time_zone)
        .fetch_one(&mut *self.tx)
        .await?;
        if !zone_ok {
            return Err(StoreError::invalid(
                "time_zone",
                "is not a time zone name such as Europe/London",
            ));
        }
        let quiet_start = quiet_time("quiet_start", new.quiet_start.as_deref())?;
        let quiet_end = quiet_time("quiet_end", new.quiet_end.as_deref())?;
        if quiet_start.is_some() != quiet_end.is_some()
            || (quiet_start.is_some() && quiet_start == quiet_end)
        {
            return Err(StoreError::invalid(
                "quiet_end",
                "quiet hours need a start and a different end",
            ));
        }
        let leads: Vec<Uuid> = match (&new.lead_ids, &new.segment) {
            (Some(ids), _) => {
                if ids.len() > SEGMENT_MAX {
                    return Err(StoreError::invalid("lead_ids", "at most 100,000 leads"));
                }
                // Keep the picked order, drop repeats and ids that are not the user's.
                let mut seen = std::collections::HashSet::new();
                let picked: Vec<Uuid> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
                let mine: std::collections::HashSet<Uuid> =
                    sqlx::query_scalar("SELECT id FROM public.leads WHERE id = ANY($1)")
                        .bind(&picked)
                        .fetch_all(&mut *self.tx)
                        .await?
                        .into_iter()
                        .collect();
                picked.into_iter().filter(|id| mine.contains(id)).collect()
            }
            (None, Some(query)) => self.lead_ids_matching(query).await?,
            (None, None) => {
                return Err(StoreError::invalid(
                    "segment",
                    "choose the leads (a list or a filter)",
                ));
            }
        };
        if leads.is_empty() {
            return Err(StoreError::invalid("segment", "has no leads"));
        }
        let status = if new.start { "running" } else { "draft" };
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO public.campaigns (user_id, name, template_id, content, status, start_at, \
               time_zone, quiet_start, quiet_end, per_minute, per_hour, per_day, first_contact_per_day, \
               jitter_seconds, warm_up, started_at) \
             VALUES ($1, $2, $3, $4, $5, coalesce($6, $16::timestamp AT TIME ZONE $7, now()), $7, $8, $9, \
               $10, $11, $12, $13, $14, $15, CASE WHEN $5 = 'running' THEN now() END) RETURNING id",
        )
        .bind(self.user_id)
        .bind(&name)
        .bind(new.template_id)
        .bind(&content)
        .bind(status)
        .bind(new.start_at)
        .bind(&time_zone)
        .bind(quiet_start)
        .bind(quiet_end)
        .bind(new.pacing.per_minute)
        .bind(new.pacing.per_hour)
        .bind(new.pacing.per_day)
        .bind(new.pacing.first_contact_per_day)
        .bind(new.pacing.jitter_seconds)
        .bind(new.pacing.warm_up)
        .bind(new.start_local)
        .fetch_one(&mut *self.tx)
        .await?;
        sqlx::query(
            "INSERT INTO public.campaign_accounts (campaign_id, session_id) \
             SELECT $1, unnest($2::uuid[])",
        )
        .bind(id)
        .bind(&distinct)
        .execute(&mut *self.tx)
        .await?;
        sqlx::query(
            "INSERT INTO public.campaign_leads (campaign_id, lead_id, position) \
             SELECT $1, u.id, u.n FROM unnest($2::uuid[]) WITH ORDINALITY AS u(id, n)",
        )
        .bind(id)
        .bind(&leads)
        .execute(&mut *self.tx)
        .await?;
        self.campaign_get(id).await
    }

    /// One campaign with its counts; [`StoreError::NotFound`] if it is not the user's.
    pub async fn campaign_get(&mut self, id: Uuid) -> Result<Campaign, StoreError> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM public.campaigns c WHERE c.id = $1");
        let mut campaign: Campaign = sqlx::query_as(&sql)
            .bind(id)
            .fetch_one(&mut *self.tx)
            .await?;
        campaign.counts = self.campaign_counts(id).await?;
        Ok(campaign)
    }

    /// The user's campaigns, newest first (at most 200), each with its counts.
    pub async fn campaigns_list(&mut self) -> Result<Vec<Campaign>, StoreError> {
        let sql = format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM public.campaigns c ORDER BY c.created_at DESC, c.id DESC LIMIT 200"
        );
        let mut campaigns: Vec<Campaign> = sqlx::query_as(&sql).fetch_all(&mut *self.tx).await?;
        for campaign in &mut campaigns {
            campaign.counts = self.campaign_counts(campaign.id).await?;
        }
        Ok(campaigns)
    }

    async fn campaign_counts(&mut self, id: Uuid) -> Result<CampaignCounts, StoreError> {
        // One definition for the page and the campaign.progress webhook (its migration).
        let counts: sqlx::types::Json<CampaignCounts> =
            sqlx::query_scalar("SELECT public.campaign_counts($1)")
                .bind(id)
                .fetch_one(&mut *self.tx)
                .await?;
        Ok(counts.0)
    }

    /// A campaign's leads in send order, optionally only those in `state`, `limit` (1..=500) at a
    /// time after `after_position`.
    pub async fn campaign_leads(
        &mut self,
        id: Uuid,
        state: Option<&str>,
        after_position: Option<i64>,
        limit: i64,
    ) -> Result<Vec<CampaignLead>, StoreError> {
        if let Some(state) = state
            && !CAMPAIGN_LEAD_STATES.contains(&state)
        {
            return Err(StoreError::invalid(
                "state",
                "must be one of pending, skipped, queued, sent, delivered, read, replied, failed",
            ));
        }
        // Not found rather than an empty list for someone else's campaign. A plain read: the
        // page polls this, and a row lock would make the runner skip the campaign's tick.
        sqlx::query_scalar::<_, Uuid>("SELECT id FROM public.campaigns WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *self.tx)
            .await?;
        let sql = format!(
            "SELECT * FROM ({LEAD_STATE_SQL} AND cl.position > $3) s \
             WHERE $2::text IS NULL OR s.state = $2 ORDER BY s.position LIMIT $4"
        );
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .bind(state)
            .bind(after_position.unwrap_or(0))
            .bind(limit.clamp(1, 500))
            .fetch_all(&mut *self.tx)
            .await?)
    }

    /// The campaign's status, its row locked until the transaction ends (for state changes).
    async fn campaign_status(&mut self, id: Uuid) -> Result<String, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT status FROM public.campaigns WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_one(&mut *self.tx)
                .await?,
        )
    }

    /// Start a draft, or resume a paused campaign (its pause reason is cleared).
    pub async fn campaign_start(&mut self, id: Uuid) -> Result<Campaign, StoreError> {
        match self.campaign_status(id).await?.as_str() {
            "draft" | "paused" => {}
            "running" => return self.campaign_get(id).await,
            _ => {
                return Err(StoreError::Conflict {
                    field: "status",
                    message: "a finished or cancelled campaign cannot start again",
                });
            }
        }
        sqlx::query(
            "UPDATE public.campaigns SET status = 'running', pause_reason = NULL, \
             started_at = coalesce(started_at, now()) WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        self.campaign_get(id).await
    }

    /// Pause a running campaign (nothing more is queued until it is resumed).
    pub async fn campaign_pause(&mut self, id: Uuid) -> Result<Campaign, StoreError> {
        match self.campaign_status(id).await?.as_str() {
            "running" | "draft" => {}
            "paused" => return self.campaign_get(id).await,
            _ => {
                return Err(StoreError::Conflict {
                    field: "status",
                    message: "only a running campaign can be paused",
                });
            }
        }
        sqlx::query(
            "UPDATE public.campaigns SET status = 'paused', pause_reason = 'Paused by you' WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        self.campaign_get(id).await
    }

    /// Cancel: the leads not yet queued are skipped ("campaign cancelled"); queued messages are
    /// still sent (they may already be on their way).
    pub async fn campaign_cancel(&mut self, id: Uuid) -> Result<Campaign, StoreError> {
        match self.campaign_status(id).await?.as_str() {
            "completed" | "cancelled" => return self.campaign_get(id).await,
            _ => {}
        }
        sqlx::query(
            "UPDATE public.campaigns SET status = 'cancelled', finished_at = now() WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        sqlx::query(
            "UPDATE public.campaign_leads SET state = 'skipped', reason = 'campaign cancelled' \
             WHERE campaign_id = $1 AND state = 'pending'",
        )
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        self.campaign_get(id).await
    }

    /// Deletes a campaign and its per-lead rows (messages already sent stay in the chats).
    pub async fn campaign_delete(&mut self, id: Uuid) -> Result<(), StoreError> {
        let result = sqlx::query("DELETE FROM public.campaigns WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
