//! Validating an access token presented to Portcullis: by the admin API's
//! `Authorization: Bearer`, and by introspection (RFC 7662).

use std::sync::Arc;

use portcullis_domain::{ApiClient, ClientId, Scope, now};

use crate::{Service, ServiceError, jwt, jwt::AccessTokenClaims};

/// A token that is active right now.
#[derive(Debug, Clone)]
pub struct ActiveToken {
    pub claims: AccessTokenClaims,
    pub client: Arc<ApiClient>,
    pub scope: Scope,
}

/// Why a token is not active. Callers answer "invalid token" (or
/// `active: false`) whatever the reason; the reason is for logs.
#[derive(Debug, thiserror::Error)]
pub enum TokenRejected {
    #[error("invalid token: {0}")]
    Invalid(#[from] jwt::InvalidToken),
    #[error("token was issued by another issuer")]
    WrongIssuer,
    #[error("token is expired or not yet valid")]
    Expired,
    #[error("the token's client is unknown, deleted or disabled")]
    ClientInactive,
    #[error(transparent)]
    Internal(#[from] ServiceError),
}

impl Service {
    /// Checks signature, issuer, time and the client's current state: a
    /// disabled or deleted client's tokens stop working on the next request.
    pub async fn validate_access_token(&self, token: &str) -> Result<ActiveToken, TokenRejected> {
        let claims = jwt::verify(&self.keys(), token)?;
        if claims.iss != self.inner.config.issuer {
            return Err(TokenRejected::WrongIssuer);
        }
        let at = now().timestamp();
        if at >= claims.exp || at < claims.nbf {
            return Err(TokenRejected::Expired);
        }
        let id: ClientId = claims.client_id.parse().map_err(|_| jwt::InvalidToken::Claims)?;
        let inner = &self.inner;
        let generation = inner.cache.generation()?;
        let client = inner
            .cache
            .client(generation, inner.stores.clients.as_ref(), id)
            .await?
            .filter(|c| c.is_enabled())
            .ok_or(TokenRejected::ClientInactive)?;
        let scope =
            Scope::parse(claims.scope.as_deref().unwrap_or("")).map_err(|_| jwt::InvalidToken::Claims)?;
        Ok(ActiveToken { claims, client, scope })
    }
}
