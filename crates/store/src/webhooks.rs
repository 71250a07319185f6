//! Webhooks (see their migration): endpoints a user registers, and the deliveries the database
//! queues for them in the same transaction as each event. The owner manages endpoints and reads
//! the delivery log as a [`UserTx`]; the server's delivery worker claims and settles deliveries
//! through the system path ([`crate::Store::webhook_claim_due`] and friends).
//!
//! Checking where a URL points (https, no private addresses) is the server's job: it depends on
//! DNS and on configuration, and it is repeated at every connection, not only here at save time.

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::optional_text;
use crate::{Store, StoreError, UserTx};

/// Everything an endpoint can subscribe to (`webhooks.event_types`).
pub const WEBHOOK_EVENT_TYPES: [&str; 8] = [
    "message.inbound",
    "message.outbound",
    "message.status",
    "account.state",
    "account.deleted",
    "consent.opt_out",
    "consent.opt_in",
    "campaign.progress",
];
/// Most deliveries one page of the log holds.
pub const WEBHOOK_DELIVERIES_PAGE_MAX: i64 = 100;
const SECRET_PREFIX: &str = "whsec_";

/// An endpoint as its owner sees it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    /// A disabled endpoint gets no new deliveries, and its pending ones wait.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An endpoint just created (or its secret just rotated): the only time the secret is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_` + base64 of 32 random bytes: the Standard Webhooks signing secret.
    pub secret: String,
}

/// A new endpoint. The URL must already have passed the server's destination checks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(
    description = "A new endpoint: an https URL that does not point into a private \
    network, and the event types it receives."
)]
pub struct NewWebhook {
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    pub event_types: Vec<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A change to an endpoint; absent fields stay. `description: ""` clears it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// One delivery of one event to one endpoint, as the delivery log shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WebhookDelivery {
    pub id: i64,
    pub webhook_id: Uuid,
    /// The `webhook-id` header (the same for a redelivery of the same event).
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's HTTP status at the last attempt (none: no answer).
    pub response_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The event's `data`.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// A page of the delivery log, newest first; `next_cursor` is the `before` of the next page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookDeliveryPage {
    pub deliveries: Vec<WebhookDelivery>,
    pub next_cursor: Option<String>,
}

/// A delivery the worker claimed: everything needed to post it.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct DeliveryJob {
    pub delivery_id: i64,
    pub webhook_id: Uuid,
    pub url: String,
    pub secret: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: serde_json::Value,
    /// Attempts including this one.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for DeliveryJob {
    // Hand-written so the signing secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryJob")
            .field("delivery_id", &self.delivery_id)
            .field("webhook_id", &self.webhook_id)
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered { status: u16 },
    /// Try again at `at`; `status` is the receiver's answer, if there was one.
    Retry {
        status: Option<u16>,
        error: String,
        at: DateTime<Utc>,
    },
    /// No more attempts.
    Failed { status: Option<u16>, error: String },
}

const COLUMNS: &str = "id, url, description, event_types, enabled, created_at, updated_at";
const DELIVERY_COLUMNS: &str = "id, webhook_id, event_id, event_type, state, attempts, \
     next_attempt_at, last_attempt_at, response_status, last_error, delivered_at, created_at, payload";

/// A fresh signing secret.
fn new_secret() -> String {
    let mut random = [0u8; 32];
    OsRng.fill_bytes(&mut random);
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(random)
    )
}

/// Each type once, all known, at least one.
fn event_types(input: &[String]) -> Result<Vec<String>, StoreError> {
    let mut types: Vec<String> = Vec::new();
    for t in input {
        let t = t.trim();
        if !WEBHOOK_EVENT_TYPES.contains(&t) {
            return Err(StoreError::invalid(
                "event_types",
                "lists an unknown event type (see the API documentation for the list)",
            ));
        }
        if !types.iter().any(|s| s == t) {
            types.push(t.to_owned());
        }
    }
    if types.is_empty() {
        return Err(StoreError::invalid("event_types", "choose at least one"));
    }
    Ok(types)
}

fn url(input: &str) -> Result<String, StoreError> {
    let url = input.trim();
    if url.is_empty() {
        return Err(StoreError::invalid("url", "is required"));
    }
    if url.len() > 2000 {
        return Err(StoreError::invalid("url", "is too long"));
    }
    Ok(url.to_owned())
}

impl UserTx {
    /// Registers an endpoint with a new secret.
    pub async fn webhook_create(&mut self, new: &NewWebhook) -> Result<CreatedWebhook, StoreError> {
        let url = url(&new.url)?;
        let description = optional_text("description", new.description.as_deref(), 200)?;
        let types = event_types(&new.event_types)?;
        let secret = new_secret();
        let sql = format!(
            "INSERT INTO public.webhooks (url, description, event_types, enabled, secret) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
        );
        let webhook: Webhook = sqlx::query_as(&sql)
            .bind(&url)
            .bind(&description)
            .bind(&types)
            .bind(new.enabled.unwrap_or(true))
            .bind(&secret)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(CreatedWebhook { webhook, secret })
    }

    /// The user's endpoints, oldest first (at most 10 exist).
    pub async fn webhooks_list(&mut self) -> Result<Vec<Webhook>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM public.webhooks ORDER BY created_at, id");
        Ok(sqlx::query_as(&sql).fetch_all(&mut *self.tx).await?)
    }

    /// One endpoint; [`StoreError::NotFound`] if it is not the user's.
    pub async fn webhook_get(&mut self, id: Uuid) -> Result<Webhook, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM public.webhooks WHERE id = $1");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_one(&mut *self.tx)
            .await?)
    }

    /// Changes an endpoint. A new URL must already have passed the server's checks.
    pub async fn webhook_update(
        &mut self,
        id: Uuid,
        patch: &WebhookPatch,
    ) -> Result<Webhook, StoreError> {
        let current = self.webhook_get(id).await?;
        let url = match &patch.url {
            Some(u) => url(u)?,
            None => current.url,
        };
        let description = match &patch.description {
            Some(d) => optional_text("description", Some(d), 200)?,
            None => current.description,
        };
        let types = match &patch.event_types {
            Some(t) => event_types(t)?,
            None => current.event_types,
        };
        let sql = format!(
            "UPDATE public.webhooks SET url = $2, description = $3, event_types = $4, enabled = $5 \
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .bind(&url)
            .bind(&description)
            .bind(&types)
            .bind(patch.enabled.unwrap_or(current.enabled))
            .fetch_one(&mut *self.tx)
            .await?)
    }

    /// A new secret for an endpoint (the old one stops signing at once).
    pub async fn webhook_rotate_secret(&mut self, id: Uuid) -> Result<CreatedWebhook, StoreError> {
        let secret = new_secret();
        let sql =
            format!("UPDATE public.webhooks SET secret = $2 WHERE id = $1 RETURNING {COLUMNS}");
        let webhook: Webhook = sqlx::query_as(&sql)
            .bind(id)
            .bind(&secret)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(CreatedWebhook { webhook, secret })
    }

    /// Deletes an endpoint and its delivery log.
    pub async fn webhook_delete(&mut self, id: Uuid) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM public.webhooks WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// An endpoint's deliveries, newest first, `limit` (1..=100) at a time before the cursor
    /// `before` (a delivery id); [`StoreError::NotFound`] for an endpoint that is not the user's.
    pub async fn webhook_deliveries(
        &mut self,
        webhook_id: Uuid,
        before: Option<&str>,
        limit: i64,
    ) -> Result<WebhookDeliveryPage, StoreError> {
        self.webhook_get(webhook_id).await?;
        let before =
            match before {
                None => i64::MAX,
                Some(raw) => raw.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    StoreError::invalid("before", "is not a cursor from this list")
                })?,
            };
        let limit = limit.clamp(1, WEBHOOK_DELIVERIES_PAGE_MAX);
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM public.webhook_deliveries \
             WHERE webhook_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        );
        let mut deliveries: Vec<WebhookDelivery> = sqlx::query_as(&sql)
            .bind(webhook_id)
            .bind(before)
            .bind(limit + 1)
            .fetch_all(&mut *self.tx)
            .await?;
        let next_cursor = if deliveries.len() as i64 > limit {
            deliveries.truncate(limit as usize);
            deliveries.last().map(|d| d.id.to_string())
        } else {
            None
        };
        Ok(WebhookDeliveryPage {
            deliveries,
            next_cursor,
        })
    }

    /// Queues `delivery_id` of endpoint `webhook_id` again (same event, same `webhook-id`), at the
    /// end of its conversation's order; returns the new delivery.
    pub async fn webhook_redeliver(
        &mut self,
        webhook_id: Uuid,
        delivery_id: i64,
    ) -> Result<WebhookDelivery, StoreError> {
        self.webhook_get(webhook_id).await?;
        // The user may read deliveries but not write them: the system role queues the copy, for
        // this user's own delivery only.
        crate::user_tx::act_as_system(&mut self.tx).await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT app_api.webhook_redeliver($1, $2, $3)")
            .bind(self.user_id)
            .bind(webhook_id)
            .bind(delivery_id)
            .fetch_one(&mut *self.tx)
            .await?;
        crate::user_tx::act_as(&mut self.tx, self.user_id).await?;
        let id = id.ok_or(StoreError::NotFound)?;
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM public.webhook_deliveries WHERE id = $1");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_one(&mut *self.tx)
            .await?)
    }
}

impl Store {
    /// Claims up to `limit` due deliveries of any user (the oldest pending one per endpoint and
    /// ordering key); none of them is claimed again for `lease` unless settled.
    pub async fn webhook_claim_due(
        &self,
        limit: i32,
        lease: std::time::Duration,
    ) -> Result<Vec<DeliveryJob>, StoreError> {
        let lease = i32::try_from(lease.as_secs()).unwrap_or(i32::MAX).max(1);
        Ok(sqlx::query_as(
            "SELECT delivery_id, webhook_id, url, secret, event_id, event_type, payload, attempts, \
                    created_at \
             FROM app_api.webhook_claim_due($1, $2)",
        )
        .bind(limit)
        .bind(lease)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records how an attempt ended.
    pub async fn webhook_settle(
        &self,
        delivery_id: i64,
        outcome: &DeliveryOutcome,
    ) -> Result<(), StoreError> {
        let (delivered, status, error, retry_at) = match outcome {
            DeliveryOutcome::Delivered { status } => (true, Some(*status), None, None),
            DeliveryOutcome::Retry { status, error, at } => {
                (false, *status, Some(error.as_str()), Some(*at))
            }
            DeliveryOutcome::Failed { status, error } => {
                (false, *status, Some(error.as_str()), None)
            }
        };
        sqlx::query("SELECT app_api.webhook_settle($1, $2, $3, $4, $5)")
            .bind(delivery_id)
            .bind(delivered)
            .bind(status.map(i32::from))
            .bind(error)
            .bind(retry_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes settled deliveries older than `days`; returns how many.
    pub async fn webhook_prune(&self, days: i32) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT app_api.webhook_prune(make_interval(days => $1), 1000)")
                .bind(days)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
