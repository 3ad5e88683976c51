//! A change made by another process (the CLI) or another instance is
//! honoured by a running server on its next request, whatever it caches.

use std::time::Duration;

use portcullis_domain::ClientStatus;
use portcullis_service::{Caller, Service, ServiceConfig};
use portcullis_store_postgres::PgStore;
use portcullis_store_sqlite::SqliteStore;
use portcullis_testkit::{Backend, TestApp, spawn_app_on};

/// A second, independent service on the same database, as the CLI opens one.
async fn second_process(app: &TestApp) -> Service {
    let stores = match app.backend {
        Backend::Sqlite => SqliteStore::connect(&app.database_url).await.unwrap().stores(),
        Backend::Postgres => PgStore::connect(&app.database_url).await.unwrap().stores(),
    };
    let config = ServiceConfig::new("http://cli", "http://cli");
    Service::start(stores, config, &app.master_key).await.unwrap()
}

/// SQLite: the very next request. PostgreSQL: as soon as NOTIFY arrives,
/// which on one machine is a few milliseconds; allow up to two seconds.
async fn status_after_change(app: &TestApp, id: &str, secret: &str, expected: u16) -> u16 {
    let attempts = if app.backend == Backend::Sqlite { 1 } else { 40 };
    let mut status = 0;
    for _ in 0..attempts {
        status = app.token_basic(id, secret, None).await.status().as_u16();
        if status == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    status
}

on_both_backends!(changes_from_another_process_are_seen_on_the_next_request);

async fn changes_from_another_process_are_seen_on_the_next_request(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("viewer")).await;
    let id = view.client.id.to_string();
    // Warm the server's cache.
    assert_eq!(app.token_basic(&id, secret.expose(), None).await.status(), 200);
    assert_eq!(app.token_basic(&id, secret.expose(), None).await.status(), 200);

    let cli = second_process(&app).await;
    cli.set_client_status(&Caller::cli(), view.client.id, ClientStatus::Disabled).await.unwrap();
    assert_eq!(status_after_change(&app, &id, secret.expose(), 401).await, 401, "disable seen");

    cli.set_client_status(&Caller::cli(), view.client.id, ClientStatus::Enabled).await.unwrap();
    assert_eq!(status_after_change(&app, &id, secret.expose(), 200).await, 200, "enable seen");

    let (_, new_secret) = cli.regenerate_client_secret(&Caller::cli(), view.client.id).await.unwrap();
    assert_eq!(status_after_change(&app, &id, secret.expose(), 401).await, 401, "old secret refused");
    assert_eq!(app.token_basic(&id, new_secret.expose(), None).await.status(), 200);

    cli.delete_client(&Caller::cli(), view.client.id).await.unwrap();
    assert_eq!(status_after_change(&app, &id, new_secret.expose(), 401).await, 401, "delete seen");
}

on_both_backends!(revocations_and_rotations_by_another_instance_are_seen);

async fn revocations_and_rotations_by_another_instance_are_seen(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("admin")).await;
    let id = view.client.id.to_string();
    let body: serde_json::Value = app.token_basic(&id, secret.expose(), None).await.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let admin_api = || async {
        app.http.get(app.url("/api/v1/clients")).bearer_auth(&token).send().await.unwrap().status()
    };
    assert_eq!(admin_api().await, 200);

    let other = second_process(&app).await;
    // The other instance rotates the signing key: this one signs with it next.
    let new_kid = other.rotate_signing_key(&Caller::cli()).await.unwrap();
    let mut seen = false;
    for _ in 0..40 {
        let body: serde_json::Value = app.token_basic(&id, secret.expose(), None).await.json().await.unwrap();
        let (header, _) = crate::token::verify(&app, body["access_token"].as_str().unwrap()).await;
        if header["kid"] == new_kid {
            seen = true;
            break;
        }
        assert_eq!(backend, Backend::Postgres, "SQLite: the very next token uses the new key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the rotation was seen");

    // The other instance revokes every token of the client: this one refuses them.
    other.revoke_client_tokens(&Caller::cli(), view.client.id).await.unwrap();
    let mut status = 0;
    for _ in 0..40 {
        status = admin_api().await.as_u16();
        if status == 401 {
            break;
        }
        assert_eq!(backend, Backend::Postgres, "SQLite: refused on the very next request");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 401);
}
