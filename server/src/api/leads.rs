//! The lead list with search, filters and sorting, bulk actions, and CSV import.
//!
//! - `GET /api/leads?search=&status=&campaign_id=&has_conversation=&sort=&limit=&before=`: a JSON
//!   array, paged with a `Link: rel="next"` header (`limit` and `before` as in `paging`).
//! - `GET /api/leads/count?…` (the same filters): `{"count": n}`.
//! - `POST /api/leads/bulk` `{"ids": [...] | "all_matching": {filters}, "action": "delete" |
//!   "set_status", "status"?}`: `{"changed": n}`.
//! - `POST /api/leads/import/preview` with the CSV as the body: columns, suggested mapping, rows.
//! - `POST /api/leads/import?default_country=GB&mapping=[…]` with the CSV as the body: the report
//!   (created, updated, merged, each bad row's line and reason). Up to [`IMPORT_LIMIT`] bytes and
//!   100,000 rows; all or nothing (see `store::ImportReport`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;

use super::paging;
use super::{ApiError, ApiJson, ApiUser, ErrorBody};
use crate::state::AppState;

/// Largest CSV file accepted (100,000 rows of a typical lead export is 5 to 10 MB).
pub const IMPORT_LIMIT: usize = 20 * 1024 * 1024;

/// Filters as query parameters (all text, so a bad value is our 422, not axum's 400; the
/// document gives the types they must parse as).
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeadFilterParams {
    /// Matched case-insensitively against name, company and email (and the phone number when
    /// it is mostly digits).
    search: Option<String>,
    #[param(value_type = Option<store::LeadStatus>)]
    status: Option<String>,
    /// Leads in this campaign.
    #[param(value_type = Option<Uuid>)]
    campaign_id: Option<String>,
    /// Leads with (true) or without (false) any WhatsApp message.
    #[param(value_type = Option<bool>)]
    has_conversation: Option<String>,
    /// The order (default `newest`).
    #[param(value_type = Option<store::LeadSort>)]
    sort: Option<String>,
}

fn blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl LeadFilterParams {
    pub fn query(&self) -> Result<store::LeadQuery, ApiError> {
        Ok(store::LeadQuery {
            search: blank(&self.search).map(str::to_owned),
            status: blank(&self.status)
                .map(store::LeadStatus::parse)
                .transpose()?,
            campaign_id: blank(&self.campaign_id)
                .map(|raw| {
                    Uuid::parse_str(raw)
                        .map_err(|_| ApiError::validation("campaign_id", "is not a campaign id"))
                })
                .transpose()?,
            has_conversation: blank(&self.has_conversation)
                .map(|raw| match raw {
                    "true" | "1" | "yes" => Ok(true),
                    "false" | "0" | "no" => Ok(false),
                    _ => Err(ApiError::validation(
                        "has_conversation",
                        "must be true or false",
                    )),
                })
                .transpose()?,
            sort: blank(&self.sort)
                .map(store::LeadSort::parse)
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// The same filters as a query string (for the `Link` header), without the cursor.
    fn echo(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("search", &self.search),
            ("status", &self.status),
            ("campaign_id", &self.campaign_id),
            ("has_conversation", &self.has_conversation),
            ("sort", &self.sort),
        ] {
            if let Some(v) = blank(value) {
                query.append_pair(name, v);
            }
        }
        query.finish()
    }
}

fn params(
    query: Result<Query<LeadFilterParams>, QueryRejection>,
) -> Result<LeadFilterParams, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// `GET /api/leads`.
#[utoipa::path(
    get,
    path = "/leads",
    tag = "leads",
    operation_id = "list_leads",
    summary = "The user's leads, filtered and sorted",
    description = "A page of at most `limit` leads (default 100) matching every filter given.",
    params(LeadFilterParams, paging::BeforePage),
    responses(
        (status = 200, description = "A page of leads", body = [store::Lead],
            headers(("Link" = String, description = "`<…&before=…>; rel=\"next\"` when more follow"))),
        (status = 400, description = "The query string is malformed", body = ErrorBody),
        (status = 422, description = "A filter, `limit` or `before` is not valid; `field` names it", body = ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    user: ApiUser,
    query: Result<Query<LeadFilterParams>, QueryRejection>,
    page: Result<Query<paging::PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = params(query)?;
    let filters = params.query()?;
    let paging::PageRequest { cursor, limit } = paging::PageRequest::parse(page, "before", 100)?;
    let mut tx = state.store.as_user(user.id).await?;
    let page = tx
        .leads_query(&filters, cursor.as_deref(), limit)
        .await
        .map_err(|e| match e {
            // The cursor parameter of this route is `before`.
            store::StoreError::Invalid {
                field: "cursor",
                message,
            } => ApiError::validation("before", message),
            other => other.into(),
        })?;
    tx.commit().await?;
    let echo = params.echo();
    let path = if echo.is_empty() {
        "/api/leads".to_owned()
    } else {
        format!("/api/leads?{echo}")
    };
    Ok(paging::respond(
        &path,
        "before",
        limit,
        page.leads,
        page.next_cursor,
    ))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Count {
    count: i64,
}

/// `GET /api/leads/count`.
#[utoipa::path(
    get,
    path = "/leads/count",
    tag = "leads",
    operation_id = "count_leads",
    summary = "How many leads match the filters",
    params(LeadFilterParams),
    responses(
        (status = 200, description = "The count", body = Count),
        (status = 400, description = "The query string is malformed", body = ErrorBody),
        (status = 422, description = "A filter is not valid; `field` names it", body = ErrorBody),
    ),
)]
pub async fn count(
    State(state): State<AppState>,
    user: ApiUser,
    query: Result<Query<LeadFilterParams>, QueryRejection>,
) -> Result<Json<Count>, ApiError> {
    let filters = params(query)?.query()?;
    let mut tx = state.store.as_user(user.id).await?;
    let count = tx.leads_count(&filters).await?;
    tx.commit().await?;
    Ok(Json(Count { count }))
}

/// One action on many leads: the listed `ids` or `all_matching` a filter (one of the two).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct BulkRequest {
    /// At most 10,000.
    #[serde(default)]
    ids: Option<Vec<Uuid>>,
    /// Every lead matching these filters (at most 10,000).
    #[serde(default)]
    all_matching: Option<store::LeadQuery>,
    /// `delete` or `set_status`.
    #[schema(example = "set_status")]
    action: String,
    /// The new status, for `set_status`.
    #[serde(default)]
    #[schema(value_type = Option<store::LeadStatus>)]
    status: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BulkResult {
    /// Leads deleted or changed.
    changed: u64,
}

/// `POST /api/leads/bulk`.
#[utoipa::path(
    post,
    path = "/leads/bulk",
    tag = "leads",
    operation_id = "bulk_leads",
    summary = "Delete many leads, or set their status",
    request_body = BulkRequest,
    responses(
        (status = 200, description = "How many leads changed (ids that are not the user's are skipped)", body = BulkResult),
        (status = 422, description = "Not valid: `action`, `status`, both or neither of `ids` and `all_matching`, or over 10,000 leads", body = ErrorBody),
    ),
)]
pub async fn bulk(
    State(state): State<AppState>,
    user: ApiUser,
    ApiJson(request): ApiJson<BulkRequest>,
) -> Result<Json<BulkResult>, ApiError> {
    let action = match request.action.as_str() {
        "delete" => store::BulkAction::Delete,
        "set_status" => store::BulkAction::SetStatus(store::LeadStatus::parse(
            request.status.as_deref().unwrap_or(""),
        )?),
        _ => {
            return Err(ApiError::validation(
                "action",
                "must be delete or set_status",
            ));
        }
    };
    let mut tx = state.store.as_user(user.id).await?;
    let ids = match (request.ids, request.all_matching) {
        (Some(ids), None) => ids,
        (None, Some(query)) => {
            let ids = tx.lead_ids_matching(&query).await?;
            if ids.len() > store::BULK_MAX {
                return Err(ApiError::validation(
                    "all_matching",
                    "matches more than 10,000 leads; narrow the filter",
                ));
            }
            ids
        }
        _ => {
            return Err(ApiError::validation(
                "ids",
                "give either ids or all_matching",
            ));
        }
    };
    let changed = tx.leads_bulk(&ids, action).await?;
    tx.commit().await?;
    Ok(Json(BulkResult { changed }))
}

fn csv_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::FileTooLarge("the file is larger than 20 MiB; split it".into())
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })?;
    if body.is_empty() {
        return Err(ApiError::validation("file", "is empty"));
    }
    Ok(body)
}

/// `POST /api/leads/import/preview`.
#[utoipa::path(
    post,
    path = "/leads/import/preview",
    tag = "leads",
    operation_id = "preview_lead_import",
    summary = "Read a CSV file's columns and suggest where each goes",
    description = "Nothing is stored. The body is the CSV file itself (any content type; UTF-8, \
        with a header row), up to 20 MiB.",
    request_body(content = String, content_type = "text/csv", description = "The CSV file"),
    responses(
        (status = 200, description = "Columns, suggested targets, the first rows and the row count", body = store::ImportPreview),
        (status = 400, description = "The body could not be read", body = ErrorBody),
        (status = 413, description = "The file is larger than 20 MiB", body = ErrorBody),
        (status = 422, description = "The file is empty or not a CSV we can read; `field` says what", body = ErrorBody),
    ),
)]
pub async fn import_preview(
    _user: ApiUser,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<store::ImportPreview>, ApiError> {
    let body = csv_body(body)?;
    Ok(Json(store::import_preview(&body)?))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// ISO 3166 two-letter code (`GB`) for numbers written without their country code.
    default_country: Option<String>,
    /// A JSON array of column targets (`ColumnTarget`), one per column in the file's order;
    /// missing ones take the suggestion, e.g. `[{"to":"name"},{"to":"phone"},{"to":"ignore"}]`.
    mapping: Option<String>,
}

/// `POST /api/leads/import`.
#[utoipa::path(
    post,
    path = "/leads/import",
    tag = "leads",
    operation_id = "import_leads",
    summary = "Import leads from a CSV file",
    description = "All or nothing, in one transaction: rows with a number the user has already \
        update that lead, rows with the same number merge, bad rows are reported and skipped. \
        A refusal of the whole file (no phone column, the lead quota) writes nothing. Up to 20 MiB \
        and 100,000 rows.",
    params(ImportParams),
    request_body(content = String, content_type = "text/csv", description = "The CSV file"),
    responses(
        (status = 200, description = "What the import did, with each bad row's line and reason", body = store::ImportReport),
        (status = 400, description = "The body or the query string could not be read", body = ErrorBody),
        (status = 409, description = "The lead quota would be exceeded; nothing was written", body = ErrorBody),
        (status = 413, description = "The file is larger than 20 MiB", body = ErrorBody),
        (status = 422, description = "The file is empty, over 100,000 rows or has no phone column, or `mapping` / `default_country` is not valid", body = ErrorBody),
    ),
)]
pub async fn import(
    State(state): State<AppState>,
    user: ApiUser,
    query: Result<Query<ImportParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<store::ImportReport>, ApiError> {
    let Query(params) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let body = csv_body(body)?;
    let mapping = match blank(&params.mapping) {
        None => Vec::new(),
        Some(raw) => serde_json::from_str(raw).map_err(|e| {
            ApiError::validation(
                "mapping",
                format!("must be a JSON array of column targets: {e}"),
            )
        })?,
    };
    let options = store::ImportOptions {
        mapping,
        default_country: params.default_country,
    };
    let mut tx = state.store.as_user(user.id).await?;
    let report = tx.leads_import(&body, &options).await?;
    tx.commit().await?;
    Ok(Json(report))
}
