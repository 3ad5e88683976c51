//! Authorization server metadata (RFC 8414), also served at the OpenID
//! Connect discovery path for clients that only look there.

use axum::{Json, extract::State, response::IntoResponse};
use serde::Serialize;

use crate::{AppState, error::OAuthError};

#[derive(Serialize)]
struct Metadata {
    issuer: String,
    token_endpoint: String,
    jwks_uri: String,
    // RFC 8414 §2: the defaults would claim authorization_code and implicit.
    grant_types_supported: [&'static str; 1],
    token_endpoint_auth_methods_supported: [&'static str; 2],
    introspection_endpoint: String,
    /// RFC 8414 §2; also a bearer token of this server, with `tokens:introspect`.
    introspection_endpoint_auth_methods_supported: [&'static str; 2],
    revocation_endpoint: String,
    revocation_endpoint_auth_methods_supported: [&'static str; 2],
    /// RFC 8414 §3.2: empty arrays are omitted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
}

pub async fn metadata(State(state): State<AppState>) -> Result<impl IntoResponse, OAuthError> {
    let issuer = state.service.config().issuer.clone();
    let base = issuer.trim_end_matches('/');
    let scopes = state.service.permissions().await.map_err(OAuthError::Internal)?;
    Ok(Json(Metadata {
        token_endpoint: format!("{base}/oauth2/token"),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        grant_types_supported: ["client_credentials"],
        token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
        introspection_endpoint: format!("{base}/oauth2/introspect"),
        introspection_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
        revocation_endpoint: format!("{base}/oauth2/revoke"),
        revocation_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
        scopes_supported: scopes.into_iter().map(|p| p.name.to_string()).collect(),
        issuer,
    }))
}
