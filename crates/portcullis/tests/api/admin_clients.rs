//! The admin REST API for clients: authentication, permissions, every
//! operation, and bad input.

use portcullis_service::Caller;
use portcullis_testkit::{Backend, TestApp, spawn_app, spawn_app_on};
use reqwest::{Method, Response};
use serde_json::{Value, json};

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut req = app.http.request(method, app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

async fn problem(response: Response, status: u16, kind: &str) -> Value {
    let got = response.status().as_u16();
    let content_type = response.headers().get("content-type").cloned();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{body}");
    assert_eq!(content_type.unwrap(), "application/problem+json");
    assert_eq!(body["type"], format!("urn:portcullis:problem:{kind}"), "{body}");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}

on_both_backends!(
    admin_api_lifecycle_of_a_client,
    tokens_of_disabled_or_deleted_clients_are_refused_at_once,
    bad_input_gets_a_problem_and_changes_nothing,
);

async fn admin_api_lifecycle_of_a_client(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = app.bearer("admin", None).await;

    let created = call(
        &app,
        Method::POST,
        "/api/v1/clients",
        Some(&admin),
        Some(json!({"name": "CRM sync", "description": "pushes leads", "role": "viewer", "access_token_ttl_seconds": 900})),
    )
    .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let created: Value = created.json().await.unwrap();
    let id = created["client"]["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["client"]["name"], "CRM sync");
    assert_eq!(created["client"]["role"], "viewer");
    assert_eq!(created["client"]["status"], "enabled");
    assert_eq!(created["client"]["access_token_ttl_seconds"], 900);
    assert!(created["client"]["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(created["client"]["last_used_at"], Value::Null);
    assert_eq!(app.token_basic(&id, &secret, None).await.status(), 200, "the new secret works");

    let got: Value = call(&app, Method::GET, &format!("/api/v1/clients/{id}"), Some(&admin), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, created["client"]);
    assert!(!got.to_string().contains("pcs_"), "reads never show a secret");

    let listed: Value = call(&app, Method::GET, "/api/v1/clients?q=crm&status=enabled", Some(&admin), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["next_cursor"], Value::Null);
    let none: Value = call(&app, Method::GET, "/api/v1/clients?status=disabled", Some(&admin), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(none["items"].as_array().unwrap().is_empty());
    let page: Value =
        call(&app, Method::GET, "/api/v1/clients?limit=1", Some(&admin), None).await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let next = page["next_cursor"].as_str().expect("two clients exist: the admin's and CRM sync");
    let page2: Value =
        call(&app, Method::GET, &format!("/api/v1/clients?limit=1&cursor={next}"), Some(&admin), None)
            .await
            .json()
            .await
            .unwrap();
    assert_ne!(page2["items"][0]["client_id"], page["items"][0]["client_id"]);

    let patched: Value = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/clients/{id}"),
        Some(&admin),
        Some(json!({"name": "CRM sync v2", "description": null, "role": "admin", "access_token_ttl_seconds": 120})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(patched["name"], "CRM sync v2");
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(patched["role"], "admin");
    assert_eq!(patched["access_token_ttl_seconds"], 120);

    let disabled: Value = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/clients/{id}"),
        Some(&admin),
        Some(json!({"status": "disabled"})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(app.token_basic(&id, &secret, None).await.status(), 401);
    let refused = call(&app, Method::POST, &format!("/api/v1/clients/{id}/token"), Some(&admin), None).await;
    problem(refused, 409, "conflict").await;
    call(
        &app,
        Method::PATCH,
        &format!("/api/v1/clients/{id}"),
        Some(&admin),
        Some(json!({"status": "enabled"})),
    )
    .await;
    assert_eq!(app.token_basic(&id, &secret, None).await.status(), 200);

    let regenerated =
        call(&app, Method::POST, &format!("/api/v1/clients/{id}/secret"), Some(&admin), None).await;
    assert_eq!(regenerated.status(), 200);
    let new_secret = regenerated.json::<Value>().await.unwrap()["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(app.token_basic(&id, &secret, None).await.status(), 401);
    assert_eq!(app.token_basic(&id, &new_secret, None).await.status(), 200);

    let issued = call(
        &app,
        Method::POST,
        &format!("/api/v1/clients/{id}/token"),
        Some(&admin),
        Some(json!({"scope": "clients:read"})),
    )
    .await;
    assert_eq!(issued.status(), 200);
    let issued: Value = issued.json().await.unwrap();
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["scope"], "clients:read");
    let (_, claims) = crate::token::verify(&app, issued["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["client_id"], id);

    let deleted = call(&app, Method::DELETE, &format!("/api/v1/clients/{id}"), Some(&admin), None).await;
    assert_eq!(deleted.status(), 204);
    problem(
        call(&app, Method::GET, &format!("/api/v1/clients/{id}"), Some(&admin), None).await,
        404,
        "not-found",
    )
    .await;
    problem(
        call(&app, Method::DELETE, &format!("/api/v1/clients/{id}"), Some(&admin), None).await,
        404,
        "not-found",
    )
    .await;
}

async fn tokens_of_disabled_or_deleted_clients_are_refused_at_once(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("admin")).await;
    let body: Value =
        app.token_basic(&view.client.id.to_string(), secret.expose(), None).await.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(call(&app, Method::GET, "/api/v1/clients", Some(token), None).await.status(), 200);

    app.service
        .set_client_status(&Caller::system(), view.client.id, portcullis_domain::ClientStatus::Disabled)
        .await
        .unwrap();
    let refused = call(&app, Method::GET, "/api/v1/clients", Some(token), None).await;
    assert!(refused.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    problem(refused, 401, "unauthorized").await;

    app.service
        .set_client_status(&Caller::system(), view.client.id, portcullis_domain::ClientStatus::Enabled)
        .await
        .unwrap();
    assert_eq!(call(&app, Method::GET, "/api/v1/clients", Some(token), None).await.status(), 200);
    app.service.delete_client(&Caller::system(), view.client.id).await.unwrap();
    problem(call(&app, Method::GET, "/api/v1/clients", Some(token), None).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn admin_api_needs_a_token_with_the_permission() {
    let app = spawn_app().await;
    let none = call(&app, Method::GET, "/api/v1/clients", None, None).await;
    assert_eq!(none.headers()["www-authenticate"], r#"Bearer realm="portcullis""#);
    problem(none, 401, "unauthorized").await;
    let garbage = call(&app, Method::GET, "/api/v1/clients", Some("not-a-token"), None).await;
    assert!(garbage.headers()["www-authenticate"].to_str().unwrap().contains(r#"error="invalid_token""#));
    problem(garbage, 401, "unauthorized").await;
    let basic = app.http.get(app.url("/api/v1/clients")).basic_auth("a", Some("b")).send().await.unwrap();
    problem(basic, 401, "unauthorized").await;

    let viewer = app.bearer("viewer", None).await;
    assert_eq!(call(&app, Method::GET, "/api/v1/clients", Some(&viewer), None).await.status(), 200);
    let write = call(&app, Method::POST, "/api/v1/clients", Some(&viewer), Some(json!({"name": "x"}))).await;
    assert_eq!(
        write.headers()["www-authenticate"],
        r#"Bearer realm="portcullis", error="insufficient_scope", scope="clients:write""#
    );
    let body = problem(write, 403, "insufficient-scope").await;
    assert_eq!(body["required_permission"], "clients:write");

    // An admin client's token narrowed to clients:read cannot regenerate secrets or issue tokens.
    let narrowed = app.bearer("admin", Some("clients:read clients:write")).await;
    let (target, _) = app.create_client(None).await;
    let id = target.client.id;
    problem(
        call(&app, Method::POST, &format!("/api/v1/clients/{id}/secret"), Some(&narrowed), None).await,
        403,
        "insufficient-scope",
    )
    .await;
    problem(
        call(&app, Method::POST, &format!("/api/v1/clients/{id}/token"), Some(&narrowed), None).await,
        403,
        "insufficient-scope",
    )
    .await;
    // A 403 comes before any look at the body.
    problem(
        call(&app, Method::POST, "/api/v1/clients", Some(&viewer), Some(json!({"unknown": 1}))).await,
        403,
        "insufficient-scope",
    )
    .await;
}

async fn bad_input_gets_a_problem_and_changes_nothing(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = app.bearer("admin", None).await;
    let (target, _) = app.create_client(Some("viewer")).await;
    let id = target.client.id;
    let path = format!("/api/v1/clients/{id}");
    // (method, path, body, status, problem type, field named)
    type Case = (Method, String, Value, u16, &'static str, Option<&'static str>);
    let cases: Vec<Case> = vec![
        (Method::POST, "/api/v1/clients".into(), json!({}), 400, "invalid-field", Some("name")),
        (Method::POST, "/api/v1/clients".into(), json!({"name": 5}), 400, "invalid-field", Some("name")),
        (Method::POST, "/api/v1/clients".into(), json!({"name": ""}), 400, "invalid-field", Some("name")),
        (
            Method::POST,
            "/api/v1/clients".into(),
            json!({"name": "x".repeat(201)}),
            400,
            "invalid-field",
            Some("name"),
        ),
        (
            Method::POST,
            "/api/v1/clients".into(),
            json!({"name": "x", "colour": "red"}),
            400,
            "invalid-field",
            Some("colour"),
        ),
        (
            Method::POST,
            "/api/v1/clients".into(),
            json!({"name": "x", "client_id": id}),
            400,
            "invalid-field",
            Some("client_id"),
        ),
        (
            Method::POST,
            "/api/v1/clients".into(),
            json!({"name": "x", "role": "nosuch"}),
            400,
            "invalid-field",
            Some("role"),
        ),
        (
            Method::POST,
            "/api/v1/clients".into(),
            json!({"name": "x", "role": "Bad Role"}),
            400,
            "invalid-field",
            Some("role"),
        ),
        (
            Method::POST,
            "/api/v1/clients".into(),
            json!({"name": "x", "access_token_ttl_seconds": 59}),
            400,
            "invalid-field",
            Some("access_token_ttl_seconds"),
        ),
        (
            Method::POST,
            "/api/v1/clients".into(),
            json!({"name": "x", "access_token_ttl_seconds": "60"}),
            400,
            "invalid-field",
            Some("access_token_ttl_seconds"),
        ),
        (
            Method::POST,
            "/api/v1/clients".into(),
            json!({"name": "x", "access_token_ttl_seconds": 1e300}),
            400,
            "invalid-field",
            Some("access_token_ttl_seconds"),
        ),
        (
            Method::POST,
            "/api/v1/clients".into(),
            json!({"name": "x", "description": "d".repeat(2001)}),
            400,
            "invalid-field",
            Some("description"),
        ),
        (Method::POST, "/api/v1/clients".into(), json!(["name"]), 400, "malformed-body", None),
        (Method::PATCH, path.clone(), json!({"name": null}), 400, "invalid-field", Some("name")),
        (Method::PATCH, path.clone(), json!({"status": "paused"}), 400, "invalid-field", Some("status")),
        (Method::PATCH, path.clone(), json!({"status": null}), 400, "invalid-field", Some("status")),
        (
            Method::PATCH,
            path.clone(),
            json!({"secret_hash": "00"}),
            400,
            "invalid-field",
            Some("secret_hash"),
        ),
        (Method::PATCH, path.clone(), json!({"role": "nosuch"}), 400, "invalid-field", Some("role")),
        (
            Method::PATCH,
            "/api/v1/clients/not-a-uuid".into(),
            json!({"name": "y"}),
            400,
            "invalid-field",
            Some("client_id"),
        ),
        (
            Method::GET,
            "/api/v1/clients/not-a-uuid".into(),
            Value::Null,
            400,
            "invalid-field",
            Some("client_id"),
        ),
        (
            Method::GET,
            format!("/api/v1/clients/{}", uuid::Uuid::new_v4()),
            Value::Null,
            404,
            "not-found",
            None,
        ),
        (
            Method::GET,
            "/api/v1/clients?cursor=garbage".into(),
            Value::Null,
            400,
            "invalid-query",
            Some("cursor"),
        ),
        (Method::GET, "/api/v1/clients?limit=abc".into(), Value::Null, 400, "invalid-query", None),
        (Method::GET, "/api/v1/clients?status=paused".into(), Value::Null, 400, "invalid-query", None),
        (
            Method::POST,
            format!("{path}/token"),
            json!({"scope": "users:write"}),
            400,
            "invalid-field",
            Some("scope"),
        ),
        (Method::GET, "/api/v1/nothing-here".into(), Value::Null, 404, "not-found", None),
    ];
    for (method, path, body, status, kind, field) in cases {
        let body = if body.is_null() { None } else { Some(body) };
        let response = call(&app, method.clone(), &path, Some(&admin), body.clone()).await;
        let got = problem(response, status, kind).await;
        assert_eq!(got["field"].as_str(), field, "{method} {path} {body:?}: {got}");
    }
    let raw = |content_type: &'static str, body: &'static [u8]| {
        app.http
            .post(app.url("/api/v1/clients"))
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    problem(raw("text/plain", br#"{"name":"x"}"#).await.unwrap(), 415, "unsupported-media-type").await;
    problem(raw("application/json", b"{\"name\":").await.unwrap(), 400, "malformed-body").await;
    problem(raw("application/json", b"{\"name\":\"x\"} trailing").await.unwrap(), 400, "malformed-body")
        .await;
    problem(raw("application/json", b"\xff\xfe").await.unwrap(), 400, "malformed-body").await;
    let huge = format!(r#"{{"name":"{}"}}"#, "x".repeat(70 * 1024));
    let response = app
        .http
        .post(app.url("/api/v1/clients"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    problem(response, 413, "payload-too-large").await;

    // Nothing stored changed: the target as it was, and only two clients exist.
    assert_eq!(app.service.get_client(&Caller::system(), id).await.unwrap(), target);
    let all = app.service.list_clients(&Caller::system(), Default::default()).await.unwrap();
    assert_eq!(all.items.len(), 2);
}

#[tokio::test]
async fn openapi_document_is_served_and_committed() {
    let app = spawn_app().await;
    let served = call(&app, Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(served.status(), 200);
    let served: Value = served.json().await.unwrap();
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/clients",
        "/api/v1/clients/{client_id}",
        "/api/v1/clients/{client_id}/secret",
        "/api/v1/clients/{client_id}/token",
    ] {
        assert!(served["paths"].get(path).is_some(), "{path}");
    }
    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let committed = std::fs::read_to_string(committed_path).unwrap_or_default();
    assert!(
        committed.trim() == portcullis_web::api::openapi_json().trim(),
        "docs/openapi.json is stale: run `cargo run -p portcullis -- openapi > docs/openapi.json`"
    );
}
