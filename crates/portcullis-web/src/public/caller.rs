//! Who calls introspection or revocation: a client authenticated by its
//! secret (Basic or in the body), or, for introspection, a bearer token.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use portcullis_domain::{ApiClient, Scope};
use portcullis_service::{AuthFailure, GrantError, TokenRejected};

use super::request::{Params, client_credentials};
use crate::{AppState, error::OAuthError, recording::SubjectSlot};

pub struct EndpointCaller {
    pub client: Arc<ApiClient>,
    /// What the caller may do: its role's permissions when it authenticated
    /// with its secret, the token's scope when it sent a bearer token.
    pub scope: Scope,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub async fn authenticate(
    state: &AppState,
    slot: Option<&SubjectSlot>,
    headers: &HeaderMap,
    params: &Params,
    allow_bearer: bool,
) -> Result<EndpointCaller, OAuthError> {
    if allow_bearer && let Some(token) = bearer(headers) {
        if params.contains_key("client_secret") {
            return Err(OAuthError::InvalidRequest("use one client authentication method, not two"));
        }
        return match state.service.authenticate_bearer(token).await {
            Ok(active) => {
                if let Some(slot) = slot {
                    slot.set_client(active.client.id);
                }
                Ok(EndpointCaller { client: active.client, scope: active.scope })
            }
            Err(TokenRejected::Internal(e)) => Err(OAuthError::Internal(e)),
            // RFC 6750 §3.1: the caller chose Bearer, so the challenge is Bearer's.
            Err(_) => Err(OAuthError::InvalidToken),
        };
    }
    let (id, secret) = client_credentials(headers, params)
        .inspect_err(|_| state.service.count_auth_failure(AuthFailure::MalformedCredentials))?
        .ok_or(OAuthError::InvalidClient)?;
    if let (Some(slot), Ok(client_id)) = (slot, id.parse()) {
        slot.set_client(client_id);
    }
    let client = state.service.authenticate_client(&id, &secret).await.map_err(|e| match e {
        GrantError::Internal(e) => OAuthError::Internal(e),
        _ => OAuthError::InvalidClient,
    })?;
    let scope = state.service.allowed_scope(&client).await.map_err(OAuthError::Internal)?;
    Ok(EndpointCaller { client, scope })
}
