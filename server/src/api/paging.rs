//! Paging of the lists that used to answer everything at once (leads, templates, conversations):
//! the body stays a JSON array (so existing clients keep working) of at most `limit` items
//! (1 to 200, default 100 — conversations 50), and when more follow, a `Link: <…>; rel="next"`
//! header (RFC 8288) gives the URL of the next page. Cursors are opaque.

use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde::{Deserialize, Serialize};

use super::ApiError;

#[derive(Deserialize)]
pub struct PageQuery {
    /// The cursor of the previous page (`before` for lists ordered newest first, `after` for
    /// lists ordered by name).
    before: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// `?limit=&before=` of a list ordered newest first, for the OpenAPI document (the handler reads
/// [`PageQuery`], whose fields are all text so a bad value is our 422).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Describes the query string; never built.
pub struct BeforePage {
    /// Items per page, 1 to 200 (default 100; conversations 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The cursor of the next page, as the previous page's `Link` header gives it (opaque; a
    /// malformed one is 422).
    before: Option<String>,
}

/// `?limit=&after=` of a list ordered by name (see [`BeforePage`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Describes the query string; never built.
pub struct AfterPage {
    /// Items per page, 1 to 200 (default 100).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The cursor of the next page, as the previous page's `Link` header gives it (opaque; a
    /// malformed one is 422).
    after: Option<String>,
}

/// A validated page request.
pub struct PageRequest {
    pub cursor: Option<String>,
    pub limit: i64,
}

impl PageRequest {
    /// `?limit=` (1 to 200) and the cursor parameter `cursor_name`; anything else is a 4xx.
    pub fn parse(
        query: Result<Query<PageQuery>, QueryRejection>,
        cursor_name: &'static str,
        default_limit: i64,
    ) -> Result<Self, ApiError> {
        let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let limit = match query.limit.as_deref() {
            None => default_limit,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=200).contains(n))
                .ok_or_else(|| {
                    ApiError::validation("limit", "must be a whole number from 1 to 200")
                })?,
        };
        let cursor = match cursor_name {
            "after" => query.after,
            _ => query.before,
        };
        Ok(Self { cursor, limit })
    }
}

/// The page as a JSON array, with a `Link` header to the next page when there is one.
pub fn respond<T: Serialize>(
    path: &str,
    cursor_name: &str,
    limit: i64,
    items: Vec<T>,
    next_cursor: Option<String>,
) -> Response {
    let mut response = Json(items).into_response();
    if let Some(cursor) = next_cursor {
        // Cursors are hex digits, so they need no escaping.
        let sep = if path.contains('?') { '&' } else { '?' };
        let link = format!("<{path}{sep}limit={limit}&{cursor_name}={cursor}>; rel=\"next\"");
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}
