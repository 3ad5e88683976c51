//! `/api/v1/events` and `/api/v1/clients/{id}/events`: request and audit
//! events of the last seven days (by default).

use axum::{
    Json, Router,
    extract::{Path, Query, State, rejection::QueryRejection},
    routing::get,
};
use chrono::{DateTime, SecondsFormat, Utc};
use portcullis_domain::{ClientId, Event, EventId};
use portcullis_service::{
    Operation,
    events::{self, ListEvents},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    auth::Caller,
    problem::{Problem, ProblemDetails},
};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events", get(list))
        .route("/events/{event_id}", get(read))
        .route("/clients/{client_id}/events", get(list_for_client))
}

/// An event as listed: everything but the bodies.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventSummary {
    pub event_id: Uuid,
    pub occurred_at: String,
    pub kind: String,
    pub client_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    /// Who made a change: `client:<uuid>`, `user:<uuid>`, `cli` or `system`;
    /// null for request events.
    pub actor: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub latency_ms: Option<f64>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// An event with its (redacted) request and response bodies.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventDetail {
    #[serde(flatten)]
    pub summary: EventSummary,
    /// Null when there is none, or when it is hidden (see `bodies_hidden`).
    pub request_body: Option<String>,
    /// Null when there is none, or when it is hidden (see `bodies_hidden`).
    pub response_body: Option<String>,
    /// What a reader must hold, beyond `events:read`, to see the bodies
    /// (or a change's details): for an admin call, the permissions it
    /// needed and those that read what it answered (a GraphQL call or an
    /// event read: its caller's permissions); for a change, the
    /// permission that reads its subject (`users:read` for `user.*`,
    /// `clients:read`, `roles:read`, `keys:write`); empty for OAuth2
    /// requests.
    pub required_permissions: Vec<String>,
    /// Why the bodies (or a change's details) are omitted, e.g. `"requires
    /// users:read"`: the permissions the reader lacks. Null when they are
    /// shown.
    pub bodies_hidden: Option<String>,
    /// For changes: what changed, as JSON; null when hidden (see
    /// `bodies_hidden`).
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// Why `reader` may not see `event`'s bodies (`requires users:read`), if it may not.
pub(crate) fn bodies_hidden(event: &Event, reader: &portcullis_domain::Scope) -> Option<String> {
    let missing = events::missing_for_bodies(event, reader);
    (!missing.is_empty()).then(|| {
        format!("requires {}", missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))
    })
}

/// The permissions reading `event`'s bodies needs beyond `events:read`.
pub(crate) fn required_permissions(event: &Event) -> Vec<String> {
    events::permissions_for_bodies(event).iter().map(ToString::to_string).collect()
}

/// An event's details as shown to `reader`: what changed, for changes,
/// when the reader may see them (see [`bodies_hidden`]). (An admin call's
/// details hold what `required_permissions` shows.)
pub(crate) fn shown_details(event: &Event, reader: &portcullis_domain::Scope) -> Option<serde_json::Value> {
    if event.kind == events::ADMIN_REQUEST || !events::missing_for_bodies(event, reader).is_empty() {
        return None;
    }
    event.details.as_deref().and_then(|d| serde_json::from_str(d).ok())
}

impl From<&Event> for EventSummary {
    fn from(e: &Event) -> Self {
        Self {
            event_id: e.id.as_uuid(),
            occurred_at: e.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            kind: e.kind.clone(),
            client_id: e.client_id.map(|c| c.as_uuid()),
            user_id: e.user_id.map(|u| u.as_uuid()),
            actor: e.actor.clone(),
            method: e.method.clone(),
            path: e.path.clone(),
            status: e.status,
            latency_ms: e.latency_micros.map(|m| m as f64 / 1000.0),
            source_ip: e.source_ip.clone(),
            user_agent: e.user_agent.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub items: Vec<EventSummary>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// A request kind (`token.request`, `introspection`, `revocation`,
    /// `admin.request`) or a change kind (`client.created`, `client.updated`,
    /// `role.deleted`, `user.disabled`, … as listed in docs/events.md).
    pub kind: Option<String>,
    /// Status class: `2xx`, `4xx` or `5xx`.
    pub status: Option<String>,
    /// RFC 3339; events at or after.
    pub since: Option<DateTime<Utc>>,
    /// RFC 3339; events before.
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

pub(crate) fn status_class(raw: Option<&str>) -> Result<Option<u8>, Problem> {
    match raw {
        None => Ok(None),
        Some("2xx") => Ok(Some(2)),
        Some("3xx") => Ok(Some(3)),
        Some("4xx") => Ok(Some(4)),
        Some("5xx") => Ok(Some(5)),
        Some(_) => Err(Problem::invalid_query("status must be 2xx, 3xx, 4xx or 5xx")),
    }
}

async fn page(
    state: &AppState,
    caller: &Caller,
    client_id: Option<ClientId>,
    p: EventParams,
) -> Result<Json<EventList>, Problem> {
    let page = state
        .service
        .list_events(
            &caller.service(),
            ListEvents {
                cursor: p.cursor,
                limit: p.limit,
                client_id,
                kind: p.kind,
                status_class: status_class(p.status.as_deref())?,
                since: p.since,
                until: p.until,
            },
        )
        .await?;
    Ok(Json(EventList { items: page.items.iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
}

/// Every event, newest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventParams), security(("bearer" = ["events:read"])),
    responses((status = 200, body = EventList), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<EventParams>, QueryRejection>,
) -> Result<Json<EventList>, Problem> {
    caller.may(Operation::ReadEvents)?;
    let Query(p) = params.map_err(|e| Problem::invalid_query(e.body_text()))?;
    page(&state, &caller, None, p).await
}

/// One client's events, newest first.
#[utoipa::path(get, path = "/api/v1/clients/{client_id}/events", tag = "events", params(("client_id" = Uuid, Path), EventParams),
    security(("bearer" = ["events:read"])),
    responses((status = 200, body = EventList), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails)))]
async fn list_for_client(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Result<Query<EventParams>, QueryRejection>,
) -> Result<Json<EventList>, Problem> {
    caller.may(Operation::ReadEvents)?;
    let id = super::problem::path_id("client_id", &id)?;
    let Query(p) = params.map_err(|e| Problem::invalid_query(e.body_text()))?;
    page(&state, &caller, Some(id), p).await
}

/// One event with its redacted request and response bodies. The bodies of
/// an admin call are shown only to a reader who holds the permission that
/// call needed; otherwise they are null and `bodies_hidden` says why.
#[utoipa::path(get, path = "/api/v1/events/{event_id}", tag = "events", params(("event_id" = Uuid, Path)),
    security(("bearer" = ["events:read"])),
    responses((status = 200, body = EventDetail), (status = 400, body = ProblemDetails), (status = 404, body = ProblemDetails)))]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EventDetail>, Problem> {
    caller.may(Operation::ReadEvents)?;
    let id: EventId = super::problem::path_id("event_id", &id)?;
    let event = state.service.get_event(&caller.service(), id).await?;
    let hidden = bodies_hidden(&event, &caller.scope);
    let shown = |body: &Option<String>| if hidden.is_none() { body.clone() } else { None };
    Ok(Json(EventDetail {
        summary: (&event).into(),
        request_body: shown(&event.request_body),
        response_body: shown(&event.response_body),
        required_permissions: required_permissions(&event),
        bodies_hidden: hidden,
        details: shown_details(&event, &caller.scope),
    }))
}
