//! `/api/v1/users`: console users.

use axum::{
    Json, Router,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::SecondsFormat;
use portcullis_domain::{Email, Password, RoleName, UserId, UserName};
use portcullis_service::{ListUsers, NewUser, Operation, ServiceError, UserUpdate, UserView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    auth::Caller,
    clients::Status,
    json::ApiJson,
    precondition::{IfMatch, etag, required_version},
    problem::{Problem, ProblemDetails},
};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", post(create).get(list))
        .route("/users/{user_id}", get(read).patch(update).delete(remove))
        .route("/users/{user_id}/token", axum::routing::delete(revoke_token))
}

/// A console user. Never its password or its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub status: Status,
    pub roles: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&UserView> for UserResponse {
    fn from(v: &UserView) -> Self {
        let u = &v.user;
        Self {
            user_id: u.id.as_uuid(),
            email: u.email.to_string(),
            name: u.name.as_str().to_owned(),
            status: u.status.into(),
            roles: v.roles.iter().map(ToString::to_string).collect(),
            created_at: u.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            updated_at: u.updated_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }
}

// Also GraphQL's `CreateUserInput` (the same checks in both APIs).
#[derive(Debug, Deserialize, ToSchema, async_graphql::InputObject)]
#[graphql(name = "CreateUserInput")]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: String,
    pub name: String,
    /// Role names; at least one.
    pub roles: Vec<String>,
    /// At least 12 characters and not a common or guessable one; generated
    /// (and returned once) when absent.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    pub user: UserResponse,
    /// Only when the server generated it: shown this once.
    #[serde(serialize_with = "crate::shown::once_if_any", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub password: Option<Password>,
}

// Also GraphQL's `UpdateUserInput` (the same checks in both APIs).
#[derive(Debug, Deserialize, ToSchema, async_graphql::InputObject)]
#[graphql(name = "UpdateUserInput")]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub name: Option<String>,
    pub roles: Option<Vec<String>>,
    /// `disabled` (GraphQL: `DISABLED`) ends the user's sessions and stops
    /// its personal access token at once.
    pub status: Option<Status>,
    pub password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserResponse>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    pub status: Option<Status>,
    /// Case-insensitive substring of the e-mail or the name.
    pub q: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

fn user_id(raw: &str) -> Result<UserId, Problem> {
    super::problem::path_id("user_id", raw)
}

fn roles(raw: &[String]) -> Result<Vec<RoleName>, Problem> {
    raw.iter().map(|r| RoleName::parse(r).map_err(|e| ServiceError::invalid("roles")(e).into())).collect()
}

impl CreateUserRequest {
    pub(crate) fn into_new(self) -> Result<NewUser, Problem> {
        Ok(NewUser {
            email: Email::parse(&self.email).map_err(ServiceError::invalid("email"))?,
            name: UserName::parse(&self.name).map_err(ServiceError::invalid("name"))?,
            roles: roles(&self.roles)?,
            password: self.password.map(Password::from),
        })
    }
}

impl UpdateUserRequest {
    pub(crate) fn into_update(self) -> Result<UserUpdate, Problem> {
        Ok(UserUpdate {
            name: self
                .name
                .as_deref()
                .map(UserName::parse)
                .transpose()
                .map_err(ServiceError::invalid("name"))?,
            roles: self.roles.as_deref().map(roles).transpose()?,
            status: self.status.map(Into::into),
            password: self.password.map(Password::from),
        })
    }
}

/// Create a console user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    security(("bearer" = ["users:write"])),
    responses((status = 201, body = CreatedUser), (status = 403, body = ProblemDetails), (status = 400, body = ProblemDetails), (status = 409, body = ProblemDetails)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<ApiJson<CreateUserRequest>, Problem>,
) -> Result<Response, Problem> {
    caller.may(Operation::CreateUser)?;
    let ApiJson(body) = body?;
    let new = body.into_new()?;
    let (view, password) = state.service.create_user(&caller.service(), new).await?;
    Ok((StatusCode::CREATED, Json(CreatedUser { user: (&view).into(), password })).into_response())
}

/// List users, newest first.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListParams), security(("bearer" = ["users:read"])),
    responses((status = 200, body = UserList), (status = 400, body = ProblemDetails)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<UserList>, Problem> {
    caller.may(Operation::ReadUsers)?;
    let Query(p) = params.map_err(|e| Problem::invalid_query(e.body_text()))?;
    let page = state
        .service
        .list_users(
            &caller.service(),
            ListUsers { cursor: p.cursor, limit: p.limit, status: p.status.map(Into::into), text: p.q },
        )
        .await?;
    Ok(Json(UserList { items: page.items.iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
}

/// Read one user; its `ETag` is its version, for `If-Match` on changes.
#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "users", params(("user_id" = Uuid, Path)),
    security(("bearer" = ["users:read"])),
    responses((status = 200, body = UserResponse, headers(("ETag" = String, description = "The user's version, e.g. `\"3\"`"))),
        (status = 404, body = ProblemDetails)))]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.may(Operation::ReadUsers)?;
    Ok(with_etag(&state.service.get_user(&caller.service(), user_id(&id)?).await?))
}

/// The user as answered, with its `ETag`.
fn with_etag(view: &UserView) -> Response {
    ([(header::ETAG, etag(view.user.version))], Json(UserResponse::from(view))).into_response()
}

/// The version `if_match` requires of user `id`.
async fn required_user_version(
    state: &AppState,
    caller: &Caller,
    id: UserId,
    if_match: &IfMatch,
) -> Result<Option<u64>, Problem> {
    required_version(if_match, || async {
        Ok(state.service.get_user(&caller.service(), id).await?.user.version)
    })
    .await
}

/// Change a user's name, roles, status or password.
/// With `If-Match`, only while the user is at a version named (else 412,
/// nothing changed).
#[utoipa::path(patch, path = "/api/v1/users/{user_id}", tag = "users", request_body = UpdateUserRequest,
    params(("user_id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "`*` or ETags of the user, e.g. `\"3\"`")),
    security(("bearer" = ["users:write"])),
    responses((status = 200, body = UserResponse, headers(("ETag" = String, description = "The user's new version"))),
        (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails), (status = 412, body = ProblemDetails)))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: Result<IfMatch, Problem>,
    body: Result<ApiJson<UpdateUserRequest>, Problem>,
) -> Result<Response, Problem> {
    caller.may(Operation::UpdateUser)?;
    let id = user_id(&id)?;
    let if_match = if_match?;
    let ApiJson(body) = body?;
    let update = body.into_update()?;
    let version = required_user_version(&state, &caller, id, &if_match).await?;
    Ok(with_etag(&state.service.update_user_if(&caller.service(), id, update, version).await?))
}

/// Delete a user, its sessions and its personal access token.
/// With `If-Match`, only while the user is at a version named.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}", tag = "users",
    params(("user_id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "`*` or ETags of the user, e.g. `\"3\"`")),
    security(("bearer" = ["users:write"])),
    responses((status = 204), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails), (status = 412, body = ProblemDetails)))]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: Result<IfMatch, Problem>,
) -> Result<StatusCode, Problem> {
    caller.may(Operation::DeleteUser)?;
    let id = user_id(&id)?;
    let version = required_user_version(&state, &caller, id, &if_match?).await?;
    state.service.delete_user_if(&caller.service(), id, version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke a user's personal access token (e.g. one that leaked), without a
/// replacement; 404 when the user does not exist or has none.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}/token", tag = "users", params(("user_id" = Uuid, Path)),
    security(("bearer" = ["users:write"])),
    responses((status = 204), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails)))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.may(Operation::RevokeUserPersonalToken)?;
    state.service.revoke_user_personal_token(&caller.service(), user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
