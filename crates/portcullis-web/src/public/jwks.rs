//! `GET /.well-known/jwks.json`: the public signing keys (RFC 7517 §5).

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use crate::AppState;

pub async fn jwks(State(state): State<AppState>) -> Response {
    // Follows rotations by the CLI or another instance; falls back to the
    // keys in memory if the database cannot be asked.
    let keys = state.service.current_keys().await.unwrap_or_else(|_| state.service.keys());
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            // Short, so that a rotated-in key is seen soon by resource servers.
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
        ],
        keys.jwks_json().to_owned(),
    )
        .into_response()
}
