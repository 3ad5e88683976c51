//! Validating an access token presented to Portcullis: by the admin API's
//! `Authorization: Bearer`, and by introspection (RFC 7662).

use std::sync::Arc;

use portcullis_domain::{ApiClient, ClientId, Scope, now};
use uuid::Uuid;

use crate::{
    AuthFailure, Service, ServiceError,
    cache::Generation,
    jwt,
    jwt::AccessTokenClaims,
    keys::KeySet,
    verified::{self, Verified, VerifiedTokenStats},
};

/// A token that is active right now.
#[derive(Debug, Clone)]
pub struct ActiveToken {
    /// Shared with the memory of verified tokens (see `verified`).
    pub claims: Arc<AccessTokenClaims>,
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
    ///
    /// The signature is checked once per token: what it established is
    /// remembered under the token's SHA-256 (`verified`), and a token
    /// presented again skips the Ed25519 verification (and the JSON) while
    /// everything that can change is checked each time, at this request's
    /// generation: that its key is still published, its time, its client
    /// and its revocation.
    pub async fn validate_access_token(&self, token: &str) -> Result<ActiveToken, TokenRejected> {
        let generation = self.inner.cache.generation()?;
        let keys = self.keys_at(generation).await?;
        let digest = verified::digest(token);
        let remembered = match self.inner.verified.get(&digest) {
            Some(known) if keys.verifying_key(&known.kid).is_some() => Some(known),
            Some(_) => {
                // Its key was withdrawn: verifying again refuses it.
                self.inner.verified.remove(&digest);
                None
            }
            None => None,
        };
        let (known, fresh) = match remembered {
            Some(known) => (known, false),
            None => (Arc::new(self.verify(&keys, token)?), true),
        };
        let active = self.still_active(generation, &known).await?;
        if fresh {
            self.inner.verified.insert(digest, known, now().timestamp());
        }
        Ok(active)
    }

    /// What the token's signature establishes: signed by one of our
    /// published keys, by this issuer, with well-formed claims.
    fn verify(&self, keys: &KeySet, token: &str) -> Result<Verified, TokenRejected> {
        let (claims, kid) = jwt::verify_with_kid(keys, token)?;
        if claims.iss != self.inner.config.issuer {
            return Err(TokenRejected::WrongIssuer);
        }
        let client_id: ClientId = claims.client_id.parse().map_err(|_| jwt::InvalidToken::Claims)?;
        let jti: Uuid = claims.jti.parse().map_err(|_| jwt::InvalidToken::Claims)?;
        let scope =
            Scope::parse(claims.scope.as_deref().unwrap_or("")).map_err(|_| jwt::InvalidToken::Claims)?;
        Ok(Verified { claims: Arc::new(claims), kid, client_id, jti, scope })
    }

    /// What can change since the token was signed: its time, its client's
    /// state and its revocation, at `generation`.
    async fn still_active(
        &self,
        generation: Generation,
        known: &Verified,
    ) -> Result<ActiveToken, TokenRejected> {
        let claims = &known.claims;
        let at = now().timestamp();
        if at >= claims.exp || at < claims.nbf {
            return Err(TokenRejected::Expired);
        }
        let inner = &self.inner;
        let client = inner
            .cache
            .client(generation, inner.stores.clients.as_ref(), known.client_id)
            .await?
            .filter(|c| c.is_enabled())
            .ok_or(TokenRejected::ClientInactive)?;
        // "Revoke every token" and RFC 7009 revocations.
        if client.tokens_valid_after.is_some_and(|after| claims.iat <= after.timestamp()) {
            return Err(TokenRejected::Revoked);
        }
        if inner.cache.is_revoked(generation, inner.stores.tokens.as_ref(), known.jti).await? {
            return Err(TokenRejected::Revoked);
        }
        Ok(ActiveToken { claims: claims.clone(), client, scope: known.scope.clone() })
    }

    /// What the memory of verified tokens holds and has done, since start.
    pub fn verified_token_stats(&self) -> VerifiedTokenStats {
        self.inner.verified.stats()
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
