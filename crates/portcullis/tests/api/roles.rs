//! Operators' own permissions and roles over the admin API.

use portcullis_testkit::{Backend, TestApp, spawn_app, spawn_app_on};
use reqwest::Method;
use serde_json::{Value, json};

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

on_both_backends!(
    custom_permissions_and_roles_lifecycle,
    role_changes_apply_to_the_next_token_only,
    in_use_and_builtin_are_protected,
);

async fn custom_permissions_and_roles_lifecycle(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = app.bearer("admin", None).await;
    let (s, p) = call(
        &app,
        Method::POST,
        "/api/v1/permissions",
        &admin,
        Some(json!({"name": "invoices:read", "description": "Read invoices"})),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(p, json!({"name": "invoices:read", "description": "Read invoices", "builtin": false}));
    let (s, _) =
        call(&app, Method::POST, "/api/v1/permissions", &admin, Some(json!({"name": "invoices:write"})))
            .await;
    assert_eq!(s, 201);
    let (s, dup) =
        call(&app, Method::POST, "/api/v1/permissions", &admin, Some(json!({"name": "invoices:read"}))).await;
    assert_eq!(s, 409, "{dup}");
    for bad in ["Invoices:read", "invoices", "a:b:c", ""] {
        let (s, body) =
            call(&app, Method::POST, "/api/v1/permissions", &admin, Some(json!({"name": bad}))).await;
        assert_eq!((s, body["field"].as_str()), (400, Some("name")), "{bad}");
    }

    let (_, listed) = call(&app, Method::GET, "/api/v1/permissions", &admin, None).await;
    let invoices =
        listed["categories"].as_array().unwrap().iter().find(|c| c["category"] == "invoices").unwrap();
    let names: Vec<&str> =
        invoices["permissions"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["invoices:read", "invoices:write"]);

    let (s, updated) = call(
        &app,
        Method::PATCH,
        "/api/v1/permissions/invoices:write",
        &admin,
        Some(json!({"description": "Write invoices"})),
    )
    .await;
    assert_eq!((s, updated["description"].as_str()), (200, Some("Write invoices")));

    let (s, role) = call(
        &app,
        Method::POST,
        "/api/v1/roles",
        &admin,
        Some(json!({"name": "billing", "description": "Billing jobs", "permissions": ["invoices:write", "invoices:read"]})),
    )
    .await;
    assert_eq!(s, 201, "{role}");
    assert_eq!(role["permissions"], json!(["invoices:read", "invoices:write"]));
    assert_eq!(role["builtin"], false);
    let id = role["id"].as_str().unwrap().to_owned();
    let (s, bad) = call(
        &app,
        Method::POST,
        "/api/v1/roles",
        &admin,
        Some(json!({"name": "x", "permissions": ["nope:none"]})),
    )
    .await;
    assert_eq!((s, bad["field"].as_str()), (400, Some("permissions")));
    let (s, _) = call(&app, Method::POST, "/api/v1/roles", &admin, Some(json!({"name": "billing"}))).await;
    assert_eq!(s, 409, "names are unique");

    let (s, got) = call(&app, Method::GET, &format!("/api/v1/roles/{id}"), &admin, None).await;
    assert_eq!((s, &got), (200, &role));
    let (s, renamed) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/roles/{id}"),
        &admin,
        Some(json!({"name": "billing-jobs", "permissions": ["invoices:read"]})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        (renamed["name"].as_str(), &renamed["permissions"]),
        (Some("billing-jobs"), &json!(["invoices:read"]))
    );
    let (_, roles) = call(&app, Method::GET, "/api/v1/roles", &admin, None).await;
    let names: Vec<&str> =
        roles["items"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "billing-jobs", "resource-server", "viewer"]);

    // A client with the role, its effective permissions, and its tokens.
    let (_, created) = call(
        &app,
        Method::POST,
        "/api/v1/clients",
        &admin,
        Some(json!({"name": "invoicer", "role": "billing-jobs"})),
    )
    .await;
    let client_id = created["client"]["client_id"].as_str().unwrap().to_owned();
    let (s, perms) =
        call(&app, Method::GET, &format!("/api/v1/clients/{client_id}/permissions"), &admin, None).await;
    assert_eq!(s, 200);
    assert_eq!(
        perms,
        json!({"categories": [{"category": "invoices", "permissions": [{"name": "invoices:read", "description": "Read invoices", "builtin": false}]}]})
    );
    let token: Value = app
        .token_basic(&client_id, created["client_secret"].as_str().unwrap(), Some("invoices:read"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(token["scope"], "invoices:read");
    let meta = app.json("/.well-known/oauth-authorization-server").await;
    assert!(meta["scopes_supported"].as_array().unwrap().contains(&json!("invoices:write")));

    // Moving the client to another role frees this one; then it can go.
    call(&app, Method::PATCH, &format!("/api/v1/clients/{client_id}"), &admin, Some(json!({"role": null})))
        .await;
    let (s, _) = call(&app, Method::DELETE, &format!("/api/v1/roles/{id}"), &admin, None).await;
    assert_eq!(s, 204);
    let (s, _) = call(&app, Method::GET, &format!("/api/v1/roles/{id}"), &admin, None).await;
    assert_eq!(s, 404);
    let (s, _) = call(&app, Method::DELETE, "/api/v1/permissions/invoices:read", &admin, None).await;
    assert_eq!(s, 204);
}

async fn role_changes_apply_to_the_next_token_only(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = app.bearer("admin", None).await;
    call(&app, Method::POST, "/api/v1/permissions", &admin, Some(json!({"name": "reports:read"}))).await;
    call(&app, Method::POST, "/api/v1/permissions", &admin, Some(json!({"name": "reports:write"}))).await;
    let (_, role) = call(
        &app,
        Method::POST,
        "/api/v1/roles",
        &admin,
        Some(json!({"name": "reporter", "permissions": ["reports:read", "reports:write"]})),
    )
    .await;
    let (_, created) =
        call(&app, Method::POST, "/api/v1/clients", &admin, Some(json!({"name": "r", "role": "reporter"})))
            .await;
    let (id, secret) =
        (created["client"]["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
    let before: Value = app.token_basic(id, secret, None).await.json().await.unwrap();
    assert_eq!(before["scope"], "reports:read reports:write");

    let role_id = role["id"].as_str().unwrap();
    call(
        &app,
        Method::PATCH,
        &format!("/api/v1/roles/{role_id}"),
        &admin,
        Some(json!({"permissions": ["reports:read"]})),
    )
    .await;
    let after: Value = app.token_basic(id, secret, None).await.json().await.unwrap();
    assert_eq!(after["scope"], "reports:read", "the next token carries the new set");
    assert_eq!(app.token_basic(id, secret, Some("reports:write")).await.status(), 400);
    // The earlier token keeps its scope until it expires.
    let (_, claims) = crate::token::verify(&app, before["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["scope"], "reports:read reports:write");
}

async fn in_use_and_builtin_are_protected(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = app.bearer("admin", None).await;
    call(&app, Method::POST, "/api/v1/permissions", &admin, Some(json!({"name": "orders:read"}))).await;
    let (_, role) = call(
        &app,
        Method::POST,
        "/api/v1/roles",
        &admin,
        Some(json!({"name": "orders", "permissions": ["orders:read"]})),
    )
    .await;
    let role_id = role["id"].as_str().unwrap().to_owned();
    let (_, created) =
        call(&app, Method::POST, "/api/v1/clients", &admin, Some(json!({"name": "o", "role": "orders"})))
            .await;
    let client_id = created["client"]["client_id"].as_str().unwrap().to_owned();

    let (s, refused) = call(&app, Method::DELETE, "/api/v1/permissions/orders:read", &admin, None).await;
    assert_eq!((s, refused["type"].as_str()), (409, Some("urn:portcullis:problem:in-use")));
    assert_eq!(refused["in_use_by"]["roles"], json!(["orders"]));
    let (s, refused) = call(&app, Method::DELETE, &format!("/api/v1/roles/{role_id}"), &admin, None).await;
    assert_eq!(s, 409);
    assert_eq!(refused["in_use_by"]["clients"], json!([client_id]));

    // Cascade removes it from the role.
    let (s, _) =
        call(&app, Method::DELETE, "/api/v1/permissions/orders:read?cascade=true", &admin, None).await;
    assert_eq!(s, 204);
    let (_, role) = call(&app, Method::GET, &format!("/api/v1/roles/{role_id}"), &admin, None).await;
    assert_eq!(role["permissions"], json!([]));

    let (_, roles) = call(&app, Method::GET, "/api/v1/roles", &admin, None).await;
    let admin_role = roles["items"].as_array().unwrap().iter().find(|r| r["name"] == "admin").unwrap();
    let admin_id = admin_role["id"].as_str().unwrap();
    let (s, body) = call(&app, Method::DELETE, &format!("/api/v1/roles/{admin_id}"), &admin, None).await;
    assert_eq!((s, body["type"].as_str()), (409, Some("urn:portcullis:problem:builtin")));
    let (s, _) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/roles/{admin_id}"),
        &admin,
        Some(json!({"description": "x"})),
    )
    .await;
    assert_eq!(s, 409);
    let (s, _) = call(&app, Method::DELETE, "/api/v1/permissions/clients:read", &admin, None).await;
    assert_eq!(s, 409);
    let (s, _) = call(
        &app,
        Method::PATCH,
        "/api/v1/permissions/clients:read",
        &admin,
        Some(json!({"description": "x"})),
    )
    .await;
    assert_eq!(s, 409);
    let (s, _) = call(&app, Method::DELETE, "/api/v1/permissions/nope:none", &admin, None).await;
    assert_eq!(s, 404);
    let (s, body) = call(&app, Method::GET, "/api/v1/roles/not-a-uuid", &admin, None).await;
    assert_eq!((s, body["field"].as_str()), (400, Some("role_id")));
}

#[tokio::test]
async fn roles_need_their_permissions() {
    let app = spawn_app().await;
    let viewer = app.bearer("viewer", None).await;
    assert_eq!(call(&app, Method::GET, "/api/v1/roles", &viewer, None).await.0, 200);
    assert_eq!(call(&app, Method::GET, "/api/v1/permissions", &viewer, None).await.0, 200);
    assert_eq!(call(&app, Method::POST, "/api/v1/roles", &viewer, Some(json!({"name": "x"}))).await.0, 403);
    assert_eq!(
        call(&app, Method::POST, "/api/v1/permissions", &viewer, Some(json!({"name": "x:y"}))).await.0,
        403
    );
    let rs = app.bearer("resource-server", None).await;
    assert_eq!(call(&app, Method::GET, "/api/v1/roles", &rs, None).await.0, 403);
}
