//! Issue 11 §3: a secret-shaped string of the right byte length holding a
//! multi-byte character gets a clear 4xx wherever a secret or a personal
//! access token is read, never a 500.

use portcullis_testkit::{Backend, basic, form_urlencode, spawn_app_on};
use serde_json::Value;

/// 54 bytes, as long as a secret, with `é` straddling the checksum split.
fn odd(prefix: &str) -> String {
    let text = format!("{prefix}{}é{}", "a".repeat(42), "b".repeat(6));
    assert_eq!(text.len(), 54);
    text
}

on_both_backends!(a_multi_byte_secret_is_refused_everywhere_never_a_500);

async fn a_multi_byte_secret_is_refused_everywhere_never_a_500(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("admin")).await;
    let id = view.client.id.to_string();
    let secret = secret.expose().to_owned();
    for any_id in [id.clone(), uuid::Uuid::new_v4().to_string()] {
        // In the token form (client_secret_post).
        let form = format!(
            "grant_type=client_credentials&client_id={any_id}&client_secret={}",
            form_urlencode(&odd("pcs_"))
        );
        let response = app.post_token(&form, None).await;
        assert_eq!(response.status(), 401, "form");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_client");
        // In Basic credentials (client_secret_basic).
        let response =
            app.post_token("grant_type=client_credentials", Some(&basic(&any_id, &odd("pcs_")))).await;
        assert_eq!(response.status(), 401, "basic");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_client");
    }
    // As a personal access token at the admin API.
    let response = app.http.get(app.url("/api/v1/clients")).bearer_auth(odd("pat_")).send().await.unwrap();
    assert_eq!(response.status(), 401, "admin API");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/problem+json"));
    // At introspection: as the caller's bearer token, and as the token asked about.
    let response = app
        .http
        .post(app.url("/oauth2/introspect"))
        .bearer_auth(odd("pat_"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    // A header that is not ASCII is not a credential at all.
    assert_eq!(response.status(), 400, "introspection bearer");
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_request");
    for token in [odd("pat_"), odd("pcs_")] {
        let response = app
            .http
            .post(app.url("/oauth2/introspect"))
            .header("authorization", basic(&id, &secret))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "introspection of {token}");
        assert_eq!(response.json::<Value>().await.unwrap(), serde_json::json!({ "active": false }));
    }
    // The revocation endpoint says 200 for any token it does not know.
    let response = app
        .http
        .post(app.url("/oauth2/revoke"))
        .header("authorization", basic(&id, &secret))
        .form(&[("token", odd("pat_").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "revocation");
    // The real secret still works.
    assert_eq!(app.token_basic(&id, &secret, None).await.status(), 200);
}

on_both_backends!(a_nul_byte_in_a_text_filter_is_a_bad_request_never_a_503);

/// Found by the API fuzzing: PostgreSQL refuses text holding a NUL byte,
/// and a NUL in a list's text filter came back as 503 "the database is not
/// reachable". It is the caller's fault: 400, on both databases, both APIs.
async fn a_nul_byte_in_a_text_filter_is_a_bad_request_never_a_503(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (id, _, admin) = app.client_with_token(Some("admin"), None).await;
    for path in [
        "/api/v1/clients?q=a%00b".to_owned(),
        "/api/v1/users?q=a%00b".to_owned(),
        "/api/v1/events?kind=a%00b".to_owned(),
        format!("/api/v1/clients/{id}/events?kind=a%00b"),
    ] {
        let r = app.http.get(app.url(&path)).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["type"], "urn:portcullis:problem:invalid-query", "{path}: {body}");
    }
    for query in [
        "{ clients(filter: {search: \"a\\u0000b\"}) { nodes { id } } }",
        "{ users(filter: {search: \"a\\u0000b\"}) { nodes { id } } }",
    ] {
        let r = app
            .http
            .post(app.url("/graphql"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"query": query}))
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        let code = &body["errors"][0]["extensions"]["code"];
        assert!(code == "INVALID_QUERY" || code == "BAD_USER_INPUT", "{query}: {body}");
    }
}
