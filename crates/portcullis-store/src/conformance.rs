//! The one suite every storage backend passes.
//!
//! A backend's `tests/conformance.rs` provides an async `fresh()` returning
//! `(Stores, guard)` on an empty, migrated database and invokes
//! [`conformance_suite!`](crate::conformance_suite); each case below becomes
//! one `#[tokio::test]` there. Cases panic on failure, like any test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_domain::{
    ADMIN_ROLE_ID, ApiClient, ClientId, ClientName, ClientStatus, Description, SecretHash, TokenTtl,
    builtin_permissions, builtin_roles, now,
};

use crate::{ClientQuery, Stores};

/// Expands to one `#[tokio::test]` per conformance case, each on a fresh
/// database from `$fresh().await` (which returns `(Stores, guard)`).
#[macro_export]
macro_rules! conformance_suite {
    ($fresh:path) => {
        $crate::conformance_suite!(@cases $fresh;
            insert_then_get_returns_the_same_client,
            get_unknown_client_is_none,
        );
    };
    (@cases $fresh:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (stores, _guard) = $fresh().await;
                $crate::conformance::$case(&stores).await;
            }
        )*
    };
}

/// A valid client with the given name, created now, without a role.
pub fn sample_client(name: &str) -> ApiClient {
    let at = now();
    ApiClient {
        id: ClientId::generate(),
        name: ClientName::parse(name).unwrap(),
        description: Some(Description::parse("a client for tests").unwrap()),
        status: ClientStatus::Enabled,
        role_id: None,
        token_ttl: TokenTtl::DEFAULT,
        secret_hash: SecretHash::from_bytes(rand_bytes()),
        created_at: at,
        updated_at: at,
        last_used_at: None,
    }
}

fn rand_bytes() -> [u8; 32] {
    *uuid::Uuid::new_v4().as_bytes().repeat(2).first_chunk::<32>().unwrap()
}

async fn with_builtins(stores: &Stores) {
    stores.roles.sync_builtins(&builtin_permissions(), &builtin_roles()).await.unwrap();
}

pub async fn insert_then_get_returns_the_same_client(stores: &Stores) {
    with_builtins(stores).await;
    let mut client = sample_client("CRM sync");
    client.role_id = Some(ADMIN_ROLE_ID);
    client.last_used_at = Some(now());
    stores.clients.insert_client(&client).await.unwrap();
    let got = stores.clients.get_client(client.id).await.unwrap();
    assert_eq!(got, Some(client));
}

pub async fn get_unknown_client_is_none(stores: &Stores) {
    assert_eq!(stores.clients.get_client(ClientId::generate()).await.unwrap(), None);
    let _ = ClientQuery::default();
}
