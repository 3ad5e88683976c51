//! `GET /.well-known/jwks.json`: the public signing keys (RFC 7517 §5).

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use crate::AppState;

pub async fn jwks(State(state): State<AppState>) -> Response {
    let keys = state.service.keys();
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
