//! Personal access tokens: one active per user, `pat_…`, stored hashed,
//! shown once; acting with the user's current permissions.

use std::sync::Arc;

use portcullis_domain::{PersonalAccessToken, PersonalTokenSecret, Timestamp, UserId, UserStatus, now};

use crate::{
    Actor, Caller, Result, Service, ServiceError,
    audit::{ChangeKind, Subject, change_event},
    sessions::ActiveUser,
};

/// What may be shown of a personal access token after its creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalTokenInfo {
    pub hint: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

impl From<PersonalAccessToken> for PersonalTokenInfo {
    fn from(t: PersonalAccessToken) -> Self {
        Self { hint: t.hint, created_at: t.created_at, last_used_at: t.last_used_at }
    }
}

impl Service {
    /// Creates the user's token, revoking the current one in the same step:
    /// afterwards exactly one is valid.
    pub async fn rotate_personal_token(
        &self,
        actor: &Actor,
        user_id: UserId,
    ) -> Result<(PersonalTokenInfo, PersonalTokenSecret)> {
        self.inner.stores.users.get_user(user_id).await?.ok_or(ServiceError::UserNotFound)?;
        let secret = PersonalTokenSecret::generate();
        let token = PersonalAccessToken {
            user_id,
            hash: self.inner.hasher.hash(&secret),
            hint: secret.hint(),
            created_at: now(),
            last_used_at: None,
        };
        let event = change_event(actor, ChangeKind::UserPersonalTokenRotated, Subject::User(user_id), None);
        self.inner.stores.users.replace_personal_token(&token, &[event]).await?;
        self.inner.cache.invalidate();
        tracing::info!(%user_id, "personal access token created");
        Ok((token.into(), secret))
    }

    pub async fn personal_token(&self, user_id: UserId) -> Result<Option<PersonalTokenInfo>> {
        Ok(self.inner.stores.users.get_user_personal_token(user_id).await?.map(Into::into))
    }

    pub async fn revoke_personal_token(&self, actor: &Actor, user_id: UserId) -> Result<()> {
        let event = change_event(actor, ChangeKind::UserPersonalTokenRevoked, Subject::User(user_id), None);
        if !self.inner.stores.users.delete_user_personal_token(user_id, &[event]).await? {
            return Err(ServiceError::PersonalTokenNotFound);
        }
        self.inner.cache.invalidate();
        tracing::info!(%user_id, "personal access token revoked");
        Ok(())
    }

    /// Revokes another user's personal access token (`users:write`), e.g.
    /// one that leaked. Like every change to a user, it needs every
    /// permission of the user's roles: a narrower caller cannot cut an
    /// admin's automation off. `UserNotFound` for no such user,
    /// `PersonalTokenNotFound` when it has none.
    pub async fn revoke_user_personal_token(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        caller.may(crate::Operation::RevokeUserPersonalToken)?;
        let user = self.inner.stores.users.get_user(user_id).await?.ok_or(ServiceError::UserNotFound)?;
        caller.require_all(&self.roles_permissions(user.roles.iter().copied()).await?)?;
        self.revoke_personal_token(&caller.actor, user_id).await
    }

    /// The token's user and current permissions, if the token is the user's
    /// active one and the user is enabled. A malformed token never reaches
    /// the database.
    pub async fn authenticate_personal_token(&self, token: &str) -> Result<Option<ActiveUser>> {
        let Some((active, _)) = self.personal_token_state(token).await? else {
            self.count_auth_failure(crate::AuthFailure::InvalidPersonalToken);
            return Ok(None);
        };
        self.inner.last_used.personal_tokens.note(active.user.id, now());
        Ok(Some(active))
    }

    /// Whether `token` is some user's active personal access token, without
    /// counting a use. The revocation endpoint answers 200 for anything else
    /// (RFC 7009 §2.2: an invalid token is not an error).
    pub async fn is_active_personal_token(&self, token: &str) -> Result<bool> {
        Ok(self.personal_token_state(token).await?.is_some())
    }

    /// The token's user and permissions if it is valid now, without
    /// counting a use (introspection looks, it does not use).
    pub(crate) async fn personal_token_state(
        &self,
        token: &str,
    ) -> Result<Option<(ActiveUser, PersonalTokenInfo)>> {
        let Ok(secret) = PersonalTokenSecret::parse(token) else { return Ok(None) };
        let hash = self.inner.hasher.hash(&secret);
        let Some(stored) = self.inner.stores.users.get_personal_token_by_hash(&hash).await? else {
            return Ok(None);
        };
        let Some(user) = self.inner.stores.users.get_user(stored.user_id).await? else { return Ok(None) };
        if user.status != UserStatus::Enabled {
            return Ok(None);
        }
        let scope = self.user_scope(&user).await?;
        Ok(Some((ActiveUser { user: Arc::new(user), scope }, stored.into())))
    }
}
