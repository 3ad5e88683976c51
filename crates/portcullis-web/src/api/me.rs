//! `/api/v1/session` (console sign-in), `/api/v1/me` and `/api/v1/me/token`
//! (the caller's personal access token).

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::SecondsFormat;
use portcullis_domain::PersonalTokenSecret;
use portcullis_service::{PersonalTokenInfo, SignInError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    auth::{Caller, Principal},
    clients::ClientResponse,
    json::ApiJson,
    problem::{Problem, ProblemDetails},
    session_cookie,
    users::UserResponse,
};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/session", post(sign_in).delete(sign_out))
        .route("/me", get(me))
        .route("/me/token", post(rotate_token).get(read_token).delete(revoke_token))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignedInResponse {
    pub user: UserResponse,
    /// Send it as `X-CSRF-Token` with every request that changes something.
    pub csrf_token: String,
    pub expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// `client` or `user`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<MeUser>,
    /// The caller's effective permissions.
    pub permissions: Vec<String>,
    /// Signed in with the session cookie only: the session's CSRF token,
    /// so that a page reloaded by the console can keep changing things
    /// (readable by the console's own origin only: no CORS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeUser {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonalTokenResponse {
    /// `pat_…x7Kq`.
    pub hint: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<&PersonalTokenInfo> for PersonalTokenResponse {
    fn from(t: &PersonalTokenInfo) -> Self {
        Self {
            hint: t.hint.clone(),
            created_at: t.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            last_used_at: t.last_used_at.map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedPersonalToken {
    /// Shown this once. The previous token, if any, stopped working.
    #[serde(serialize_with = "crate::shown::once")]
    #[schema(value_type = String)]
    pub token: PersonalTokenSecret,
    #[serde(flatten)]
    pub info: PersonalTokenResponse,
}

/// Sign in with e-mail and password: sets the session cookie (HttpOnly,
/// SameSite=Lax, `__Host-` and Secure over https) and returns the CSRF token.
/// A wrong e-mail and a wrong password get the same answer in the same time.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = SignInRequest,
    responses((status = 200, body = SignedInResponse), (status = 401, body = ProblemDetails),
        (status = 503, description = "Every password check slot and its queue are taken (`busy`); `Retry-After: 1`", body = ProblemDetails)))]
async fn sign_in(
    State(state): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: axum::http::HeaderMap,
    body: Result<ApiJson<SignInRequest>, Problem>,
) -> Result<Response, Problem> {
    let ApiJson(body) = body?;
    let origin = portcullis_service::Origin {
        source_ip: crate::recording::source_ip(peer.map(|p| p.0.0.ip()), &headers, &state.trusted_proxies),
        user_agent: crate::recording::user_agent(&headers),
    };
    let signed_in =
        state.service.sign_in_from(&body.email, &body.password, &origin).await.map_err(|e| match e {
            SignInError::InvalidCredentials => {
                Problem::unauthorized("the e-mail or the password is wrong", false)
            }
            SignInError::Internal(e) => e.into(),
        })?;
    // The cookie lasts as long as the session may (its absolute timeout);
    // the server ends it sooner when it is idle.
    let max_age = state.service.config().sessions.absolute.num_seconds();
    let set_cookie = session_cookie::set(&state, &signed_in.session_id, max_age)?;
    let body = SignedInResponse {
        user: (&signed_in.user).into(),
        csrf_token: signed_in.csrf_token,
        expires_at: signed_in.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    };
    Ok(([(header::SET_COOKIE, set_cookie)], Json(body)).into_response())
}

/// Sign out: ends the session and clears the cookie.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails)))]
async fn sign_out(State(state): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let Principal::User { session: Some(session), .. } = &caller.principal else {
        return Err(Problem::unauthorized("there is no session to end", false));
    };
    state.service.sign_out(session).await?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, session_cookie::clear(&state)?)]).into_response())
}

/// Who is calling: an API client or a user, and its effective permissions.
#[utoipa::path(get, path = "/api/v1/me", tag = "session",
    responses((status = 200, body = MeResponse), (status = 401, body = ProblemDetails)))]
async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<MeResponse>, Problem> {
    let permissions = caller.scope.iter().map(ToString::to_string).collect();
    Ok(Json(match &caller.principal {
        Principal::Client(_) => {
            let view = state.service.caller_client(&caller.service()).await?;
            MeResponse {
                kind: "client",
                client: Some((&view).into()),
                user: None,
                permissions,
                csrf_token: None,
            }
        }
        Principal::User { user, session } => MeResponse {
            kind: "user",
            client: None,
            user: Some(MeUser {
                user_id: user.id.as_uuid(),
                email: user.email.to_string(),
                name: user.name.as_str().to_owned(),
            }),
            permissions,
            csrf_token: session.as_deref().map(|id| state.service.csrf_token(id)),
        },
    }))
}

/// Create the caller's personal access token, revoking the current one in
/// the same step ("revoke and regenerate"): exactly one is valid afterwards.
#[utoipa::path(post, path = "/api/v1/me/token", tag = "session",
    responses((status = 201, body = CreatedPersonalToken), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails)))]
async fn rotate_token(State(state): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let user = caller.user()?;
    let (info, secret) = state.service.rotate_personal_token(&caller.actor(), user.id).await?;
    let body = CreatedPersonalToken { token: secret, info: (&info).into() };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The caller's personal access token: metadata only.
#[utoipa::path(get, path = "/api/v1/me/token", tag = "session",
    responses((status = 200, body = PersonalTokenResponse), (status = 403, description = "An API client has no personal access token (`not-a-user`)", body = ProblemDetails), (status = 404, body = ProblemDetails)))]
async fn read_token(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<PersonalTokenResponse>, Problem> {
    let user = caller.user()?;
    let info = state
        .service
        .personal_token(user.id)
        .await?
        .ok_or_else(|| Problem::not_found("there is no personal access token"))?;
    Ok(Json((&info).into()))
}

/// Revoke the caller's personal access token without a replacement.
#[utoipa::path(delete, path = "/api/v1/me/token", tag = "session",
    responses((status = 204), (status = 403, description = "An API client has no personal access token (`not-a-user`)", body = ProblemDetails), (status = 404, body = ProblemDetails)))]
async fn revoke_token(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, Problem> {
    let user = caller.user()?;
    state.service.revoke_personal_token(&caller.actor(), user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
