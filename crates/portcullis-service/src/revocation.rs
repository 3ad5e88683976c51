//! Revocation (RFC 7009): of one token by its client, and of every token of
//! a client by an operator.

use portcullis_domain::{ApiClient, ClientId, Timestamp, now};
use uuid::Uuid;

use portcullis_store::ClientPatch;

use crate::{
    Caller, Result, Service, ServiceError,
    audit::{self, ChangeKind, Subject},
    clients::ClientView,
    jwt,
};

#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// RFC 7009 §2.1: a client may revoke only its own tokens.
    #[error("the token was issued to another client")]
    OtherClient,
    #[error(transparent)]
    Internal(#[from] ServiceError),
}

impl Service {
    /// Revokes `token` for `caller`. Unknown, malformed, foreign-issuer and
    /// expired tokens are no error (RFC 7009 §2.2): there is nothing to do.
    pub async fn revoke_token(&self, caller: &ApiClient, token: &str) -> Result<(), RevokeError> {
        let keys = self.current_keys().await?;
        let Ok(claims) = jwt::verify(&keys, token) else { return Ok(()) };
        if claims.iss != self.inner.config.issuer {
            return Ok(());
        }
        if claims.client_id != caller.id.to_string() {
            tracing::info!(client_id = %caller.id, "revocation refused: token of another client");
            return Err(RevokeError::OtherClient);
        }
        let (Ok(jti), Some(expires_at)) =
            (claims.jti.parse::<Uuid>(), Timestamp::from_timestamp(claims.exp, 0))
        else {
            return Ok(());
        };
        if expires_at <= now() {
            return Ok(());
        }
        self.inner
            .stores
            .tokens
            .revoke_token(jti, caller.id, expires_at)
            .await
            .map_err(ServiceError::from)?;
        self.inner.cache.invalidate();
        tracing::info!(client_id = %caller.id, %jti, "access token revoked");
        Ok(())
    }

    /// Revokes every token the client holds now, without touching its
    /// secret: tokens issued up to this second stop working; new ones work.
    /// Acts with no permission: only `clients:write` is needed.
    pub async fn revoke_client_tokens(&self, caller: &Caller, id: ClientId) -> Result<ClientView> {
        caller.may(crate::Operation::RevokeClientTokens)?;
        let actor = &caller.actor;
        let patch = ClientPatch { tokens_valid_after: Some(now()), ..ClientPatch::default() };
        let events = |_: &ApiClient, _: &ApiClient| {
            vec![audit::change_event(actor, ChangeKind::ClientTokensRevoked, Subject::Client(id), None)]
        };
        let (_, client) = self.change_client(id, &patch, None, &events).await?;
        tracing::info!(client_id = %id, "every token of the client revoked");
        self.view(client).await
    }

    /// Deletes revocations of tokens that have expired, in bounded batches.
    pub async fn purge_revocations(&self) -> Result<u64> {
        let tokens = &self.inner.stores.tokens;
        crate::batches::purge_in_batches(1000, std::time::Duration::ZERO, |limit| {
            tokens.purge_revoked_tokens(now(), limit)
        })
        .await
    }
}
