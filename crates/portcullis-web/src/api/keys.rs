//! `/api/v1/keys`: the signing keys: list, rotate, revoke.

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use portcullis_service::{KeyState, Operation, SigningKeyInfo};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    auth::Caller,
    problem::{Problem, ProblemDetails},
};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/keys", get(list))
        .route("/keys/rotate", post(rotate))
        .route("/keys/{kid}/revoke", post(revoke))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKey {
    /// The key that signs new tokens from now on: it was published (as the
    /// next key) before this rotation.
    pub kid: String,
}

/// Where a key is in its life; every state is published in the JWKS.
#[derive(Debug, Serialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SigningKeyState {
    /// Published, not signing yet: the next rotation makes it current.
    Next,
    /// Signs new tokens.
    Current,
    /// Replaced; published until every token it signed has expired.
    Previous,
}

impl From<KeyState> for SigningKeyState {
    fn from(state: KeyState) -> Self {
        match state {
            KeyState::Next => Self::Next,
            KeyState::Current => Self::Current,
            KeyState::Previous => Self::Previous,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKey {
    pub kid: String,
    /// `EdDSA`.
    pub algorithm: String,
    pub state: SigningKeyState,
    pub created_at: DateTime<Utc>,
    /// When it started signing; absent while `next`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<DateTime<Utc>>,
    /// When it stopped signing; only for `previous`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_at: Option<DateTime<Utc>>,
}

impl From<SigningKeyInfo> for SigningKey {
    fn from(k: SigningKeyInfo) -> Self {
        Self {
            kid: k.kid,
            algorithm: k.algorithm,
            state: k.state.into(),
            created_at: k.created_at,
            activated_at: k.activated_at,
            replaced_at: k.replaced_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeyList {
    /// Newest first: the next key, the current key, then replaced ones.
    pub items: Vec<SigningKey>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedKey {
    pub kid: String,
    /// The state the key had when it was revoked.
    pub state: SigningKeyState,
}

/// The signing keys (public facts only, never a private key).
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    security(("bearer" = ["keys:write"])),
    responses((status = 200, body = SigningKeyList), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails)))]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<SigningKeyList>, Problem> {
    caller.may(Operation::ReadSigningKeys)?;
    let keys = state.service.signing_keys(&caller.service()).await?;
    Ok(Json(SigningKeyList { items: keys.into_iter().map(SigningKey::from).collect() }))
}

/// Rotate the signing keys: the next key, published in the JWKS since the
/// last rotation, signs new tokens from now on, and a new next key is
/// published. The replaced key stays in the JWKS until every token it
/// signed has expired.
#[utoipa::path(post, path = "/api/v1/keys/rotate", tag = "keys",
    security(("bearer" = ["keys:write"])),
    responses((status = 200, body = RotatedKey), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails)))]
async fn rotate(State(state): State<AppState>, caller: Caller) -> Result<Json<RotatedKey>, Problem> {
    caller.may(Operation::RotateSigningKey)?;
    let kid = state.service.rotate_signing_key(&caller.service()).await?;
    Ok(Json(RotatedKey { kid }))
}

/// Withdraw a (compromised) key at once: it leaves the JWKS and every token
/// it signed stops validating here from the next request on, on every
/// instance. If it was signing, the next key takes over and a new next key
/// is published.
#[utoipa::path(post, path = "/api/v1/keys/{kid}/revoke", tag = "keys",
    params(("kid" = String, Path, description = "The key's id, as in the JWKS")),
    security(("bearer" = ["keys:write"])),
    responses((status = 200, body = RevokedKey), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails)))]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(kid): Path<String>,
) -> Result<Json<RevokedKey>, Problem> {
    caller.may(Operation::RevokeSigningKey)?;
    let was = state.service.revoke_signing_key(&caller.service(), &kid).await?;
    Ok(Json(RevokedKey { kid, state: was.into() }))
}
