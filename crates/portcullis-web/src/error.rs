//! OAuth2 error responses (RFC 6749 §5.2).

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use portcullis_service::{GrantError, ServiceError};

pub const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
pub const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const BASIC_CHALLENGE: HeaderValue = HeaderValue::from_static(r#"Basic realm="portcullis", charset="UTF-8""#);
/// RFC 6750 §3.1: a bearer token that is not (or no longer) valid.
const INVALID_TOKEN_CHALLENGE: HeaderValue =
    HeaderValue::from_static(r#"Bearer realm="portcullis", error="invalid_token""#);

/// An error of the token endpoint. `Display` is the RFC 6749 §5.2 code.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request")]
    InvalidRequest(&'static str),
    /// Client authentication failed (unknown, disabled or deleted client,
    /// wrong or malformed secret, no credentials).
    #[error("invalid_client")]
    InvalidClient,
    /// A caller authenticating with a bearer token (introspection) sent one
    /// that is not valid: 401 with the RFC 6750 §3.1 challenge.
    #[error("invalid_token")]
    InvalidToken,
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("invalid_scope")]
    InvalidScope,
    /// RFC 7009 §2.2.1: a kind of token this endpoint cannot revoke.
    #[error("unsupported_token_type")]
    UnsupportedTokenType,
    /// RFC 7009 §2.1: the token belongs to another client.
    #[error("unauthorized_client")]
    UnauthorizedClient,
    /// The body is larger than we read; still `invalid_request`, with 413.
    #[error("invalid_request")]
    TooLarge,
    /// The body did not arrive whole in time; `invalid_request`, with 408.
    #[error("invalid_request")]
    TimedOut,
    /// Too many failed authentications from this address or for this
    /// client: 429, with `Retry-After`, before any secret is checked.
    #[error("temporarily_unavailable")]
    Throttled,
    /// The client has had its tokens for now
    /// (`PORTCULLIS_TOKENS_PER_CLIENT_PER_HOUR`): 429 with `Retry-After`.
    #[error("temporarily_unavailable")]
    OverQuota { retry_after_seconds: u32 },
    /// The token endpoint takes POST only (RFC 6749 §3.2): 405.
    #[error("invalid_request")]
    MethodNotAllowed,
    #[error("server_error")]
    Internal(#[source] ServiceError),
}

impl OAuthError {
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidClient | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TimedOut => StatusCode::REQUEST_TIMEOUT,
            Self::Throttled | Self::OverQuota { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Internal(ServiceError::Store(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn description(&self) -> &'static str {
        match self {
            Self::InvalidRequest(why) => why,
            Self::InvalidClient => "client authentication failed",
            Self::InvalidToken => "the bearer token is malformed, expired, revoked or unknown",
            Self::UnsupportedGrantType => "only the client_credentials grant is supported",
            Self::InvalidScope => {
                "the requested scope is invalid, unknown, or exceeds what the client may have"
            }
            Self::UnauthorizedClient => "the token was issued to another client",
            Self::UnsupportedTokenType => {
                "personal access tokens are revoked by their user at /api/v1/me/token"
            }
            Self::TooLarge => "the request body is too large",
            Self::TimedOut => "the request body did not arrive in time",
            Self::Throttled => "too many failed authentications; retry after the time Retry-After gives",
            Self::OverQuota { .. } => {
                "this client has had its tokens for the hour: keep each token until it expires; retry after \
                 the time Retry-After gives"
            }
            Self::MethodNotAllowed => "this endpoint takes POST only",
            Self::Internal(ServiceError::Store(_)) => "the database is not reachable; try again",
            Self::Internal(_) => "the server could not complete the request",
        }
    }
}

impl From<GrantError> for OAuthError {
    fn from(e: GrantError) -> Self {
        match e {
            GrantError::InvalidClient => Self::InvalidClient,
            GrantError::InvalidScope => Self::InvalidScope,
            GrantError::OverQuota { retry_after_seconds } => Self::OverQuota { retry_after_seconds },
            GrantError::Internal(e) => Self::Internal(e),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        if let Self::Internal(e) = &self {
            // Details go to the log, never to the caller.
            tracing::error!(error = %e, "token endpoint failed");
        }
        // The database is out of reach (a failover, a restart): not our
        // fault nor the caller's, and worth a retry.
        let unavailable = matches!(self, Self::Internal(ServiceError::Store(_)));
        let code = if unavailable { "temporarily_unavailable".to_owned() } else { self.to_string() };
        let body = serde_json::json!({ "error": code, "error_description": self.description() });
        let mut response = (self.status(), body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, JSON);
        headers.insert(header::CACHE_CONTROL, NO_STORE);
        headers.insert(header::PRAGMA, NO_CACHE);
        if unavailable {
            headers.insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        if matches!(self, Self::InvalidClient) {
            // RFC 6749 §5.2 and RFC 9110 §15.5.2: every 401 names the scheme.
            headers.insert(header::WWW_AUTHENTICATE, BASIC_CHALLENGE);
        }
        if matches!(self, Self::InvalidToken) {
            headers.insert(header::WWW_AUTHENTICATE, INVALID_TOKEN_CHALLENGE);
        }
        if let Self::OverQuota { retry_after_seconds } = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_only_the_allowed_characters() {
        // RFC 6749 §5.2: error = 1*( %x20-21 / %x23-5B / %x5D-7E )
        for e in [
            OAuthError::InvalidRequest("x"),
            OAuthError::InvalidClient,
            OAuthError::InvalidToken,
            OAuthError::UnsupportedGrantType,
            OAuthError::InvalidScope,
            OAuthError::UnauthorizedClient,
            OAuthError::UnsupportedTokenType,
            OAuthError::TooLarge,
            OAuthError::TimedOut,
            OAuthError::Throttled,
            OAuthError::OverQuota { retry_after_seconds: 1 },
            OAuthError::MethodNotAllowed,
        ] {
            let code = e.to_string();
            assert!(code.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)), "{code}");
            assert!(e.description().bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)));
        }
    }
}
