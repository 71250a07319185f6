//! Per-user privacy settings: opt-out keywords, the automatic opt-out confirmation, and how long
//! messages, media and closed leads are kept (read by the retention purge, see [`crate::retention`]).

use crate::consent::{DEFAULT_OPT_OUT_KEYWORDS, normalize_keywords};
use crate::domain::multiline_text;
use crate::{StoreError, UserTx};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Retention periods are whole days in this range; `None` keeps data.
pub const RETENTION_DAYS_MAX: i32 = 3650;
const REPLY_MAX: usize = 1000;

/// A user's privacy settings (the defaults until they save any).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PrivacySettings {
    /// Normalised (upper case, accents dropped).
    pub opt_out_keywords: Vec<String>,
    /// Sent automatically to a contact who opts out by keyword; `None` = no reply.
    pub opt_out_reply: Option<String>,
    pub retention_messages_days: Option<i32>,
    /// Media files older than this leave their messages (which keep their caption and say why).
    pub retention_media_days: Option<i32>,
    /// Leads whose status is `won` or `lost`, unchanged for this long, are erased.
    pub retention_closed_leads_days: Option<i32>,
    /// `None` until saved once.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            opt_out_keywords: DEFAULT_OPT_OUT_KEYWORDS.map(str::to_owned).to_vec(),
            opt_out_reply: None,
            retention_messages_days: None,
            retention_media_days: None,
            retention_closed_leads_days: None,
            updated_at: None,
        }
    }
}

/// Input for [`UserTx::privacy_settings_save`]: the whole set (missing JSON fields take the
/// defaults: every keyword list default, no reply, keep everything).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(
    description = "The whole set of privacy settings; missing fields take the defaults \
    (the default keywords, no reply, keep everything). Days are 1 to 3650, or null to keep."
)]
#[serde(default)]
pub struct PrivacySettingsInput {
    pub opt_out_keywords: Vec<String>,
    pub opt_out_reply: Option<String>,
    pub retention_messages_days: Option<i32>,
    pub retention_media_days: Option<i32>,
    pub retention_closed_leads_days: Option<i32>,
}

impl Default for PrivacySettingsInput {
    fn default() -> Self {
        Self {
            opt_out_keywords: DEFAULT_OPT_OUT_KEYWORDS.map(str::to_owned).to_vec(),
            opt_out_reply: None,
            retention_messages_days: None,
            retention_media_days: None,
            retention_closed_leads_days: None,
        }
    }
}

fn days(field: &'static str, value: Option<i32>) -> Result<Option<i32>, StoreError> {
    match value {
        None => Ok(None),
        Some(d) if (1..=RETENTION_DAYS_MAX).contains(&d) => Ok(Some(d)),
        Some(_) => Err(StoreError::invalid(
            field,
            format!("must be 1 to {RETENTION_DAYS_MAX} days, or empty to keep everything"),
        )),
    }
}

const SETTINGS_COLUMNS: &str = "opt_out_keywords, opt_out_reply, retention_messages_days, \
     retention_media_days, retention_closed_leads_days, updated_at";

impl UserTx {
    /// The user's settings, or the defaults when never saved.
    pub async fn privacy_settings(&mut self) -> Result<PrivacySettings, StoreError> {
        let sql =
            format!("SELECT {SETTINGS_COLUMNS} FROM public.privacy_settings WHERE user_id = $1");
        let row: Option<PrivacySettings> = sqlx::query_as(&sql)
            .bind(self.user_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.unwrap_or_default())
    }

    /// Validates and stores the whole set. Changes are audited by the database.
    pub async fn privacy_settings_save(
        &mut self,
        input: PrivacySettingsInput,
    ) -> Result<PrivacySettings, StoreError> {
        let keywords = normalize_keywords(&input.opt_out_keywords)?;
        let reply = match input.opt_out_reply.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(multiline_text("opt_out_reply", text, REPLY_MAX)?),
        };
        let messages = days("retention_messages_days", input.retention_messages_days)?;
        let media = days("retention_media_days", input.retention_media_days)?;
        let leads = days(
            "retention_closed_leads_days",
            input.retention_closed_leads_days,
        )?;
        let sql = format!(
            "INSERT INTO public.privacy_settings AS p (user_id, opt_out_keywords, opt_out_reply, \
               retention_messages_days, retention_media_days, retention_closed_leads_days) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (user_id) DO UPDATE SET \
               opt_out_keywords = EXCLUDED.opt_out_keywords, opt_out_reply = EXCLUDED.opt_out_reply, \
               retention_messages_days = EXCLUDED.retention_messages_days, \
               retention_media_days = EXCLUDED.retention_media_days, \
               retention_closed_leads_days = EXCLUDED.retention_closed_leads_days \
             RETURNING {SETTINGS_COLUMNS}"
        );
        Ok(sqlx::query_as(&sql)
            .bind(self.user_id)
            .bind(&keywords)
            .bind(reply)
            .bind(messages)
            .bind(media)
            .bind(leads)
            .fetch_one(&mut *self.tx)
            .await?)
    }
}
