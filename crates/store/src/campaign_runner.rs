//! The campaign runner's database side. The server calls [`CampaignRunner::due`] (system path: the
//! running campaigns of every user) and then [`CampaignRunner::tick`] for each, which acts as the
//! campaign's owner under RLS in **one transaction**:
//!
//! 1. lock the campaign row (`FOR UPDATE SKIP LOCKED`: one instance works a campaign at a time);
//! 2. wait for its start time and outside its quiet hours (in its time zone);
//! 3. pause it, with the reason, when one of its accounts is logged out, banned or otherwise not
//!    usable, or when 5 of an account's last 10 campaign messages failed;
//! 4. for each active account whose pacing allows a send now (its own lock, caps per minute / hour /
//!    day counted over every campaign's sends from it, warm-up, first-contact cap, the jittered
//!    next-send time): take the next pending lead, skip it with a reason if it opted out or the
//!    template lacks a value, otherwise render the text, insert the outbox message and mark the
//!    lead `queued` pointing at it — together, so a crash can never send a lead twice;
//! 5. complete the campaign when no lead is pending.
//!
//! Time can be compressed for tests ([`Pace::scale`]): a minute of pacing lasts `60 / scale`
//! seconds, and so on for hours, days, jitter and warm-up days. Quiet hours are wall-clock time.

use crate::events::EventKind;
use crate::messages::{MESSAGE_COLUMNS, message_event, new_message_id};
use crate::records::Message;
use crate::{StoreError, UserTx};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// Messages on a newly linked account's first day when warm-up is on; the cap doubles every day
/// until it reaches the campaign's `per_day`.
pub const WARM_UP_FIRST_DAY: i64 = 20;
/// An account is paused out of a campaign when this many of its last [`FAILURE_WINDOW`] campaign
/// messages failed.
pub const FAILURE_BURST: i64 = 5;
pub const FAILURE_WINDOW: i64 = 10;
/// Leads skipped (opted out, missing variable) per account and tick before the runner moves on.
const SKIPS_PER_TICK: usize = 200;

/// How fast pacing time runs: 1 is real time; tests compress it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace {
    pub scale: f64,
}

impl Default for Pace {
    fn default() -> Pace {
        Pace { scale: 1.0 }
    }
}

impl Pace {
    fn seconds(&self, real: f64) -> f64 {
        real / self.scale.max(1e-6)
    }
}

/// What one tick did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickOutcome {
    /// Messages queued (one per account at most).
    pub queued: Vec<Message>,
    /// Leads skipped, with reasons.
    pub skipped: usize,
    /// The campaign paused itself, saying why.
    pub paused: Option<String>,
    pub completed: bool,
    /// When this campaign next wants a tick (None: not running, or another instance holds it).
    pub next_tick: Option<Duration>,
}

/// The runner's handle on the store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CampaignRunner {
    pool: PgPool,
}

impl crate::Store {
    pub fn campaign_runner(&self) -> CampaignRunner {
        CampaignRunner {
            pool: self.pool.clone(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct Due {
    status: String,
    content: String,
    wait_start: Option<f64>,
    quiet: bool,
    per_minute: i32,
    per_hour: i32,
    per_day: i32,
    first_contact_per_day: i32,
    jitter_seconds: i32,
    warm_up: bool,
}

#[derive(sqlx::FromRow)]
struct Account {
    id: Uuid,
    session_name: String,
    status: Option<String>,
    status_reason: Option<String>,
    status_message: Option<String>,
    /// Seconds since it was linked.
    age: Option<f64>,
    /// Seconds until it may send again (≤ 0: now).
    wait: Option<f64>,
    recent: i64,
    recent_failed: i64,
    last_failure: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Windows {
    minute: i64,
    hour: i64,
    day: i64,
    first_contacts: i64,
}

#[derive(sqlx::FromRow)]
struct NextLead {
    lead_id: Uuid,
    name: String,
    phone: String,
    company: Option<String>,
    email: Option<String>,
    status: String,
    fields: sqlx::types::Json<BTreeMap<String, String>>,
    first_contact: bool,
    suppressed: bool,
}

impl CampaignRunner {
    /// Running campaigns whose start time has come, with their owners (system path).
    pub async fn due(&self) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT campaign_id, user_id FROM app_api.campaigns_due()")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// One step of one campaign (see the module docs).
    pub async fn tick(
        &self,
        campaign_id: Uuid,
        user_id: Uuid,
        pace: Pace,
    ) -> Result<TickOutcome, StoreError> {
        let mut tx = UserTx::begin(&self.pool, user_id).await?;
        let outcome = tick(&mut tx, campaign_id, pace).await?;
        tx.commit().await?;
        Ok(outcome)
    }
}

async fn tick(tx: &mut UserTx, campaign_id: Uuid, pace: Pace) -> Result<TickOutcome, StoreError> {
    let mut outcome = TickOutcome::default();
    let due: Option<Due> = sqlx::query_as(
        "SELECT c.status, c.content, \
           CASE WHEN c.start_at > now() THEN extract(epoch FROM c.start_at - now())::float8 END AS wait_start, \
           CASE WHEN c.quiet_start IS NULL THEN false \
                WHEN c.quiet_start < c.quiet_end \
                  THEN (now() AT TIME ZONE c.time_zone)::time >= c.quiet_start \
                   AND (now() AT TIME ZONE c.time_zone)::time < c.quiet_end \
                ELSE (now() AT TIME ZONE c.time_zone)::time >= c.quiet_start \
                  OR (now() AT TIME ZONE c.time_zone)::time < c.quiet_end END AS quiet, \
           c.per_minute, c.per_hour, c.per_day, c.first_contact_per_day, c.jitter_seconds, c.warm_up \
         FROM public.campaigns c WHERE c.id = $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(campaign_id)
    .fetch_optional(&mut *tx.tx)
    .await?;
    let Some(due) = due else {
        return Ok(outcome);
    };
    if due.status != "running" {
        return Ok(outcome);
    }
    if let Some(wait) = due.wait_start {
        outcome.next_tick = Some(Duration::from_secs_f64(wait.clamp(0.0, 60.0)));
        return Ok(outcome);
    }
    if due.quiet {
        outcome.next_tick = Some(Duration::from_secs(30));
        return Ok(outcome);
    }

    let accounts: Vec<Account> = sqlx::query_as(
        "SELECT s.id, s.session_name, s.status, s.status_reason, s.status_message, \
           extract(epoch FROM now() - coalesce(s.linked_at, s.created_at))::float8 AS age, \
           extract(epoch FROM p.next_send_at - clock_timestamp())::float8 AS wait, \
           f.recent, f.recent_failed, f.last_failure \
         FROM public.campaign_accounts ca \
         JOIN public.whatsapp_sessions s ON s.id = ca.session_id \
         LEFT JOIN public.campaign_account_pacing p ON p.session_id = s.id \
         CROSS JOIN LATERAL ( \
           SELECT count(*) AS recent, count(*) FILTER (WHERE x.status = 'failed') AS recent_failed, \
                  (array_agg(x.status_reason) FILTER (WHERE x.status = 'failed'))[1] AS last_failure \
           FROM (SELECT m.status, m.status_reason FROM public.campaign_leads cl \
                 JOIN public.whatsapp_messages m ON m.id = cl.message_row_id \
                 WHERE cl.session_id = s.id AND cl.state = 'queued' \
                   AND coalesce(m.status_reason, '') NOT IN ('opted_out', 'not_on_whatsapp') \
                 ORDER BY cl.queued_at DESC LIMIT $2) x) f \
         WHERE ca.campaign_id = $1 \
         ORDER BY p.next_send_at NULLS FIRST, s.id",
    )
    .bind(campaign_id)
    .bind(FAILURE_WINDOW)
    .fetch_all(&mut *tx.tx)
    .await?;

    if let Some(reason) = pause_reason(&accounts) {
        sqlx::query(
            "UPDATE public.campaigns SET status = 'paused', pause_reason = $2 WHERE id = $1",
        )
        .bind(campaign_id)
        .bind(&reason)
        .execute(&mut *tx.tx)
        .await?;
        outcome.paused = Some(reason);
        return Ok(outcome);
    }

    let mut next = f64::INFINITY;
    let mut pending_left = true;
    for account in accounts
        .iter()
        .filter(|a| a.status.as_deref() == Some("active"))
    {
        if let Some(wait) = account.wait
            && wait > 0.0
        {
            next = next.min(wait);
            continue;
        }
        // The account's pacing row, locked: two campaigns (or instances) never send from one
        // account at once. Held by someone else → try again shortly.
        sqlx::query(
            "INSERT INTO public.campaign_account_pacing (session_id) VALUES ($1) ON CONFLICT DO NOTHING",
        )
        .bind(account.id)
        .execute(&mut *tx.tx)
        .await?;
        let locked: Option<f64> = sqlx::query_scalar(
            "SELECT extract(epoch FROM next_send_at - clock_timestamp())::float8 \
             FROM public.campaign_account_pacing WHERE session_id = $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(account.id)
        .fetch_optional(&mut *tx.tx)
        .await?;
        match locked {
            None => {
                next = next.min(pace.seconds(1.0));
                continue;
            }
            Some(wait) if wait > 0.0 => {
                next = next.min(wait);
                continue;
            }
            Some(_) => {}
        }
        let day = pace.seconds(86_400.0);
        let windows: Windows = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE queued_at > clock_timestamp() - make_interval(secs => $2)) AS minute, \
                    count(*) FILTER (WHERE queued_at > clock_timestamp() - make_interval(secs => $3)) AS hour, \
                    count(*) AS day, \
                    count(*) FILTER (WHERE first_contact) AS first_contacts \
             FROM public.campaign_leads \
             WHERE session_id = $1 AND state = 'queued' \
               AND queued_at > clock_timestamp() - make_interval(secs => $4)",
        )
        .bind(account.id)
        .bind(pace.seconds(60.0))
        .bind(pace.seconds(3_600.0))
        .bind(day)
        .fetch_one(&mut *tx.tx)
        .await?;
        let day_cap = day_cap(&due, account.age.unwrap_or(0.0) / day);
        if windows.minute >= i64::from(due.per_minute) {
            next = next.min(pace.seconds(60.0) / 10.0);
            continue;
        }
        if windows.hour >= i64::from(due.per_hour) {
            next = next.min(pace.seconds(3_600.0) / 60.0);
            continue;
        }
        if windows.day >= day_cap {
            next = next.min(day / 100.0);
            continue;
        }
        let first_contact_room = windows.first_contacts < i64::from(due.first_contact_per_day);

        let mut skips = 0;
        let queued = loop {
            let lead: Option<NextLead> = sqlx::query_as(
                "SELECT cl.lead_id, coalesce(l.name, '') AS name, coalesce(l.phone, '') AS phone, \
                        l.company, l.email, coalesce(l.status, '') AS status, l.fields, \
                   NOT EXISTS (SELECT 1 FROM public.whatsapp_messages m WHERE m.lead_id = l.id) AS first_contact, \
                   public.rarity_is_suppressed(l.phone) AS suppressed \
                 FROM public.campaign_leads cl JOIN public.leads l ON l.id = cl.lead_id \
                 WHERE cl.campaign_id = $1 AND cl.state = 'pending' \
                 ORDER BY cl.position LIMIT 1 FOR UPDATE OF cl SKIP LOCKED",
            )
            .bind(campaign_id)
            .fetch_optional(&mut *tx.tx)
            .await?;
            let Some(lead) = lead else {
                pending_left = false;
                break None;
            };
            let skip = if lead.suppressed {
                Some("opted out".to_owned())
            } else if crate::domain::PhoneE164::parse(&lead.phone).is_err() {
                // Only on a host's adopted `leads`: ours holds E.164 numbers only.
                Some("no phone number in international format".to_owned())
            } else {
                match render(&due.content, &lead) {
                    Ok(_) if lead.first_contact && !first_contact_room => {
                        // Not skipped: it waits for tomorrow's first-contact allowance.
                        next = next.min(day / 100.0);
                        break None;
                    }
                    Ok(text) => {
                        break Some(queue(tx, campaign_id, account.id, &lead, &text).await?);
                    }
                    Err(missing) => Some(format!(
                        "missing variable {{{{{}}}}}: the lead has no value and the template no fallback",
                        missing.name
                    )),
                }
            };
            if let Some(reason) = skip {
                sqlx::query(
                    "UPDATE public.campaign_leads SET state = 'skipped', reason = $3 \
                     WHERE campaign_id = $1 AND lead_id = $2",
                )
                .bind(campaign_id)
                .bind(lead.lead_id)
                .bind(reason)
                .execute(&mut *tx.tx)
                .await?;
                outcome.skipped += 1;
                skips += 1;
                if skips >= SKIPS_PER_TICK {
                    next = 0.0;
                    break None;
                }
            }
        };
        if let Some(message) = queued {
            let gap = pace.seconds(60.0 / f64::from(due.per_minute));
            let jitter = pace.seconds(f64::from(due.jitter_seconds));
            let wait: f64 = sqlx::query_scalar(
                "UPDATE public.campaign_account_pacing \
                 SET next_send_at = clock_timestamp() + make_interval(secs => $2 + random() * $3) \
                 WHERE session_id = $1 \
                 RETURNING extract(epoch FROM next_send_at - clock_timestamp())::float8",
            )
            .bind(account.id)
            .bind(gap)
            .bind(jitter)
            .fetch_one(&mut *tx.tx)
            .await?;
            next = next.min(wait);
            tx.append_events(&[message_event(EventKind::Message, &message)?])
                .await?;
            outcome.queued.push(message);
        }
        if !pending_left {
            break;
        }
    }

    if !pending_left {
        let pending: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM public.campaign_leads WHERE campaign_id = $1 AND state = 'pending')",
        )
        .bind(campaign_id)
        .fetch_one(&mut *tx.tx)
        .await?;
        if !pending {
            sqlx::query(
                "UPDATE public.campaigns SET status = 'completed', finished_at = now() WHERE id = $1",
            )
            .bind(campaign_id)
            .execute(&mut *tx.tx)
            .await?;
            outcome.completed = true;
            return Ok(outcome);
        }
        next = next.min(pace.seconds(1.0));
    }
    outcome.next_tick = Some(if next.is_finite() {
        Duration::from_secs_f64(next.clamp(0.0, 60.0))
    } else {
        // No active account: look again soon (one may reconnect).
        Duration::from_secs_f64(pace.seconds(5.0).clamp(0.01, 5.0))
    });
    Ok(outcome)
}

/// The day's cap for an account `age_days` old (in pacing days).
fn day_cap(due: &Due, age_days: f64) -> i64 {
    let cap = i64::from(due.per_day);
    if !due.warm_up {
        return cap;
    }
    let doublings = age_days.max(0.0).floor().min(20.0) as u32;
    cap.min(WARM_UP_FIRST_DAY.saturating_mul(1_i64 << doublings))
}

/// Why the campaign must stop, if it must: an account that cannot send (logged out, banned,
/// unlinked, in error), or a burst of failures on one.
fn pause_reason(accounts: &[Account]) -> Option<String> {
    if accounts.is_empty() {
        return Some("Paused: none of its WhatsApp accounts exists any more".to_owned());
    }
    for a in accounts {
        let status = a.status.as_deref().unwrap_or("inactive");
        // A server restart or a hand-over between instances leaves the account `inactive` with
        // reason `server_stopped` until it reconnects a few seconds later: wait, do not pause.
        let transient =
            status == "inactive" && a.status_reason.as_deref() == Some("server_stopped");
        if !matches!(status, "active" | "connecting") && !transient {
            let why = a
                .status_message
                .clone()
                .or_else(|| a.status_reason.clone())
                .unwrap_or_else(|| status.to_owned());
            return Some(format!(
                "Paused: account \u{201c}{}\u{201d} cannot send ({status}: {why})",
                a.session_name
            ));
        }
        if a.recent >= FAILURE_BURST && a.recent_failed >= FAILURE_BURST {
            return Some(format!(
                "Paused: {} of the last {} messages from account \u{201c}{}\u{201d} failed (last reason: {})",
                a.recent_failed,
                a.recent,
                a.session_name,
                a.last_failure.as_deref().unwrap_or("unknown")
            ));
        }
    }
    None
}

fn render(content: &str, lead: &NextLead) -> Result<String, templating::MissingVariable> {
    let extra: Vec<(String, String)> = lead.fields.0.clone().into_iter().collect();
    templating::LeadFields {
        name: &lead.name,
        phone: &lead.phone,
        company: lead.company.as_deref(),
        email: lead.email.as_deref(),
        status: &lead.status,
        extra: &extra,
    }
    .render(content)
}

/// The outbox row and the lead's `queued` mark, in the tick's transaction.
async fn queue(
    tx: &mut UserTx,
    campaign_id: Uuid,
    account_id: Uuid,
    lead: &NextLead,
    text: &str,
) -> Result<Message, StoreError> {
    let sql = format!(
        "INSERT INTO public.whatsapp_messages AS m \
           (session_id, lead_id, message_id, phone_number, direction, message_type, content, status, idempotency_key) \
         VALUES ($1, $2, $3, $4, 'out', 'text', jsonb_build_object('text', $5::text), 'queued', $6) \
         RETURNING {MESSAGE_COLUMNS}"
    );
    let message: Message = sqlx::query_as(&sql)
        .bind(account_id)
        .bind(lead.lead_id)
        .bind(new_message_id())
        .bind(&lead.phone)
        .bind(text)
        .bind(format!("campaign:{campaign_id}:{}", lead.lead_id))
        .fetch_one(&mut *tx.tx)
        .await?;
    sqlx::query(
        "UPDATE public.campaign_leads SET state = 'queued', session_id = $3, message_row_id = $4, \
           first_contact = $5, queued_at = clock_timestamp() \
         WHERE campaign_id = $1 AND lead_id = $2",
    )
    .bind(campaign_id)
    .bind(lead.lead_id)
    .bind(account_id)
    .bind(message.id)
    .bind(lead.first_contact)
    .fetch_optional(&mut *tx.tx)
    .await?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(status: &str, reason: &str) -> Account {
        Account {
            id: Uuid::nil(),
            session_name: "Sales".into(),
            status: Some(status.into()),
            status_reason: Some(reason.into()),
            status_message: None,
            age: None,
            wait: None,
            recent: 0,
            recent_failed: 0,
            last_failure: None,
        }
    }

    #[test]
    fn a_restart_waits_but_a_logout_or_ban_pauses() {
        assert_eq!(pause_reason(&[account("active", "linked")]), None);
        assert_eq!(
            pause_reason(&[account("connecting", "connection_lost")]),
            None
        );
        assert_eq!(pause_reason(&[account("inactive", "server_stopped")]), None);
        for (status, reason) in [
            ("expired", "logged_out"),
            ("expired", "banned"),
            ("inactive", "logged_out_by_user"),
            ("error", "unreachable"),
        ] {
            let why = pause_reason(&[account("active", "linked"), account(status, reason)]);
            assert!(why.is_some_and(|w| w.contains(reason)), "{status}/{reason}");
        }
        let mut burst = account("active", "linked");
        (burst.recent, burst.recent_failed) = (10, 5);
        assert!(pause_reason(&[burst]).is_some_and(|w| w.contains("5 of the last 10")));
    }
}
