//! The public, standard endpoints: token, JWKS, discovery.

mod caller;
mod client_auth;
mod discovery;
mod form;
mod introspect;
mod jwks;
mod request;
mod revoke;
mod token;

use axum::{
    Router,
    routing::{get, post},
};

use crate::AppState;

pub use request::MAX_BODY_BYTES;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth2/token", post(token::token).fallback(token::method_not_allowed))
        .route("/oauth2/introspect", post(introspect::introspect).fallback(token::method_not_allowed))
        .route("/oauth2/revoke", post(revoke::revoke).fallback(token::method_not_allowed))
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route("/.well-known/oauth-authorization-server", get(discovery::metadata))
        .route("/.well-known/openid-configuration", get(discovery::metadata))
}
