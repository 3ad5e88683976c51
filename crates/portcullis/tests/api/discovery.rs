//! Metadata (RFC 8414), JWKS, health.

use portcullis_testkit::{Backend, spawn_app, spawn_app_on};

on_both_backends!(metadata_describes_the_server);

async fn metadata_describes_the_server(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let response = app.http.get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let meta: serde_json::Value = response.json().await.unwrap();
    assert_eq!(meta["issuer"], app.address);
    assert_eq!(meta["token_endpoint"], app.url("/oauth2/token"));
    assert_eq!(meta["jwks_uri"], app.url("/.well-known/jwks.json"));
    assert_eq!(meta["grant_types_supported"], serde_json::json!(["client_credentials"]));
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(meta["introspection_endpoint"], app.url("/oauth2/introspect"));
    assert_eq!(meta["revocation_endpoint"], app.url("/oauth2/revoke"));
    for key in ["introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"]
    {
        assert_eq!(meta[key], serde_json::json!(["client_secret_basic", "client_secret_post"]), "{key}");
    }
    let scopes: Vec<&str> =
        meta["scopes_supported"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    for p in [
        "clients:read",
        "clients:write",
        "clients:secrets",
        "tokens:issue",
        "tokens:introspect",
        "keys:write",
    ] {
        assert!(scopes.contains(&p), "{p}");
    }
    for (key, value) in meta.as_object().unwrap() {
        assert_ne!(value, &serde_json::json!([]), "{key}: empty arrays are omitted (RFC 8414 §3.2)");
    }
    assert_eq!(app.json("/.well-known/openid-configuration").await, meta);
}

#[tokio::test]
async fn jwks_publishes_the_signing_key() {
    let app = spawn_app().await;
    let response = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let jwks: serde_json::Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    // The signing key and the next one, published before it signs.
    assert_eq!(keys.len(), 2);
    let active = app.service.keys().active.kid.clone();
    let key = keys.iter().find(|k| k["kid"] == active.as_str()).unwrap();
    assert!(keys.iter().all(|k| k.get("d").is_none()));
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kid"].as_str().unwrap(), app.service.keys().active.kid);
    assert!(key.get("d").is_none(), "never the private part");
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    assert_eq!(app.json("/healthz").await["status"], "ok");
    assert_eq!(app.json("/readyz").await["status"], "ready");
    let missing = app.http.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}
