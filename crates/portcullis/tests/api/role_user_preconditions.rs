//! Optimistic concurrency over REST for roles and users, like clients: the
//! `ETag` is the version, and `If-Match` on PATCH and DELETE refuses a stale
//! change with 412, changing nothing and recording nothing.

use portcullis_testkit::{Backend, TestApp, spawn_app_on};
use reqwest::{Method, Response, header};
use serde_json::{Value, json};

use crate::preconditions::{etag, send};

on_both_backends!(
    a_role_answers_its_version_and_refuses_a_stale_if_match,
    a_user_answers_its_version_and_refuses_a_stale_if_match,
    a_malformed_if_match_on_a_role_or_user_is_a_bad_request,
);

async fn assert_precondition_failed(response: Response, what: &str) {
    assert_eq!(response.status(), 412, "{what}");
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:portcullis:problem:precondition-failed", "{what}");
}

async fn count_events(app: &TestApp, token: &str, query: &str) -> usize {
    let events: Value = send(app, Method::GET, &format!("/api/v1/events?{query}"), token, None, None)
        .await
        .json()
        .await
        .unwrap();
    events["items"].as_array().map_or(0, Vec::len)
}

async fn create_role(app: &TestApp, token: &str) -> String {
    let body = json!({"name": "editors", "description": "edit", "permissions": ["clients:read"]});
    let created = send(app, Method::POST, "/api/v1/roles", token, None, Some(body)).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    format!("/api/v1/roles/{}", created["id"].as_str().unwrap())
}

async fn create_user(app: &TestApp, token: &str) -> String {
    let body = json!({"email": "ada@example.com", "name": "Ada", "roles": ["viewer"]});
    let created = send(app, Method::POST, "/api/v1/users", token, None, Some(body)).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    format!("/api/v1/users/{}", created["user"]["user_id"].as_str().unwrap())
}

async fn a_role_answers_its_version_and_refuses_a_stale_if_match(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let token = app.bearer("admin", None).await;
    let path = create_role(&app, &token).await;
    let read = send(&app, Method::GET, &path, &token, None, None).await;
    assert_eq!((read.status().as_u16(), etag(&read)), (200, "\"1\"".to_owned()));

    let body = json!({"permissions": ["clients:read", "clients:write"]});
    let patched = send(&app, Method::PATCH, &path, &token, Some("\"1\""), Some(body)).await;
    assert_eq!((patched.status().as_u16(), etag(&patched)), (200, "\"2\"".to_owned()));
    // A change that changes nothing keeps the version.
    let body = json!({"permissions": ["clients:write", "clients:read"]});
    let same = send(&app, Method::PATCH, &path, &token, Some("\"2\""), Some(body)).await;
    assert_eq!((same.status().as_u16(), etag(&same)), (200, "\"2\"".to_owned()));

    // An editor who read version 1 loses nothing of the change made since.
    for stale in ["\"1\"", "W/\"2\"", "\"abc\"", "\"1\", \"3\""] {
        let body = json!({"name": "stale", "permissions": ["clients:read"]});
        let refused = send(&app, Method::PATCH, &path, &token, Some(stale), Some(body)).await;
        assert_precondition_failed(refused, stale).await;
    }
    let stored: Value = send(&app, Method::GET, &path, &token, None, None).await.json().await.unwrap();
    assert_eq!(stored["name"], "editors");
    assert_eq!(stored["permissions"], json!(["clients:read", "clients:write"]));
    assert_eq!(count_events(&app, &token, "kind=role.updated").await, 1, "no event for a refused change");

    // `*` and a list holding the current tag match.
    let star = send(&app, Method::PATCH, &path, &token, Some("*"), Some(json!({"description": "x"}))).await;
    assert_eq!((star.status().as_u16(), etag(&star)), (200, "\"3\"".to_owned()));
    let listed =
        send(&app, Method::PATCH, &path, &token, Some("\"1\", \"3\""), Some(json!({"name": "writers"})))
            .await;
    assert_eq!((listed.status().as_u16(), etag(&listed)), (200, "\"4\"".to_owned()));

    assert_precondition_failed(
        send(&app, Method::DELETE, &path, &token, Some("\"3\""), None).await,
        "delete",
    )
    .await;
    assert_eq!(send(&app, Method::GET, &path, &token, None, None).await.status(), 200, "not deleted");
    assert_eq!(count_events(&app, &token, "kind=role.deleted").await, 0);
    assert_eq!(send(&app, Method::DELETE, &path, &token, Some("\"4\""), None).await.status(), 204);
    assert_eq!(send(&app, Method::GET, &path, &token, None, None).await.status(), 404);
    assert_eq!(count_events(&app, &token, "kind=role.deleted").await, 1);
}

async fn a_user_answers_its_version_and_refuses_a_stale_if_match(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let token = app.bearer("admin", None).await;
    let path = create_user(&app, &token).await;
    let read = send(&app, Method::GET, &path, &token, None, None).await;
    assert_eq!((read.status().as_u16(), etag(&read)), (200, "\"1\"".to_owned()));

    let disabled =
        send(&app, Method::PATCH, &path, &token, Some("\"1\""), Some(json!({"status": "disabled"}))).await;
    assert_eq!((disabled.status().as_u16(), etag(&disabled)), (200, "\"2\"".to_owned()));

    // An editor who read version 1 cannot undo the disable nor hand out roles.
    let body = json!({"status": "enabled", "roles": ["admin"], "name": "Stale"});
    assert_precondition_failed(
        send(&app, Method::PATCH, &path, &token, Some("\"1\""), Some(body)).await,
        "patch",
    )
    .await;
    let stored: Value = send(&app, Method::GET, &path, &token, None, None).await.json().await.unwrap();
    assert_eq!((stored["status"].as_str(), stored["name"].as_str()), (Some("disabled"), Some("Ada")));
    assert_eq!(stored["roles"], json!(["viewer"]));
    assert_eq!(count_events(&app, &token, "kind=user.enabled").await, 0, "no event for a refused change");

    let roles =
        send(&app, Method::PATCH, &path, &token, Some("\"2\""), Some(json!({"roles": ["viewer", "admin"]})))
            .await;
    assert_eq!((roles.status().as_u16(), etag(&roles)), (200, "\"3\"".to_owned()));
    let renamed = send(&app, Method::PATCH, &path, &token, None, Some(json!({"name": "Ada L."}))).await;
    assert_eq!((renamed.status().as_u16(), etag(&renamed)), (200, "\"4\"".to_owned()));

    assert_precondition_failed(
        send(&app, Method::DELETE, &path, &token, Some("\"3\""), None).await,
        "delete",
    )
    .await;
    assert_eq!(send(&app, Method::GET, &path, &token, None, None).await.status(), 200, "not deleted");
    assert_eq!(send(&app, Method::DELETE, &path, &token, Some("\"4\""), None).await.status(), 204);
    assert_eq!(send(&app, Method::GET, &path, &token, None, None).await.status(), 404);
}

async fn a_malformed_if_match_on_a_role_or_user_is_a_bad_request(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let token = app.bearer("admin", None).await;
    let role = create_role(&app, &token).await;
    let user = create_user(&app, &token).await;
    for (path, body) in [(&role, json!({"description": "x"})), (&user, json!({"name": "x"}))] {
        for bad in ["1", "\"1", "W/1"] {
            let refused = send(&app, Method::PATCH, path, &token, Some(bad), Some(body.clone())).await;
            assert_eq!(refused.status(), 400, "{path} {bad}");
            let problem: Value = refused.json().await.unwrap();
            assert_eq!(problem["type"], "urn:portcullis:problem:invalid-header", "{bad}");
            assert_eq!(problem["field"], "if-match");
            let refused = send(&app, Method::DELETE, path, &token, Some(bad), None).await;
            assert_eq!(refused.status(), 400, "{path} {bad}");
        }
        let read = send(&app, Method::GET, path, &token, None, None).await;
        assert_eq!(etag(&read), "\"1\"", "nothing changed");
    }
}
