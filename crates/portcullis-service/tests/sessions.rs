//! Session timeouts on a real SQLite store, with the clock moved by editing
//! the stored times (the service reads the real clock).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_domain::{Email, RoleName, UserName};
use portcullis_service::{Caller, MasterKey, NewUser, Service, ServiceConfig};
use portcullis_store_sqlite::SqliteStore;

const PASSWORD: &str = "correct horse battery staple";

async fn service() -> (Service, String, tempfile::TempDir) {
    let (url, dir) = portcullis_store_sqlite::testing::fresh_database();
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let config =
        ServiceConfig { issuer: "https://auth.example".into(), audience: "https://api.example".into() };
    let service = Service::start(store.stores(), config, &MasterKey::generate()).await.unwrap();
    service
        .create_user(
            &Caller::system(),
            NewUser {
                email: Email::parse("ada@example.com").unwrap(),
                name: UserName::parse("Ada").unwrap(),
                roles: vec![RoleName::parse("viewer").unwrap()],
                password: Some(PASSWORD.into()),
            },
        )
        .await
        .unwrap();
    (service, url, dir)
}

/// Moves every session's times `minutes` into the past.
fn age_sessions(url: &str, column: &str, minutes: i64) {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let conn = rusqlite::Connection::open(path).unwrap();
    let micros = minutes * 60 * 1_000_000;
    conn.execute(&format!("UPDATE sessions SET {column} = {column} - ?1"), [micros]).unwrap();
}

#[tokio::test]
async fn a_session_ends_after_30_idle_minutes() {
    let (service, url, _dir) = service().await;
    let signed_in = service.sign_in("ada@example.com", PASSWORD).await.unwrap();
    assert!(service.authenticate_session(&signed_in.session_id).await.unwrap().is_some());
    age_sessions(&url, "last_seen_at", 29);
    assert!(service.authenticate_session(&signed_in.session_id).await.unwrap().is_some(), "29 idle minutes");
    age_sessions(&url, "last_seen_at", 31);
    assert!(service.authenticate_session(&signed_in.session_id).await.unwrap().is_none(), "60 idle minutes");
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_end_whatever_the_activity() {
    let (service, url, _dir) = service().await;
    let signed_in = service.sign_in("ada@example.com", PASSWORD).await.unwrap();
    age_sessions(&url, "expires_at", 12 * 60 - 1);
    assert!(service.authenticate_session(&signed_in.session_id).await.unwrap().is_some());
    age_sessions(&url, "expires_at", 2);
    assert!(service.authenticate_session(&signed_in.session_id).await.unwrap().is_none());
}

#[tokio::test]
async fn session_ids_are_new_at_every_sign_in_and_csrf_tokens_are_bound_to_them() {
    let (service, _url, _dir) = service().await;
    let a = service.sign_in("ada@example.com", PASSWORD).await.unwrap();
    let b = service.sign_in("ada@example.com", PASSWORD).await.unwrap();
    assert_ne!(*a.session_id, *b.session_id);
    assert!(a.session_id.len() >= 43, "256 bits, base64url");
    assert!(service.check_csrf(&a.session_id, &a.csrf_token));
    assert!(!service.check_csrf(&a.session_id, &b.csrf_token));
    assert!(!service.check_csrf(&a.session_id, ""));
    service.sign_out(&a.session_id).await.unwrap();
    assert!(service.authenticate_session(&a.session_id).await.unwrap().is_none());
    assert!(service.authenticate_session(&b.session_id).await.unwrap().is_some(), "other sessions stay");
}
