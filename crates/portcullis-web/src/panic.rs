//! A panic in a handler answers a 500 in the shape the caller expects (an
//! OAuth2 error, a problem, a GraphQL error), never cached, and its message
//! is never logged: it may hold what the caller sent.

use std::panic::AssertUnwindSafe;

use axum::{
    extract::Request,
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures_util::FutureExt;

use crate::{
    api::Problem,
    error::{NO_CACHE, NO_STORE},
    graphql,
};

/// Who answers for a path: the shape of its errors.
#[derive(Clone, Copy)]
enum Shape {
    OAuth,
    Graphql,
    Problem,
}

impl Shape {
    fn of(path: &str) -> Self {
        if path.starts_with("/oauth2/") || path.starts_with("/.well-known/") {
            Self::OAuth
        } else if path == "/graphql" {
            Self::Graphql
        } else {
            Self::Problem
        }
    }

    fn server_error(self) -> Response {
        match self {
            // RFC 6749 §5.2 has no 500, but `server_error` is its code for it
            // (RFC 6749 §4.1.2.1); the body is the same JSON object.
            Self::OAuth => {
                let body = serde_json::json!({
                    "error": "server_error",
                    "error_description": "the server could not complete the request",
                });
                let mut response = (StatusCode::INTERNAL_SERVER_ERROR, body.to_string()).into_response();
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
                headers.insert(header::CACHE_CONTROL, NO_STORE);
                headers.insert(header::PRAGMA, NO_CACHE);
                response
            }
            Self::Graphql => graphql::errors::http_error(Problem::internal()),
            Self::Problem => Problem::internal().into_response(),
        }
    }
}

/// Runs the rest of the stack and turns a panic into [`Shape::server_error`].
pub async fn catch_panic(request: Request, next: Next) -> Response {
    let shape = Shape::of(request.uri().path());
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(_payload) => {
            // The payload is dropped unread: a panic message may quote input.
            tracing::error!("a handler panicked; the request was answered with a 500");
            shape.server_error()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::{Router, body::Body, routing::get};
    use tower::ServiceExt;

    use super::*;

    const SECRET: &str = "pcs_this-text-came-from-the-caller";

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Log {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[allow(clippy::panic)]
    async fn boom() -> &'static str {
        panic!("caller sent {SECRET}")
    }

    async fn call(path: &str) -> (Response, String) {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::TRACE)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = Router::new().fallback(get(boom)).layer(axum::middleware::from_fn(catch_panic));
        // (The test harness's panic hook still prints to stderr; the binary
        // installs one that prints the location only: portcullis::startup.)
        let response =
            app.oneshot(axum::http::Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        (response, text)
    }

    async fn body(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_panic_answers_a_shaped_uncached_500_and_its_message_is_not_logged() {
        for (path, content_type) in [
            ("/oauth2/token", "application/json"),
            ("/api/v1/clients", "application/problem+json"),
            ("/graphql", "application/json"),
        ] {
            let (response, log) = call(path).await;
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store", "{path}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], content_type, "{path}");
            assert!(log.contains("a handler panicked"), "{path}: {log}");
            assert!(!log.contains(SECRET), "{path}: the panic message reached the log: {log}");
            let body = body(response).await;
            assert!(!body.to_string().contains(SECRET), "{path}");
            match path {
                "/oauth2/token" => assert_eq!(body["error"], "server_error"),
                "/graphql" => assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL"),
                _ => assert_eq!(body["type"], "urn:portcullis:problem:internal"),
            }
        }
    }
}
