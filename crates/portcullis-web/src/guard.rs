//! Before anything else reads a request (authentication, recording, the
//! handler): its body's size limit and deadline, per route group, answered
//! in the group's own error shape with `no-store`.
//!
//! * A declared `Content-Length` past the limit is refused at once, before
//!   a byte of the body is read: 413.
//! * A body that goes past the limit while it arrives (chunked) is refused
//!   as soon as it does: 413.
//! * A body that has not arrived whole within the body-read timeout is
//!   refused: 408, and the connection is closed (its unread rest is never
//!   waited for).
//!
//! The body is then handed on already read (at most the limit: 16 KiB on
//! the OAuth2 endpoints, 64 KiB on the admin API), so nothing after this
//! waits on the network.

use std::time::Duration;

use axum::{
    body::{Body, to_bytes},
    extract::Request,
    http::{HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{api::Problem, error::OAuthError};

/// The error shape of a route group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// RFC 6749 §5.2: `{"error", "error_description"}`.
    OAuth,
    /// RFC 9457 problem documents (the admin API).
    Problem,
    /// GraphQL's `{"errors": [...]}`, with the problem's code.
    Graphql,
}

/// A route group's body limit and deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyGuard {
    pub limit: usize,
    pub shape: Shape,
    pub timeout: Duration,
}

impl BodyGuard {
    pub(crate) async fn check(self, request: Request, next: Next) -> Response {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.limit as u64) {
            return self.refuse(Refusal::TooLarge);
        }
        let (parts, body) = request.into_parts();
        let bytes = match tokio::time::timeout(self.timeout, to_bytes(body, self.limit)).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => {
                let too_large = e.into_inner().downcast_ref::<http_body_util::LengthLimitError>().is_some();
                return self.refuse(if too_large { Refusal::TooLarge } else { Refusal::Broken });
            }
            Err(_) => return self.refuse(Refusal::TimedOut),
        };
        next.run(Request::from_parts(parts, Body::from(bytes))).await
    }

    fn refuse(self, refusal: Refusal) -> Response {
        let mut response = match (self.shape, refusal) {
            (Shape::OAuth, Refusal::TooLarge) => OAuthError::TooLarge.into_response(),
            (Shape::OAuth, Refusal::TimedOut) => OAuthError::TimedOut.into_response(),
            (Shape::OAuth, Refusal::Broken) => {
                OAuthError::InvalidRequest("the request body could not be read").into_response()
            }
            (shape, refusal) => {
                let problem = match refusal {
                    Refusal::TooLarge => Problem::too_large(self.limit),
                    Refusal::TimedOut => Problem::timed_out(self.timeout),
                    Refusal::Broken => Problem::unreadable_body(),
                };
                if shape == Shape::Graphql {
                    crate::graphql::errors::http_error(problem)
                } else {
                    problem.into_response()
                }
            }
        };
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if refusal != Refusal::Broken {
            // The rest of the body is never read: the connection ends.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    TooLarge,
    TimedOut,
    /// The connection failed mid-body.
    Broken,
}
