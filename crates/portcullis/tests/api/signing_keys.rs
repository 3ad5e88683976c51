//! Issue 11 §5: a signing key is published before it signs, and a key can be
//! withdrawn at once.

use portcullis_testkit::{Backend, TestApp, basic, spawn_app_on};
use serde_json::Value;

on_both_backends!(
    the_next_key_is_published_before_any_token_carries_it,
    a_revoked_key_leaves_the_jwks_and_its_tokens_stop_validating,
    start_up_creates_current_and_next_keys_and_adds_a_missing_next_key,
    instances_racing_to_retire_a_key_retire_it_once_and_neither_fails,
);

async fn start_up_creates_current_and_next_keys_and_adds_a_missing_next_key(backend: Backend) {
    use portcullis_service::{KeyState, MasterKey, Service, ServiceConfig};
    let (stores, _url, _guard) = portcullis_testkit::fresh_stores(backend).await;
    let master = MasterKey::generate();
    let config = ServiceConfig::new("https://issuer.test", "https://api.test");
    let service = Service::start(stores.clone(), config.clone(), &master).await.unwrap();
    let states = |keys: &[portcullis_service::SigningKeyInfo]| {
        let mut s: Vec<_> = keys.iter().map(|k| k.state.as_str()).collect();
        s.sort_unstable();
        s
    };
    let first = service.signing_keys(&portcullis_service::Caller::cli()).await.unwrap();
    assert_eq!(states(&first), ["current", "next"], "an empty database gets both");
    let current = first.iter().find(|k| k.state == KeyState::Current).unwrap().kid.clone();
    // A database from before key states holds a current key and no next one.
    let next = first.iter().find(|k| k.state == KeyState::Next).unwrap().kid.clone();
    assert!(stores.keys.delete_signing_key(&next).await.unwrap());
    let again = Service::start(stores.clone(), config, &master).await.unwrap();
    let keys = again.signing_keys(&portcullis_service::Caller::cli()).await.unwrap();
    assert_eq!(states(&keys), ["current", "next"], "start-up adds the missing next key");
    assert_eq!(
        keys.iter().find(|k| k.state == KeyState::Current).unwrap().kid,
        current,
        "the same key signs"
    );
    assert_eq!(again.keys().active.kid, current);
}

/// Issue 14: every instance of a fleet runs the retirement pass; a key a
/// peer deleted first is neither an error nor reported twice.
async fn instances_racing_to_retire_a_key_retire_it_once_and_neither_fails(backend: Backend) {
    use portcullis_service::{KeyState, MasterKey, Service, ServiceConfig};
    use portcullis_store::StoredSigningKey;
    let (stores, _url, _guard) = portcullis_testkit::fresh_stores(backend).await;
    let master = MasterKey::generate();
    let config = ServiceConfig::new("https://issuer.test", "https://api.test");
    let a = Service::start(stores.clone(), config.clone(), &master).await.unwrap();
    let b = Service::start(stores.clone(), config, &master).await.unwrap();
    for round in 0..5 {
        // Replaced two days ago: every token it signed has expired.
        let long_ago = portcullis_domain::now() - chrono::TimeDelta::days(2);
        let kid = format!("k-old-{round}");
        let old = StoredSigningKey {
            kid: kid.clone(),
            algorithm: "EdDSA".to_owned(),
            public_key: vec![7; 32],
            sealed_private_key: vec![9; 64],
            created_at: long_ago,
            state: KeyState::Previous,
            activated_at: Some(long_ago),
            replaced_at: Some(long_ago),
        };
        stores.keys.insert_signing_key(&old).await.unwrap();
        let (by_a, by_b) = tokio::join!(a.retire_signing_keys(), b.retire_signing_keys());
        let mut retired = [by_a.unwrap(), by_b.unwrap()].concat();
        retired.sort();
        assert_eq!(retired, std::slice::from_ref(&kid), "round {round}: retired once, by one of them");
        let left = stores.keys.list_signing_keys().await.unwrap();
        assert!(left.iter().all(|k| k.kid != kid));
        assert_eq!(left.len(), 2, "the current and next keys stay");
    }
}

fn kid_of(token: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks = app.json("/.well-known/jwks.json").await;
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

async fn keys(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let response = app.http.get(app.url("/api/v1/keys")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap().to_owned(), k["state"].as_str().unwrap().to_owned()))
        .collect()
}

fn with_state(keys: &[(String, String)], state: &str) -> Vec<String> {
    keys.iter().filter(|(_, s)| s == state).map(|(k, _)| k.clone()).collect()
}

async fn the_next_key_is_published_before_any_token_carries_it(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (id, secret, token) = app.client_with_token(Some("admin"), None).await;
    let listed = keys(&app, &token).await;
    let (current, next) = (with_state(&listed, "current"), with_state(&listed, "next"));
    assert_eq!((current.len(), next.len()), (1, 1), "{listed:?}");
    assert_eq!(kid_of(&token), current[0], "the current key signs");
    let before = jwks_kids(&app).await;
    assert!(before.contains(&next[0]), "the next key is in the JWKS before it signs: {before:?}");
    // Rotation: the pre-published key signs; a resource server holding the
    // JWKS fetched before the rotation knows the new tokens' kid.
    let response = app.http.post(app.url("/api/v1/keys/rotate")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["kid"], next[0].as_str());
    let body: Value = app.token_basic(&id, &secret, None).await.json().await.unwrap();
    let new_token = body["access_token"].as_str().unwrap();
    assert_eq!(kid_of(new_token), next[0]);
    assert!(before.contains(&kid_of(new_token)));
    // And there is a new next key, already published.
    let listed = keys(&app, &token).await;
    assert_eq!(with_state(&listed, "current"), next);
    assert_eq!(with_state(&listed, "previous"), current);
    let new_next = with_state(&listed, "next");
    assert_eq!(new_next.len(), 1);
    assert!(!before.contains(&new_next[0]));
    assert!(jwks_kids(&app).await.contains(&new_next[0]));
    // The old token still validates: its key is published until it expires.
    let response = app.http.get(app.url("/api/v1/clients")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

async fn a_revoked_key_leaves_the_jwks_and_its_tokens_stop_validating(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (id, secret, token) = app.client_with_token(Some("admin"), None).await;
    let (admin_pat, _) = app.user_token("keys-admin@example.com", &["admin"]).await;
    let listed = keys(&app, &admin_pat).await;
    let (current, next) = (with_state(&listed, "current")[0].clone(), with_state(&listed, "next")[0].clone());
    let introspect = |t: String| {
        let app = &app;
        let auth = basic(&id, &secret);
        async move {
            let response = app
                .http
                .post(app.url("/oauth2/introspect"))
                .header("authorization", auth)
                .form(&[("token", t.as_str())])
                .send()
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()["active"].clone()
        }
    };
    assert_eq!(introspect(token.clone()).await, true);
    // Unknown kid: 404, nothing changes. Without keys:write: 403.
    let response =
        app.http.post(app.url("/api/v1/keys/nope/revoke")).bearer_auth(&admin_pat).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let viewer = app.bearer("viewer", None).await;
    let response = app
        .http
        .post(app.url(&format!("/api/v1/keys/{current}/revoke")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // Revoke the current key.
    let response = app
        .http
        .post(app.url(&format!("/api/v1/keys/{current}/revoke")))
        .bearer_auth(&admin_pat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["state"], "current");
    let kids = jwks_kids(&app).await;
    assert!(!kids.contains(&current), "the revoked key left the JWKS");
    assert_eq!(introspect(token.clone()).await, false, "its tokens are inactive at once");
    let response = app.http.get(app.url("/api/v1/clients")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 401, "and refused by the admin API");
    // The next key took over, and a fresh next key is published.
    let listed = keys(&app, &admin_pat).await;
    assert_eq!(with_state(&listed, "current"), std::slice::from_ref(&next));
    let fresh = with_state(&listed, "next");
    assert_eq!(fresh.len(), 1);
    assert!(kids.contains(&fresh[0]));
    let body: Value = app.token_basic(&id, &secret, None).await.json().await.unwrap();
    let new_token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(kid_of(&new_token), next);
    assert_eq!(introspect(new_token).await, true);
    // The change is recorded.
    app.service.flush_events().await.unwrap();
    let events = app
        .service
        .list_events(
            &portcullis_service::Caller::cli(),
            portcullis_service::events::ListEvents { limit: Some(50), ..Default::default() },
        )
        .await
        .unwrap();
    assert!(events.items.iter().any(|e| e.kind == "key.revoked"), "a key.revoked change event");
}
