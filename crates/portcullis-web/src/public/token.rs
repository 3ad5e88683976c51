//! `POST /oauth2/token`: the client_credentials grant (RFC 6749 §4.4).

use axum::{
    Extension,
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, Uri, header},
    response::{IntoResponse, Response},
};
use portcullis_service::{AuthFailure, IssuedToken};
use serde::Serialize;

use super::request::{client_credentials, read_form};
use portcullis_domain::credential::redact_credential;

use crate::recording::{RecordedResponse, SubjectSlot};
use crate::{AppState, error::OAuthError};

pub(crate) const KNOWN: [&str; 4] = ["grant_type", "scope", "client_id", "client_secret"];

/// RFC 6749 §5.1.
#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u32,
    /// Omitted when nothing was granted: an empty scope is not a scope
    /// (RFC 6749 §3.3 needs at least one scope-token).
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
}

pub async fn token(
    State(state): State<AppState>,
    slot: Option<Extension<SubjectSlot>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    match issue(&state, slot.as_ref().map(|s| &s.0), &headers, &uri, body).await {
        Ok(token) => success(&token, slot.is_some()),
        Err(e) => e.into_response(),
    }
}

async fn issue(
    state: &AppState,
    slot: Option<&SubjectSlot>,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<IssuedToken, OAuthError> {
    let params = read_form(headers, uri, body, &KNOWN).await?;
    match params.get("grant_type").map(String::as_str) {
        None => return Err(OAuthError::InvalidRequest("grant_type is missing")),
        Some("client_credentials") => {}
        Some(_) => return Err(OAuthError::UnsupportedGrantType),
    }
    let (client_id, secret) = client_credentials(headers, &params)
        .inspect_err(|_| state.service.count_auth_failure(AuthFailure::MalformedCredentials))?
        .ok_or(OAuthError::InvalidClient)?;
    // Failed requests of a known client are recorded too: that is what an
    // operator debugging an integration needs.
    if let (Some(slot), Ok(id)) = (slot, client_id.parse()) {
        slot.set_client(id);
    }
    let scope = params.get("scope").map(String::as_str);
    Ok(state.service.client_credentials(&client_id, &secret, scope).await?)
}

/// Any method but POST: 405 with `Allow`, as an OAuth error (RFC 6749 §3.2).
pub async fn method_not_allowed() -> Response {
    let mut response = OAuthError::MethodNotAllowed.into_response();
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// The answer, and, when requests are recorded, the form it is recorded
/// in: the same JSON with the access token as a marker. This handler
/// knows which field is the secret, so the recorder need not parse the
/// body to find it (the hottest path there is).
fn success(token: &IssuedToken, recorded: bool) -> Response {
    let scope = token.scope.to_string();
    let answer = |access_token| TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: token.expires_in,
        scope: &scope,
    };
    let mut response = axum::Json(answer(&token.access_token)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if recorded && let Ok(text) = serde_json::to_string(&answer(&redact_credential(&token.access_token))) {
        response.extensions_mut().insert(RecordedResponse(text));
    }
    response
}
