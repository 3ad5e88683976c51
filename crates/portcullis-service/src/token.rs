//! Client authentication and the client_credentials grant (RFC 6749 §4.4):
//! the hot path. It reads memory first (see `cache`), checks one HMAC and
//! signs one Ed25519 signature; it never waits on a database write.

use std::sync::Arc;

use portcullis_domain::{ApiClient, ClientId, ClientSecret, Event, Scope};
use uuid::Uuid;

use crate::{AuthFailure, Service, ServiceError, cache::Generation, jwt, jwt::AccessTokenClaims};

/// Why a token request was refused, in RFC 6749 §5.2 terms.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// Unknown, disabled or deleted client, malformed or wrong secret: one
    /// answer for all, so that the response tells an attacker nothing.
    #[error("client authentication failed")]
    InvalidClient,
    #[error("the requested scope is invalid, unknown, or exceeds what the client may have")]
    InvalidScope,
    /// The client has had its tokens for now
    /// (`PORTCULLIS_TOKENS_PER_CLIENT_PER_HOUR`): the next one in this
    /// many seconds.
    #[error("the client has had its quota of tokens; the next in {retry_after_seconds} s")]
    OverQuota { retry_after_seconds: u32 },
    #[error(transparent)]
    Internal(#[from] ServiceError),
}

/// The kind of the event recorded when a client first runs out of its
/// token quota in an hour (not at every refusal).
pub const TOKEN_QUOTA_EXCEEDED: &str = "client.token_quota_exceeded";

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u32,
    pub scope: Scope,
    pub claims: AccessTokenClaims,
}

impl Service {
    /// Checks a client's credentials. The secret's shape and checksum are
    /// checked before any lookup; the hash is compared in constant time.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Arc<ApiClient>, GrantError> {
        let generation = self.inner.cache.generation()?;
        self.authenticate_at(generation, client_id, secret).await
    }

    /// One request reads the change generation once and uses it throughout.
    async fn authenticate_at(
        &self,
        generation: Generation,
        client_id: &str,
        secret: &str,
    ) -> Result<Arc<ApiClient>, GrantError> {
        let refused = |reason| {
            self.count_auth_failure(reason);
            GrantError::InvalidClient
        };
        let id: ClientId = client_id.parse().map_err(|_| refused(AuthFailure::MalformedCredentials))?;
        let secret = ClientSecret::parse(secret).map_err(|_| refused(AuthFailure::MalformedCredentials))?;
        let inner = &self.inner;
        let client = inner
            .cache
            .client(generation, inner.stores.clients.as_ref(), id)
            .await?
            .ok_or_else(|| refused(AuthFailure::UnknownClient))?;
        if inner.hasher.hash(&secret) != client.secret_hash {
            tracing::info!(client_id = %id, "client authentication failed: wrong secret");
            return Err(refused(AuthFailure::WrongSecret));
        }
        if !client.is_enabled() {
            tracing::info!(client_id = %id, "client authentication failed: client disabled");
            return Err(refused(AuthFailure::DisabledClient));
        }
        inner.last_used.clients.note(client.id, portcullis_domain::now());
        Ok(client)
    }

    /// The permissions a client may put in a token: its role's, or none.
    pub async fn allowed_scope(&self, client: &ApiClient) -> Result<Scope, ServiceError> {
        let generation = self.inner.cache.generation()?;
        self.allowed_scope_at(generation, client).await
    }

    async fn allowed_scope_at(
        &self,
        generation: Generation,
        client: &ApiClient,
    ) -> Result<Scope, ServiceError> {
        let Some(role_id) = client.role_id else { return Ok(Scope::default()) };
        let inner = &self.inner;
        let role = inner.cache.role(generation, inner.stores.roles.as_ref(), role_id).await?;
        // A role removed under a client leaves it with no permissions.
        Ok(role.map(|r| r.scope()).unwrap_or_default())
    }

    /// `scope` narrows to a subset of the role's permissions; anything
    /// outside is `invalid_scope`; no scope means all of them (RFC 6749 §3.3).
    pub async fn issue_token(
        &self,
        client: &ApiClient,
        requested: Option<&str>,
    ) -> Result<IssuedToken, GrantError> {
        let generation = self.inner.cache.generation()?;
        self.issue_token_at(generation, client, requested).await
    }

    async fn issue_token_at(
        &self,
        generation: Generation,
        client: &ApiClient,
        requested: Option<&str>,
    ) -> Result<IssuedToken, GrantError> {
        let allowed = self.allowed_scope_at(generation, client).await?;
        let scope = match requested.filter(|s| !s.is_empty()) {
            None => allowed,
            Some(requested) => {
                let requested = Scope::parse(requested).map_err(|_| GrantError::InvalidScope)?;
                // A scope of only spaces names no scope-token: RFC 6749 §3.3
                // asks for at least one, so it is malformed, not "everything".
                if requested.is_empty() || !requested.is_subset(&allowed) {
                    return Err(GrantError::InvalidScope);
                }
                requested
            }
        };
        let config = &self.inner.config;
        let iat = chrono_now_secs();
        let ttl = client.token_ttl.as_secs();
        let claims = AccessTokenClaims {
            iss: config.issuer.clone(),
            sub: client.id.to_string(),
            client_id: client.id.to_string(),
            aud: config.audience.clone(),
            iat,
            nbf: iat,
            exp: iat + i64::from(ttl),
            jti: Uuid::new_v4().to_string(),
            scope: (!scope.is_empty()).then(|| scope.to_string()),
        };
        let keys = self.keys_at(generation).await?;
        let access_token = jwt::sign(&keys.active, &claims)
            .map_err(|e| ServiceError::Corrupt(format!("token claims did not serialise: {e}")))?;
        // Every token signed is counted here, whichever way it was asked for.
        self.inner.counters.tokens_issued.count(client.id);
        Ok(IssuedToken { access_token, expires_in: ttl, scope, claims })
    }

    /// Issues a token for a client without its secret, for an operator who
    /// holds `tokens:issue` (the console's "Generate access token"). A
    /// disabled client gets none: its tokens would be inactive anyway.
    ///
    /// The token acts with the client's role: the caller must hold every
    /// permission of it.
    pub async fn issue_token_for_client(
        &self,
        caller: &crate::Caller,
        id: ClientId,
        scope: Option<&str>,
    ) -> Result<IssuedToken, ServiceError> {
        caller.may(crate::Operation::IssueClientToken)?;
        let client = self.inner.stores.clients.get_client(id).await?.ok_or(ServiceError::ClientNotFound)?;
        caller.require_all(&self.roles_permissions(client.role_id).await?)?;
        if !client.is_enabled() {
            return Err(ServiceError::ClientDisabled);
        }
        let token = self.issue_token(&client, scope).await.map_err(|e| match e {
            GrantError::InvalidScope => {
                ServiceError::Invalid { field: "scope", source: portcullis_domain::DomainError::InvalidScope }
            }
            GrantError::InvalidClient => ServiceError::ClientDisabled,
            // The quota is the token endpoint's; tokens issued here do not count.
            GrantError::OverQuota { .. } => ServiceError::Busy,
            GrantError::Internal(e) => e,
        })?;
        tracing::info!(client_id = %id, jti = %token.claims.jti, "access token issued through the admin API");
        Ok(token)
    }

    /// The client_credentials grant: authenticate, then issue.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        secret: &str,
        scope: Option<&str>,
    ) -> Result<IssuedToken, GrantError> {
        let generation = self.inner.cache.generation()?;
        let client = self.authenticate_at(generation, client_id, secret).await?;
        if let Some(quota) = &self.inner.token_quota
            && let Err(over) = quota.take(client.id).inspect(|_| self.inner.counters.token_quota.allowed())
        {
            self.inner.counters.token_quota.refused();
            let retry_after_seconds =
                u32::try_from(over.retry_after.as_secs().saturating_add(1)).unwrap_or(u32::MAX);
            if over.report {
                tracing::warn!(client_id = %client.id, per_hour = quota.per_hour(), "token quota used up: refusing tokens");
                self.record(Event {
                    client_id: Some(client.id),
                    status: Some(429),
                    details: Some(
                        serde_json::json!({ "per_hour": quota.per_hour(), "retry_after_seconds": retry_after_seconds })
                            .to_string(),
                    ),
                    ..Event::new(TOKEN_QUOTA_EXCEEDED, portcullis_domain::now())
                });
            }
            return Err(GrantError::OverQuota { retry_after_seconds });
        }
        let token = self.issue_token_at(generation, &client, scope).await?;
        tracing::info!(client_id = %client.id, jti = %token.claims.jti, "access token issued");
        Ok(token)
    }
}

fn chrono_now_secs() -> i64 {
    portcullis_domain::now().timestamp()
}
