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
#[derive(Serialize, Clone, Copy)]
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

/// The answer as recorded: `json` with the access token replaced by its
/// marker. serde writes the struct's first field first, so the token is
/// found where it must be (no search through the answer: a substring
/// search for a 500-byte token cost more than the rest of recording it).
fn recorded_answer(json: &str, answer: &TokenResponse<'_>) -> String {
    const HEAD: &str = r#"{"access_token":""#;
    let token = answer.access_token;
    let marker = redact_credential(token);
    match json.strip_prefix(HEAD).and_then(|rest| rest.strip_prefix(token)) {
        Some(rest) => [HEAD, &marker, rest].concat(),
        // Never taken while the struct's field order stands; correct anyway.
        None => {
            serde_json::to_string(&TokenResponse { access_token: &marker, ..*answer }).unwrap_or_default()
        }
    }
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
/// body to find it (the hottest path there is). The JSON is written once:
/// the recorded form is the answer with the token's text replaced (a JWT
/// is base64url and dots, written as it is: see [`recorded_answer`]).
fn success(token: &IssuedToken, recorded: bool) -> Response {
    let scope = token.scope.to_string();
    let answer = TokenResponse {
        access_token: &token.access_token,
        token_type: "Bearer",
        expires_in: token.expires_in,
        scope: &scope,
    };
    let Ok(json) = serde_json::to_string(&answer) else {
        return OAuthError::Internal(portcullis_service::ServiceError::Corrupt(
            "the token answer did not serialise".into(),
        ))
        .into_response();
    };
    let recorded = recorded.then(|| recorded_answer(&json, &answer));
    let mut response =
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response();
    if let Some(text) = recorded {
        response.extensions_mut().insert(RecordedResponse(text));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_answer_is_the_answer_with_the_token_as_its_marker() {
        let token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl";
        for scope in ["", "clients:read users:read"] {
            let answer = TokenResponse { access_token: token, token_type: "Bearer", expires_in: 3600, scope };
            let json = serde_json::to_string(&answer).unwrap();
            let marked = TokenResponse { access_token: &redact_credential(token), ..answer };
            assert_eq!(recorded_answer(&json, &answer), serde_json::to_string(&marked).unwrap());
            assert!(!recorded_answer(&json, &answer).contains(token));
            // Whatever the JSON looks like, the token never stays in it.
            let reordered = format!(r#"{{"token_type":"Bearer","access_token":"{token}"}}"#);
            assert!(!recorded_answer(&reordered, &answer).contains(token));
        }
    }
}
