//! Introspection answers a token it has verified before from memory (the
//! memory of verified tokens, docs/introspection-and-revocation.md), and
//! every change that makes a token inactive still holds at once: each test
//! first proves the answer came from memory (a hit counted), then makes the
//! change, from this server or from another process on the same database
//! (the CLI, another instance), and introspects again.

use std::time::Duration;

use portcullis_domain::{ClientStatus, RoleName, TokenTtl};
use portcullis_service::{Caller, ClientUpdate, Service, ServiceConfig};
use portcullis_store_postgres::PgStore;
use portcullis_store_sqlite::SqliteStore;
use portcullis_testkit::{Backend, TestApp, basic, spawn_app, spawn_app_on};
use serde_json::Value;

struct Client {
    id: String,
    secret: String,
}

async fn client(app: &TestApp, role: Option<&str>) -> Client {
    let (view, secret) = app.create_client(role).await;
    Client { id: view.client.id.to_string(), secret: secret.expose().to_owned() }
}

async fn token(app: &TestApp, c: &Client) -> String {
    let body: Value = app.token_basic(&c.id, &c.secret, None).await.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn introspect(app: &TestApp, caller: &Client, token: &str) -> Value {
    let response = app
        .http
        .post(app.url("/oauth2/introspect"))
        .header("authorization", basic(&caller.id, &caller.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Introspects `token` twice and checks that the second answer, active,
/// came from memory.
async fn remembered(app: &TestApp, rs: &Client, token: &str) -> Value {
    let first = introspect(app, rs, token).await;
    assert_eq!(first["active"], true, "{first}");
    let hits = app.service.verified_token_stats().hits;
    let again = introspect(app, rs, token).await;
    assert_eq!(app.service.verified_token_stats().hits, hits + 1, "answered from memory");
    assert_eq!(again, first);
    again
}

/// A second, independent service on the same database, as the CLI opens one.
async fn second_process(app: &TestApp) -> Service {
    let stores = match app.backend {
        Backend::Sqlite => SqliteStore::connect(&app.database_url).await.unwrap().stores(),
        Backend::Postgres => PgStore::connect(&app.database_url).await.unwrap().stores(),
    };
    Service::start(stores, ServiceConfig::new("http://cli", "http://cli"), &app.master_key).await.unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    /// This server's own service: seen on the very next request.
    ThisServer,
    /// Another process on the database: on SQLite the very next request;
    /// on PostgreSQL as soon as its NOTIFY arrives (allow two seconds).
    OtherProcess,
}

const BOTH: [By; 2] = [By::ThisServer, By::OtherProcess];

async fn service_for(app: &TestApp, by: By) -> Service {
    match by {
        By::ThisServer => app.service.clone(),
        By::OtherProcess => second_process(app).await,
    }
}

/// Introspects until the answer is `{"active": false}`; only a change by
/// another process on PostgreSQL may take more than the first request.
async fn inactive_after(app: &TestApp, by: By, rs: &Client, token: &str, what: &str) {
    let attempts = if by == By::OtherProcess && app.backend == Backend::Postgres { 40 } else { 1 };
    let mut answer = Value::Null;
    for _ in 0..attempts {
        answer = introspect(app, rs, token).await;
        if answer == serde_json::json!({"active": false}) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} ({by:?}): still {answer}");
}

on_both_backends!(
    a_token_seen_before_is_answered_from_memory_and_only_verified_tokens_are_kept,
    remembered_tokens_turn_inactive_at_once_when_revoked,
    remembered_tokens_turn_inactive_at_once_when_their_client_is_disabled_or_deleted,
    remembered_tokens_turn_inactive_at_once_when_every_token_of_the_client_is_revoked,
    remembered_tokens_turn_inactive_at_once_when_their_key_is_revoked,
    role_changes_apply_to_remembered_tokens_as_the_service_rules_say,
    remembered_tokens_turn_inactive_when_they_expire,
);

async fn a_token_seen_before_is_answered_from_memory_and_only_verified_tokens_are_kept(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let rs = client(&app, Some("resource-server")).await;
    let viewer = client(&app, Some("viewer")).await;
    let t = token(&app, &viewer).await;
    let answer = remembered(&app, &rs, &t).await;
    assert_eq!(answer["client_id"], viewer.id);
    assert_eq!(answer["scope"], "clients:read events:read roles:read users:read");
    assert_eq!(app.service.verified_token_stats().entries, 1);

    // The token's own client sees it from memory too; another client sees nothing.
    assert_eq!(introspect(&app, &viewer, &t).await, answer);
    let other = client(&app, None).await;
    assert_eq!(introspect(&app, &other, &t).await, serde_json::json!({"active": false}));

    // Junk, forged and foreign tokens are refused and never remembered.
    let stranger = spawn_app().await;
    let foreign = token(&stranger, &client(&stranger, None).await).await;
    // The claims of one token under the signature of another.
    let other_signature = token(&app, &viewer).await.rsplit_once('.').unwrap().1.to_owned();
    let forged = format!("{}.{other_signature}", t.rsplit_once('.').unwrap().0);
    for junk in ["garbage", "a.b.c", &t[..t.len() - 2], &format!("{t}x"), &forged, &foreign] {
        for _ in 0..2 {
            assert_eq!(introspect(&app, &rs, junk).await, serde_json::json!({"active": false}), "{junk}");
        }
    }
    let stats = app.service.verified_token_stats();
    assert_eq!(stats.entries, 1, "{stats:?}");
    assert!(stats.bytes > 0 && stats.bytes < 2048, "{stats:?}");
}

async fn remembered_tokens_turn_inactive_at_once_when_revoked(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let rs = client(&app, Some("resource-server")).await;
    let owner = client(&app, Some("viewer")).await;
    let t = token(&app, &owner).await;
    let kept = token(&app, &owner).await;
    remembered(&app, &rs, &t).await;
    remembered(&app, &rs, &kept).await;
    // RFC 7009, by the token's own client.
    let revoked = app
        .http
        .post(app.url("/oauth2/revoke"))
        .header("authorization", basic(&owner.id, &owner.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    inactive_after(&app, By::ThisServer, &rs, &t, "revoked").await;
    assert_eq!(introspect(&app, &rs, &kept).await["active"], true, "only that token");
}

async fn remembered_tokens_turn_inactive_at_once_when_their_client_is_disabled_or_deleted(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let rs = client(&app, Some("resource-server")).await;
    for by in BOTH {
        let owner = client(&app, Some("viewer")).await;
        let id = owner.id.parse().unwrap();
        let t = token(&app, &owner).await;
        remembered(&app, &rs, &t).await;
        let changer = service_for(&app, by).await;
        changer.set_client_status(&Caller::system(), id, ClientStatus::Disabled).await.unwrap();
        inactive_after(&app, by, &rs, &t, "disabled").await;
        changer.set_client_status(&Caller::system(), id, ClientStatus::Enabled).await.unwrap();
        let mut active = false;
        for _ in 0..40 {
            active = introspect(&app, &rs, &t).await["active"] == true;
            if active {
                break;
            }
            assert_eq!((by, backend), (By::OtherProcess, Backend::Postgres), "enabled: the next request");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(active, "enabled again ({by:?})");
        remembered(&app, &rs, &t).await;
        changer.delete_client(&Caller::system(), id).await.unwrap();
        inactive_after(&app, by, &rs, &t, "deleted").await;
    }
}

async fn remembered_tokens_turn_inactive_at_once_when_every_token_of_the_client_is_revoked(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let rs = client(&app, Some("resource-server")).await;
    for by in BOTH {
        let owner = client(&app, Some("viewer")).await;
        let t = token(&app, &owner).await;
        remembered(&app, &rs, &t).await;
        let changer = service_for(&app, by).await;
        changer.revoke_client_tokens(&Caller::system(), owner.id.parse().unwrap()).await.unwrap();
        inactive_after(&app, by, &rs, &t, "tokens_valid_after").await;
    }
}

async fn remembered_tokens_turn_inactive_at_once_when_their_key_is_revoked(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let rs = client(&app, Some("resource-server")).await;
    for by in BOTH {
        let owner = client(&app, Some("viewer")).await;
        let t = token(&app, &owner).await;
        remembered(&app, &rs, &t).await;
        let entries = app.service.verified_token_stats().entries;
        let (header, _) = crate::token::verify(&app, &t).await;
        let changer = service_for(&app, by).await;
        changer.revoke_signing_key(&Caller::system(), header["kid"].as_str().unwrap()).await.unwrap();
        inactive_after(&app, by, &rs, &t, "key revoked").await;
        assert_eq!(app.service.verified_token_stats().entries, entries - 1, "the entry is forgotten");
        // The resource server's own authentication is a secret: unaffected.
        // A token signed by the key that replaced it is remembered afresh.
        let mut fresh = token(&app, &owner).await;
        for _ in 0..40 {
            if crate::token::verify(&app, &fresh).await.0["kid"] != header["kid"] {
                break;
            }
            assert_eq!(
                (by, backend),
                (By::OtherProcess, Backend::Postgres),
                "the next token uses the new key"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            fresh = token(&app, &owner).await;
        }
        remembered(&app, &rs, &fresh).await;
    }
}

/// A token keeps the scope it was issued with when its client's role
/// changes (docs/users-and-roles.md); a resource server whose role no
/// longer holds `tokens:introspect` sees other clients' tokens inactive at
/// once.
async fn role_changes_apply_to_remembered_tokens_as_the_service_rules_say(backend: Backend) {
    let app = spawn_app_on(backend).await;
    for by in BOTH {
        let rs = client(&app, Some("resource-server")).await;
        let owner = client(&app, Some("viewer")).await;
        let t = token(&app, &owner).await;
        let before = remembered(&app, &rs, &t).await;
        let changer = service_for(&app, by).await;
        let to = |role: Option<&str>| ClientUpdate {
            role: Some(role.map(|r| RoleName::parse(r).unwrap())),
            ..ClientUpdate::default()
        };
        changer.update_client(&Caller::system(), owner.id.parse().unwrap(), to(None)).await.unwrap();
        // The change is seen (a new token carries no scope) …
        let mut scope = Value::Null;
        for _ in 0..40 {
            let body: Value = app.token_basic(&owner.id, &owner.secret, None).await.json().await.unwrap();
            scope = body.get("scope").cloned().unwrap_or(Value::Null);
            if scope.is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(scope.is_null(), "{by:?}: a token issued after the change has no scope");
        // … and the token issued before keeps its scope.
        assert_eq!(introspect(&app, &rs, &t).await, before, "{by:?}");

        changer.update_client(&Caller::system(), rs.id.parse().unwrap(), to(Some("viewer"))).await.unwrap();
        inactive_after(&app, by, &rs, &t, "resource server lost tokens:introspect").await;
        // Its own tokens it still sees.
        let own = token(&app, &rs).await;
        assert_eq!(introspect(&app, &rs, &own).await["active"], true);
    }
}

async fn remembered_tokens_turn_inactive_when_they_expire(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let rs = client(&app, Some("resource-server")).await;
    let (view, secret) = app.create_client_with(Some("viewer"), TokenTtl::from_secs(60).unwrap()).await;
    let owner = Client { id: view.client.id.to_string(), secret: secret.expose().to_owned() };
    let t = token(&app, &owner).await;
    let answer = remembered(&app, &rs, &t).await;
    let exp = answer["exp"].as_i64().unwrap();
    // Until the second of `exp` it is active (from memory); from then on not.
    let wait = exp - portcullis_domain::now().timestamp();
    assert!((55..=61).contains(&wait), "{wait}");
    tokio::time::sleep(Duration::from_secs(u64::try_from(wait - 2).unwrap())).await;
    assert_eq!(introspect(&app, &rs, &t).await["active"], true, "before exp");
    while portcullis_domain::now().timestamp() < exp {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hits = app.service.verified_token_stats().hits;
    assert_eq!(introspect(&app, &rs, &t).await, serde_json::json!({"active": false}), "at exp");
    assert_eq!(app.service.verified_token_stats().hits, hits + 1, "still remembered, refused by its time");
}
