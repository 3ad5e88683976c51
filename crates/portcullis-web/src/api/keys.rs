//! `/api/v1/keys`: signing-key rotation.

use axum::{Json, Router, extract::State, routing::post};
use portcullis_service::Operation;
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    auth::Caller,
    problem::{Problem, ProblemDetails},
};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/keys/rotate", post(rotate))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKey {
    /// The new key's id: new tokens carry it in their header from now on.
    pub kid: String,
}

/// Create a new signing key. New tokens are signed with it at once; the old
/// public keys stay in the JWKS until every token they signed has expired.
#[utoipa::path(post, path = "/api/v1/keys/rotate", tag = "keys",
    security(("bearer" = ["keys:write"])),
    responses((status = 200, body = RotatedKey), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails)))]
async fn rotate(State(state): State<AppState>, caller: Caller) -> Result<Json<RotatedKey>, Problem> {
    caller.may(Operation::RotateSigningKey)?;
    let kid = state.service.rotate_signing_key(&caller.service()).await?;
    Ok(Json(RotatedKey { kid }))
}
