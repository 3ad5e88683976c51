//! Admin API errors as `application/problem+json` (RFC 9457), each with a
//! stable `type`.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use portcullis_service::ServiceError;
use serde::Serialize;
use utoipa::ToSchema;

/// An admin API error; boxed, so that `Result<_, Problem>` stays small.
#[derive(Debug)]
pub struct Problem(Box<ProblemDetails>);

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDetails {
    /// A stable URI naming the kind of problem, e.g. `urn:portcullis:problem:not-found`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The request field at fault, for validation problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The permission that was missing, for `forbidden`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_permission: Option<String>,
    /// The permissions the caller lacks, for `escalation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_permissions: Option<Vec<String>>,
    /// What holds the role or permission that could not be deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub in_use_by: Option<serde_json::Value>,
    #[serde(skip)]
    challenge: Option<String>,
    /// `Retry-After`, in seconds, of a 429 or 503.
    #[serde(skip)]
    retry_after: Option<u32>,
}

impl Problem {
    fn new(status: StatusCode, slug: &str, title: &'static str, detail: impl Into<String>) -> Self {
        Self(Box::new(ProblemDetails {
            kind: format!("urn:portcullis:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            required_permission: None,
            missing_permissions: None,
            in_use_by: None,
            challenge: None,
            retry_after: None,
        }))
    }

    /// What the problem document holds, for adapters that answer in another
    /// shape (GraphQL's `extensions`).
    pub fn details(&self) -> &ProblemDetails {
        &self.0
    }

    /// The `WWW-Authenticate` challenge of a 401 or 403, if any.
    pub fn challenge(&self) -> Option<&str> {
        self.0.challenge.as_deref()
    }

    /// No usable credentials (RFC 6750 §3).
    pub fn unauthorized(detail: &str, invalid_token: bool) -> Self {
        let mut p = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Authentication required", detail);
        p.0.challenge = Some(if invalid_token {
            r#"Bearer realm="portcullis", error="invalid_token""#.to_owned()
        } else {
            r#"Bearer realm="portcullis""#.to_owned()
        });
        p
    }

    /// Authenticated, but the token's scope lacks the permission (RFC 6750 §3.1).
    pub fn forbidden(permission: &str) -> Self {
        let mut p = Self::new(
            StatusCode::FORBIDDEN,
            "insufficient-scope",
            "Insufficient scope",
            format!("this operation needs the `{permission}` permission"),
        );
        p.0.required_permission = Some(permission.to_owned());
        p.0.challenge =
            Some(format!(r#"Bearer realm="portcullis", error="insufficient_scope", scope="{permission}""#));
        p
    }

    /// The change would hand out, or act with, permissions the caller does
    /// not hold itself (no escalation).
    pub fn escalation(missing: &[portcullis_domain::PermissionName]) -> Self {
        let names: Vec<String> = missing.iter().map(ToString::to_string).collect();
        let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let mut p = Self::new(
            StatusCode::FORBIDDEN,
            "escalation",
            "Escalation refused",
            format!(
                "this change needs every permission it hands out or acts with; the caller lacks {}",
                quoted.join(", ")
            ),
        );
        p.0.missing_permissions = Some(names);
        p
    }

    /// A cookie-authenticated change without the session's CSRF token.
    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "CSRF token missing or wrong",
            "send the session's CSRF token in the X-CSRF-Token header",
        )
    }

    pub fn not_a_user() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "not-a-user",
            "Only for users",
            "personal access tokens belong to console users; this caller is an API client",
        )
    }

    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut p = Self::new(StatusCode::BAD_REQUEST, "invalid-field", "A field is invalid", detail);
        p.0.field = Some(field.into());
        p
    }

    pub fn malformed_body(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-body",
            "The request body is not valid JSON for this operation",
            detail,
        )
    }

    /// A request header that cannot be read (e.g. an `If-Match` that is no
    /// list of entity tags); `field` names the header, in lowercase.
    pub fn invalid_header(header: &str, detail: impl Into<String>) -> Self {
        let mut p = Self::new(StatusCode::BAD_REQUEST, "invalid-header", "A header is invalid", detail);
        p.0.field = Some(header.to_owned());
        p
    }

    pub fn invalid_query(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-query", "A query parameter is invalid", detail)
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as application/json",
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("the body may be at most {limit} bytes"),
        )
    }

    /// Too many failed authentications from this address (or for this
    /// account from a failing address): 429 with `Retry-After`.
    pub fn throttled(retry_after: u32) -> Self {
        let mut p = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-failures",
            "Too many failed authentications",
            format!("too many failed authentications; retry in {retry_after} s"),
        );
        p.0.retry_after = Some(retry_after);
        p
    }

    /// The body did not arrive whole within the body-read timeout.
    pub fn timed_out(timeout: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "Request timeout",
            format!("the request body did not arrive within {} s", timeout.as_secs()),
        )
    }

    /// The connection failed while the body arrived.
    pub fn unreadable_body() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "Invalid body",
            "the request body could not be read",
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    /// `If-Match` named another version than the stored one (RFC 9110
    /// §13.1.1): nothing was changed; read the resource again.
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, "precondition-failed", "Precondition failed", detail)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the server could not complete the request",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            "the database is not reachable; try again",
        )
    }
}

/// An id from the path (`client_id`, `role_id`, …): a UUID, or 400 naming it.
pub fn path_id<T: std::str::FromStr>(field: &'static str, raw: &str) -> Result<T, Problem> {
    raw.parse().map_err(|_| Problem::invalid_field(field, format!("{field} must be a UUID")))
}

impl From<ServiceError> for Problem {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid { field, source } => {
                Self::invalid_field(field, format!("{field}: {source}"))
            }
            ServiceError::Forbidden(permission) => Self::forbidden(permission.as_str()),
            ServiceError::Escalation { missing } => Self::escalation(&missing),
            ServiceError::InvalidCursor => {
                let mut p = Self::invalid_query("the cursor is not one this server handed out");
                p.0.field = Some("cursor".into());
                p
            }
            ServiceError::NulInFilter(field) => {
                let mut p = Self::invalid_query(format!("{field} must not contain a NUL byte"));
                p.0.field = Some(field.into());
                p
            }
            ServiceError::ClientNotFound => Self::not_found("no client with that id"),
            ServiceError::ClientDisabled => Self::conflict("the client is disabled; enable it first"),
            ServiceError::RoleNotFound(name) => {
                Self::invalid_field("role", format!("no role named `{name}`"))
            }
            ServiceError::RoleIdNotFound => Self::not_found("no role with that id"),
            ServiceError::UserNotFound => Self::not_found("no user with that id"),
            ServiceError::EmailTaken => Self::conflict("a user with that e-mail exists"),
            ServiceError::UsersExist => Self::conflict("there are users already"),
            ServiceError::EventNotFound => Self::not_found("no event with that id"),
            ServiceError::PersonalTokenNotFound => Self::not_found("there is no personal access token"),
            ServiceError::KeyNotFound => Self::not_found("no signing key with that kid"),
            ServiceError::NoRoles => Self::invalid_field("roles", "a user needs at least one role"),
            ServiceError::WeakPassword(why) => Self::invalid_field("password", why.to_string()),
            ServiceError::UnknownPermission(name) => {
                Self::invalid_field("permissions", format!("no permission named `{name}`"))
            }
            ServiceError::PermissionNotFound(name) => {
                Self::not_found(format!("no permission named `{name}`"))
            }
            ServiceError::Builtin(what) => Self::new(
                StatusCode::CONFLICT,
                "builtin",
                "Built-in",
                format!("built-in {what}s cannot be changed or deleted"),
            ),
            ServiceError::PermissionInUse { roles } => {
                let detail = format!(
                    "the permission is used by roles: {}; delete with ?cascade=true to remove it from them",
                    roles.join(", ")
                );
                let mut p = Self::new(StatusCode::CONFLICT, "in-use", "In use", detail);
                p.0.in_use_by = Some(serde_json::json!({ "roles": roles }));
                p
            }
            ServiceError::RoleInUse { clients, users } => {
                let detail = format!(
                    "the role is held by {} client(s) and {} user(s); give them another role first",
                    clients.len(),
                    users.len()
                );
                let mut p = Self::new(StatusCode::CONFLICT, "in-use", "In use", detail);
                p.0.in_use_by = Some(serde_json::json!({ "clients": clients, "users": users }));
                p
            }
            ServiceError::Conflict(rule) => {
                Self::conflict(format!("the change conflicts with stored data ({rule})"))
            }
            ServiceError::Stale { current, .. } => Self::precondition_failed(format!(
                "the resource has changed since it was read (it is at version {current}); read it again"
            )),
            ServiceError::Busy => {
                let mut p = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "Busy",
                    "the server is busy checking passwords; try again in a second",
                );
                p.0.retry_after = Some(1);
                p
            }
            ServiceError::Store(e) => {
                tracing::error!(error = %e, "admin API: database error");
                Self::unavailable()
            }
            e @ (ServiceError::Crypto(_) | ServiceError::Corrupt(_)) => {
                tracing::error!(error = %e, "admin API: internal error");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let details = *self.0;
        let status = StatusCode::from_u16(details.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let challenge = details.challenge.clone();
        let body = serde_json::to_string(&details).unwrap_or_else(|_| String::from("{}"));
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(seconds) = details.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
