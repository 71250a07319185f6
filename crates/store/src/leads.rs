//! Leads, as seen by the user of a [`UserTx`]. No query filters by user: RLS does, so a missing
//! WHERE clause cannot leak another tenant's rows.

use crate::conversations::{PAGE_MAX, PAGE_MIN};
use crate::domain::{LeadStatus, PhoneE164, normalize_email, optional_text, required_text};
use crate::records::{Lead, LeadPatch, NewLead, ValidLead};
use crate::{StoreError, UserTx};
use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

/// A lead's columns as [`Lead`] reads them. On our own table each expression is the column itself
/// (its constraints guarantee it); on a host's adopted table (see `adopt`) a row the host wrote
/// may have no name or phone, a status of the host's own, or no `updated_at` yet: it is read as
/// `''`, `new` and its `created_at`, and left as it is in the table.
pub(crate) const LEAD_COLUMNS: &str = "id, user_id, coalesce(name, '') AS name, coalesce(phone, '') AS phone, \
     company, email, \
     CASE WHEN status IN ('new', 'contacted', 'qualified', 'won', 'lost') THEN status ELSE 'new' END AS status, \
     source, campaign, fields, wa_lid, created_at, coalesce(updated_at, created_at) AS updated_at";

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

/// The most leads one bulk action takes.
pub const BULK_MAX: usize = 10_000;

/// What a bulk action does to each selected lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkAction {
    Delete,
    SetStatus(LeadStatus),
}

/// The order of a lead list.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LeadSort {
    /// Newest first (the default).
    #[default]
    Newest,
    Oldest,
    /// By name, A to Z (case-insensitive).
    Name,
    /// By name, Z to A.
    NameDesc,
    /// Most recently changed first.
    Updated,
}

impl LeadSort {
    pub const ALL: [LeadSort; 5] = [
        LeadSort::Newest,
        LeadSort::Oldest,
        LeadSort::Name,
        LeadSort::NameDesc,
        LeadSort::Updated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadSort::Newest => "newest",
            LeadSort::Oldest => "oldest",
            LeadSort::Name => "name",
            LeadSort::NameDesc => "name_desc",
            LeadSort::Updated => "updated",
        }
    }

    pub fn parse(input: &str) -> Result<LeadSort, StoreError> {
        LeadSort::ALL
            .into_iter()
            .find(|s| s.as_str() == input.trim())
            .ok_or_else(|| {
                StoreError::invalid(
                    "sort",
                    "must be one of newest, oldest, name, name_desc, updated",
                )
            })
    }

    fn order_by(self) -> &'static str {
        match self {
            LeadSort::Newest => "l.created_at DESC, l.id DESC",
            LeadSort::Oldest => "l.created_at ASC, l.id ASC",
            LeadSort::Name => "lower(l.name) ASC, l.id ASC",
            LeadSort::NameDesc => "lower(l.name) DESC, l.id DESC",
            LeadSort::Updated => "l.updated_at DESC, l.id DESC",
        }
    }
}

/// Which leads a list shows. Every part is optional; all given parts must match.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(default)]
pub struct LeadQuery {
    /// Matched (case-insensitively, anywhere) against name, company and email; when it is mostly
    /// digits, also against the phone number.
    pub search: Option<String>,
    pub status: Option<LeadStatus>,
    /// Leads in this campaign.
    pub campaign_id: Option<Uuid>,
    /// Leads with (true) or without (false) any WhatsApp message.
    pub has_conversation: Option<bool>,
    pub sort: LeadSort,
}

const SEARCH_MAX: usize = 200;
/// The most leads a campaign segment (or "select all") may hold.
pub const SEGMENT_MAX: usize = 100_000;

/// `%`, `_` and `\` match themselves in a search.
fn like_pattern(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + 2);
    out.push('%');
    for c in input.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl LeadQuery {
    fn push_filters(&self, sql: &mut QueryBuilder<'_, Postgres>) -> Result<(), StoreError> {
        sql.push("true");
        if let Some(search) = self
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            if search.chars().count() > SEARCH_MAX {
                return Err(StoreError::invalid(
                    "search",
                    "must be at most 200 characters",
                ));
            }
            let pattern = like_pattern(search);
            sql.push(" AND (l.name ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR l.company ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR l.email ILIKE ")
                .push_bind(pattern);
            let digits: String = search.chars().filter(char::is_ascii_digit).collect();
            let visible = search.chars().filter(|c| !c.is_whitespace()).count();
            if digits.len() >= 3 && digits.len() * 2 >= visible {
                sql.push(" OR l.phone LIKE ")
                    .push_bind(format!("%{digits}%"));
            }
            sql.push(")");
        }
        if let Some(status) = self.status {
            sql.push(" AND l.status = ").push_bind(status.as_str());
        }
        if let Some(campaign) = self.campaign_id {
            sql.push(
                " AND EXISTS (SELECT 1 FROM public.campaign_leads cl \
                 WHERE cl.lead_id = l.id AND cl.campaign_id = ",
            )
            .push_bind(campaign)
            .push(")");
        }
        if let Some(has) = self.has_conversation {
            sql.push(if has { " AND " } else { " AND NOT " })
                .push("EXISTS (SELECT 1 FROM public.whatsapp_messages m WHERE m.lead_id = l.id)");
        }
        Ok(())
    }
}

impl LeadSort {
    /// "After the cursor" in this order, as a row comparison the sort's index serves.
    fn push_after(self, sql: &mut QueryBuilder<'_, Postgres>, cursor: LeadCursor) {
        let (column, cmp) = match self {
            LeadSort::Newest => ("l.created_at", "<"),
            LeadSort::Oldest => ("l.created_at", ">"),
            LeadSort::Updated => ("l.updated_at", "<"),
            LeadSort::Name => ("lower(l.name)", ">"),
            LeadSort::NameDesc => ("lower(l.name)", "<"),
        };
        sql.push(format!(" AND ({column}, l.id) {cmp} ("));
        match cursor.key {
            CursorKey::Time(at) => sql.push_bind(at),
            CursorKey::Text(name) => sql.push_bind(name),
        };
        sql.push(", ").push_bind(cursor.id).push(")");
    }
}

enum CursorKey {
    Time(DateTime<Utc>),
    Text(String),
}

/// Where a page ended: the last row's sort key and id, hex-encoded; its first byte says which
/// kind of key it holds, so a cursor of another order is refused rather than misread.
struct LeadCursor {
    key: CursorKey,
    id: Uuid,
}

impl LeadCursor {
    fn of(lead: &Lead, sort: LeadSort) -> LeadCursor {
        let key = match sort {
            LeadSort::Newest | LeadSort::Oldest => CursorKey::Time(lead.created_at),
            LeadSort::Updated => CursorKey::Time(lead.updated_at),
            LeadSort::Name | LeadSort::NameDesc => CursorKey::Text(lead.name.to_lowercase()),
        };
        LeadCursor { key, id: lead.id }
    }

    fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(32);
        match &self.key {
            CursorKey::Time(at) => {
                bytes.push(0);
                bytes.extend_from_slice(&at.timestamp_micros().to_be_bytes());
            }
            CursorKey::Text(text) => {
                bytes.push(1);
                bytes.extend_from_slice(text.as_bytes());
            }
        }
        bytes.extend_from_slice(self.id.as_bytes());
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn decode(input: &str, sort: LeadSort) -> Result<LeadCursor, StoreError> {
        let bad = || StoreError::invalid("cursor", "is not a cursor this list returned");
        if !input.len().is_multiple_of(2) || input.len() > 2048 || !input.is_ascii() {
            return Err(bad());
        }
        let bytes = (0..input.len() / 2)
            .map(|i| u8::from_str_radix(&input[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad())?;
        if bytes.len() < 18 {
            return Err(bad());
        }
        let (head, id) = bytes.split_at(bytes.len() - 16);
        let id = Uuid::from_slice(id).map_err(|_| bad())?;
        let key = match (head[0], sort) {
            (0, LeadSort::Newest | LeadSort::Oldest | LeadSort::Updated) => {
                let micros: [u8; 8] = head[1..].try_into().map_err(|_| bad())?;
                CursorKey::Time(
                    DateTime::from_timestamp_micros(i64::from_be_bytes(micros)).ok_or_else(bad)?,
                )
            }
            (1, LeadSort::Name | LeadSort::NameDesc) => {
                CursorKey::Text(String::from_utf8(head[1..].to_vec()).map_err(|_| bad())?)
            }
            _ => return Err(bad()),
        };
        Ok(LeadCursor { key, id })
    }
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
        self.leads_query(&LeadQuery::default(), before, limit).await
    }

    /// The user's leads matching `query`, in its order, `limit` (clamped to 1..=200) at a time;
    /// `cursor` is the previous page's `next_cursor` for the same query (one from another sort
    /// order, or malformed, is [`StoreError::Invalid`]). Every order is served by an index, so a
    /// page costs the same at the 100,000th lead as at the first.
    pub async fn leads_query(
        &mut self,
        query: &LeadQuery,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<LeadPage, StoreError> {
        let sort = query.sort;
        let cursor = cursor.map(|c| LeadCursor::decode(c, sort)).transpose()?;
        let limit = limit.clamp(PAGE_MIN, PAGE_MAX);
        let mut sql = QueryBuilder::<Postgres>::new("SELECT ");
        sql.push(LEAD_COLUMNS).push(" FROM public.leads l WHERE ");
        query.push_filters(&mut sql)?;
        if let Some(cursor) = cursor {
            sort.push_after(&mut sql, cursor);
        }
        sql.push(" ORDER BY ")
            .push(sort.order_by())
            .push(" LIMIT ")
            .push_bind(limit + 1);
        let mut leads: Vec<Lead> = sql.build_query_as().fetch_all(&mut *self.tx).await?;
        let more = leads.len() as i64 > limit;
        leads.truncate(limit as usize);
        let next_cursor = if more {
            leads.last().map(|l| LeadCursor::of(l, sort).encode())
        } else {
            None
        };
        Ok(LeadPage { leads, next_cursor })
    }

    /// How many of the user's leads match `query` (its sort order is irrelevant).
    pub async fn leads_count(&mut self, query: &LeadQuery) -> Result<i64, StoreError> {
        let mut sql = QueryBuilder::<Postgres>::new("SELECT count(*) FROM public.leads l WHERE ");
        query.push_filters(&mut sql)?;
        Ok(sql.build_query_scalar().fetch_one(&mut *self.tx).await?)
    }

    /// The ids of every lead matching `query`, in its order (at most [`SEGMENT_MAX`]): "select
    /// all" in the list, and a campaign's saved-filter segment.
    pub async fn lead_ids_matching(&mut self, query: &LeadQuery) -> Result<Vec<Uuid>, StoreError> {
        let mut sql = QueryBuilder::<Postgres>::new("SELECT l.id FROM public.leads l WHERE ");
        query.push_filters(&mut sql)?;
        sql.push(" ORDER BY ")
            .push(query.sort.order_by())
            .push(" LIMIT ")
            .push_bind(SEGMENT_MAX as i64 + 1);
        let ids: Vec<Uuid> = sql.build_query_scalar().fetch_all(&mut *self.tx).await?;
        if ids.len() > SEGMENT_MAX {
            return Err(StoreError::invalid(
                "segment",
                "matches more than 100,000 leads; narrow the filter",
            ));
        }
        Ok(ids)
    }

    /// Applies `action` to the listed leads (at most [`BULK_MAX`]); ids that are not the user's
    /// are ignored. Returns how many leads changed.
    pub async fn leads_bulk(
        &mut self,
        ids: &[Uuid],
        action: BulkAction,
    ) -> Result<u64, StoreError> {
        if ids.len() > BULK_MAX {
            return Err(StoreError::invalid("ids", "at most 10,000 leads at once"));
        }
        let result = match action {
            BulkAction::Delete => {
                sqlx::query("DELETE FROM public.leads WHERE id = ANY($1)")
                    .bind(ids)
                    .execute(&mut *self.tx)
                    .await?
            }
            BulkAction::SetStatus(status) => {
                sqlx::query(
                    "UPDATE public.leads SET status = $2 WHERE id = ANY($1) AND status <> $2",
                )
                .bind(ids)
                .bind(status.as_str())
                .execute(&mut *self.tx)
                .await?
            }
        };
        Ok(result.rows_affected())
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
