//! The token path's promises, on a real SQLite store: malformed secrets
//! never reach the database, repeated requests are answered from memory,
//! and any committed change (even by another connection) is seen at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use portcullis_domain::{ClientId, ClientName, ClientStatus, RoleName, TokenTtl};
use portcullis_service::{BulkAction, Caller, GrantError, MasterKey, NewClient, Service, ServiceConfig};
use portcullis_store::{Stores, counting::Counting};
use portcullis_store_sqlite::SqliteStore;

struct Fixture {
    service: Service,
    counting: Arc<Counting>,
    url: String,
    master: MasterKey,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let (url, dir) = portcullis_store_sqlite::testing::fresh_database();
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    // The real store, with a count of the reads the service makes.
    let stores: Stores = store.stores();
    let (stores, counting) = Counting::wrap(stores);
    let master = MasterKey::generate();
    let config = ServiceConfig::new("https://auth.example", "https://api.example");
    let service = Service::start(stores, config, &master).await.unwrap();
    Fixture { service, counting, url, master, _dir: dir }
}

fn new_client(role: Option<&str>) -> NewClient {
    NewClient {
        name: ClientName::parse("hot path").unwrap(),
        description: None,
        role: role.map(|r| RoleName::parse(r).unwrap()),
        token_ttl: TokenTtl::DEFAULT,
    }
}

impl Fixture {
    fn gets(&self) -> usize {
        self.counting.calls("clients.get_client")
    }
}

#[tokio::test]
async fn malformed_secrets_and_ids_are_refused_before_any_lookup() {
    let f = fixture().await;
    let (view, secret) = f.service.create_client(&Caller::system(), new_client(None)).await.unwrap();
    let id = view.client.id.to_string();
    let mut typo = secret.expose().to_owned();
    typo.replace_range(8..9, if &typo[8..9] == "a" { "b" } else { "a" });
    for (client_id, secret) in
        [(id.as_str(), "hunter2"), (id.as_str(), typo.as_str()), ("not-a-uuid", secret.expose())]
    {
        let result = f.service.client_credentials(client_id, secret, None).await;
        assert!(matches!(result, Err(GrantError::InvalidClient)));
    }
    assert_eq!(f.gets(), 0, "nothing reached the store");
}

#[tokio::test]
async fn repeated_token_requests_are_answered_from_memory() {
    let f = fixture().await;
    let (view, secret) = f.service.create_client(&Caller::system(), new_client(Some("admin"))).await.unwrap();
    let id = view.client.id.to_string();
    for _ in 0..50 {
        f.service.client_credentials(&id, secret.expose(), Some("clients:read")).await.unwrap();
    }
    assert_eq!(f.gets(), 1, "one read fills the cache");
    // Unknown clients are remembered too.
    let unknown = ClientId::generate().to_string();
    for _ in 0..5 {
        assert!(f.service.client_credentials(&unknown, secret.expose(), None).await.is_err());
    }
    assert_eq!(f.gets(), 2);
}

#[tokio::test]
async fn a_change_committed_by_another_connection_is_seen_on_the_next_request() {
    let f = fixture().await;
    let (view, secret) =
        f.service.create_client(&Caller::system(), new_client(Some("viewer"))).await.unwrap();
    let id = view.client.id.to_string();
    f.service.client_credentials(&id, secret.expose(), None).await.unwrap();

    // Another process: its own store and service on the same file.
    let other = SqliteStore::connect(&f.url).await.unwrap();
    let config = ServiceConfig::new("x://", "x://");
    let other = Service::start(other.stores(), config, &f.master).await.unwrap();
    other.set_client_status(&Caller::system(), view.client.id, ClientStatus::Disabled).await.unwrap();
    assert!(matches!(
        f.service.client_credentials(&id, secret.expose(), None).await,
        Err(GrantError::InvalidClient)
    ));
    other.set_client_status(&Caller::system(), view.client.id, ClientStatus::Enabled).await.unwrap();
    f.service.client_credentials(&id, secret.expose(), None).await.unwrap();
}

#[tokio::test]
async fn own_changes_hold_at_once() {
    let f = fixture().await;
    let (view, secret) = f.service.create_client(&Caller::system(), new_client(Some("admin"))).await.unwrap();
    let id = view.client.id.to_string();
    f.service.client_credentials(&id, secret.expose(), Some("clients:write")).await.unwrap();
    let update = portcullis_service::ClientUpdate {
        role: Some(Some(RoleName::parse("viewer").unwrap())),
        ..Default::default()
    };
    f.service.update_client(&Caller::system(), view.client.id, update).await.unwrap();
    assert!(matches!(
        f.service.client_credentials(&id, secret.expose(), Some("clients:write")).await,
        Err(GrantError::InvalidScope)
    ));
    let token = f.service.client_credentials(&id, secret.expose(), None).await.unwrap();
    assert_eq!(token.scope.to_string(), "clients:read events:read roles:read users:read");
    assert_eq!(token.claims.aud, "https://api.example");
    assert_eq!(token.claims.iss, "https://auth.example");
}

#[tokio::test]
async fn a_wrong_master_key_cannot_open_the_stored_keys() {
    let f = fixture().await;
    let store = SqliteStore::connect(&f.url).await.unwrap();
    let config = ServiceConfig::new("x://", "x://");
    let result = Service::start(store.stores(), config, &MasterKey::generate()).await;
    assert!(result.is_err());
    let message = format!("{}", result.err().unwrap());
    assert!(message.contains("master key"), "{message}");
}

#[tokio::test]
async fn a_bulk_disable_or_delete_holds_at_once_here_and_for_another_connection() {
    let f = fixture().await;
    let (a, a_secret) = f.service.create_client(&Caller::system(), new_client(None)).await.unwrap();
    let (b, b_secret) = f.service.create_client(&Caller::system(), new_client(None)).await.unwrap();
    let (a_id, b_id) = (a.client.id.to_string(), b.client.id.to_string());
    // Warm the cache.
    f.service.client_credentials(&a_id, a_secret.expose(), None).await.unwrap();
    f.service.client_credentials(&b_id, b_secret.expose(), None).await.unwrap();

    let ids = [a.client.id, b.client.id];
    f.service.bulk_clients(&Caller::system(), BulkAction::Disable, &ids).await.unwrap();
    for (id, secret) in [(&a_id, &a_secret), (&b_id, &b_secret)] {
        assert!(matches!(
            f.service.client_credentials(id, secret.expose(), None).await,
            Err(GrantError::InvalidClient)
        ));
    }
    f.service.bulk_clients(&Caller::system(), BulkAction::Enable, &ids).await.unwrap();
    f.service.client_credentials(&a_id, a_secret.expose(), None).await.unwrap();

    // Another process on the same file.
    let other = SqliteStore::connect(&f.url).await.unwrap();
    let config = ServiceConfig::new("x://", "x://");
    let other = Service::start(other.stores(), config, &f.master).await.unwrap();
    other.bulk_clients(&Caller::cli(), BulkAction::Disable, &[a.client.id]).await.unwrap();
    assert!(matches!(
        f.service.client_credentials(&a_id, a_secret.expose(), None).await,
        Err(GrantError::InvalidClient)
    ));
    f.service.client_credentials(&b_id, b_secret.expose(), None).await.unwrap();
    other.bulk_clients(&Caller::cli(), BulkAction::Delete, &[b.client.id]).await.unwrap();
    assert!(matches!(
        f.service.client_credentials(&b_id, b_secret.expose(), None).await,
        Err(GrantError::InvalidClient)
    ));
}
