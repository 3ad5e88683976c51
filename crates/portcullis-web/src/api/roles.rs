//! `/api/v1/permissions` and `/api/v1/roles`, and a client's effective
//! permissions.

use axum::{
    Json, Router,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, patch},
};
use portcullis_domain::{Permission, PermissionName, Role, RoleId, RoleName};
use portcullis_service::{NewRole, Operation, PermissionGroup, RoleUpdate, ServiceError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    auth::Caller,
    json::ApiJson,
    precondition::{IfMatch, etag, required_version},
    problem::{Problem, ProblemDetails},
};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/permissions", get(list_permissions).post(create_permission))
        .route("/permissions/{name}", patch(update_permission).delete(delete_permission))
        .route("/roles", get(list_roles).post(create_role))
        .route("/roles/{role_id}", get(read_role).patch(update_role).delete(delete_role))
        .route("/clients/{client_id}/permissions", get(client_permissions))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionResponse {
    pub name: String,
    pub description: String,
    /// Built-in permissions cannot be changed or deleted.
    pub builtin: bool,
}

impl From<&Permission> for PermissionResponse {
    fn from(p: &Permission) -> Self {
        Self { name: p.name.to_string(), description: p.description.clone(), builtin: p.builtin }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionCategory {
    /// The part before `:`.
    pub category: String,
    pub permissions: Vec<PermissionResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionsByCategory {
    pub categories: Vec<PermissionCategory>,
}

pub(crate) fn by_category(groups: &[PermissionGroup]) -> PermissionsByCategory {
    PermissionsByCategory {
        categories: groups
            .iter()
            .map(|g| PermissionCategory {
                category: g.category.clone(),
                permissions: g.permissions.iter().map(Into::into).collect(),
            })
            .collect(),
    }
}

// Also GraphQL's `CreatePermissionInput` (the same checks in both APIs).
#[derive(Debug, Deserialize, ToSchema, async_graphql::InputObject)]
#[graphql(name = "CreatePermissionInput")]
#[serde(deny_unknown_fields)]
pub struct CreatePermissionRequest {
    /// `category:action`, lowercase, e.g. `invoices:read`.
    pub name: String,
    /// At most 500 characters.
    #[serde(default)]
    #[graphql(default)]
    pub description: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePermissionRequest {
    pub description: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeletePermissionParams {
    /// Also remove the permission from every role that holds it.
    #[serde(default)]
    pub cascade: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleResponse {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    /// Built-in roles cannot be changed or deleted.
    pub builtin: bool,
}

impl From<&Role> for RoleResponse {
    fn from(r: &Role) -> Self {
        Self {
            id: r.id.as_uuid(),
            name: r.name.to_string(),
            description: r.description.clone(),
            permissions: r.permissions.iter().map(ToString::to_string).collect(),
            builtin: r.builtin,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleList {
    pub items: Vec<RoleResponse>,
}

// Also GraphQL's `CreateRoleInput` (the same checks in both APIs).
#[derive(Debug, Deserialize, ToSchema, async_graphql::InputObject)]
#[graphql(name = "CreateRoleInput")]
#[serde(deny_unknown_fields)]
pub struct CreateRoleRequest {
    /// Lowercase letters, digits, `_` and `-`, starting with a letter; unique.
    pub name: String,
    #[serde(default)]
    #[graphql(default)]
    pub description: String,
    /// Names of existing permissions.
    #[serde(default)]
    #[graphql(default)]
    pub permissions: Vec<String>,
}

// Also GraphQL's `UpdateRoleInput` (the same checks in both APIs).
#[derive(Debug, Deserialize, ToSchema, async_graphql::InputObject)]
#[graphql(name = "UpdateRoleInput")]
#[serde(deny_unknown_fields)]
pub struct UpdateRoleRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Replaces the whole set.
    pub permissions: Option<Vec<String>>,
}

pub(crate) fn permission_name(field: &'static str, raw: &str) -> Result<PermissionName, Problem> {
    PermissionName::parse(raw).map_err(|e| ServiceError::invalid(field)(e).into())
}

fn permission_names(raw: &[String]) -> Result<Vec<PermissionName>, Problem> {
    raw.iter().map(|p| permission_name("permissions", p)).collect()
}

fn role_name(raw: &str) -> Result<RoleName, Problem> {
    RoleName::parse(raw).map_err(|e| ServiceError::invalid("name")(e).into())
}

fn role_id(raw: &str) -> Result<RoleId, Problem> {
    super::problem::path_id("role_id", raw)
}

impl CreateRoleRequest {
    pub(crate) fn into_new(self) -> Result<NewRole, Problem> {
        Ok(NewRole {
            name: role_name(&self.name)?,
            description: self.description,
            permissions: permission_names(&self.permissions)?,
        })
    }
}

impl UpdateRoleRequest {
    pub(crate) fn into_update(self) -> Result<RoleUpdate, Problem> {
        Ok(RoleUpdate {
            name: self.name.as_deref().map(role_name).transpose()?,
            description: self.description,
            permissions: self.permissions.as_deref().map(permission_names).transpose()?,
        })
    }
}

/// Every permission, grouped by category.
#[utoipa::path(get, path = "/api/v1/permissions", tag = "roles", security(("bearer" = ["roles:read"])),
    responses((status = 200, body = PermissionsByCategory), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails)))]
async fn list_permissions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<PermissionsByCategory>, Problem> {
    caller.may(Operation::ReadRoles)?;
    Ok(Json(by_category(&state.service.permissions_by_category(&caller.service()).await?)))
}

/// Define a permission for an API you protect.
#[utoipa::path(post, path = "/api/v1/permissions", tag = "roles", request_body = CreatePermissionRequest,
    security(("bearer" = ["roles:write"])),
    responses((status = 201, body = PermissionResponse), (status = 403, body = ProblemDetails), (status = 400, body = ProblemDetails), (status = 409, body = ProblemDetails)))]
async fn create_permission(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<ApiJson<CreatePermissionRequest>, Problem>,
) -> Result<Response, Problem> {
    caller.may(Operation::CreatePermission)?;
    let ApiJson(body) = body?;
    let name = permission_name("name", &body.name)?;
    let created = state.service.create_permission(&caller.service(), name, &body.description).await?;
    Ok((StatusCode::CREATED, Json(PermissionResponse::from(&created))).into_response())
}

/// Change a permission's description (built-ins cannot be changed).
#[utoipa::path(patch, path = "/api/v1/permissions/{name}", tag = "roles", request_body = UpdatePermissionRequest,
    params(("name" = String, Path)), security(("bearer" = ["roles:write"])),
    responses((status = 200, body = PermissionResponse), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails)))]
async fn update_permission(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<ApiJson<UpdatePermissionRequest>, Problem>,
) -> Result<Json<PermissionResponse>, Problem> {
    caller.may(Operation::UpdatePermission)?;
    let name = permission_name("name", &name)?;
    let ApiJson(body) = body?;
    let updated = state.service.update_permission(&caller.service(), &name, &body.description).await?;
    Ok(Json((&updated).into()))
}

/// Delete a permission: refused while roles use it (the answer lists them),
/// unless `cascade=true` removes it from them too.
#[utoipa::path(delete, path = "/api/v1/permissions/{name}", tag = "roles",
    params(("name" = String, Path), DeletePermissionParams), security(("bearer" = ["roles:write"])),
    responses((status = 204), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails)))]
async fn delete_permission(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    params: Result<Query<DeletePermissionParams>, QueryRejection>,
) -> Result<StatusCode, Problem> {
    caller.may(Operation::DeletePermission)?;
    let name = permission_name("name", &name)?;
    let Query(params) = params.map_err(|e| Problem::invalid_query(e.body_text()))?;
    state.service.delete_permission(&caller.service(), &name, params.cascade).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every role, by name.
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles", security(("bearer" = ["roles:read"])),
    responses((status = 200, body = RoleList), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails)))]
async fn list_roles(State(state): State<AppState>, caller: Caller) -> Result<Json<RoleList>, Problem> {
    caller.may(Operation::ReadRoles)?;
    let roles = state.service.roles(&caller.service()).await?;
    Ok(Json(RoleList { items: roles.iter().map(Into::into).collect() }))
}

/// Create a role from existing permissions.
#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", request_body = CreateRoleRequest,
    security(("bearer" = ["roles:write"])),
    responses((status = 201, body = RoleResponse), (status = 403, body = ProblemDetails), (status = 400, body = ProblemDetails), (status = 409, body = ProblemDetails)))]
async fn create_role(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<ApiJson<CreateRoleRequest>, Problem>,
) -> Result<Response, Problem> {
    caller.may(Operation::CreateRole)?;
    let ApiJson(body) = body?;
    let new = body.into_new()?;
    let role = state.service.create_role(&caller.service(), new).await?;
    Ok((StatusCode::CREATED, Json(RoleResponse::from(&role))).into_response())
}

/// Read one role; its `ETag` is its version, for `If-Match` on changes.
#[utoipa::path(get, path = "/api/v1/roles/{role_id}", tag = "roles", params(("role_id" = Uuid, Path)),
    security(("bearer" = ["roles:read"])),
    responses((status = 200, body = RoleResponse, headers(("ETag" = String, description = "The role's version, e.g. `\"3\"`"))),
        (status = 400, body = ProblemDetails), (status = 404, body = ProblemDetails)))]
async fn read_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.may(Operation::ReadRoles)?;
    Ok(with_etag(&state.service.get_role(&caller.service(), role_id(&id)?).await?))
}

/// The role as answered, with its `ETag`.
fn with_etag(role: &Role) -> Response {
    ([(header::ETAG, etag(role.version))], Json(RoleResponse::from(role))).into_response()
}

/// The version `if_match` requires of role `id`.
async fn required_role_version(
    state: &AppState,
    caller: &Caller,
    id: RoleId,
    if_match: &IfMatch,
) -> Result<Option<u64>, Problem> {
    required_version(if_match, || async { Ok(state.service.get_role(&caller.service(), id).await?.version) })
        .await
}

/// Rename a role, change its description or replace its permissions.
/// New tokens of its clients carry the new set at once; tokens already
/// issued keep their scope until they expire.
/// With `If-Match`, only while the role is at a version named (else 412,
/// nothing changed).
#[utoipa::path(patch, path = "/api/v1/roles/{role_id}", tag = "roles", request_body = UpdateRoleRequest,
    params(("role_id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "`*` or ETags of the role, e.g. `\"3\"`")),
    security(("bearer" = ["roles:write"])),
    responses((status = 200, body = RoleResponse, headers(("ETag" = String, description = "The role's new version"))),
        (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails),
        (status = 412, body = ProblemDetails)))]
async fn update_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: Result<IfMatch, Problem>,
    body: Result<ApiJson<UpdateRoleRequest>, Problem>,
) -> Result<Response, Problem> {
    caller.may(Operation::UpdateRole)?;
    let id = role_id(&id)?;
    let if_match = if_match?;
    let ApiJson(body) = body?;
    let update = body.into_update()?;
    let version = required_role_version(&state, &caller, id, &if_match).await?;
    let role = state.service.update_role_if(&caller.service(), id, update, version).await?;
    Ok(with_etag(&role))
}

/// Delete a role: refused for built-ins and while clients or users hold it
/// (the answer lists them).
/// With `If-Match`, only while the role is at a version named.
#[utoipa::path(delete, path = "/api/v1/roles/{role_id}", tag = "roles",
    params(("role_id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "`*` or ETags of the role, e.g. `\"3\"`")),
    security(("bearer" = ["roles:write"])),
    responses((status = 204), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails),
        (status = 412, body = ProblemDetails)))]
async fn delete_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: Result<IfMatch, Problem>,
) -> Result<StatusCode, Problem> {
    caller.may(Operation::DeleteRole)?;
    let id = role_id(&id)?;
    let version = required_role_version(&state, &caller, id, &if_match?).await?;
    state.service.delete_role_if(&caller.service(), id, version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The permissions the client's tokens may carry now, grouped by category.
#[utoipa::path(get, path = "/api/v1/clients/{client_id}/permissions", tag = "clients", params(("client_id" = Uuid, Path)),
    security(("bearer" = ["clients:read"])),
    responses((status = 200, body = PermissionsByCategory), (status = 400, body = ProblemDetails), (status = 404, body = ProblemDetails)))]
async fn client_permissions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PermissionsByCategory>, Problem> {
    caller.may(Operation::ReadClients)?;
    let id = super::problem::path_id("client_id", &id)?;
    Ok(Json(by_category(&state.service.client_permissions(&caller.service(), id).await?)))
}
