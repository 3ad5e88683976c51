//! `POST /oauth2/revoke` (RFC 7009).

use axum::{
    Extension,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use portcullis_service::RevokeError;

use super::{caller::authenticate, request::read_form};
use crate::recording::SubjectSlot;
use crate::{AppState, error::OAuthError};

const KNOWN: [&str; 4] = ["token", "token_type_hint", "client_id", "client_secret"];

pub async fn revoke(
    State(state): State<AppState>,
    slot: Option<Extension<SubjectSlot>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    match run(&state, slot.as_ref().map(|s| &s.0), &headers, &uri, body).await {
        // RFC 7009 §2.2: 200, whether or not the token was known.
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn run(
    state: &AppState,
    slot: Option<&SubjectSlot>,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<(), OAuthError> {
    let params = read_form(headers, uri, body, &KNOWN).await?;
    // RFC 7009 §2.1: the client authenticates with its own credentials.
    let caller = authenticate(state, slot, headers, &params, false).await?;
    let token = params.get("token").ok_or(OAuthError::InvalidRequest("token is missing"))?;
    // RFC 7009 §2.2.1: personal access tokens belong to users and are revoked
    // at /api/v1/me/token, not by clients here. A `pat_…` string that is not
    // an active personal access token is just an invalid token: 200 (§2.2).
    if token.starts_with("pat_") {
        let active = state.service.is_active_personal_token(token).await.map_err(OAuthError::Internal)?;
        return if active { Err(OAuthError::UnsupportedTokenType) } else { Ok(()) };
    }
    // An unknown token_type_hint is ignored (§2.1).
    state.service.revoke_token(&caller.client, token).await.map_err(|e| match e {
        RevokeError::OtherClient => OAuthError::UnauthorizedClient,
        RevokeError::Internal(e) => OAuthError::Internal(e),
    })
}
