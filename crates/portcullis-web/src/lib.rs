//! Portcullis over HTTP: thin axum adapters over the service layer.
//! Public (standard OAuth2) routes and operational routes are separate
//! routers, merged here.

pub mod api;
mod app;
pub mod console;
mod error;
mod graphiql;
pub mod graphql;
mod guard;
mod health;
pub mod metrics;
mod panic;
mod public;
pub mod recording;
pub mod redact;
pub mod shown;
pub mod throttle;
pub mod tls;

/// Entry points for the fuzz targets in `fuzz/` (docs/fuzzing.md): the
/// parsers and redactors as the endpoints call them; not an API.
#[doc(hidden)]
pub mod fuzzing {
    use async_graphql::parser::types::ExecutableDocument;
    use axum::http::{HeaderMap, Uri};

    use crate::OAuthError;

    pub use crate::graphql::limits::MAX_NESTING;
    pub use crate::graphql::text::{nesting, string_literal_len};
    pub use crate::public::form::{FormError, decode_component, parse as parse_form};
    pub use crate::redact::{body as redact_body, form_body as redact_form_body};

    /// `client_secret_basic`: the id and secret of an `Authorization: Basic` header.
    pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
        crate::public::basic_credentials(headers)
    }

    /// What `POST /oauth2/token` reads of a request whose body has arrived:
    /// its parameters, then the client's credentials.
    #[allow(clippy::type_complexity)]
    pub fn token_request(
        headers: &HeaderMap,
        uri: &Uri,
        body: &[u8],
    ) -> Result<(crate::public::request::Params, Option<(String, String)>), OAuthError> {
        let params = crate::public::request::check_form(headers, uri, body, &crate::public::token::KNOWN)?;
        let credentials = crate::public::request::client_credentials(headers, &params)?;
        Ok((params, credentials))
    }

    /// A GraphQL document as it is stored, and the variables bound to
    /// credential arguments.
    pub fn redact_graphql(document: &str) -> (String, Vec<String>) {
        crate::redact::graphql::scrub(document)
    }

    /// Whether a field or argument of this name holds a credential.
    pub fn is_sensitive(name: &str) -> bool {
        crate::redact::is_sensitive(name)
    }

    /// The checks a GraphQL document passes before it runs: its syntax
    /// tree, or why it is refused.
    pub fn graphql_limits(document: &str) -> Result<ExecutableDocument, String> {
        crate::graphql::limits::check(document).map(|checked| checked.document).map_err(|r| format!("{r:?}"))
    }
}

use axum::{
    Router,
    http::{HeaderName, HeaderValue, Request, StatusCode, header},
    response::IntoResponse,
};
use portcullis_service::Service;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer},
};
use tracing::Level;

pub use app::{Application, ConnectionLimits};
pub use error::OAuthError;
pub use public::MAX_BODY_BYTES;

/// What every handler receives.
#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    /// Proxies whose `X-Forwarded-For` is believed (`PORTCULLIS_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Whether requests are recorded as events (`PORTCULLIS_EVENTS`).
    pub record_events: bool,
    /// The GraphQL schema, built once.
    pub graphql: graphql::PortcullisSchema,
    /// A request body must arrive whole within this long
    /// (`PORTCULLIS_BODY_READ_TIMEOUT`): else 408.
    pub body_read_timeout: std::time::Duration,
    /// Failed authentications, limited (`PORTCULLIS_AUTH_FAILURES_*`).
    pub throttle: std::sync::Arc<throttle::Throttle>,
    /// Requests and connections, counted for `/metrics`.
    pub metrics: std::sync::Arc<metrics::WebMetrics>,
}

impl AppState {
    pub fn new(service: Service) -> Self {
        Self {
            service,
            trusted_proxies: Vec::new(),
            record_events: true,
            graphql: graphql::schema(),
            body_read_timeout: std::time::Duration::from_secs(10),
            throttle: std::sync::Arc::new(throttle::Throttle::new(throttle::FailureLimits::default())),
            metrics: std::sync::Arc::default(),
        }
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `Strict-Transport-Security` on every answer of a server reached over
/// https: a year, this host only (the operator's other hosts are theirs to
/// decide). Browsers ignore it over http (RFC 6797 §8.1).
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");

pub fn router(state: AppState) -> Router {
    let over_https = api::session_cookie::secure(&state);
    let count_requests = metrics::http::CountRequests(state.metrics.http.clone());
    // One event per request made as a client or a user; inside the body
    // guard, so that nothing is read or recorded before the guard's limits.
    let record = |routes: Router<AppState>| {
        if state.record_events {
            routes.layer(axum::middleware::from_fn_with_state(state.clone(), recording::record))
        } else {
            routes
        }
    };
    let guarded = |routes: Router<AppState>, limit: usize, shape: guard::Shape| {
        let guard = guard::BodyGuard { limit, shape, timeout: state.body_read_timeout };
        routes.layer(axum::middleware::from_fn(move |request, next| guard.check(request, next)))
    };
    // Failed authentication limited, inside the guard (the body is read)
    // and before authentication.
    let throttled = |routes: Router<AppState>, shape: guard::Shape, account: throttle::Account| {
        routes.layer(axum::middleware::from_fn_with_state(state.clone(), move |state, request, next| {
            throttle::limit(state, shape, account, request, next)
        }))
    };
    let oauth2 = guarded(
        throttled(record(public::oauth2_router()), guard::Shape::OAuth, throttle::Account::Client),
        MAX_BODY_BYTES,
        guard::Shape::OAuth,
    );
    let admin = guarded(
        throttled(record(api::router()), guard::Shape::Problem, throttle::Account::SignIn),
        api::json::MAX_JSON_BYTES,
        guard::Shape::Problem,
    );
    let graphql = guarded(
        // The page for people, and the API; only the API's calls are
        // attributed to a caller and recorded.
        throttled(
            record(Router::new().route("/graphql", axum::routing::post(graphql::execute))),
            guard::Shape::Graphql,
            throttle::Account::None,
        )
        .route("/graphql", axum::routing::get(graphiql::page)),
        api::json::MAX_JSON_BYTES,
        guard::Shape::Graphql,
    );
    let app = Router::new()
        .merge(oauth2)
        .merge(admin)
        .merge(graphql)
        .merge(public::router())
        .merge(graphiql::assets_router())
        .merge(console::router())
        .merge(health::router())
        .merge(metrics::router())
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn(panic::catch_panic))
        .layer(
            TraceLayer::new_for_http()
                // The path only: a query string may hold what must not be logged.
                .make_span_with(|req: &Request<_>| {
                    let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::DEBUG))
                // A 5xx that is a fault is logged where it happens, with its
                // cause; the expected ones (503 busy) would flood the log.
                .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid));
    // Outermost, the request counter, so that the time it counts is all of
    // ours (`Router::layer` wraps each route after routing, where the
    // matched route is known); then, over https, HSTS; then a client's
    // request id that is not short and plain is dropped before the layer
    // above keeps it, so a fresh one replaces it. One `Router::layer` for
    // the three: each call boxes every route once more, which costs an
    // allocation per request.
    let outer = tower::ServiceBuilder::new().layer(count_requests);
    let drop_unplain = axum::middleware::map_request(drop_unplain_request_id);
    if over_https {
        let hsts = SetResponseHeaderLayer::overriding(header::STRICT_TRANSPORT_SECURITY, HSTS);
        app.layer(outer.layer(hsts).layer(drop_unplain))
    } else {
        app.layer(outer.layer(drop_unplain))
    }
}

/// A client-supplied `X-Request-Id` is kept only when it is 1 to 64 of
/// `[A-Za-z0-9._-]`: it is echoed and written into every log line of the
/// request, so it must not be able to carry quotes, spaces, control
/// characters or fake log fields.
fn is_plain_request_id(value: &[u8]) -> bool {
    (1..=64).contains(&value.len())
        && value.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

async fn drop_unplain_request_id<B>(mut request: Request<B>) -> Request<B> {
    let headers = request.headers_mut();
    let values = headers.get_all(&REQUEST_ID);
    let plain = {
        let mut iter = values.iter();
        matches!((iter.next(), iter.next()), (Some(v), None) if is_plain_request_id(v.as_bytes()))
    };
    if !plain {
        headers.remove(&REQUEST_ID);
    }
    request
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"error":"not_found","error_description":"no such endpoint"}"#,
    )
}

#[cfg(test)]
mod tests {
    use super::is_plain_request_id;

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        for good in ["a", "abc-123_X.y", &"a".repeat(64), "0f3c9a1e-7b2d-4c55-9e0a-1b2c3d4e5f60"] {
            assert!(is_plain_request_id(good.as_bytes()), "{good}");
        }
        for bad in ["", &"a".repeat(65), "a b", "id\" level=error", "a\tb", "é", "x=y", "a/b", "{}"] {
            assert!(!is_plain_request_id(bad.as_bytes()), "{bad}");
        }
    }
}
