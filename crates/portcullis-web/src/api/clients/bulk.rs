//! `POST /api/v1/clients/bulk`: enable, disable or delete many clients at
//! once, in one transaction, with what happened to each.

use axum::{Json, Router, extract::State, routing::post};
use portcullis_domain::ClientId;
use portcullis_service::{BulkAction, BulkItem, BulkResult, BulkSummary, Operation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    AppState,
    api::{
        auth::Caller,
        json::ApiJson,
        problem::{Problem, ProblemDetails},
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/clients/bulk", post(bulk_clients))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, async_graphql::Enum)]
#[graphql(name = "BulkAction")]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Enable,
    Disable,
    Delete,
}

impl Action {
    /// Read by hand rather than by serde, whose message for a `null` or a
    /// number where an enum belongs names no field.
    fn parse(raw: &str) -> Result<Self, Problem> {
        match raw {
            "enable" => Ok(Self::Enable),
            "disable" => Ok(Self::Disable),
            "delete" => Ok(Self::Delete),
            _ => Err(Problem::invalid_field("action", "action must be `enable`, `disable` or `delete`")),
        }
    }
}

impl From<Action> for BulkAction {
    fn from(action: Action) -> Self {
        match action {
            Action::Enable => BulkAction::Enable,
            Action::Disable => BulkAction::Disable,
            Action::Delete => BulkAction::Delete,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    #[schema(value_type = Action)]
    pub action: String,
    /// 1 to 1,000 client ids. An id listed more than once is acted on and
    /// reported once, at its first position.
    #[schema(value_type = Vec<Uuid>, min_items = 1, max_items = 1000)]
    pub client_ids: Vec<String>,
}

/// What happened to one listed client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, async_graphql::Enum)]
#[graphql(name = "BulkResult")]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Enabled, disabled or deleted now.
    Done,
    /// No client with this id.
    NotFound,
    /// Enabled or disabled already: nothing changed.
    AlreadyInState,
}

impl From<BulkResult> for Outcome {
    fn from(result: BulkResult) -> Self {
        match result {
            BulkResult::Done => Outcome::Done,
            BulkResult::NotFound => Outcome::NotFound,
            BulkResult::AlreadyInState => Outcome::AlreadyInState,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResultItem {
    pub client_id: Uuid,
    pub result: Outcome,
}

/// How many listed clients got each result.
#[derive(Debug, Serialize, ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "BulkSummaryCounts")]
pub struct Summary {
    pub done: usize,
    pub not_found: usize,
    pub already_in_state: usize,
}

impl From<BulkSummary> for Summary {
    fn from(s: BulkSummary) -> Self {
        Self { done: s.done, not_found: s.not_found, already_in_state: s.already_in_state }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResponse {
    pub action: Action,
    /// One per distinct listed id, in the order given.
    pub results: Vec<BulkResultItem>,
    pub summary: Summary,
}

/// Each id, or 400 naming the first malformed one (`client_ids[3]`).
pub(crate) fn client_ids<S: AsRef<str>>(raw: &[S]) -> Result<Vec<ClientId>, Problem> {
    raw.iter()
        .enumerate()
        .map(|(i, id)| {
            id.as_ref().parse().map_err(|_| {
                let field = format!("client_ids[{i}]");
                let detail = format!("{field} must be a client id (a UUID)");
                Problem::invalid_field(field, detail)
            })
        })
        .collect()
}

/// Enable, disable or delete up to 1,000 clients at once.
///
/// One transaction: all of it happens or, on an error answer, none of it.
/// Each distinct id is reported, in the order given, as `done`, `not_found`
/// or `already_in_state`; each client changed gets its own change event
/// (`client.enabled`, `client.disabled`, `client.deleted`). A disabled or
/// deleted client's next token request fails.
#[utoipa::path(post, path = "/api/v1/clients/bulk", tag = "clients", request_body = BulkRequest,
    security(("bearer" = ["clients:write"])),
    responses((status = 200, body = BulkResponse), (status = 400, body = ProblemDetails), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails)))]
async fn bulk_clients(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<ApiJson<BulkRequest>, Problem>,
) -> Result<Json<BulkResponse>, Problem> {
    caller.may(Operation::BulkClients)?;
    let ApiJson(body) = body?;
    let action = Action::parse(&body.action)?;
    let ids = client_ids(&body.client_ids)?;
    let items: Vec<BulkItem> = state.service.bulk_clients(&caller.service(), action.into(), &ids).await?;
    Ok(Json(BulkResponse {
        action,
        results: items
            .iter()
            .map(|item| BulkResultItem { client_id: item.client_id.as_uuid(), result: item.result.into() })
            .collect(),
        summary: BulkSummary::of(&items).into(),
    }))
}
