//! Audit events: one per change to a client, role, permission, user or
//! signing key, made through the admin API, naming who made it and only
//! the fields that changed; never a secret, token or password.

use portcullis_domain::{Email, Event, RoleName, UserName};
use portcullis_service::{Caller, NewUser, events::ListEvents};
use portcullis_testkit::{Backend, PASSWORD, TestApp, spawn_app_on};
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

/// Every stored event, oldest first, after writing the queue.
async fn all_events(app: &TestApp) -> Vec<Event> {
    app.service.flush_events().await.unwrap();
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .service
            .list_events(
                &portcullis_service::Caller::cli(),
                ListEvents { cursor, limit: Some(200), ..Default::default() },
            )
            .await
            .unwrap();
        all.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    all.reverse();
    all
}

/// The kinds of the change events stored so far (request events have no actor).
async fn change_kinds(app: &TestApp) -> Vec<String> {
    all_events(app).await.into_iter().filter(|e| e.actor.is_some()).map(|e| e.kind).collect()
}

/// The one change event of `kind` listed at `list` (`/api/v1/events` or
/// `/api/v1/clients/{id}/events`), as `GET /api/v1/events/{id}` shows it.
async fn the_change(app: &TestApp, token: &str, list: &str, kind: &str) -> Value {
    app.service.flush_events().await.unwrap();
    let (s, page) = call(app, Method::GET, &format!("{list}?kind={kind}"), token, None).await;
    assert_eq!(s, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "exactly one {kind}: {page}");
    let (s, event) = call(
        app,
        Method::GET,
        &format!("/api/v1/events/{}", items[0]["event_id"].as_str().unwrap()),
        token,
        None,
    )
    .await;
    assert_eq!(s, 200, "{event}");
    assert_eq!(event["kind"], kind);
    for request_field in ["method", "path", "status", "request_body", "response_body"] {
        assert_eq!(event[request_field], Value::Null, "{kind} is a change, not a request: {event}");
    }
    event
}

/// Asserts that no stored event, details included, holds any of `secrets`.
async fn assert_nowhere(app: &TestApp, secrets: &[&str]) {
    let everything = format!("{:?}", all_events(app).await);
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(!everything.contains(secret), "a secret, token or password reached the events");
    }
}

on_both_backends!(
    client_changes_are_recorded_with_their_actor_and_changed_fields,
    user_changes_are_recorded_without_passwords_or_tokens,
    role_permission_and_key_changes_are_recorded_with_the_user_who_made_them,
);

async fn client_changes_are_recorded_with_their_actor_and_changed_fields(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (admin_id, admin_secret, token) = app.client_with_token(Some("admin"), None).await;
    let actor = format!("client:{admin_id}");
    let before = change_kinds(&app).await;
    assert_eq!(before, ["client.created"], "the test's own admin client, by the test set-up");

    let (s, created) =
        call(&app, Method::POST, "/api/v1/clients", &token, Some(json!({"name": "crm", "role": "viewer"})))
            .await;
    assert_eq!(s, 201, "{created}");
    let id = created["client"]["client_id"].as_str().unwrap().to_owned();
    let first_secret = created["client_secret"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/clients/{id}");

    let update = json!({"name": "crm sync", "description": "nightly", "role": "admin", "access_token_ttl_seconds": 600});
    assert_eq!(call(&app, Method::PATCH, &path, &token, Some(update)).await.0, 200);
    // Setting fields to the values they have is no change.
    let same =
        json!({"name": "crm sync", "role": "admin", "access_token_ttl_seconds": 600, "status": "enabled"});
    assert_eq!(call(&app, Method::PATCH, &path, &token, Some(same)).await.0, 200);
    for status in ["disabled", "disabled", "enabled", "enabled"] {
        assert_eq!(call(&app, Method::PATCH, &path, &token, Some(json!({"status": status}))).await.0, 200);
    }
    let (s, regenerated) = call(&app, Method::POST, &format!("{path}/secret"), &token, None).await;
    assert_eq!(s, 200);
    let second_secret = regenerated["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(call(&app, Method::POST, &format!("{path}/revoke-tokens"), &token, None).await.0, 200);
    assert_eq!(call(&app, Method::DELETE, &path, &token, None).await.0, 204);
    // A failed change records nothing.
    assert_eq!(call(&app, Method::DELETE, &path, &token, None).await.0, 404);

    let kinds = change_kinds(&app).await;
    assert_eq!(
        kinds[before.len()..],
        [
            "client.created",
            "client.updated",
            "client.disabled",
            "client.enabled",
            "client.secret_regenerated",
            "client.tokens_revoked",
            "client.deleted"
        ],
        "one event per change; none for the no-op update, the repeated disable and enable, or the failure"
    );

    let expected = [
        (
            "client.created",
            json!({"name": "crm", "description": null, "role": "viewer", "access_token_ttl_seconds": 3600}),
        ),
        (
            "client.updated",
            json!({
                "name": {"from": "crm", "to": "crm sync"},
                "description": {"from": null, "to": "nightly"},
                "role": {"from": "viewer", "to": "admin"},
                "access_token_ttl_seconds": {"from": 3600, "to": 600},
            }),
        ),
        ("client.disabled", json!({"status": {"from": "enabled", "to": "disabled"}})),
        ("client.enabled", json!({"status": {"from": "disabled", "to": "enabled"}})),
        ("client.secret_regenerated", Value::Null),
        ("client.tokens_revoked", Value::Null),
        ("client.deleted", json!({"name": "crm sync"})),
    ];
    for (kind, details) in expected {
        let event = the_change(&app, &token, &format!("{path}/events"), kind).await;
        assert_eq!(event["actor"], actor.as_str(), "{event}");
        assert_eq!(event["client_id"], id.as_str(), "the subject: {event}");
        assert_eq!(event["user_id"], Value::Null, "{event}");
        assert_eq!(event["details"], details, "{event}");
    }

    // Among every event, too.
    let (_, all) = call(&app, Method::GET, "/api/v1/events?kind=client.updated", &token, None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1, "{all}");

    assert_nowhere(&app, &[&admin_secret, &token, &first_secret, &second_secret]).await;
}

async fn user_changes_are_recorded_without_passwords_or_tokens(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (admin_id, admin_secret, token) = app.client_with_token(Some("admin"), None).await;
    let actor = format!("client:{admin_id}");
    let new_password = "quartz meadow tunnel violin";

    let (s, created) = call(
        &app,
        Method::POST,
        "/api/v1/users",
        &token,
        Some(json!({"email": "Ada@Example.com", "name": "Ada", "roles": ["viewer"]})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let generated = created["password"].as_str().unwrap().to_owned();
    let id = created["user"]["user_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/users/{id}");

    let update = json!({"name": "Ada L.", "roles": ["admin", "viewer"]});
    assert_eq!(call(&app, Method::PATCH, &path, &token, Some(update)).await.0, 200);
    // The same values, roles in another order: no change.
    let same = json!({"name": "Ada L.", "roles": ["viewer", "admin"], "status": "enabled"});
    assert_eq!(call(&app, Method::PATCH, &path, &token, Some(same)).await.0, 200);
    let (s, body) = call(&app, Method::PATCH, &path, &token, Some(json!({"password": new_password}))).await;
    assert_eq!(s, 200, "{body}");
    // A weak password is refused and records nothing.
    assert_eq!(
        call(&app, Method::PATCH, &path, &token, Some(json!({"password": "password1234"}))).await.0,
        400
    );
    for status in ["disabled", "disabled", "enabled", "enabled"] {
        assert_eq!(call(&app, Method::PATCH, &path, &token, Some(json!({"status": status}))).await.0, 200);
    }

    // The user rotates and revokes its own personal access token.
    let signed_in = app
        .http
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "ada@example.com", "password": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = signed_in.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_owned();
    let rotated: Value = app
        .http
        .post(app.url("/api/v1/me/token"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pat = rotated["token"].as_str().unwrap().to_owned();
    assert_eq!(call(&app, Method::GET, "/api/v1/me", &pat, None).await.0, 200);
    let revoked = app
        .http
        .delete(app.url("/api/v1/me/token"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(call(&app, Method::DELETE, &path, &token, None).await.0, 204);

    let user_actor = format!("user:{id}");
    let expected = [
        ("user.created", &actor, json!({"email": "ada@example.com", "name": "Ada", "roles": ["viewer"]})),
        (
            "user.updated",
            &actor,
            json!({"name": {"from": "Ada", "to": "Ada L."}, "roles": {"added": ["admin"], "removed": []}}),
        ),
        ("user.disabled", &actor, json!({"status": {"from": "enabled", "to": "disabled"}})),
        ("user.enabled", &actor, json!({"status": {"from": "disabled", "to": "enabled"}})),
        ("user.personal_token_rotated", &user_actor, Value::Null),
        ("user.personal_token_revoked", &user_actor, Value::Null),
        ("user.deleted", &actor, json!({"email": "ada@example.com", "name": "Ada L."})),
    ];
    let kinds = change_kinds(&app).await;
    assert_eq!(
        kinds,
        [
            "client.created",
            "user.created",
            "user.updated",
            "user.updated",
            "user.disabled",
            "user.enabled",
            "user.personal_token_rotated",
            "user.personal_token_revoked",
            "user.deleted"
        ]
    );
    for (kind, who, details) in expected {
        let event = if kind == "user.updated" {
            // Two: the fields above, then the password.
            let (_, page) = call(&app, Method::GET, "/api/v1/events?kind=user.updated", &token, None).await;
            let items = page["items"].as_array().unwrap();
            assert_eq!(items.len(), 2, "{page}");
            let newest = items[0]["event_id"].as_str().unwrap();
            let oldest = items[1]["event_id"].as_str().unwrap();
            let (_, password_change) =
                call(&app, Method::GET, &format!("/api/v1/events/{newest}"), &token, None).await;
            assert_eq!(password_change["details"], json!({"password_changed": true}), "{password_change}");
            assert_eq!(password_change["actor"], actor.as_str());
            call(&app, Method::GET, &format!("/api/v1/events/{oldest}"), &token, None).await.1
        } else {
            the_change(&app, &token, "/api/v1/events", kind).await
        };
        assert_eq!(event["actor"], who.as_str(), "{event}");
        assert_eq!(event["user_id"], id.as_str(), "the subject: {event}");
        assert_eq!(event["client_id"], Value::Null, "{event}");
        assert_eq!(event["details"], details, "{event}");
    }

    assert_nowhere(&app, &[&admin_secret, &token, &generated, new_password, "password1234", &pat, &csrf])
        .await;
}

async fn role_permission_and_key_changes_are_recorded_with_the_user_who_made_them(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, _) = app
        .service
        .create_user(
            &Caller::system(),
            NewUser {
                email: Email::parse("ops@example.com").unwrap(),
                name: UserName::parse("Ops").unwrap(),
                roles: vec![RoleName::parse("admin").unwrap()],
                password: Some(PASSWORD.into()),
            },
        )
        .await
        .unwrap();
    let actor = format!("user:{}", view.user.id);
    let signed_in = app
        .http
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "ops@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = signed_in.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_owned();
    let rotated: Value = app
        .http
        .post(app.url("/api/v1/me/token"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pat = rotated["token"].as_str().unwrap().to_owned();
    let before = change_kinds(&app).await.len();

    for (name, description) in [("invoices:read", "Read invoices"), ("invoices:write", "Write invoices")] {
        let body = json!({"name": name, "description": description});
        assert_eq!(call(&app, Method::POST, "/api/v1/permissions", &pat, Some(body)).await.0, 201);
    }
    let read = "/api/v1/permissions/invoices:read";
    let body = json!({"description": "Read all invoices"});
    assert_eq!(call(&app, Method::PATCH, read, &pat, Some(body.clone())).await.0, 200);
    assert_eq!(call(&app, Method::PATCH, read, &pat, Some(body)).await.0, 200, "no change");
    let body = json!({"name": "billing", "description": "Billing", "permissions": ["invoices:read"]});
    let (s, role) = call(&app, Method::POST, "/api/v1/roles", &pat, Some(body)).await;
    assert_eq!(s, 201, "{role}");
    let role_id = role["id"].as_str().unwrap().to_owned();
    let role_path = format!("/api/v1/roles/{role_id}");
    let body = json!({"name": "billing-ops", "permissions": ["invoices:write", "invoices:read"]});
    assert_eq!(call(&app, Method::PATCH, &role_path, &pat, Some(body)).await.0, 200);
    let body = json!({"name": "billing-ops", "description": "Billing", "permissions": ["invoices:read", "invoices:write"]});
    assert_eq!(call(&app, Method::PATCH, &role_path, &pat, Some(body)).await.0, 200, "no change");
    // Refused while in use: nothing recorded. Then removed from the role too.
    let write = "/api/v1/permissions/invoices:write";
    assert_eq!(call(&app, Method::DELETE, write, &pat, None).await.0, 409);
    assert_eq!(call(&app, Method::DELETE, &format!("{write}?cascade=true"), &pat, None).await.0, 204);
    assert_eq!(call(&app, Method::DELETE, &role_path, &pat, None).await.0, 204);
    assert_eq!(call(&app, Method::DELETE, read, &pat, None).await.0, 204);
    let (s, rotated_key) = call(&app, Method::POST, "/api/v1/keys/rotate", &pat, None).await;
    assert_eq!(s, 200);

    let kinds = change_kinds(&app).await;
    assert_eq!(
        kinds[before..],
        [
            "permission.created",
            "permission.created",
            "permission.updated",
            "role.created",
            "role.updated",
            "permission.deleted",
            "role.deleted",
            "permission.deleted",
            "key.rotated"
        ]
    );
    let the_role = |name: &str| json!({"id": role_id, "name": name});
    let expected = [
        (
            "role.created",
            json!({"role": the_role("billing"), "description": "Billing", "permissions": ["invoices:read"]}),
        ),
        (
            "role.updated",
            json!({
                "role": the_role("billing-ops"),
                "name": {"from": "billing", "to": "billing-ops"},
                "permissions": {"added": ["invoices:write"], "removed": []},
            }),
        ),
        ("role.deleted", json!({"role": the_role("billing-ops")})),
        (
            "permission.updated",
            json!({"permission": "invoices:read", "description": {"from": "Read invoices", "to": "Read all invoices"}}),
        ),
        ("key.rotated", json!({"kid": rotated_key["kid"]})),
    ];
    for (kind, details) in expected {
        let event = the_change(&app, &pat, "/api/v1/events", kind).await;
        assert_eq!(event["actor"], actor.as_str(), "{event}");
        assert_eq!(event["client_id"], Value::Null, "{event}");
        assert_eq!(
            event["user_id"],
            Value::Null,
            "roles, permissions and keys are named in the details: {event}"
        );
        assert_eq!(event["details"], details, "{event}");
    }
    let (_, page) = call(&app, Method::GET, "/api/v1/events?kind=permission.deleted", &pat, None).await;
    let mut deleted = Vec::new();
    for item in page["items"].as_array().unwrap() {
        let (_, event) = call(
            &app,
            Method::GET,
            &format!("/api/v1/events/{}", item["event_id"].as_str().unwrap()),
            &pat,
            None,
        )
        .await;
        assert_eq!(event["actor"], actor.as_str());
        deleted.push(event["details"].clone());
    }
    assert_eq!(
        deleted,
        [
            json!({"permission": "invoices:read", "cascade": false, "removed_from_roles": []}),
            json!({"permission": "invoices:write", "cascade": true, "removed_from_roles": ["billing-ops"]}),
        ],
        "newest first"
    );
    let (_, page) = call(&app, Method::GET, "/api/v1/events?kind=permission.created", &pat, None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);

    assert_nowhere(&app, &[&pat, &csrf, PASSWORD, cookie.split_once('=').unwrap().1]).await;
}
