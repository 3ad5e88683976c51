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
    modifiers(&BearerAuth, &StandardErrors),
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

/// What every operation of the admin API may answer besides its own
/// answers, and the media type of every problem: `application/problem+json`
/// (RFC 9457), as the server sends it.
struct StandardErrors;

const STANDARD_ERRORS: [(&str, &str); 5] = [
    ("400", "A malformed path id, query, header or body"),
    ("401", "No usable credentials (`Authorization: Bearer …`, or a session cookie)"),
    ("408", "The body did not arrive whole within the body-read timeout"),
    ("413", "A body over 64 KiB"),
    ("429", "Too many failed authentications from this address; `Retry-After` says when to try again"),
];

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let problem = || {
            ContentBuilder::new().schema(Some(RefOr::Ref(Ref::from_schema_name("ProblemDetails")))).build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                for response in operation.responses.responses.values_mut() {
                    let RefOr::T(response) = response else { continue };
                    let is_problem = response.content.get("application/json").is_some_and(|c| {
                        matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/ProblemDetails"))
                    });
                    if is_problem && let Some(content) = response.content.shift_remove("application/json") {
                        response.content.insert("application/problem+json".to_owned(), content);
                    }
                }
                for (status, description) in STANDARD_ERRORS {
                    operation.responses.responses.entry(status.to_owned()).or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new()
                                .description(description)
                                .content("application/problem+json", problem())
                                .build(),
                        )
                    });
                }
            }
        }
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
