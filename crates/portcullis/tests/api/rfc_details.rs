//! Issue 11 §6: RFC details at the OAuth2 endpoints.

use portcullis_domain::PersonalTokenSecret;
use portcullis_testkit::{Backend, TestApp, basic, spawn_app_on};
use serde_json::Value;

on_both_backends!(
    a_scope_of_only_spaces_is_invalid_scope,
    a_failed_bearer_at_introspection_gets_the_bearer_challenge,
    two_authorization_headers_are_an_invalid_request,
    revoking_an_unknown_or_malformed_personal_token_answers_200,
);

async fn post(app: &TestApp, path: &str, authorizations: &[&str], body: &str) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    for value in authorizations {
        // `header` appends: each value is its own `Authorization` header line.
        request = request.header("authorization", *value);
    }
    request.send().await.unwrap()
}

async fn a_scope_of_only_spaces_is_invalid_scope(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (id, secret, _) = app.client_with_token(Some("viewer"), None).await;
    for scope in ["%20", "+", "%20%20%20", "+++"] {
        let response = post(
            &app,
            "/oauth2/token",
            &[&basic(&id, &secret)],
            &format!("grant_type=client_credentials&scope={scope}"),
        )
        .await;
        assert_eq!(response.status(), 400, "scope={scope}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_scope", "scope={scope}");
    }
    // An empty scope is an omitted one (RFC 6749 §3.2): every permission.
    let response =
        post(&app, "/oauth2/token", &[&basic(&id, &secret)], "grant_type=client_credentials&scope=").await;
    assert_eq!(response.status(), 200);
}

async fn a_failed_bearer_at_introspection_gets_the_bearer_challenge(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (id, _, token) = app.client_with_token(Some("admin"), None).await;
    let unknown_pat = PersonalTokenSecret::generate();
    for bad in ["not-a-token", &format!("{token}x"), unknown_pat.expose()] {
        let response =
            post(&app, "/oauth2/introspect", &[&format!("Bearer {bad}")], &format!("token={token}")).await;
        assert_eq!(response.status(), 401, "{bad}");
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer realm="portcullis", error="invalid_token""#
        );
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_token");
    }
    // The token itself works as a bearer, and wrong client credentials keep
    // the Basic challenge.
    let response =
        post(&app, "/oauth2/introspect", &[&format!("Bearer {token}")], &format!("token={token}")).await;
    assert_eq!(response.status(), 200);
    let response =
        post(&app, "/oauth2/introspect", &[&basic(&id, "pcs_wrong")], &format!("token={token}")).await;
    assert_eq!(response.status(), 401);
    assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
}

async fn two_authorization_headers_are_an_invalid_request(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (id, secret, token) = app.client_with_token(Some("admin"), None).await;
    let good = basic(&id, &secret);
    let bearer = format!("Bearer {token}");
    let pairs: [[&str; 2]; 4] = [[&good, &good], [&bearer, &good], [&good, &bearer], [&bearer, &bearer]];
    for path in ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"] {
        let body = if path == "/oauth2/token" {
            "grant_type=client_credentials".to_owned()
        } else {
            format!("token={token}")
        };
        for pair in &pairs {
            let response = post(&app, path, pair, &body).await;
            let first = &pair[0][..6];
            let second = &pair[1][..6];
            assert_eq!(response.status(), 400, "{path}: {first} + {second}");
            assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_request", "{path}");
        }
    }
    // A bearer token and a secret in the body: also two methods.
    let response = post(
        &app,
        "/oauth2/introspect",
        &[&bearer],
        &format!("token={token}&client_id={id}&client_secret={secret}"),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_request");
    // Nothing was revoked by the refused requests.
    let response = post(&app, "/oauth2/introspect", &[&good], &format!("token={token}")).await;
    assert_eq!(response.json::<Value>().await.unwrap()["active"], true);
}

async fn revoking_an_unknown_or_malformed_personal_token_answers_200(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (id, secret, _) = app.client_with_token(Some("admin"), None).await;
    let (real, _) = app.user_token("someone@example.com", &["viewer"]).await;
    let unknown = PersonalTokenSecret::generate();
    let last = if real.ends_with('x') { 'y' } else { 'x' };
    let typo = format!("{}{last}", &real[..real.len() - 1]);
    for token in ["pat_", "pat_nope", unknown.expose(), &typo, &format!("{real}x")] {
        let response = post(&app, "/oauth2/revoke", &[&basic(&id, &secret)], &format!("token={token}")).await;
        assert_eq!(response.status(), 200, "RFC 7009 §2.2: {token}");
    }
    // The user's real token is not the client's to revoke, and it still works.
    let response = post(&app, "/oauth2/revoke", &[&basic(&id, &secret)], &format!("token={real}")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "unsupported_token_type");
    let me = app.http.get(app.url("/api/v1/me")).bearer_auth(&real).send().await.unwrap();
    assert_eq!(me.status(), 200);
}
