//! Request events: recorded without waiting, redacted, readable, purged.

use std::time::Duration;

use portcullis_domain::{Event, now};
use portcullis_testkit::{Backend, TestApp, spawn_app, spawn_app_on};
use serde_json::{Value, json};

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app.http.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

on_both_backends!(requests_are_recorded_redacted_and_readable, old_events_are_purged_in_batches);

async fn requests_are_recorded_redacted_and_readable(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (admin_id, admin_secret, token) = app.client_with_token(Some("admin"), None).await;
    let (target, target_secret) = app.create_client(Some("viewer")).await;
    let target_id = target.client.id.to_string();
    // A failed token request of a known client, and a successful one.
    assert_eq!(app.token_basic(&target_id, "pcs_wrong", None).await.status(), 401);
    let ok: Value = app.token_basic(&target_id, target_secret.expose(), None).await.json().await.unwrap();
    let target_token = ok["access_token"].as_str().unwrap().to_owned();
    // An admin call whose response holds a secret.
    let created: Value = app
        .http
        .post(app.url("/api/v1/clients"))
        .bearer_auth(&token)
        .json(&json!({"name": "recorded"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_secret = created["client_secret"].as_str().unwrap().to_owned();
    // Anonymous requests are not attributed to anyone: not recorded.
    app.http.get(app.url("/api/v1/clients")).send().await.unwrap();
    app.service.flush_events().await.unwrap();

    // The client's events also hold its audit event (`client.created`).
    let (s, page) =
        get(&app, &token, &format!("/api/v1/clients/{target_id}/events?kind=token.request")).await;
    assert_eq!(s, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    let statuses: Vec<i64> = items.iter().map(|e| e["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [200, 401], "newest first: {page}");
    assert!(items.iter().all(|e| e["kind"] == "token.request" && e["source_ip"] == "127.0.0.1"));
    assert!(items[0].get("request_body").is_none(), "lists leave the bodies out");

    let (_, failed) = get(&app, &token, &format!("/api/v1/clients/{target_id}/events?status=4xx")).await;
    assert_eq!(failed["items"].as_array().unwrap().len(), 1);
    let id = failed["items"][0]["event_id"].as_str().unwrap();
    let (s, detail) = get(&app, &token, &format!("/api/v1/events/{id}")).await;
    assert_eq!(s, 200);
    assert!(detail["request_body"].as_str().unwrap().contains("grant_type=client_credentials"));
    assert!(detail["response_body"].as_str().unwrap().contains("invalid_client"));

    let (_, admin_calls) = get(&app, &token, "/api/v1/events?kind=admin.request").await;
    let create =
        admin_calls["items"].as_array().unwrap().iter().find(|e| e["method"] == "POST").unwrap().clone();
    assert_eq!(create["client_id"], admin_id);
    let (_, create) =
        get(&app, &token, &format!("/api/v1/events/{}", create["event_id"].as_str().unwrap())).await;
    assert!(create["response_body"].as_str().unwrap().contains("\"client_secret\":\"pcs_…"), "{create}");

    // No stored event holds any secret or token used above.
    app.service.flush_events().await.unwrap();
    let everything =
        app.service.list_events(&portcullis_service::Caller::cli(), Default::default()).await.unwrap();
    let dump = format!("{:?}", everything.items);
    for secret in [
        admin_secret.as_str(),
        target_secret.expose(),
        new_secret.as_str(),
        token.as_str(),
        target_token.as_str(),
    ] {
        assert!(!dump.contains(secret), "a secret reached the events");
    }

    // Bad filters and permissions.
    assert_eq!(get(&app, &token, "/api/v1/events?status=9xx").await.0, 400);
    assert_eq!(get(&app, &token, "/api/v1/events?since=yesterday").await.0, 400);
    assert_eq!(get(&app, &token, "/api/v1/events?cursor=nope").await.0, 400);
    assert_eq!(get(&app, &token, "/api/v1/events/not-a-uuid").await.0, 400);
    assert_eq!(get(&app, &token, &format!("/api/v1/events/{}", uuid::Uuid::new_v4())).await.0, 404);
    assert_eq!(get(&app, &target_token, "/api/v1/events").await.0, 200, "viewer has events:read");
    let (rs, rs_secret) = app.create_client(Some("resource-server")).await;
    let rs_token: Value =
        app.token_basic(&rs.client.id.to_string(), rs_secret.expose(), None).await.json().await.unwrap();
    assert_eq!(get(&app, rs_token["access_token"].as_str().unwrap(), "/api/v1/events").await.0, 403);
}

fn event_at(age: chrono::TimeDelta) -> Event {
    Event { actor: Some("system".into()), status: Some(200), ..Event::new("admin.request", now() - age) }
}

async fn old_events_are_purged_in_batches(backend: Backend) {
    let app = spawn_app_on(backend).await;
    for _ in 0..3 {
        app.service.record(event_at(chrono::TimeDelta::days(8)));
    }
    app.service.record(event_at(chrono::TimeDelta::days(6)));
    app.service.flush_events().await.unwrap();
    assert_eq!(app.service.purge_events(Duration::from_secs(7 * 86_400)).await.unwrap(), 3);
    let left = app.service.list_events(&portcullis_service::Caller::cli(), Default::default()).await.unwrap();
    assert_eq!(left.items.len(), 1);
    assert_eq!(app.service.purge_events(Duration::from_secs(7 * 86_400)).await.unwrap(), 0);
}

#[tokio::test]
async fn a_full_queue_drops_events_but_never_requests() {
    let app = spawn_app().await;
    let (view, secret) = app.create_client(None).await;
    // Its audit event was written with the change, not queued.
    app.service.flush_events().await.unwrap();
    app.service.set_event_queue_capacity(2);
    let id = view.client.id.to_string();
    for _ in 0..5 {
        assert_eq!(app.token_basic(&id, secret.expose(), None).await.status(), 200);
    }
    assert_eq!(app.service.queued_events(), 2);
    assert_eq!(app.service.dropped_events(), 3);
    let metrics = scrape(&app).await;
    assert!(metrics.contains("portcullis_events_dropped_total 3\n"), "{metrics}");
    assert!(metrics.contains("portcullis_events_queued 2\n"), "{metrics}");
    assert!(metrics.contains("portcullis_events_queue_capacity 2\n"), "{metrics}");
    let written_before = app.service.written_events();
    assert_eq!(written_before, 0, "the client's audit event went with the change, not through the queue");
    assert_eq!(app.service.flush_events().await.unwrap(), 2);
    let metrics = scrape(&app).await;
    assert!(metrics.contains("portcullis_events_written_total 2\n"), "{metrics}");
    assert!(metrics.contains("portcullis_events_queued 0\n"), "{metrics}");
    assert!(metrics.ends_with("# EOF\n"), "OpenMetrics text: {metrics}");
}

/// `GET /metrics`, unauthenticated, as Prometheus scrapes it.
async fn scrape(app: &portcullis_testkit::TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    response.text().await.unwrap()
}
