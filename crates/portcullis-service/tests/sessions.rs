//! Session timeouts on a real SQLite store, with the clock moved by editing
//! the stored times (the service reads the real clock).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeDelta;
use portcullis_domain::{Email, RoleName, UserName};
use portcullis_service::{Caller, MasterKey, NewUser, Origin, Service, ServiceConfig, SessionTimeouts};
use portcullis_store_sqlite::SqliteStore;

const PASSWORD: &str = "correct horse battery staple";

async fn service() -> (Service, String, tempfile::TempDir) {
    service_with(SessionTimeouts::default()).await
}

async fn service_with(sessions: SessionTimeouts) -> (Service, String, tempfile::TempDir) {
    let (url, dir) = portcullis_store_sqlite::testing::fresh_database();
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let config =
        ServiceConfig { sessions, ..ServiceConfig::new("https://auth.example", "https://api.example") };
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
    age_sessions_by(url, column, TimeDelta::minutes(minutes));
}

fn age_sessions_by(url: &str, column: &str, by: TimeDelta) {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let conn = rusqlite::Connection::open(path).unwrap();
    let micros = by.num_microseconds().unwrap();
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

#[tokio::test]
async fn configured_timeouts_replace_the_defaults() {
    let timeouts = SessionTimeouts { idle: TimeDelta::minutes(5), absolute: TimeDelta::hours(1) };
    let (service, url, _dir) = service_with(timeouts).await;
    let before = portcullis_domain::now();
    let signed_in = service.sign_in("ada@example.com", PASSWORD).await.unwrap();
    let lifetime = signed_in.expires_at - before;
    assert!(
        lifetime >= TimeDelta::hours(1) && lifetime < TimeDelta::hours(1) + TimeDelta::seconds(5),
        "{lifetime}"
    );
    age_sessions(&url, "last_seen_at", 4);
    assert!(service.authenticate_session(&signed_in.session_id).await.unwrap().is_some(), "4 idle minutes");
    // That request moved the idle end forward: 6 minutes from it.
    age_sessions(&url, "last_seen_at", 6);
    assert!(service.authenticate_session(&signed_in.session_id).await.unwrap().is_none(), "6 idle minutes");

    let again = service.sign_in("ada@example.com", PASSWORD).await.unwrap();
    age_sessions(&url, "expires_at", 61);
    assert!(service.authenticate_session(&again.session_id).await.unwrap().is_none(), "past its hour");
}

#[tokio::test]
async fn a_short_idle_timeout_is_kept_alive_by_activity() {
    // A 3 s idle timeout: each request must move `last_seen_at` forward,
    // not only once a minute as for the default 30 minutes.
    let timeouts = SessionTimeouts { idle: TimeDelta::seconds(3), absolute: TimeDelta::hours(1) };
    let (service, url, _dir) = service_with(timeouts).await;
    let signed_in = service.sign_in("ada@example.com", PASSWORD).await.unwrap();
    for step in 0..5 {
        age_sessions_by(&url, "last_seen_at", TimeDelta::seconds(2));
        assert!(
            service.authenticate_session(&signed_in.session_id).await.unwrap().is_some(),
            "a request every 2 s (step {step})"
        );
    }
    age_sessions_by(&url, "last_seen_at", TimeDelta::seconds(4));
    assert!(service.authenticate_session(&signed_in.session_id).await.unwrap().is_none(), "4 s idle");
}

/// Issue 13 §4: sign-ins, failed sign-ins (with the e-mail tried, the
/// address and the user agent), sign-outs and expired sessions are events;
/// a password never is, nor what was typed where an e-mail belongs.
#[tokio::test]
async fn sign_ins_sign_outs_and_expiry_are_events() {
    let (service, url, _dir) = service().await;
    let origin = Origin { source_ip: Some("203.0.113.5".into()), user_agent: Some("Firefox/140".into()) };
    let first = service.sign_in_from("ada@example.com", PASSWORD, &origin).await.unwrap();
    for (email, password) in [
        ("Ada@Example.com", "a wrong password"),
        ("nobody@example.com", "another wrong one"),
        ("typed my secret phrase here", PASSWORD),
    ] {
        assert!(service.sign_in_from(email, password, &origin).await.is_err(), "{email}");
    }
    service.sign_out(&first.session_id).await.unwrap();
    let second = service.sign_in("ada@example.com", PASSWORD).await.unwrap();
    age_sessions(&url, "last_seen_at", 31);
    assert!(service.authenticate_session(&second.session_id).await.unwrap().is_none());
    service.flush_events().await.unwrap();

    let events = service.list_events(&Caller::cli(), Default::default()).await.unwrap().items;
    let dump = format!("{events:?}");
    assert!(!dump.contains(PASSWORD) && !dump.contains("wrong") && !dump.contains("secret phrase"), "{dump}");
    let ada = first.user.user.id;
    type Seen = (String, Option<portcullis_domain::UserId>, Option<String>, Option<String>);
    let mut seen: Vec<Seen> = events
        .iter()
        .filter(|e| e.kind.starts_with("session."))
        .map(|e| (e.kind.clone(), e.user_id, e.source_ip.clone(), e.details.clone()))
        .collect();
    seen.reverse();
    let ip = Some("203.0.113.5".to_owned());
    let details = |d: &str| Some(d.to_owned());
    assert_eq!(
        seen,
        [
            ("session.signed_in".into(), Some(ada), ip.clone(), details(r#"{"email":"ada@example.com"}"#)),
            (
                "session.sign_in_failed".into(),
                Some(ada),
                ip.clone(),
                details(r#"{"email":"ada@example.com"}"#)
            ),
            ("session.sign_in_failed".into(), None, ip.clone(), details(r#"{"email":"nobody@example.com"}"#)),
            ("session.sign_in_failed".into(), None, ip.clone(), details(r#"{"email":null}"#)),
            ("session.signed_out".into(), Some(ada), None, None),
            ("session.signed_in".into(), Some(ada), None, details(r#"{"email":"ada@example.com"}"#)),
            ("session.expired".into(), Some(ada), None, details(r#"{"reason":"idle"}"#)),
        ]
    );
    let agent = events.iter().find(|e| e.kind == "session.sign_in_failed").unwrap().user_agent.clone();
    assert_eq!(agent.as_deref(), Some("Firefox/140"));
}
