//! Introspection (RFC 7662), revocation (RFC 7009), "revoke every token",
//! last-used times and signing-key rotation.

use portcullis_service::Caller;
use std::time::Duration;

use portcullis_domain::ClientStatus;
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

async fn form(app: &TestApp, path: &str, auth: &str, body: &str) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header("authorization", auth)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn introspect(app: &TestApp, caller: &Client, token: &str) -> Value {
    let response =
        form(app, "/oauth2/introspect", &basic(&caller.id, &caller.secret), &format!("token={token}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

fn inactive() -> Value {
    serde_json::json!({"active": false})
}

on_both_backends!(
    introspection_shows_own_tokens_and_any_to_resource_servers,
    introspection_of_tokens_that_are_not_active,
    revocation_of_own_tokens_only,
    revoke_every_token_keeps_the_secret,
    last_used_is_recorded_when_flushed,
    rotated_keys_sign_new_tokens_and_old_ones_stay_valid,
);

async fn introspection_shows_own_tokens_and_any_to_resource_servers(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let viewer = client(&app, Some("viewer")).await;
    let other = client(&app, None).await;
    let rs = client(&app, Some("resource-server")).await;
    let t = token(&app, &viewer).await;

    let own = introspect(&app, &viewer, &t).await;
    assert_eq!(own["active"], true);
    assert_eq!(own["client_id"], viewer.id);
    assert_eq!(own["sub"], viewer.id);
    assert_eq!(own["token_type"], "Bearer");
    assert_eq!(own["scope"], "clients:read events:read roles:read users:read");
    assert_eq!(own["iss"], app.address);
    assert_eq!(own["aud"], app.address);
    for claim in ["exp", "iat", "nbf"] {
        assert!(own[claim].is_i64(), "{claim}");
    }
    assert!(own["jti"].is_string());

    assert_eq!(introspect(&app, &other, &t).await, inactive(), "not yours");
    assert_eq!(introspect(&app, &rs, &t).await["active"], true, "tokens:introspect sees any");

    // A bearer token carrying tokens:introspect works as the caller too.
    let rs_token = token(&app, &rs).await;
    let bearer = form(&app, "/oauth2/introspect", &format!("Bearer {rs_token}"), &format!("token={t}")).await;
    assert_eq!(bearer.json::<Value>().await.unwrap()["active"], true);
    // A wrong hint is only a hint.
    let hinted = form(
        &app,
        "/oauth2/introspect",
        &basic(&viewer.id, &viewer.secret),
        &format!("token={t}&token_type_hint=refresh_token"),
    )
    .await;
    assert_eq!(hinted.json::<Value>().await.unwrap()["active"], true);
    // client_secret_post works for the caller.
    let post = app
        .http
        .post(app.url("/oauth2/introspect"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={t}&client_id={}&client_secret={}", viewer.id, viewer.secret))
        .send()
        .await
        .unwrap();
    assert_eq!(post.json::<Value>().await.unwrap()["active"], true);
}

async fn introspection_of_tokens_that_are_not_active(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let rs = client(&app, Some("resource-server")).await;
    let victim = client(&app, Some("viewer")).await;
    let t = token(&app, &victim).await;
    for garbage in ["garbage", "a.b.c", &t[..t.len() - 2], &format!("{t}x")] {
        assert_eq!(introspect(&app, &rs, garbage).await, inactive(), "{garbage}");
    }
    // Signed by a key that is not ours: another server's token.
    let stranger = spawn_app().await;
    let s = client(&stranger, None).await;
    assert_eq!(introspect(&app, &rs, &token(&stranger, &s).await).await, inactive());

    let id = victim.id.parse().unwrap();
    app.service.set_client_status(&Caller::system(), id, ClientStatus::Disabled).await.unwrap();
    assert_eq!(introspect(&app, &rs, &t).await, inactive(), "disabled client");
    app.service.set_client_status(&Caller::system(), id, ClientStatus::Enabled).await.unwrap();
    assert_eq!(introspect(&app, &rs, &t).await["active"], true, "enabled again");
    app.service.regenerate_client_secret(&Caller::system(), id).await.unwrap();
    assert_eq!(introspect(&app, &rs, &t).await["active"], true, "a new secret leaves issued tokens valid");
    app.service.delete_client(&Caller::system(), id).await.unwrap();
    assert_eq!(introspect(&app, &rs, &t).await, inactive(), "deleted client");

    // Bad callers and bad requests.
    let bad = form(&app, "/oauth2/introspect", &basic(&rs.id, "pcs_wrong"), &format!("token={t}")).await;
    assert_eq!(bad.status(), 401);
    let anonymous = app
        .http
        .post(app.url("/oauth2/introspect"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let missing =
        form(&app, "/oauth2/introspect", &basic(&rs.id, &rs.secret), "token_type_hint=access_token").await;
    assert_eq!(missing.status(), 400);
    assert_eq!(missing.json::<Value>().await.unwrap()["error"], "invalid_request");
    let bad_bearer = form(&app, "/oauth2/introspect", "Bearer nope", &format!("token={t}")).await;
    assert_eq!(bad_bearer.status(), 401);
}

async fn revocation_of_own_tokens_only(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = client(&app, Some("admin")).await;
    let other = client(&app, Some("admin")).await;
    let t = token(&app, &admin).await;
    let api = |token: String| {
        let app = &app;
        async move { app.http.get(app.url("/api/v1/clients")).bearer_auth(token).send().await.unwrap().status() }
    };
    assert_eq!(api(t.clone()).await, 200);

    let refused = form(&app, "/oauth2/revoke", &basic(&other.id, &other.secret), &format!("token={t}")).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "unauthorized_client");
    assert_eq!(api(t.clone()).await, 200, "a refused revocation changes nothing");

    let revoked = form(&app, "/oauth2/revoke", &basic(&admin.id, &admin.secret), &format!("token={t}")).await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(revoked.headers()["cache-control"], "no-store");
    assert_eq!(introspect(&app, &admin, &t).await, inactive());
    assert_eq!(api(t.clone()).await, 401, "revoked tokens are refused by the admin API");
    let again = form(&app, "/oauth2/revoke", &basic(&admin.id, &admin.secret), &format!("token={t}")).await;
    assert_eq!(again.status(), 200, "revoking twice is fine");
    assert_eq!(api(token(&app, &admin).await).await, 200, "other tokens still work");

    for unknown in ["garbage", "a.b.c"] {
        let r =
            form(&app, "/oauth2/revoke", &basic(&admin.id, &admin.secret), &format!("token={unknown}")).await;
        assert_eq!(r.status(), 200, "{unknown}");
    }
    let anonymous = app
        .http
        .post(app.url("/oauth2/revoke"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let bearer =
        form(&app, "/oauth2/revoke", &format!("Bearer {}", token(&app, &admin).await), &format!("token={t}"))
            .await;
    assert_eq!(bearer.status(), 401, "revocation takes client credentials, not a bearer token");
    let missing = form(&app, "/oauth2/revoke", &basic(&admin.id, &admin.secret), "").await;
    assert_eq!(missing.status(), 400);
    // A user's active personal access token is not the client's to revoke
    // (unknown or malformed `pat_…` strings: crate::rfc_details).
    let (pat, _) = app.user_token("pat-owner@example.com", &["viewer"]).await;
    let unsupported =
        form(&app, "/oauth2/revoke", &basic(&admin.id, &admin.secret), &format!("token={pat}")).await;
    assert_eq!(unsupported.status(), 400);
    assert_eq!(unsupported.json::<Value>().await.unwrap()["error"], "unsupported_token_type");
}

async fn revoke_every_token_keeps_the_secret(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = client(&app, Some("admin")).await;
    let target = client(&app, Some("viewer")).await;
    let before = token(&app, &target).await;
    let admin_token = token(&app, &admin).await;
    let response = app
        .http
        .post(app.url(&format!("/api/v1/clients/{}/revoke-tokens", target.id)))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(introspect(&app, &target, &before).await, inactive());
    // Tokens issued in the revocation's second are revoked too; from the next one on they work.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = token(&app, &target).await;
    assert_eq!(introspect(&app, &target, &after).await["active"], true, "the secret still works");
    let viewer_token = token(&app, &target).await;
    let forbidden = app
        .http
        .post(app.url(&format!("/api/v1/clients/{}/revoke-tokens", admin.id)))
        .bearer_auth(viewer_token)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
}

async fn last_used_is_recorded_when_flushed(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let c = client(&app, None).await;
    let id = c.id.parse().unwrap();
    assert_eq!(app.service.get_client(&Caller::system(), id).await.unwrap().client.last_used_at, None);
    let before = portcullis_domain::now();
    token(&app, &c).await;
    token(&app, &c).await;
    assert_eq!(
        app.service.get_client(&Caller::system(), id).await.unwrap().client.last_used_at,
        None,
        "nothing written on the hot path"
    );
    assert_eq!(app.service.flush_last_used().await.unwrap(), 1, "two uses, one write");
    let used = app.service.get_client(&Caller::system(), id).await.unwrap().client.last_used_at.unwrap();
    assert!(used >= before && used <= portcullis_domain::now());
    assert_eq!(app.service.flush_last_used().await.unwrap(), 0);
    // A failed authentication is not a use.
    app.token_basic(&c.id, "pcs_nope", None).await;
    assert_eq!(app.service.flush_last_used().await.unwrap(), 0);
}

async fn rotated_keys_sign_new_tokens_and_old_ones_stay_valid(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = client(&app, Some("admin")).await;
    let old_token = token(&app, &admin).await;
    let old_kid = app.service.keys().active.kid.clone();
    let response =
        app.http.post(app.url("/api/v1/keys/rotate")).bearer_auth(&old_token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let new_kid = response.json::<Value>().await.unwrap()["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    let new_token = token(&app, &admin).await;
    let (header, _) = crate::token::verify(&app, &new_token).await;
    assert_eq!(header["kid"], new_kid);
    let (old_header, _) = crate::token::verify(&app, &old_token).await;
    assert_eq!(old_header["kid"], old_kid, "the old key is still published");
    // The replaced key, the current one and the pre-published next one.
    assert_eq!(app.json("/.well-known/jwks.json").await["keys"].as_array().unwrap().len(), 3);
    assert_eq!(introspect(&app, &admin, &old_token).await["active"], true);
    // Nothing to retire yet: the old key's tokens may live another day.
    assert!(app.service.retire_signing_keys().await.unwrap().is_empty());
    let viewer = client(&app, Some("viewer")).await;
    let denied = app
        .http
        .post(app.url("/api/v1/keys/rotate"))
        .bearer_auth(token(&app, &viewer).await)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
}
