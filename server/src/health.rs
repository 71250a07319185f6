//! Probes: `/healthz` says the process is alive, `/readyz` that the database answers and the
//! migrations this binary expects are applied (so load balancers hold traffic until then).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::state::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.readiness().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        // The cause goes to the log only: it can name database internals (schema, migrations,
        // connection errors) that the public has no business seeing.
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
        }
    }
}
