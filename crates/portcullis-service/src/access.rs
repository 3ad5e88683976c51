//! Validating an access token presented to Portcullis: by the admin API's
//! `Authorization: Bearer`, and by introspection (RFC 7662).

use std::sync::Arc;

use portcullis_domain::{ApiClient, ClientId, Scope, now};
use uuid::Uuid;

use crate::{AuthFailure, Service, ServiceError, jwt, jwt::AccessTokenClaims};

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
    #[error("the token was revoked")]
    Revoked,
    #[error(transparent)]
    Internal(#[from] ServiceError),
}

impl Service {
    /// Checks signature, issuer, time and the client's current state: a
    /// disabled or deleted client's tokens stop working on the next request.
    pub async fn validate_access_token(&self, token: &str) -> Result<ActiveToken, TokenRejected> {
        let generation = self.inner.cache.generation()?;
        let claims = jwt::verify(&*self.keys_at(generation).await?, token)?;
        if claims.iss != self.inner.config.issuer {
            return Err(TokenRejected::WrongIssuer);
        }
        let at = now().timestamp();
        if at >= claims.exp || at < claims.nbf {
            return Err(TokenRejected::Expired);
        }
        let id: ClientId = claims.client_id.parse().map_err(|_| jwt::InvalidToken::Claims)?;
        let inner = &self.inner;
        let client = inner
            .cache
            .client(generation, inner.stores.clients.as_ref(), id)
            .await?
            .filter(|c| c.is_enabled())
            .ok_or(TokenRejected::ClientInactive)?;
        // "Revoke every token" and RFC 7009 revocations.
        if client.tokens_valid_after.is_some_and(|after| claims.iat <= after.timestamp()) {
            return Err(TokenRejected::Revoked);
        }
        let jti: Uuid = claims.jti.parse().map_err(|_| jwt::InvalidToken::Claims)?;
        if inner.cache.is_revoked(generation, inner.stores.tokens.as_ref(), jti).await? {
            return Err(TokenRejected::Revoked);
        }
        let scope =
            Scope::parse(claims.scope.as_deref().unwrap_or("")).map_err(|_| jwt::InvalidToken::Claims)?;
        Ok(ActiveToken { claims, client, scope })
    }

    /// A bearer token presented to the admin API: validated, and counted as
    /// a use of its client.
    pub async fn authenticate_bearer(&self, token: &str) -> Result<ActiveToken, TokenRejected> {
        let active = self.validate_access_token(token).await.inspect_err(|rejected| {
            let reason = match rejected {
                TokenRejected::Invalid(_) | TokenRejected::WrongIssuer => AuthFailure::InvalidToken,
                TokenRejected::Expired => AuthFailure::ExpiredToken,
                TokenRejected::ClientInactive => AuthFailure::InactiveClientToken,
                TokenRejected::Revoked => AuthFailure::RevokedToken,
                TokenRejected::Internal(_) => return,
            };
            self.count_auth_failure(reason);
        })?;
        self.note_client_used(active.client.id);
        Ok(active)
    }

    /// RFC 7662: the token's state as `caller` may see it. A caller with
    /// `tokens:introspect` sees any token, personal access tokens included;
    /// any other client only its own access tokens. `None` means
    /// `active: false`, whatever the reason.
    pub async fn introspect(
        &self,
        caller: &ApiClient,
        caller_scope: &Scope,
        token: &str,
    ) -> Result<Option<Introspected>, ServiceError> {
        let may_see_any =
            caller_scope.contains(&portcullis_domain::BuiltinPermission::TokensIntrospect.into());
        if token.starts_with("pat_") {
            if !may_see_any {
                return Ok(None);
            }
            return Ok(self.personal_token_state(token).await?.map(|(active, info)| {
                Introspected::Personal { user: active.user, scope: active.scope, issued_at: info.created_at }
            }));
        }
        match self.validate_access_token(token).await {
            Ok(active) if may_see_any || active.client.id == caller.id => {
                Ok(Some(Introspected::Access(active)))
            }
            Ok(_) => Ok(None),
            Err(TokenRejected::Internal(e)) => Err(e),
            Err(reason) => {
                tracing::debug!(%reason, "introspection: inactive token");
                Ok(None)
            }
        }
    }
}

/// What introspection found active.
#[derive(Debug, Clone)]
pub enum Introspected {
    Access(ActiveToken),
    /// A personal access token: its user and the user's current permissions.
    Personal {
        user: Arc<portcullis_domain::User>,
        scope: Scope,
        issued_at: portcullis_domain::Timestamp,
    },
}
