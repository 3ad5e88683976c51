//! The admin REST API under `/api/v1`, described by an OpenAPI 3.1
//! document generated from these handlers (`/api/v1/openapi.json`).

pub(crate) mod auth;
pub mod clients;
pub mod events;
pub(crate) mod json;
mod keys;
pub mod me;
pub(crate) mod precondition;
pub(crate) mod problem;
pub(crate) mod required;
pub mod roles;
pub(crate) mod session_cookie;
pub mod users;

use axum::{
    Router,
    http::{HeaderValue, header},
    response::IntoResponse,
    routing::get,
};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};

pub use auth::Caller;
pub use problem::{Problem, ProblemDetails};

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Portcullis admin API", description = "Manage the API clients of a Portcullis authorization server. \
        Authenticate with `Authorization: Bearer <access token from this server>`; each operation needs the permission named in its security requirement \
        (else 403 `urn:portcullis:problem:insufficient-scope`). No escalation: an operation that creates, assigns, edits or acts with \
        a role's permissions (a client's or user's role, a role's permission set, a secret, a token, a password) also needs every one of them \
        (else 403 `urn:portcullis:problem:escalation`, listing `missing_permissions`)."),
    paths(clients::create, clients::list, clients::read, clients::update, clients::remove, clients::regenerate_secret, clients::issue_token,
        clients::revoke_tokens, clients::bulk::bulk_clients, keys::list, keys::rotate, keys::revoke, roles::list_permissions, roles::create_permission, roles::update_permission,
        roles::delete_permission, roles::list_roles, roles::create_role, roles::read_role, roles::update_role, roles::delete_role,
        roles::client_permissions, users::create, users::list, users::read, users::update, users::remove, users::revoke_token,
        me::sign_in, me::sign_out, me::me, me::rotate_token, me::read_token, me::revoke_token,
        events::list, events::list_for_client, events::read),
    modifiers(&BearerAuth),
    tags((name = "clients", description = "API clients"), (name = "keys", description = "Token signing keys"), (name = "roles", description = "Roles and permissions"), (name = "users", description = "Console users"), (name = "session", description = "Sign-in, the caller, and its personal access token"), (name = "events", description = "Request and audit events"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The OpenAPI document, as served and as committed in `docs/openapi.json`.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|_| String::from("{}"))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json())
}

pub fn router() -> Router<AppState> {
    let api = Router::new()
        .merge(clients::router())
        .merge(keys::router())
        .merge(roles::router())
        .merge(users::router())
        .merge(me::router())
        .merge(events::router())
        .route("/openapi.json", get(openapi))
        .fallback(|| async { Problem::not_found("no such admin API endpoint") })
        // Admin answers carry secrets and private data: never cached.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    Router::new().nest("/api/v1", api)
}
