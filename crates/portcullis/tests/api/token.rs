//! The client_credentials grant, end to end over HTTP.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use portcullis_domain::TokenTtl;
use portcullis_testkit::{Backend, TestApp, spawn_app_on};
use serde_json::Value;

/// Verifies a token against the server's published JWKS and returns (header, claims).
pub async fn verify(app: &TestApp, token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS");
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let jwks = app.json("/.well-known/jwks.json").await;
    let jwk =
        jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).expect("kid in JWKS");
    assert_eq!((jwk["kty"].as_str(), jwk["crv"].as_str()), (Some("OKP"), Some("Ed25519")));
    let x: [u8; 32] = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap().try_into().unwrap();
    let key = VerifyingKey::from_bytes(&x).unwrap();
    let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).expect("signature verifies");
    (header, claims)
}

async fn token_ok(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    response.json().await.unwrap()
}

on_both_backends!(
    basic_auth_issues_a_signed_rfc9068_token,
    post_auth_issues_a_token,
    scope_narrows_to_a_subset_of_the_role,
    scope_outside_the_role_is_invalid_scope,
    client_without_role_gets_a_token_without_scope,
    token_lifetime_is_the_clients_setting,
);

async fn basic_auth_issues_a_signed_rfc9068_token(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("viewer")).await;
    let id = view.client.id.to_string();
    let body = token_ok(app.token_basic(&id, secret.expose(), None).await).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "clients:read events:read roles:read users:read");
    assert!(body.get("refresh_token").is_none(), "RFC 6749 §4.4.3");

    let (header, claims) = verify(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(claims["iss"], app.address);
    assert_eq!(claims["aud"], app.address);
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["client_id"], id);
    assert_eq!(claims["scope"], body["scope"]);
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3600));
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

    let again = token_ok(app.token_basic(&id, secret.expose(), None).await).await;
    let (_, claims2) = verify(&app, again["access_token"].as_str().unwrap()).await;
    assert_ne!(claims["jti"], claims2["jti"], "jti is unique");
}

async fn post_auth_issues_a_token(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("admin")).await;
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        view.client.id,
        secret.expose()
    );
    let body = token_ok(app.post_token(&body, None).await).await;
    let (_, claims) = verify(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["client_id"], view.client.id.to_string());
    assert_eq!(claims["scope"].as_str().unwrap().split(' ').count(), 11, "every built-in permission");
}

async fn scope_narrows_to_a_subset_of_the_role(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("admin")).await;
    let id = view.client.id.to_string();
    let body =
        token_ok(app.token_basic(&id, secret.expose(), Some("clients:write clients:read")).await).await;
    assert_eq!(body["scope"], "clients:read clients:write");
    let (_, claims) = verify(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["scope"], "clients:read clients:write");
}

async fn scope_outside_the_role_is_invalid_scope(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("viewer")).await;
    let id = view.client.id.to_string();
    for scope in ["clients:write", "clients:read invoices:read", "not-a-permission", "clients:read \"x\""] {
        let response = app.token_basic(&id, secret.expose(), Some(scope)).await;
        assert_eq!(response.status(), 400, "{scope}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_scope", "{scope}");
    }
}

async fn client_without_role_gets_a_token_without_scope(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(None).await;
    let body = token_ok(app.token_basic(&view.client.id.to_string(), secret.expose(), None).await).await;
    assert!(body.get("scope").is_none(), "an empty scope is omitted: {body}");
    let (_, claims) = verify(&app, body["access_token"].as_str().unwrap()).await;
    assert!(claims.get("scope").is_none());
    let refused = app.token_basic(&view.client.id.to_string(), secret.expose(), Some("clients:read")).await;
    assert_eq!(refused.status(), 400);
}

async fn token_lifetime_is_the_clients_setting(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client_with(Some("viewer"), TokenTtl::from_secs(60).unwrap()).await;
    let body = token_ok(app.token_basic(&view.client.id.to_string(), secret.expose(), None).await).await;
    assert_eq!(body["expires_in"], 60);
    let (_, claims) = verify(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 60);
}
