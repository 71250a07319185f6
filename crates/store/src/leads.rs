//! Leads, as seen by the user of a [`UserTx`]. No query filters by user: RLS does, so a missing
//! WHERE clause cannot leak another tenant's rows.

use crate::conversations::{Cursor, PAGE_MAX, PAGE_MIN};
use crate::domain::{LeadStatus, PhoneE164, normalize_email, optional_text, required_text};
use crate::records::{Lead, LeadPatch, NewLead, ValidLead};
use crate::{StoreError, UserTx};
use uuid::Uuid;

const LEAD_COLUMNS: &str =
    "id, user_id, name, phone, company, email, status, source, campaign, created_at, updated_at";

/// Leads per page when the caller does not say; pages hold 1 to [`crate::conversations::PAGE_MAX`].
pub const LEADS_PAGE_DEFAULT: i64 = 100;

/// One page of [`UserTx::leads_page`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LeadPage {
    pub leads: Vec<Lead>,
    /// Pass as `before` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

pub(crate) const NAME_MAX: usize = 200;
const COMPANY_MAX: usize = 200;
const SOURCE_MAX: usize = 100;
const CAMPAIGN_MAX: usize = 100;

fn optional_email(input: Option<&str>) -> Result<Option<String>, StoreError> {
    match input.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => normalize_email(value).map(Some),
    }
}

impl NewLead {
    fn validate(&self) -> Result<ValidLead, StoreError> {
        Ok(ValidLead {
            name: required_text("name", &self.name, NAME_MAX)?,
            phone: PhoneE164::parse(&self.phone)?,
            company: optional_text("company", self.company.as_deref(), COMPANY_MAX)?,
            email: optional_email(self.email.as_deref())?,
            status: self.status.unwrap_or_default(),
            source: optional_text("source", self.source.as_deref(), SOURCE_MAX)?,
            campaign: optional_text("campaign", self.campaign.as_deref(), CAMPAIGN_MAX)?,
        })
    }
}

/// For an optional text field of a patch: `None` = keep, `Some(None)` = clear, `Some(Some(v))` = set.
type Change = Option<Option<String>>;

fn change(field: &'static str, input: Option<&str>, max: usize) -> Result<Change, StoreError> {
    input
        .map(|v| optional_text(field, Some(v), max))
        .transpose()
}

impl UserTx {
    /// The first page of the user's leads, newest first ([`LEADS_PAGE_DEFAULT`] of them).
    pub async fn leads_list(&mut self) -> Result<Vec<Lead>, StoreError> {
        Ok(self.leads_page(None, LEADS_PAGE_DEFAULT).await?.leads)
    }

    /// The user's leads, newest first, `limit` (clamped to 1..=200) at a time; `before` is the
    /// previous page's `next_cursor` (a malformed one is [`StoreError::Invalid`]).
    pub async fn leads_page(
        &mut self,
        before: Option<&str>,
        limit: i64,
    ) -> Result<LeadPage, StoreError> {
        let before = before.map(Cursor::decode).transpose()?;
        let limit = limit.clamp(PAGE_MIN, PAGE_MAX);
        let sql = format!(
            "SELECT {LEAD_COLUMNS} FROM public.leads \
             WHERE $2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid) \
             ORDER BY created_at DESC, id DESC LIMIT $1"
        );
        let mut leads: Vec<Lead> = sqlx::query_as(&sql)
            .bind(limit + 1)
            .bind(before.map(Cursor::created_at))
            .bind(before.map(Cursor::id))
            .fetch_all(&mut *self.tx)
            .await?;
        let more = leads.len() as i64 > limit;
        leads.truncate(limit as usize);
        let next_cursor = if more {
            leads
                .last()
                .map(|l| Cursor::new(l.created_at, l.id).encode())
        } else {
            None
        };
        Ok(LeadPage { leads, next_cursor })
    }

    /// One lead; [`StoreError::NotFound`] if it does not exist or belongs to someone else.
    pub async fn lead_get(&mut self, id: Uuid) -> Result<Lead, StoreError> {
        let sql = format!("SELECT {LEAD_COLUMNS} FROM public.leads WHERE id = $1");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_one(&mut *self.tx)
            .await?)
    }

    /// Creates a lead. A phone number this user already has is [`StoreError::Conflict`].
    pub async fn lead_create(&mut self, new: NewLead) -> Result<Lead, StoreError> {
        let lead = new.validate()?;
        let sql = format!(
            "INSERT INTO public.leads (user_id, name, phone, company, email, status, source, campaign) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {LEAD_COLUMNS}"
        );
        Ok(sqlx::query_as(&sql)
            .bind(self.user_id)
            .bind(lead.name)
            .bind(lead.phone.as_str())
            .bind(lead.company)
            .bind(lead.email)
            .bind(lead.status.as_str())
            .bind(lead.source)
            .bind(lead.campaign)
            .fetch_one(&mut *self.tx)
            .await?)
    }

    /// Applies a patch; [`StoreError::NotFound`] if the lead is not this user's.
    pub async fn lead_update(&mut self, id: Uuid, patch: LeadPatch) -> Result<Lead, StoreError> {
        let name = patch
            .name
            .as_deref()
            .map(|n| required_text("name", n, NAME_MAX))
            .transpose()?;
        let phone = patch.phone.as_deref().map(PhoneE164::parse).transpose()?;
        let company = change("company", patch.company.as_deref(), COMPANY_MAX)?;
        let email: Change = patch
            .email
            .as_deref()
            .map(|e| optional_email(Some(e)))
            .transpose()?;
        let source = change("source", patch.source.as_deref(), SOURCE_MAX)?;
        let campaign = change("campaign", patch.campaign.as_deref(), CAMPAIGN_MAX)?;
        let status = patch.status.map(LeadStatus::as_str);

        // For each optional field: a flag "change it" and the new value (possibly NULL).
        let sql = format!(
            "UPDATE public.leads SET \
               name = coalesce($2, name), \
               phone = coalesce($3, phone), \
               company = CASE WHEN $4 THEN $5 ELSE company END, \
               email = CASE WHEN $6 THEN $7 ELSE email END, \
               source = CASE WHEN $8 THEN $9 ELSE source END, \
               campaign = CASE WHEN $10 THEN $11 ELSE campaign END, \
               status = coalesce($12, status) \
             WHERE id = $1 RETURNING {LEAD_COLUMNS}"
        );
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .bind(name)
            .bind(phone.as_ref().map(PhoneE164::as_str))
            .bind(company.is_some())
            .bind(company.flatten())
            .bind(email.is_some())
            .bind(email.flatten())
            .bind(source.is_some())
            .bind(source.flatten())
            .bind(campaign.is_some())
            .bind(campaign.flatten())
            .bind(status)
            .fetch_one(&mut *self.tx)
            .await?)
    }

    /// Deletes a lead; [`StoreError::NotFound`] if it is not this user's.
    pub async fn lead_delete(&mut self, id: Uuid) -> Result<(), StoreError> {
        let result = sqlx::query("DELETE FROM public.leads WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
