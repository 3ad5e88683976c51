//! Integration tests: one test binary (link time), modules by concern.
//! Every test runs on a fresh database; most run on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Expands each `async fn name(backend: Backend)` into a module with one
/// `#[tokio::test]` per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(portcullis_testkit::Backend::Sqlite).await
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name(portcullis_testkit::Backend::Postgres).await
                }
            }
        )*
    };
}

mod admin_clients;
mod attacks;
mod audit;
mod binary;
mod bulk_clients;
mod changes;
mod clients;
mod console;
mod discovery;
mod escalation;
mod event_privacy;
mod events;
mod graphql;
mod graphql_twins;
mod introspection;
mod introspection_memory;
mod metrics;
mod odd_bytes;
mod preconditions;
mod queries;
mod request_id;
mod rfc_details;
mod role_user_preconditions;
mod roles;
mod signing_keys;
mod token;
mod token_errors;
mod users;
