//! `GET /healthz` (the process is up) and `GET /readyz` (the database
//! answers, and the instance is not shutting down).

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde_json::{Value, json};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.draining.load(std::sync::atomic::Ordering::Acquire) {
        // Shutting down: the load balancer should send no more.
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "draining" })));
    }
    match state.service.ping().await {
        // Ready whatever the change feed's state: when it is behind, the
        // caches are bypassed (slower, never stale beyond the bound).
        Ok(()) => (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "change_feed_staleness_ms": state.service.change_feed_staleness().map(|s| s.as_millis()),
            })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
            )
        }
    }
}
