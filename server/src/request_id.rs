//! A request id on every request: taken from `X-Request-Id` when a proxy set a sane one (up to 64
//! letters, digits, `-`, `_`, `.`), otherwise a fresh UUID. It is echoed in the response and is a
//! field of the request's log span, so every log line written while serving the request carries it.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderName, HeaderValue};

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id (also in the `X-Request-Id` request header once this middleware ran).
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = match request.headers().get(&HEADER) {
        Some(value) if acceptable(value) => value.clone(),
        _ => {
            let fresh = uuid::Uuid::new_v4().to_string();
            // A UUID is always a valid header value.
            HeaderValue::from_str(&fresh).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
        }
    };
    request.headers_mut().insert(HEADER, id.clone());
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    response.headers_mut().insert(HEADER, id);
    response
}

/// The span every request's log lines belong to (used by the router's `TraceLayer`).
pub fn span<B>(request: &http::Request<B>) -> tracing::Span {
    let id = request
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_are_taken_over() {
        assert!(acceptable(&HeaderValue::from_static("abc-123_x.y")));
        assert!(!acceptable(&HeaderValue::from_static("")));
        assert!(!acceptable(&HeaderValue::from_static("a b")));
        assert!(!acceptable(&HeaderValue::from_static("x\"}{")));
        assert!(!acceptable(
            &HeaderValue::from_str(&"a".repeat(65)).unwrap()
        ));
    }
}
