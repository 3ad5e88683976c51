//! The public, standard endpoints: token, JWKS, discovery.

mod caller;
mod client_auth;
mod discovery;
pub(crate) mod form;
mod introspect;
mod jwks;
pub(crate) mod request;
mod revoke;
pub(crate) mod token;

use axum::{
    Router,
    routing::{get, post},
};

use crate::AppState;

pub(crate) use client_auth::basic_credentials;
pub use request::MAX_BODY_BYTES;

/// The form-encoded OAuth2 endpoints (recorded as events). Their
/// `Cache-Control: no-store` is set where the router stacks their layers.
pub fn oauth2_router() -> Router<AppState> {
    Router::new()
        .route("/oauth2/token", post(token::token).fallback(token::method_not_allowed))
        .route("/oauth2/introspect", post(introspect::introspect).fallback(token::method_not_allowed))
        .route("/oauth2/revoke", post(revoke::revoke).fallback(token::method_not_allowed))
}

/// JWKS and metadata.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route("/.well-known/oauth-authorization-server", get(discovery::metadata))
        .route("/.well-known/openid-configuration", get(discovery::metadata))
}
