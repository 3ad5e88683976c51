//! Optimistic concurrency over REST: a client's `ETag` is its version, and
//! `If-Match` on PATCH and DELETE refuses a stale change with 412, changing
//! nothing.

use portcullis_testkit::{Backend, TestApp, spawn_app_on};
use reqwest::{Method, Response, header};
use serde_json::{Value, json};

on_both_backends!(
    get_and_patch_answer_the_version_as_etag,
    a_stale_if_match_is_refused_and_changes_nothing,
    a_malformed_if_match_is_a_bad_request,
    delete_honours_if_match,
);

pub(crate) async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    if_match: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(tag) = if_match {
        req = req.header(header::IF_MATCH, tag);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

pub(crate) fn etag(response: &Response) -> String {
    response.headers().get(header::ETAG).expect("an ETag").to_str().unwrap().to_owned()
}

async fn app_with_client(backend: Backend) -> (TestApp, String, String) {
    let app = spawn_app_on(backend).await;
    let token = app.bearer("admin", None).await;
    let (view, _) = app.create_client(None).await;
    let path = format!("/api/v1/clients/{}", view.client.id);
    (app, token, path)
}

async fn get_and_patch_answer_the_version_as_etag(backend: Backend) {
    let (app, token, path) = app_with_client(backend).await;
    let read = send(&app, Method::GET, &path, &token, None, None).await;
    assert_eq!(read.status(), 200);
    assert_eq!(etag(&read), "\"1\"");
    let patched =
        send(&app, Method::PATCH, &path, &token, Some("\"1\""), Some(json!({"name": "renamed"}))).await;
    assert_eq!(patched.status(), 200);
    assert_eq!(etag(&patched), "\"2\"");
    // A change that changes nothing keeps the version.
    let same =
        send(&app, Method::PATCH, &path, &token, Some("\"2\""), Some(json!({"name": "renamed"}))).await;
    assert_eq!((same.status().as_u16(), etag(&same)), (200, "\"2\"".to_owned()));
    // Other changes move it on too: status, secret.
    let secret = send(&app, Method::POST, &format!("{path}/secret"), &token, None, None).await;
    assert_eq!(secret.status(), 200);
    let read = send(&app, Method::GET, &path, &token, None, None).await;
    assert_eq!(etag(&read), "\"3\"");
    // `*`, and a list holding the current tag, match.
    let star = send(&app, Method::PATCH, &path, &token, Some("*"), Some(json!({"description": "x"}))).await;
    assert_eq!((star.status().as_u16(), etag(&star)), (200, "\"4\"".to_owned()));
    let listed =
        send(&app, Method::PATCH, &path, &token, Some("\"1\", \"4\""), Some(json!({"description": "y"})))
            .await;
    assert_eq!((listed.status().as_u16(), etag(&listed)), (200, "\"5\"".to_owned()));
}

async fn a_stale_if_match_is_refused_and_changes_nothing(backend: Backend) {
    let (app, token, path) = app_with_client(backend).await;
    let first = send(&app, Method::PATCH, &path, &token, Some("\"1\""), Some(json!({"name": "first"}))).await;
    assert_eq!(first.status(), 200);
    for stale in ["\"1\"", "W/\"2\"", "\"abc\"", "\"1\", \"3\""] {
        let refused = send(
            &app,
            Method::PATCH,
            &path,
            &token,
            Some(stale),
            Some(json!({"name": "second", "status": "disabled"})),
        )
        .await;
        assert_eq!(refused.status(), 412, "{stale}");
        assert_eq!(refused.headers()[header::CONTENT_TYPE], "application/problem+json");
        let problem: Value = refused.json().await.unwrap();
        assert_eq!(problem["type"], "urn:portcullis:problem:precondition-failed", "{stale}");
    }
    let stored: Value = send(&app, Method::GET, &path, &token, None, None).await.json().await.unwrap();
    assert_eq!((stored["name"].as_str(), stored["status"].as_str()), (Some("first"), Some("enabled")));
    let events: Value =
        send(&app, Method::GET, &format!("{path}/events?kind=client.updated"), &token, None, None)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(events["items"].as_array().map(Vec::len), Some(1), "no event for a refused change: {events}");
}

async fn a_malformed_if_match_is_a_bad_request(backend: Backend) {
    let (app, token, path) = app_with_client(backend).await;
    for bad in ["1", "\"1", "W/1"] {
        let refused = send(&app, Method::PATCH, &path, &token, Some(bad), Some(json!({"name": "x"}))).await;
        assert_eq!(refused.status(), 400, "{bad}");
        let problem: Value = refused.json().await.unwrap();
        assert_eq!(problem["type"], "urn:portcullis:problem:invalid-header", "{bad}");
        assert_eq!(problem["field"], "if-match");
    }
    let stored: Value = send(&app, Method::GET, &path, &token, None, None).await.json().await.unwrap();
    assert_ne!(stored["name"], "x");
}

async fn delete_honours_if_match(backend: Backend) {
    let (app, token, path) = app_with_client(backend).await;
    assert_eq!(
        send(&app, Method::PATCH, &path, &token, None, Some(json!({"name": "v2"}))).await.status(),
        200
    );
    let stale = send(&app, Method::DELETE, &path, &token, Some("\"1\""), None).await;
    assert_eq!(stale.status(), 412);
    assert_eq!(send(&app, Method::GET, &path, &token, None, None).await.status(), 200, "not deleted");
    let current = send(&app, Method::DELETE, &path, &token, Some("\"2\""), None).await;
    assert_eq!(current.status(), 204);
    assert_eq!(send(&app, Method::GET, &path, &token, None, None).await.status(), 404);
}
