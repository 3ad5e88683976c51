//! `POST /oauth2/introspect` (RFC 7662).

use axum::{
    Extension, Json,
    body::Body,
    extract::State,
    http::{HeaderMap, Uri},
    response::{IntoResponse, Response},
};
use portcullis_service::Introspected;
use serde::Serialize;

use super::{caller::authenticate, request::read_form};
use crate::recording::SubjectSlot;
use crate::{AppState, error::OAuthError};

const KNOWN: [&str; 4] = ["token", "token_type_hint", "client_id", "client_secret"];

/// RFC 7662 §2.2. Inactive answers carry `active: false` and nothing else.
#[derive(Serialize, Default)]
struct Introspection {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    /// For personal access tokens: the user's e-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
}

pub async fn introspect(
    State(state): State<AppState>,
    slot: Option<Extension<SubjectSlot>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    match answer(&state, slot.as_ref().map(|s| &s.0), &headers, &uri, body).await {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn answer(
    state: &AppState,
    slot: Option<&SubjectSlot>,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<Introspection, OAuthError> {
    let params = read_form(headers, uri, body, &KNOWN).await?;
    // RFC 7662 §2.1: the caller authenticates first.
    let caller = authenticate(state, slot, headers, &params, true).await?;
    let token = params.get("token").ok_or(OAuthError::InvalidRequest("token is missing"))?;
    // A token_type_hint is only a hint (§2.1): every token type is searched anyway.
    let found =
        state.service.introspect(&caller.client, &caller.scope, token).await.map_err(OAuthError::Internal)?;
    Ok(match found {
        None => Introspection::default(),
        Some(Introspected::Access(active)) => {
            let c = &*active.claims;
            Introspection {
                active: true,
                scope: c.scope.clone(),
                client_id: Some(c.client_id.clone()),
                token_type: Some("Bearer"),
                exp: Some(c.exp),
                iat: Some(c.iat),
                nbf: Some(c.nbf),
                sub: Some(c.sub.clone()),
                aud: Some(c.aud.clone()),
                iss: Some(c.iss.clone()),
                jti: Some(c.jti.clone()),
                username: None,
            }
        }
        // A personal access token: no expiry; it acts with its user's
        // current permissions.
        Some(Introspected::Personal { user, scope, issued_at }) => Introspection {
            active: true,
            scope: (!scope.is_empty()).then(|| scope.to_string()),
            token_type: Some("Bearer"),
            iat: Some(issued_at.timestamp()),
            sub: Some(user.id.to_string()),
            username: Some(user.email.to_string()),
            iss: Some(state.service.config().issuer.clone()),
            ..Introspection::default()
        },
    })
}
