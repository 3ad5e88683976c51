//! `POST /api/v1/clients/bulk`: enable, disable or delete many clients at
//! once; what happened to each, one change event per client changed, the
//! token path seeing it at once, and bad input changing nothing.

use portcullis_domain::{ClientStatus, Event};
use portcullis_service::{Caller, ClientView, events::ListEvents};
use portcullis_testkit::{Backend, TestApp, spawn_app_on};
use reqwest::{Response, header::HeaderMap};
use serde_json::{Value, json};
use uuid::Uuid;

const BULK: &str = "/api/v1/clients/bulk";

async fn post(app: &TestApp, token: Option<&str>, body: Value) -> Response {
    let mut req = app.http.post(app.url(BULK)).json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

/// A 200 answer's body.
async fn bulk(app: &TestApp, token: &str, action: &str, ids: &[String]) -> Value {
    let response = post(app, Some(token), json!({"action": action, "client_ids": ids})).await;
    let status = response.status().as_u16();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["action"], action);
    body
}

/// Asserts an RFC 9457 problem and returns its body and headers.
async fn problem(response: Response, status: u16, kind: &str) -> (Value, HeaderMap) {
    let got = response.status().as_u16();
    let headers = response.headers().clone();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{body}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(body["type"], format!("urn:portcullis:problem:{kind}"), "{body}");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string(), "{body}");
    (body, headers)
}

/// `(client_id, result)` of each reported client, in order.
fn results(body: &Value) -> Vec<(String, String)> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["client_id"].as_str().unwrap().to_owned(), r["result"].as_str().unwrap().to_owned()))
        .collect()
}

fn pair(id: &str, result: &str) -> (String, String) {
    (id.to_owned(), result.to_owned())
}

async fn create(app: &TestApp) -> (ClientView, String, String) {
    let (view, secret) = app.create_client(Some("viewer")).await;
    let id = view.client.id.to_string();
    (view, id, secret.expose().to_owned())
}

async fn status_of(app: &TestApp, id: &str) -> Option<ClientStatus> {
    match app.service.get_client(&Caller::system(), id.parse().unwrap()).await {
        Ok(view) => Some(view.client.status),
        Err(_) => None,
    }
}

/// Every stored change event of `kind`, oldest first, after writing the queue.
async fn changes(app: &TestApp, kind: &str) -> Vec<Event> {
    app.service.flush_events().await.unwrap();
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .service
            .list_events(
                &portcullis_service::Caller::cli(),
                ListEvents { cursor, limit: Some(200), kind: Some(kind.into()), ..Default::default() },
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

/// Every change event stored so far (request events have no actor).
async fn change_count(app: &TestApp) -> usize {
    app.service.flush_events().await.unwrap();
    let page = app
        .service
        .list_events(
            &portcullis_service::Caller::cli(),
            ListEvents { limit: Some(200), ..Default::default() },
        )
        .await
        .unwrap();
    assert!(page.next_cursor.is_none(), "more events than this helper reads");
    page.items.iter().filter(|e| e.actor.is_some()).count()
}

on_both_backends!(
    bulk_actions_report_each_client_once_in_the_order_given,
    each_client_changed_gets_its_own_event_naming_the_actor,
    token_path_sees_a_bulk_disable_or_delete_at_once,
    a_thousand_ids_are_accepted_and_a_thousand_and_one_refused,
    bulk_needs_clients_write,
    bad_input_gets_a_problem_naming_the_field_and_changes_nothing,
);

async fn bulk_actions_report_each_client_once_in_the_order_given(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (admin_id, _, admin) = app.client_with_token(Some("admin"), None).await;
    let (_, a, _) = create(&app).await;
    let (_, b, _) = create(&app).await;
    let (_, off, _) = create(&app).await;
    app.service
        .set_client_status(&Caller::system(), off.parse().unwrap(), ClientStatus::Disabled)
        .await
        .unwrap();
    let unknown = Uuid::new_v4().to_string();

    // Duplicates (also in another spelling of the same UUID) are reported
    // once, at their first place, in the canonical spelling.
    let listed =
        [a.clone(), unknown.clone(), off.clone(), b.clone(), a.to_uppercase(), unknown.clone(), a.clone()];
    let body = bulk(&app, &admin, "disable", &listed).await;
    assert_eq!(
        results(&body),
        [pair(&a, "done"), pair(&unknown, "not_found"), pair(&off, "already_in_state"), pair(&b, "done")]
    );
    assert_eq!(body["summary"], json!({"done": 2, "not_found": 1, "already_in_state": 1}));
    for id in [&a, &b, &off] {
        assert_eq!(status_of(&app, id).await, Some(ClientStatus::Disabled));
    }
    assert_eq!(status_of(&app, &admin_id).await, Some(ClientStatus::Enabled), "a client not listed");

    let body = bulk(&app, &admin, "enable", &[off.clone(), unknown.clone()]).await;
    assert_eq!(results(&body), [pair(&off, "done"), pair(&unknown, "not_found")]);
    assert_eq!(status_of(&app, &off).await, Some(ClientStatus::Enabled));
    assert_eq!(status_of(&app, &a).await, Some(ClientStatus::Disabled));

    // Delete takes enabled and disabled clients alike; a missing one is not_found.
    let body = bulk(&app, &admin, "delete", &[b.clone(), off.clone(), unknown.clone(), b.clone()]).await;
    assert_eq!(results(&body), [pair(&b, "done"), pair(&off, "done"), pair(&unknown, "not_found")]);
    assert_eq!(body["summary"], json!({"done": 2, "not_found": 1, "already_in_state": 0}));
    assert_eq!(status_of(&app, &b).await, None);
    assert_eq!(status_of(&app, &off).await, None);
    let again = bulk(&app, &admin, "delete", std::slice::from_ref(&b)).await;
    assert_eq!(results(&again), [pair(&b, "not_found")]);
    assert_eq!(status_of(&app, &a).await, Some(ClientStatus::Disabled), "still there");
}

async fn each_client_changed_gets_its_own_event_naming_the_actor(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (admin_id, _, admin) = app.client_with_token(Some("admin"), None).await;
    let (operator, user_id) = app.user_token("ops@example.com", &["admin"]).await;
    let (_, a, _) = create(&app).await;
    let (_, b, _) = create(&app).await;
    let (_, off, _) = create(&app).await;
    app.service
        .set_client_status(&Caller::system(), off.parse().unwrap(), ClientStatus::Disabled)
        .await
        .unwrap();
    let unknown = Uuid::new_v4().to_string();

    let before = changes(&app, "client.disabled").await;
    assert_eq!(before.len(), 1, "off's, by the test set-up");
    bulk(&app, &admin, "disable", &[b.clone(), unknown.clone(), off.clone(), a.clone()]).await;
    let disabled = changes(&app, "client.disabled").await;
    let client_actor = format!("client:{admin_id}");
    let seen: Vec<(String, Option<String>)> =
        disabled[1..].iter().map(|e| (e.client_id.unwrap().to_string(), e.actor.clone())).collect();
    assert_eq!(
        seen,
        [(b.clone(), Some(client_actor.clone())), (a.clone(), Some(client_actor.clone()))],
        "one event per client disabled, in the order listed; none for the unknown or the already disabled"
    );
    for event in &disabled[1..] {
        let details: Value = serde_json::from_str(event.details.as_deref().unwrap()).unwrap();
        assert_eq!(details, json!({"status": {"from": "enabled", "to": "disabled"}}));
        assert_eq!(event.method, None, "a change, not a request");
    }

    // A user, by personal access token.
    bulk(&app, &operator, "enable", &[a.clone(), off.clone(), admin_id.clone()]).await;
    let enabled = changes(&app, "client.enabled").await;
    let user_actor = format!("user:{user_id}");
    let seen: Vec<(String, Option<String>)> =
        enabled.iter().map(|e| (e.client_id.unwrap().to_string(), e.actor.clone())).collect();
    assert_eq!(
        seen,
        [(a.clone(), Some(user_actor.clone())), (off.clone(), Some(user_actor.clone()))],
        "none for the admin client, enabled already"
    );

    bulk(&app, &operator, "delete", &[off.clone(), unknown]).await;
    let deleted = changes(&app, "client.deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].client_id.unwrap().to_string(), off);
    assert_eq!(deleted[0].actor.as_deref(), Some(user_actor.as_str()));
    let details: Value = serde_json::from_str(deleted[0].details.as_deref().unwrap()).unwrap();
    assert_eq!(details, json!({"name": "test client"}));

    // The same events the single-client operations record, found the same way.
    let (s, page) = {
        let response = app
            .http
            .get(app.url(&format!("/api/v1/clients/{a}/events?kind=client.disabled")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["items"][0]["actor"], client_actor);
}

async fn token_path_sees_a_bulk_disable_or_delete_at_once(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (_, _, admin) = app.client_with_token(Some("admin"), None).await;
    let (_, a, a_secret) = create(&app).await;
    let (_, b, b_secret) = create(&app).await;
    // Warm every cache: token requests, and an admin call with b's own token.
    let b_token: Value = app.token_basic(&b, &b_secret, None).await.json().await.unwrap();
    let b_token = b_token["access_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        assert_eq!(app.token_basic(&a, &a_secret, None).await.status(), 200);
        let listed = app.http.get(app.url("/api/v1/clients")).bearer_auth(&b_token).send().await.unwrap();
        assert_eq!(listed.status(), 200);
    }

    bulk(&app, &admin, "disable", &[a.clone(), b.clone()]).await;
    for (id, secret) in [(&a, &a_secret), (&b, &b_secret)] {
        let refused = app.token_basic(id, secret, None).await;
        assert_eq!(refused.status(), 401, "the very next token request");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }
    let listed = app.http.get(app.url("/api/v1/clients")).bearer_auth(&b_token).send().await.unwrap();
    let (_, headers) = problem(listed, 401, "unauthorized").await;
    assert!(headers["www-authenticate"].to_str().unwrap().contains("invalid_token"));

    bulk(&app, &admin, "enable", &[a.clone(), b.clone()]).await;
    assert_eq!(app.token_basic(&a, &a_secret, None).await.status(), 200, "the same secret works again");
    let listed = app.http.get(app.url("/api/v1/clients")).bearer_auth(&b_token).send().await.unwrap();
    assert_eq!(listed.status(), 200, "b's token is valid again");

    bulk(&app, &admin, "delete", std::slice::from_ref(&a)).await;
    let refused = app.token_basic(&a, &a_secret, None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_client");
    assert_eq!(app.token_basic(&b, &b_secret, None).await.status(), 200, "b was not listed");
}

async fn a_thousand_ids_are_accepted_and_a_thousand_and_one_refused(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (admin_id, _, admin) = app.client_with_token(Some("admin"), None).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1_000 {
        let service = app.service.clone();
        tasks.spawn(async move {
            let new = portcullis_service::NewClient {
                name: portcullis_domain::ClientName::parse("one of many").unwrap(),
                description: None,
                role: None,
                token_ttl: portcullis_domain::TokenTtl::DEFAULT,
            };
            let (view, secret) = service.create_client(&Caller::system(), new).await.unwrap();
            (view.client.id.to_string(), secret.expose().to_owned())
        });
    }
    let created: Vec<(String, String)> = tasks.join_all().await;
    let ids: Vec<String> = created.iter().map(|(id, _)| id.clone()).collect();
    let mut too_many = ids.clone();
    too_many.push(admin_id.clone());

    for action in ["enable", "disable", "delete"] {
        let refused = post(&app, Some(&admin), json!({"action": action, "client_ids": too_many})).await;
        let (body, _) = problem(refused, 400, "invalid-field").await;
        assert_eq!(body["field"], "client_ids");
        assert!(body["detail"].as_str().unwrap().contains("1000"), "{body}");
    }
    assert_eq!(status_of(&app, &admin_id).await, Some(ClientStatus::Enabled));
    assert_eq!(status_of(&app, &ids[0]).await, Some(ClientStatus::Enabled), "nothing changed");

    let body = bulk(&app, &admin, "disable", &ids).await;
    let expected: Vec<(String, String)> = ids.iter().map(|id| pair(id, "done")).collect();
    assert_eq!(results(&body), expected, "every one, in the order given");
    assert_eq!(body["summary"], json!({"done": 1000, "not_found": 0, "already_in_state": 0}));
    for (id, secret) in [&created[0], &created[499], &created[999]] {
        assert_eq!(app.token_basic(id, secret, None).await.status(), 401);
    }
    assert_eq!(status_of(&app, &admin_id).await, Some(ClientStatus::Enabled));
    assert_eq!(changes(&app, "client.disabled").await.len(), 1_000, "one event each");

    let body = bulk(&app, &admin, "delete", &ids).await;
    assert_eq!(body["summary"], json!({"done": 1000, "not_found": 0, "already_in_state": 0}));
    assert_eq!(status_of(&app, &ids[500]).await, None);
    assert_eq!(changes(&app, "client.deleted").await.len(), 1_000);
}

async fn bulk_needs_clients_write(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (_, target, _) = create(&app).await;
    let body = json!({"action": "disable", "client_ids": [target]});

    let (_, headers) = problem(post(&app, None, body.clone()).await, 401, "unauthorized").await;
    assert_eq!(headers["www-authenticate"], r#"Bearer realm="portcullis""#);
    let (_, headers) =
        problem(post(&app, Some("not-a-token"), body.clone()).await, 401, "unauthorized").await;
    assert!(headers["www-authenticate"].to_str().unwrap().contains(r#"error="invalid_token""#));

    let (_, _, viewer) = app.client_with_token(Some("viewer"), None).await;
    let (_, _, narrowed) = app.client_with_token(Some("admin"), Some("clients:read")).await;
    let (viewer_user, _) = app.user_token("viewer@example.com", &["viewer"]).await;
    for token in [&viewer, &narrowed, &viewer_user] {
        let (problem_body, headers) =
            problem(post(&app, Some(token), body.clone()).await, 403, "insufficient-scope").await;
        assert_eq!(problem_body["required_permission"], "clients:write");
        assert_eq!(
            headers["www-authenticate"],
            r#"Bearer realm="portcullis", error="insufficient_scope", scope="clients:write""#
        );
    }
    // The permission is checked before the body is read.
    let bad = json!({"action": "explode"});
    problem(post(&app, Some(&viewer), bad).await, 403, "insufficient-scope").await;
    assert_eq!(status_of(&app, &target).await, Some(ClientStatus::Enabled), "nothing changed");
    assert_eq!(changes(&app, "client.disabled").await.len(), 0);

    let (_, _, writer) = app.client_with_token(Some("admin"), Some("clients:write")).await;
    let done = bulk(&app, &writer, "disable", std::slice::from_ref(&target)).await;
    assert_eq!(results(&done), [pair(&target, "done")]);
}

async fn bad_input_gets_a_problem_naming_the_field_and_changes_nothing(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (admin_id, _, admin) = app.client_with_token(Some("admin"), None).await;
    let (_, target, _) = create(&app).await;
    let events_before = change_count(&app).await;
    let many: Vec<String> = (0..1_001).map(|_| Uuid::new_v4().to_string()).collect();
    // (body, problem type, field named)
    let cases: Vec<(Value, &str, Option<&str>)> = vec![
        (json!({"action": "explode", "client_ids": [target]}), "invalid-field", Some("action")),
        (json!({"action": "Disable", "client_ids": [target]}), "invalid-field", Some("action")),
        (json!({"action": null, "client_ids": [target]}), "invalid-field", Some("action")),
        (json!({"action": 1, "client_ids": [target]}), "invalid-field", Some("action")),
        (json!({"client_ids": [target]}), "invalid-field", Some("action")),
        (json!({"action": "delete"}), "invalid-field", Some("client_ids")),
        (json!({"action": "delete", "client_ids": []}), "invalid-field", Some("client_ids")),
        (json!({"action": "delete", "client_ids": null}), "invalid-field", Some("client_ids")),
        (json!({"action": "delete", "client_ids": target}), "invalid-field", Some("client_ids")),
        (json!({"action": "delete", "client_ids": many}), "invalid-field", Some("client_ids")),
        (json!({"action": "delete", "client_ids": [target, "nope"]}), "invalid-field", Some("client_ids[1]")),
        (
            json!({"action": "delete", "client_ids": [target, format!("{{{target}}}")]}),
            "invalid-field",
            Some("client_ids[1]"),
        ),
        (json!({"action": "delete", "client_ids": [target, 7]}), "invalid-field", Some("client_ids[1]")),
        (json!({"action": "delete", "client_ids": [target, null]}), "invalid-field", Some("client_ids[1]")),
        (json!({"action": "delete", "client_ids": [target], "force": true}), "invalid-field", Some("force")),
        (json!([{"action": "delete", "client_ids": [target]}]), "malformed-body", None),
    ];
    for (body, kind, field) in cases {
        let (problem_body, _) = problem(post(&app, Some(&admin), body.clone()).await, 400, kind).await;
        assert_eq!(problem_body["field"].as_str(), field, "{body} → {problem_body}");
    }

    let raw = |content_type: &'static str, body: String| {
        app.http
            .post(app.url(BULK))
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let delete_target = format!(r#"{{"action": "delete", "client_ids": ["{target}"]}}"#);
    problem(raw("application/json", "{not json".into()).await.unwrap(), 400, "malformed-body").await;
    problem(
        raw("application/json", format!("{delete_target} trailing")).await.unwrap(),
        400,
        "malformed-body",
    )
    .await;
    problem(raw("application/json", String::new()).await.unwrap(), 400, "malformed-body").await;
    problem(raw("text/plain", delete_target.clone()).await.unwrap(), 415, "unsupported-media-type").await;
    let huge =
        format!(r#"{{"action": "delete", "client_ids": ["{target}"], "pad": "{}"}}"#, "x".repeat(70_000));
    problem(raw("application/json", huge).await.unwrap(), 413, "payload-too-large").await;
    let no_body = app.http.post(app.url(BULK)).bearer_auth(&admin).send().await.unwrap();
    let (no_body, _) = problem(no_body, 400, "invalid-field").await;
    assert_eq!(no_body["field"], "action");

    assert_eq!(status_of(&app, &target).await, Some(ClientStatus::Enabled), "nothing changed");
    assert_eq!(status_of(&app, &admin_id).await, Some(ClientStatus::Enabled));
    assert_eq!(change_count(&app).await, events_before, "no change recorded");
    // GET is not how one acts in bulk.
    let get = app.http.get(app.url(BULK)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(get.status(), 405);
}
