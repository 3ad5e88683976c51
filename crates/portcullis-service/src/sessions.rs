//! Console sign-in: a session cookie (≥ 128-bit CSPRNG id, stored only as
//! its keyed hash, idle and absolute timeouts) and a CSRF token derived from
//! it, which every state-changing request made with the cookie must send.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::TimeDelta;
use portcullis_domain::{Email, Event, Scope, Session, User, UserId, UserStatus, now};
use rand::{RngCore, rngs::OsRng};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{Service, ServiceError, SessionKind, users::UserView};

/// Signed out after this long without a request, by default.
pub const SESSION_IDLE: TimeDelta = TimeDelta::minutes(30);
/// Signed out after this long whatever the activity, by default.
pub const SESSION_ABSOLUTE: TimeDelta = TimeDelta::hours(12);
/// `last_seen_at` is written at most this often per session (less often
/// for short idle timeouts: see [`SessionTimeouts::touch_every`]).
const TOUCH_EVERY: TimeDelta = TimeDelta::seconds(60);

/// When a console session ends: after `idle` without a request, and at
/// `absolute` after sign-in whatever the activity (the cookie's Max-Age).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimeouts {
    pub idle: TimeDelta,
    pub absolute: TimeDelta,
}

impl Default for SessionTimeouts {
    fn default() -> Self {
        Self { idle: SESSION_IDLE, absolute: SESSION_ABSOLUTE }
    }
}

impl SessionTimeouts {
    /// How stale `last_seen_at` may get before a request writes it again:
    /// a minute, or a thirtieth of the idle timeout when that is shorter.
    /// A session so ends between `idle - touch_every` and `idle` after its
    /// last request, and a busy console does not write on every request.
    fn touch_every(&self) -> TimeDelta {
        TOUCH_EVERY.min(self.idle / 30)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown e-mail, wrong password or disabled user: one answer, in the
    /// same time.
    #[error("the e-mail or the password is wrong")]
    InvalidCredentials,
    #[error(transparent)]
    Internal(#[from] ServiceError),
}

pub struct SignedIn {
    /// The cookie value: shown to the browser only.
    pub session_id: Zeroizing<String>,
    pub csrf_token: String,
    pub user: UserView,
    pub expires_at: portcullis_domain::Timestamp,
}

/// A session or personal access token that is valid now, and its user's
/// current permissions.
#[derive(Debug, Clone)]
pub struct ActiveUser {
    pub user: Arc<User>,
    pub scope: Scope,
}

/// Where a sign-in comes from, for its event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A session event, queued like a request event.
fn session_event(
    kind: SessionKind,
    user_id: Option<UserId>,
    origin: &Origin,
    details: Option<serde_json::Value>,
) -> Event {
    Event {
        user_id,
        source_ip: origin.source_ip.clone(),
        user_agent: origin.user_agent.clone(),
        details: details.map(|d| d.to_string()),
        ..Event::new(kind.as_str(), now())
    }
}

impl Service {
    /// [`sign_in_from`](Self::sign_in_from) an unknown origin.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<SignedIn, SignInError> {
        self.sign_in_from(email, password, &Origin::default()).await
    }

    /// Every attempt is an event: `session.signed_in`, or
    /// `session.sign_in_failed` with the e-mail tried (only when it is an
    /// e-mail: what was typed there may be a password), the address and
    /// the user agent. A refusal as busy is not an attempt.
    pub async fn sign_in_from(
        &self,
        email: &str,
        password: &str,
        origin: &Origin,
    ) -> Result<SignedIn, SignInError> {
        let email = Email::parse(email).ok();
        let user = match &email {
            Some(email) => {
                self.inner.stores.users.get_user_by_email(email).await.map_err(ServiceError::from)?
            }
            None => None,
        };
        // Always one argon2 verification, so that timing tells nothing.
        let ok = self
            .inner
            .passwords
            .verify(user.as_ref().and_then(|u| u.password_hash.as_ref()), password)
            .await?;
        let tried = serde_json::json!({ "email": email.as_ref().map(Email::as_str) });
        let known = user.as_ref().map(|u| u.id);
        let Some(user) = user.filter(|u| ok && u.status == UserStatus::Enabled) else {
            tracing::info!("console sign-in failed");
            self.count_auth_failure(crate::AuthFailure::FailedSignIn);
            self.record(session_event(SessionKind::SignInFailed, known, origin, Some(tried)));
            return Err(SignInError::InvalidCredentials);
        };
        let mut raw = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(raw.as_mut());
        let session_id = Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_ref()));
        let at = now();
        let timeouts = self.inner.config.sessions;
        let session = Session {
            id_hash: self.inner.hasher.hash_bytes(session_id.as_bytes()),
            user_id: user.id,
            created_at: at,
            last_seen_at: at,
            expires_at: at + timeouts.absolute,
        };
        self.inner.stores.users.insert_session(&session).await.map_err(ServiceError::from)?;
        tracing::info!(user_id = %user.id, "console sign-in");
        self.record(session_event(SessionKind::SignedIn, Some(user.id), origin, Some(tried)));
        Ok(SignedIn {
            csrf_token: self.csrf_token(&session_id),
            session_id,
            user: self.user_view(user).await?,
            expires_at: session.expires_at,
        })
    }

    /// The CSRF token of a session: a keyed hash of its id, so it needs no
    /// storage and cannot be forged without the server key.
    pub fn csrf_token(&self, session_id: &str) -> String {
        let mut input = Vec::with_capacity(5 + session_id.len());
        input.extend_from_slice(b"csrf:");
        input.extend_from_slice(session_id.as_bytes());
        URL_SAFE_NO_PAD.encode(self.inner.hasher.hash_bytes(&input).as_bytes())
    }

    pub fn check_csrf(&self, session_id: &str, presented: &str) -> bool {
        self.csrf_token(session_id).as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// The session's user, if the session is still valid and the user
    /// enabled; moves the idle timeout forward.
    pub async fn authenticate_session(&self, session_id: &str) -> Result<Option<ActiveUser>, ServiceError> {
        let active = self.session_user(session_id).await?;
        if active.is_none() {
            self.count_auth_failure(crate::AuthFailure::EndedSession);
        }
        Ok(active)
    }

    async fn session_user(&self, session_id: &str) -> Result<Option<ActiveUser>, ServiceError> {
        let hash = self.inner.hasher.hash_bytes(session_id.as_bytes());
        let Some(session) = self.inner.stores.users.get_session(&hash).await? else { return Ok(None) };
        let at = now();
        let timeouts = self.inner.config.sessions;
        if at >= session.expires_at || at >= session.last_seen_at + timeouts.idle {
            self.inner.stores.users.delete_session(&hash).await?;
            let reason = if at >= session.expires_at { "absolute" } else { "idle" };
            let details = serde_json::json!({ "reason": reason });
            let event =
                session_event(SessionKind::Expired, Some(session.user_id), &Origin::default(), Some(details));
            self.record(event);
            return Ok(None);
        }
        let Some(user) = self.inner.stores.users.get_user(session.user_id).await? else { return Ok(None) };
        if user.status != UserStatus::Enabled {
            return Ok(None);
        }
        if at - session.last_seen_at >= timeouts.touch_every() {
            self.inner.stores.users.touch_session(&hash, at).await?;
        }
        let scope = self.user_scope(&user).await?;
        Ok(Some(ActiveUser { user: Arc::new(user), scope }))
    }

    /// Deletes ended sessions (idle or past their absolute end), in bounded batches.
    pub async fn purge_sessions(&self) -> Result<u64, ServiceError> {
        let users = &self.inner.stores.users;
        let idle = self.inner.config.sessions.idle;
        crate::batches::purge_in_batches(1000, std::time::Duration::ZERO, |limit| {
            let at = now();
            users.purge_sessions(at, at - idle, limit)
        })
        .await
    }

    /// Ends the session, recorded as `session.signed_out`.
    pub async fn sign_out(&self, session_id: &str) -> Result<(), ServiceError> {
        let hash = self.inner.hasher.hash_bytes(session_id.as_bytes());
        let session = self.inner.stores.users.get_session(&hash).await?;
        self.inner.stores.users.delete_session(&hash).await?;
        if let Some(session) = session {
            let event =
                session_event(SessionKind::SignedOut, Some(session.user_id), &Origin::default(), None);
            self.record(event);
        }
        Ok(())
    }
}
