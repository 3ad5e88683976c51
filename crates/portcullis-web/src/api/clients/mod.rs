//! `/api/v1/clients`: the client lifecycle over REST; [`bulk`] acts on
//! many clients at once.

pub mod bulk;

use axum::{
    Json, Router,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::SecondsFormat;
use portcullis_domain::{
    ClientId, ClientName, ClientSecret, ClientStatus, Description, RoleName, Timestamp, TokenTtl,
};
use portcullis_service::{ClientUpdate, ClientView, ListClients, NewClient, Operation, ServiceError};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    auth::Caller,
    json::ApiJson,
    precondition::{IfMatch, etag},
    problem::{Problem, ProblemDetails},
};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/clients", post(create).get(list))
        .route("/clients/{client_id}", get(read).patch(update).delete(remove))
        .route("/clients/{client_id}/secret", post(regenerate_secret))
        .route("/clients/{client_id}/token", post(issue_token))
        .route("/clients/{client_id}/revoke-tokens", post(revoke_tokens))
        .merge(bulk::router())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, async_graphql::Enum)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Enabled,
    Disabled,
}

impl From<Status> for ClientStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Enabled => ClientStatus::Enabled,
            Status::Disabled => ClientStatus::Disabled,
        }
    }
}

impl From<ClientStatus> for Status {
    fn from(s: ClientStatus) -> Self {
        match s {
            ClientStatus::Enabled => Status::Enabled,
            ClientStatus::Disabled => Status::Disabled,
        }
    }
}

impl From<Status> for portcullis_domain::UserStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Enabled => Self::Enabled,
            Status::Disabled => Self::Disabled,
        }
    }
}

impl From<portcullis_domain::UserStatus> for Status {
    fn from(s: portcullis_domain::UserStatus) -> Self {
        match s {
            portcullis_domain::UserStatus::Enabled => Status::Enabled,
            portcullis_domain::UserStatus::Disabled => Status::Disabled,
        }
    }
}

fn rfc3339(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An API client as the admin API, the CLI's `--json` and later GraphQL show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientResponse {
    pub client_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub status: Status,
    /// The role's name, or null for none.
    pub role: Option<String>,
    pub access_token_ttl_seconds: u32,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC; the last successful authentication, or null.
    pub last_used_at: Option<String>,
}

impl From<&ClientView> for ClientResponse {
    fn from(view: &ClientView) -> Self {
        let c = &view.client;
        Self {
            client_id: c.id.as_uuid(),
            name: c.name.as_str().to_owned(),
            description: c.description.as_ref().map(|d| d.as_str().to_owned()),
            status: c.status.into(),
            role: view.role.as_ref().map(|r| r.as_str().to_owned()),
            access_token_ttl_seconds: c.token_ttl.as_secs(),
            created_at: rfc3339(&c.created_at),
            last_used_at: c.last_used_at.as_ref().map(rfc3339),
        }
    }
}

// Also GraphQL's `CreateClientInput` (the same checks in both APIs).
#[derive(Debug, Deserialize, ToSchema, async_graphql::InputObject)]
#[graphql(name = "CreateClientInput")]
#[serde(deny_unknown_fields)]
pub struct CreateClientRequest {
    /// 1–200 characters.
    pub name: String,
    /// At most 2,000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// A role name, e.g. `viewer`; none when absent.
    #[serde(default)]
    pub role: Option<String>,
    /// 60–86,400; default 3,600.
    #[serde(default)]
    pub access_token_ttl_seconds: Option<i64>,
}

/// The new client and its secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClient {
    pub client: ClientResponse,
    #[serde(serialize_with = "crate::shown::once")]
    #[schema(value_type = String)]
    pub client_secret: ClientSecret,
}

/// Absent leaves a field as it is; `null` clears `description` and `role`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientRequest {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub role: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub access_token_ttl_seconds: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Status>)]
    pub status: Option<Option<Status>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    pub items: Vec<ClientResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only clients with this status.
    pub status: Option<Status>,
    /// Case-insensitive substring of the name.
    pub q: Option<String>,
    /// Page size, 1–200 (default 50; larger values are capped).
    pub limit: Option<u32>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegeneratedSecret {
    pub client_id: Uuid,
    /// The new secret, shown this once. The old one stopped working.
    #[serde(serialize_with = "crate::shown::once")]
    #[schema(value_type = String)]
    pub client_secret: ClientSecret,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueTokenRequest {
    /// Space-separated permissions, a subset of the client's role; all of them when absent.
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

fn client_id(raw: &str) -> Result<ClientId, Problem> {
    super::problem::path_id("client_id", raw)
}

fn field<T>(name: &'static str, parsed: Result<T, portcullis_domain::DomainError>) -> Result<T, Problem> {
    parsed.map_err(|e| ServiceError::invalid(name)(e).into())
}

fn not_null<T>(name: &'static str, value: Option<Option<T>>) -> Result<Option<T>, Problem> {
    match value {
        Some(None) => Err(Problem::invalid_field(name, format!("{name} cannot be null"))),
        Some(Some(v)) => Ok(Some(v)),
        None => Ok(None),
    }
}

impl CreateClientRequest {
    /// The checked request, as REST and GraphQL hand it to the service.
    pub(crate) fn into_new(self) -> Result<NewClient, Problem> {
        Ok(NewClient {
            name: field("name", ClientName::parse(&self.name))?,
            description: self
                .description
                .as_deref()
                .map(|d| field("description", Description::parse(d)))
                .transpose()?,
            role: self.role.as_deref().map(|r| field("role", RoleName::parse(r))).transpose()?,
            token_ttl: match self.access_token_ttl_seconds {
                Some(s) => field("access_token_ttl_seconds", TokenTtl::from_secs(s))?,
                None => TokenTtl::DEFAULT,
            },
        })
    }
}

impl UpdateClientRequest {
    /// The checked request: `null` is refused where it cannot clear anything.
    pub(crate) fn into_update(self) -> Result<ClientUpdate, Problem> {
        Ok(ClientUpdate {
            name: not_null("name", self.name)?.map(|n| field("name", ClientName::parse(&n))).transpose()?,
            description: self
                .description
                .map(|d| d.map(|d| field("description", Description::parse(&d))).transpose())
                .transpose()?,
            role: self.role.map(|r| r.map(|r| field("role", RoleName::parse(&r))).transpose()).transpose()?,
            token_ttl: not_null("access_token_ttl_seconds", self.access_token_ttl_seconds)?
                .map(|s| field("access_token_ttl_seconds", TokenTtl::from_secs(s)))
                .transpose()?,
            status: not_null("status", self.status)?.map(Into::into),
        })
    }
}

/// Create a client. The response holds its secret, shown this once.
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", request_body = CreateClientRequest,
    security(("bearer" = ["clients:write"])),
    responses((status = 201, body = CreatedClient), (status = 400, body = ProblemDetails), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<ApiJson<CreateClientRequest>, Problem>,
) -> Result<Response, Problem> {
    caller.may(Operation::CreateClient)?;
    let ApiJson(body) = body?;
    let new = body.into_new()?;
    let (view, secret) = state.service.create_client(&caller.service(), new).await?;
    let created = CreatedClient { client: (&view).into(), client_secret: secret };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// List clients, newest first.
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", params(ListParams),
    security(("bearer" = ["clients:read"])),
    responses((status = 200, body = ClientList), (status = 400, body = ProblemDetails), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ClientList>, Problem> {
    caller.may(Operation::ReadClients)?;
    let Query(params) = params.map_err(|e| Problem::invalid_query(e.body_text()))?;
    let page = state
        .service
        .list_clients(
            &caller.service(),
            ListClients {
                cursor: params.cursor,
                limit: params.limit,
                status: params.status.map(Into::into),
                name_contains: params.q,
            },
        )
        .await?;
    Ok(Json(ClientList { items: page.items.iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
}

/// Read one client; its `ETag` is its version, for `If-Match` on changes.
#[utoipa::path(get, path = "/api/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = Uuid, Path)), security(("bearer" = ["clients:read"])),
    responses((status = 200, body = ClientResponse, headers(("ETag" = String, description = "The client's version, e.g. `\"3\"`"))),
        (status = 400, body = ProblemDetails), (status = 404, body = ProblemDetails)))]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.may(Operation::ReadClients)?;
    let view = state.service.get_client(&caller.service(), client_id(&id)?).await?;
    Ok(with_etag(&view))
}

/// The client as answered, with its `ETag`.
fn with_etag(view: &ClientView) -> Response {
    ([(header::ETAG, etag(view.client.version))], Json(ClientResponse::from(view))).into_response()
}

/// The version `if_match` requires of client `id`, reading the stored one
/// only when several are named.
async fn required_version(
    state: &AppState,
    caller: &Caller,
    id: ClientId,
    if_match: &IfMatch,
) -> Result<Option<u64>, Problem> {
    let current = match if_match.names_several() {
        true => Some(state.service.get_client(&caller.service(), id).await?.client.version),
        false => None,
    };
    Ok(if_match.required(|| current))
}

/// Change a client: name, description, role, token lifetime, status
/// (`{"status": "disabled"}` disables it at once).
/// With `If-Match`, only while the client is at a version named (else 412,
/// nothing changed).
#[utoipa::path(patch, path = "/api/v1/clients/{client_id}", tag = "clients", request_body = UpdateClientRequest,
    params(("client_id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "`*` or ETags of the client, e.g. `\"3\"`")),
    security(("bearer" = ["clients:write"])),
    responses((status = 200, body = ClientResponse, headers(("ETag" = String, description = "The client's new version"))),
        (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails), (status = 412, body = ProblemDetails)))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: Result<IfMatch, Problem>,
    body: Result<ApiJson<UpdateClientRequest>, Problem>,
) -> Result<Response, Problem> {
    caller.may(Operation::UpdateClient)?;
    let id = client_id(&id)?;
    let if_match = if_match?;
    let ApiJson(body) = body?;
    let update = body.into_update()?;
    let version = required_version(&state, &caller, id, &if_match).await?;
    let view = state.service.update_client_if(&caller.service(), id, update, version).await?;
    Ok(with_etag(&view))
}

/// Delete a client for good.
/// With `If-Match`, only while the client is at a version named.
#[utoipa::path(delete, path = "/api/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "`*` or ETags of the client, e.g. `\"3\"`")),
    security(("bearer" = ["clients:write"])),
    responses((status = 204), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails), (status = 412, body = ProblemDetails)))]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: Result<IfMatch, Problem>,
) -> Result<StatusCode, Problem> {
    caller.may(Operation::DeleteClient)?;
    let id = client_id(&id)?;
    let version = required_version(&state, &caller, id, &if_match?).await?;
    state.service.delete_client_if(&caller.service(), id, version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a client's secret: the old one stops working at once; tokens
/// already issued stay valid until they expire.
#[utoipa::path(post, path = "/api/v1/clients/{client_id}/secret", tag = "clients",
    params(("client_id" = Uuid, Path)), security(("bearer" = ["clients:secrets"])),
    responses((status = 200, body = RegeneratedSecret), (status = 403, body = ProblemDetails), (status = 400, body = ProblemDetails), (status = 404, body = ProblemDetails)))]
async fn regenerate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RegeneratedSecret>, Problem> {
    caller.may(Operation::RegenerateClientSecret)?;
    let (view, secret) = state.service.regenerate_client_secret(&caller.service(), client_id(&id)?).await?;
    Ok(Json(RegeneratedSecret { client_id: view.client.id.as_uuid(), client_secret: secret }))
}

/// Issue an access token for a client, as the console's "Generate access
/// token" button does; the same response as `/oauth2/token`.
#[utoipa::path(post, path = "/api/v1/clients/{client_id}/token", tag = "clients", request_body = IssueTokenRequest,
    params(("client_id" = Uuid, Path)), security(("bearer" = ["tokens:issue"])),
    responses((status = 200, body = TokenResponse), (status = 403, body = ProblemDetails), (status = 400, body = ProblemDetails), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails)))]
async fn issue_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<ApiJson<IssueTokenRequest>, Problem>,
) -> Result<Json<TokenResponse>, Problem> {
    caller.may(Operation::IssueClientToken)?;
    let id = client_id(&id)?;
    let ApiJson(body) = body?;
    let token = state.service.issue_token_for_client(&caller.service(), id, body.scope.as_deref()).await?;
    Ok(Json(TokenResponse {
        access_token: token.access_token,
        token_type: "Bearer",
        expires_in: token.expires_in,
        scope: (!token.scope.is_empty()).then(|| token.scope.to_string()),
    }))
}

/// Revoke every token the client holds now, without touching its secret:
/// tokens issued up to this second are refused from the next request on
/// (introspection answers `active: false`); new tokens work.
#[utoipa::path(post, path = "/api/v1/clients/{client_id}/revoke-tokens", tag = "clients",
    params(("client_id" = Uuid, Path)), security(("bearer" = ["clients:write"])),
    responses((status = 200, body = ClientResponse), (status = 403, body = ProblemDetails), (status = 400, body = ProblemDetails), (status = 404, body = ProblemDetails)))]
async fn revoke_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ClientResponse>, Problem> {
    caller.may(Operation::RevokeClientTokens)?;
    let view = state.service.revoke_client_tokens(&caller.service(), client_id(&id)?).await?;
    Ok(Json((&view).into()))
}
