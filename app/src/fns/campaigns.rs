//! Server functions of the Campaigns page: the list with counts, one campaign with its per-lead
//! table, create, and start / pause / resume / cancel / delete. They call the same store methods
//! as `/api/campaigns`.
// `create_campaign` takes one argument per form field (the server-function macro generates the
// browser's caller with the same arity, so an attribute on the function cannot reach it).
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::FormError;

/// Lead counts by state (see `store::CampaignCounts`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CountsView {
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

impl CountsView {
    /// Leads whose turn has come: everything but pending.
    pub fn done(&self) -> i64 {
        self.total - self.pending
    }

    /// Progress in whole percent (100 only when nothing is pending).
    pub fn percent(&self) -> i64 {
        if self.total == 0 {
            return 0;
        }
        if self.pending == 0 {
            return 100;
        }
        (self.done() * 100 / self.total).min(99)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignView {
    pub id: String,
    pub name: String,
    pub status: String,
    pub pause_reason: Option<String>,
    pub content: String,
    pub start_at: String,
    pub quiet_hours: Option<String>,
    pub pacing: String,
    pub accounts: usize,
    pub counts: CountsView,
}

/// A lead's states in a campaign, in the order a lead moves through them.
pub const STATES: [&str; 8] = [
    "pending",
    "queued",
    "sent",
    "delivered",
    "read",
    "replied",
    "failed",
    "skipped",
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignLeadView {
    pub lead_id: String,
    pub name: String,
    pub phone: String,
    pub state: String,
    pub reason: Option<String>,
    pub text: Option<String>,
    pub at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub id: String,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignsView {
    pub campaigns: Vec<CampaignView>,
    pub templates: Vec<Choice>,
    pub accounts: Vec<Choice>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignDetailView {
    pub campaign: CampaignView,
    pub leads: Vec<CampaignLeadView>,
}

#[cfg(feature = "ssr")]
mod convert {
    use super::*;

    pub fn campaign(c: store::Campaign) -> CampaignView {
        let p = c.pacing;
        CampaignView {
            id: c.id.to_string(),
            name: c.name,
            status: c.status,
            pause_reason: c.pause_reason,
            content: c.content,
            start_at: crate::api::convert::utc_minute(c.start_at),
            quiet_hours: c
                .quiet_start
                .zip(c.quiet_end)
                .map(|(s, e)| format!("{s}–{e} ({})", c.time_zone)),
            pacing: format!(
                "{} / min · {} / hour · {} / day per account{}",
                p.per_minute,
                p.per_hour,
                p.per_day,
                if p.warm_up { " · warm-up" } else { "" }
            ),
            accounts: c.account_ids.len(),
            counts: CountsView {
                total: c.counts.total,
                pending: c.counts.pending,
                queued: c.counts.queued,
                sent: c.counts.sent,
                delivered: c.counts.delivered,
                read: c.counts.read,
                replied: c.counts.replied,
                failed: c.counts.failed,
                skipped: c.counts.skipped,
            },
        }
    }
}

#[server(prefix = "/fn", endpoint = "campaigns/list")]
pub async fn campaigns_overview() -> Result<CampaignsView, ServerFnError> {
    use crate::api::convert::{internal, user_tx};
    let mut tx = user_tx().await?;
    let campaigns = tx.campaigns_list().await.map_err(internal)?;
    let templates = tx.templates_page(None, 200).await.map_err(internal)?;
    let accounts = tx.whatsapp_sessions_list().await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(CampaignsView {
        campaigns: campaigns.into_iter().map(convert::campaign).collect(),
        templates: templates
            .templates
            .into_iter()
            .map(|t| Choice {
                id: t.id.to_string(),
                label: t.name,
            })
            .collect(),
        accounts: accounts
            .into_iter()
            .map(|a| Choice {
                id: a.id.to_string(),
                label: match a.status.as_deref() {
                    Some("active") | None => a.session_name,
                    Some(status) => format!("{} ({status})", a.session_name),
                },
            })
            .collect(),
    })
}

#[server(prefix = "/fn", endpoint = "campaigns/detail")]
pub async fn campaign_detail(
    id: String,
    #[server(default)] state: String,
) -> Result<CampaignDetailView, ServerFnError> {
    use crate::api::convert::{internal, optional, parse_id, user_tx};
    let id = parse_id(&id)?;
    let mut tx = user_tx().await?;
    let campaign = tx.campaign_get(id).await.map_err(internal)?;
    let rows = tx
        .campaign_leads(id, optional(state).as_deref(), None, 500)
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(CampaignDetailView {
        campaign: convert::campaign(campaign),
        leads: rows
            .into_iter()
            .map(|r| CampaignLeadView {
                lead_id: r.lead_id.to_string(),
                name: r.name,
                phone: r.phone,
                at: r
                    .replied_at
                    .or(r.read_at)
                    .or(r.delivered_at)
                    .or(r.sent_at)
                    .or(r.queued_at)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
                state: r.state,
                reason: r.reason,
                text: r.text,
            })
            .collect(),
    })
}

/// Creates (and by default starts) a campaign. `accounts` is a comma-separated list of account
/// ids; the segment is the leads matching `search` and `status` (both optional).
#[server(prefix = "/fn", endpoint = "campaigns/create")]
pub async fn create_campaign(
    #[server(default)] name: String,
    #[server(default)] template_id: String,
    #[server(default)] accounts: String,
    #[server(default)] search: String,
    #[server(default)] status: String,
    #[server(default)] lead_ids: String,
    #[server(default)] start_at: String,
    #[server(default)] time_zone: String,
    #[server(default)] quiet_start: String,
    #[server(default)] quiet_end: String,
    #[server(default)] per_minute: String,
    #[server(default)] per_hour: String,
    #[server(default)] per_day: String,
    #[server(default)] first_contact_per_day: String,
    #[server(default)] jitter_seconds: String,
    #[server(default)] skip_warm_up: String,
    #[server(default)] draft: String,
) -> Result<String, FormError> {
    use crate::api::convert::{form_tx, optional, refusal, with_status};
    let result: Result<String, FormError> = async {
        let invalid = |field: &str, message: &str| FormError::Invalid {
            field: field.into(),
            message: message.into(),
        };
        let template_id = match optional(template_id) {
            Some(id) => Some(
                uuid::Uuid::parse_str(&id)
                    .map_err(|_| invalid("template_id", "Choose a template"))?,
            ),
            None => None,
        };
        let account_ids = accounts
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                uuid::Uuid::parse_str(s).map_err(|_| invalid("account_ids", "Choose the accounts"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let defaults = store::Pacing::default();
        let number = |field: &str, raw: String, default: i32| -> Result<i32, FormError> {
            match optional(raw) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| invalid(field, "Enter a whole number")),
            }
        };
        let pacing = store::Pacing {
            per_minute: number("per_minute", per_minute, defaults.per_minute)?,
            per_hour: number("per_hour", per_hour, defaults.per_hour)?,
            per_day: number("per_day", per_day, defaults.per_day)?,
            first_contact_per_day: number(
                "first_contact_per_day",
                first_contact_per_day,
                defaults.first_contact_per_day,
            )?,
            jitter_seconds: number("jitter_seconds", jitter_seconds, defaults.jitter_seconds)?,
            warm_up: optional(skip_warm_up).is_none(),
        };
        let status = match optional(status) {
            None => None,
            Some(s) => Some(store::LeadStatus::parse(&s).map_err(refusal)?),
        };
        // A picked list (from the Leads page's selection) wins over the filter.
        let lead_ids = match optional(lead_ids) {
            None => None,
            Some(raw) => Some(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        uuid::Uuid::parse_str(s)
                            .map_err(|_| invalid("segment", "The picked leads are not valid"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let start_local = match optional(start_at) {
            None => None,
            Some(raw) => Some(
                chrono::NaiveDateTime::parse_from_str(&raw, "%Y-%m-%dT%H:%M")
                    .or_else(|_| chrono::NaiveDateTime::parse_from_str(&raw, "%Y-%m-%dT%H:%M:%S"))
                    .map_err(|_| invalid("start_at", "Enter a date and time"))?,
            ),
        };
        let segment = lead_ids.is_none().then(|| store::LeadQuery {
            search: optional(search),
            status,
            ..store::LeadQuery::default()
        });
        let new = store::NewCampaign {
            name,
            template_id,
            account_ids,
            lead_ids,
            segment,
            start_local,
            time_zone: optional(time_zone),
            quiet_start: optional(quiet_start),
            quiet_end: optional(quiet_end),
            pacing,
            start: optional(draft).is_none(),
            ..store::NewCampaign::default()
        };
        let mut tx = form_tx().await?;
        let campaign = tx.campaign_create(new).await.map_err(refusal)?;
        tx.commit().await.map_err(refusal)?;
        Ok(campaign.id.to_string())
    }
    .await;
    with_status(result)
}

/// `action`: start, pause, resume, cancel or delete.
#[server(prefix = "/fn", endpoint = "campaigns/act")]
pub async fn campaign_act(
    #[server(default)] id: String,
    #[server(default)] action: String,
) -> Result<(), ServerFnError> {
    use crate::api::convert::{internal, parse_id, user_tx};
    let id = parse_id(&id)?;
    let mut tx = user_tx().await?;
    match action.as_str() {
        "start" | "resume" => tx.campaign_start(id).await.map(drop),
        "pause" => tx.campaign_pause(id).await.map(drop),
        "cancel" => tx.campaign_cancel(id).await.map(drop),
        "delete" => tx.campaign_delete(id).await,
        _ => return Err(ServerFnError::new("Unknown action")),
    }
    .map_err(|e| match e {
        store::StoreError::Conflict { message, .. } => {
            crate::api::convert::set_status(http::StatusCode::CONFLICT);
            ServerFnError::new(message)
        }
        other => internal(other),
    })?;
    tx.commit().await.map_err(internal)?;
    Ok(())
}
