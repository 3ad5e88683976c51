//! Portcullis over HTTP: thin axum adapters over the service layer.
//! Public (standard OAuth2) routes and operational routes are separate
//! routers, merged here.

pub mod api;
mod app;
mod error;
mod graphiql;
pub mod graphql;
mod health;
mod metrics;
mod panic;
mod public;
pub mod recording;

use axum::{
    Router,
    http::{HeaderName, Request, StatusCode, header},
    response::IntoResponse,
};
use portcullis_service::Service;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

pub use app::Application;
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
}

impl AppState {
    pub fn new(service: Service) -> Self {
        Self { service, trusted_proxies: Vec::new(), record_events: true, graphql: graphql::schema() }
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let attributed = public::oauth2_router().merge(api::router()).route(
        "/graphql",
        // The page for people, and the API; only the API's calls are
        // attributed to a caller and recorded.
        axum::routing::get(graphiql::page).post(graphql::execute),
    );
    // One event per request made as a client or a user.
    let attributed = if state.record_events {
        attributed.layer(axum::middleware::from_fn_with_state(state.clone(), recording::record))
    } else {
        attributed
    };
    Router::new()
        .merge(attributed)
        .merge(public::router())
        .merge(graphiql::assets_router())
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
                .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"error":"not_found","error_description":"no such endpoint"}"#,
    )
}
