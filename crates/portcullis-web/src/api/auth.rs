//! `Authorization: Bearer <access token from this server>` for the admin
//! API. Handlers take a [`Caller`] and call `require` first.

use std::sync::Arc;

use axum::{extract::FromRequestParts, http::request::Parts};
use portcullis_domain::{ApiClient, PermissionName, Scope};

use super::problem::Problem;
use crate::AppState;

/// Who is calling, and with which permissions.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client: Arc<ApiClient>,
    pub scope: Scope,
}

impl Caller {
    /// The permission must be in the token's scope (RFC 6750 §3.1).
    pub fn require(&self, permission: &str) -> Result<(), Problem> {
        let granted = PermissionName::parse(permission).is_ok_and(|p| self.scope.contains(&p));
        if granted {
            Ok(())
        } else {
            tracing::info!(client_id = %self.client.id, permission, "admin API: permission refused");
            Err(Problem::forbidden(permission))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(axum::http::header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(Problem::unauthorized(
                "send an access token as `Authorization: Bearer <token>`",
                false,
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| {
                Problem::unauthorized("send an access token as `Authorization: Bearer <token>`", false)
            })?;
        match state.service.authenticate_bearer(token).await {
            Ok(active) => Ok(Caller { client: active.client, scope: active.scope }),
            Err(portcullis_service::TokenRejected::Internal(e)) => Err(Problem::from(e)),
            Err(reason) => {
                tracing::info!(%reason, "admin API: token refused");
                Err(Problem::unauthorized(
                    "the access token is invalid, expired, revoked, or its client is disabled",
                    true,
                ))
            }
        }
    }
}
