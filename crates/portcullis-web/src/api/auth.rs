//! Who calls the admin API, and with which permissions:
//! * `Authorization: Bearer <access token>` of this server (an API client);
//! * `Authorization: Bearer pat_…`, a user's personal access token;
//! * the console's session cookie, with `X-CSRF-Token` on every request
//!   that changes something.
//!
//! Handlers take a [`Caller`] and hand the service its
//! [`Caller::service`] form: the service decides what the caller may do
//! (its own permission first, then no escalation).

use std::sync::Arc;

use axum::{
    extract::FromRequestParts,
    http::{Method, header, request::Parts},
};
use portcullis_domain::{ApiClient, Scope, User};
use portcullis_service::{ActiveUser, Actor, AuthFailure, TokenRejected};

use super::{
    problem::Problem,
    session_cookie::{self, Presented},
};
use crate::{AppState, recording::SubjectSlot};

pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Debug, Clone)]
pub enum Principal {
    Client(Arc<ApiClient>),
    /// A user, by personal access token or by session (then with its id).
    User {
        user: Arc<User>,
        session: Option<String>,
    },
}

/// Who is calling, and with which permissions.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub scope: Scope,
}

impl Caller {
    /// Refuses, before the body is read, a caller without the operation's
    /// own permission; the service checks it again (and the escalation rule).
    pub fn may(&self, operation: portcullis_service::Operation) -> Result<(), Problem> {
        Ok(self.service().may(operation)?)
    }

    /// The caller as the service sees it: who, and the permissions this
    /// request carries.
    pub fn service(&self) -> portcullis_service::Caller {
        portcullis_service::Caller::new(self.actor(), self.scope.clone())
    }

    /// Who the change events of this request name: the client or the user.
    pub fn actor(&self) -> Actor {
        match &self.principal {
            Principal::Client(client) => Actor::Client(client.id),
            Principal::User { user, .. } => Actor::User(user.id),
        }
    }

    /// The calling user, for `/me/token`.
    pub fn user(&self) -> Result<&Arc<User>, Problem> {
        match &self.principal {
            Principal::User { user, .. } => Ok(user),
            Principal::Client(_) => Err(Problem::not_a_user()),
        }
    }
}

fn unauthorized() -> Problem {
    Problem::unauthorized("send an access token as `Authorization: Bearer <token>`, or sign in", false)
}

fn invalid_token() -> Problem {
    Problem::unauthorized(
        "the access token is invalid, expired, revoked, or its client or user is disabled",
        true,
    )
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = authenticate(parts, state).await?;
        if let Some(slot) = parts.extensions.get::<SubjectSlot>() {
            match &caller.principal {
                Principal::Client(client) => slot.set_client(client.id),
                Principal::User { user, .. } => slot.set_user(user.id),
            }
            slot.set_scope(caller.scope.clone());
        }
        Ok(caller)
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, Problem> {
    let malformed = || {
        state.service.count_auth_failure(AuthFailure::MalformedCredentials);
        unauthorized()
    };
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
                .ok_or_else(malformed)?;
            bearer(state, token).await
        }
        (Some(_), Some(_)) => Err(malformed()),
        (None, _) => session(parts, state).await,
    }
}

async fn bearer(state: &AppState, token: &str) -> Result<Caller, Problem> {
    if token.starts_with("pat_") {
        return match state.service.authenticate_personal_token(token).await? {
            Some(ActiveUser { user, scope }) => {
                Ok(Caller { principal: Principal::User { user, session: None }, scope })
            }
            None => {
                tracing::info!("admin API: personal access token refused");
                Err(invalid_token())
            }
        };
    }
    match state.service.authenticate_bearer(token).await {
        Ok(active) => Ok(Caller { principal: Principal::Client(active.client), scope: active.scope }),
        Err(TokenRejected::Internal(e)) => Err(Problem::from(e)),
        Err(reason) => {
            tracing::info!(%reason, "admin API: token refused");
            Err(invalid_token())
        }
    }
}

async fn session(parts: &Parts, state: &AppState) -> Result<Caller, Problem> {
    let name = session_cookie::session_cookie_name(session_cookie::secure(state));
    let id = match session_cookie::read(&parts.headers, name) {
        Presented::One(id) => id,
        Presented::None => return Err(unauthorized()),
        Presented::Several => {
            return Err(Problem::unauthorized(
                "the session cookie was sent more than once; clear this site's cookies and sign in again",
                false,
            ));
        }
    };
    // Cookies travel with cross-site requests; the CSRF token does not.
    // Checked before the session is looked up (the token is derived from
    // the cookie alone), so that a forged request neither reaches the
    // store nor moves the session's idle clock forward.
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let presented = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !state.service.check_csrf(&id, presented) {
            return Err(Problem::csrf());
        }
    }
    let Some(ActiveUser { user, scope }) = state.service.authenticate_session(&id).await? else {
        // The cookie came, its session is gone: idle too long, past its
        // absolute end, signed out, or its user disabled.
        return Err(Problem::unauthorized("the session has ended: sign in again", false));
    };
    Ok(Caller { principal: Principal::User { user, session: Some(id) }, scope })
}
