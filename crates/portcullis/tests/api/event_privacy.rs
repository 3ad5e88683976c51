//! What events keep and show (issue 11 §4): credentials redacted after
//! decoding however they were encoded, passwords and foreign credentials
//! kept as nothing, GraphQL default values dropped, bodies shown only to a
//! reader who could have made the call, junk failures counted not stored.

use portcullis_domain::{Event, credential::REDACTED};
use portcullis_testkit::{Backend, TestApp, basic, spawn_app_on};
use serde_json::{Value, json};

on_both_backends!(
    encoded_credentials_are_never_stored,
    passwords_and_graphql_defaults_are_not_stored,
    admin_bodies_are_shown_only_to_readers_holding_the_calls_permission,
    change_details_are_shown_only_to_readers_of_their_subject,
    recorded_answers_show_nothing_their_reader_could_not_read,
    unknown_client_failures_are_counted_not_stored,
);

/// Every way a form may carry `text`: as is, percent-encoded in full
/// (upper- and lower-case hex), and with only its first byte encoded.
fn encodings(text: &str) -> Vec<String> {
    let upper: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
    let lower: String = text.bytes().map(|b| format!("%{b:02x}")).collect();
    let first = format!("%{:02X}{}", text.as_bytes()[0], &text[1..]);
    vec![text.to_owned(), upper, lower, first]
}

/// Every stored event, flushed first.
async fn stored(app: &TestApp) -> Vec<Event> {
    app.service.flush_events().await.unwrap();
    app.service.list_events(&portcullis_service::Caller::cli(), Default::default()).await.unwrap().items
}

fn assert_nowhere(events: &[Event], secret: &str) {
    let dump = format!("{events:?}");
    for encoded in encodings(secret) {
        assert!(!dump.contains(&encoded), "a credential reached the events as {encoded}");
    }
    // What is left of a secret is its marker, never a longer part of it.
    assert!(!dump.contains(&secret[..secret.len() / 2]), "half a credential reached the events");
}

async fn post_form(app: &TestApp, path: &str, body: &str, authorization: Option<&str>) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(auth) = authorization {
        req = req.header("authorization", auth);
    }
    req.send().await.unwrap()
}

async fn encoded_credentials_are_never_stored(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("resource-server")).await;
    let id = view.client.id.to_string();
    let secret = secret.expose().to_owned();
    let mut tokens = Vec::new();
    // The token endpoint reads `client%5Fsecret` as `client_secret`, and
    // the value however it is encoded.
    for (n, encoded) in encodings(&secret).into_iter().enumerate() {
        let name = if n % 2 == 0 { "client%5Fsecret" } else { "%63lient_secret" };
        let r = post_form(
            &app,
            "/oauth2/token",
            &format!("grant_type=client_credentials&client_id={id}&{name}={encoded}"),
            None,
        )
        .await;
        assert_eq!(r.status(), 200, "{encoded}");
        let body: Value = r.json().await.unwrap();
        tokens.push(body["access_token"].as_str().unwrap().to_owned());
    }
    // Introspection and revocation read `%74oken` as `token`.
    for (n, token) in tokens.iter().enumerate() {
        let encoded = &encodings(token)[n % 4];
        let r =
            post_form(&app, "/oauth2/introspect", &format!("%74oken={encoded}"), Some(&basic(&id, &secret)))
                .await;
        assert_eq!(r.status(), 200);
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["active"], true, "the endpoint read the encoded token: {answer}");
    }
    let revoked = &tokens[1];
    let r = post_form(
        &app,
        "/oauth2/revoke",
        &format!(
            "%74oken={}&client_id={id}&client%5Fsecret={}",
            encodings(revoked)[1],
            encodings(&secret)[2]
        ),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);

    let events = stored(&app).await;
    assert_eq!(events.iter().filter(|e| e.kind == "token.request").count(), 4);
    assert_eq!(events.iter().filter(|e| e.kind == "introspection").count(), 4);
    assert_eq!(events.iter().filter(|e| e.kind == "revocation").count(), 1);
    assert_nowhere(&events, &secret);
    for token in &tokens {
        assert_nowhere(&events, token);
    }
    // The stored forms are decoded, with markers in place of the credentials.
    let token_request = events.iter().find(|e| e.kind == "token.request").unwrap();
    assert_eq!(
        token_request.request_body.as_deref().unwrap(),
        format!(
            "grant_type=client_credentials&client_id={id}&client_secret=pcs_…{}",
            &secret[secret.len() - 4..]
        )
    );
    let revocation = events.iter().find(|e| e.kind == "revocation").unwrap();
    assert!(revocation.request_body.as_deref().unwrap().starts_with("token=eyJ"), "{revocation:?}");
}

async fn passwords_and_graphql_defaults_are_not_stored(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = app.bearer("admin", None).await;
    let password = "correct horse battery staple";
    let r = app
        .http
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"email": "p@example.com", "name": "P", "roles": ["viewer"], "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let default = "lantern orbit meadow river";
    let query = format!(
        "mutation($p: String = \"{default}\") {{ createUser(input: {{email: \"d@example.com\", name: \"D\", roles: [\"viewer\"], password: $p}}) {{ user {{ id }} }} }}"
    );
    let r = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&admin)
        .json(&json!({"query": query}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    // The default was the password: the user signs in with it.
    let signed_in = app
        .http
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "d@example.com", "password": default}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status().as_u16() / 100, 2);

    let events = stored(&app).await;
    let dump = format!("{events:?}");
    for clear in [password, default] {
        assert!(!dump.contains(clear), "{clear} reached the events");
        assert!(!dump.contains(&clear[..4]), "a part of {clear} reached the events: {dump}");
    }
    let rest = events.iter().find(|e| e.path.as_deref() == Some("/api/v1/users")).unwrap();
    assert!(
        rest.request_body.as_deref().unwrap().contains(&format!("\"password\":\"{REDACTED}\"")),
        "{rest:?}"
    );
    let graphql = events.iter().find(|e| e.path.as_deref() == Some("/graphql")).unwrap();
    assert!(graphql.request_body.as_deref().unwrap().contains("String = \\\"[redacted]\\\""), "{graphql:?}");
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app.http.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

async fn admin_bodies_are_shown_only_to_readers_holding_the_calls_permission(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.create_user("private@example.com", &["viewer"]).await;
    let (admin_id, _, admin) = app.client_with_token(Some("admin"), None).await;
    let users = get(&app, &admin, "/api/v1/users").await;
    assert!(users.to_string().contains("private@example.com"));
    let (id, secret, _) = app.client_with_token(Some("viewer"), None).await;
    assert_eq!(app.token_basic(&id, &secret, None).await.status(), 200);
    app.service.flush_events().await.unwrap();

    let events_only = app.bearer("admin", Some("events:read")).await;
    let users_reader = app.bearer("admin", Some("events:read users:read")).await;
    let list = get(&app, &admin, &format!("/api/v1/clients/{admin_id}/events?kind=admin.request")).await;
    let call = list["items"].as_array().unwrap().iter().find(|e| e["path"] == "/api/v1/users").unwrap();
    let call_path = format!("/api/v1/events/{}", call["event_id"].as_str().unwrap());
    let list = get(&app, &admin, &format!("/api/v1/clients/{id}/events?kind=token.request")).await;
    let token_path = format!("/api/v1/events/{}", list["items"][0]["event_id"].as_str().unwrap());

    // `events:read` alone: the token call's bodies, not the users' list.
    let hidden = get(&app, &events_only, &call_path).await;
    assert_eq!(hidden["bodies_hidden"], "requires users:read", "{hidden}");
    assert_eq!(hidden["required_permissions"], json!(["users:read"]));
    assert!(hidden["request_body"].is_null() && hidden["response_body"].is_null(), "{hidden}");
    assert!(!hidden.to_string().contains("private@example.com"));
    assert_eq!(hidden["path"], "/api/v1/users", "the rest of the event is shown");
    let token_call = get(&app, &events_only, &token_path).await;
    assert!(token_call["bodies_hidden"].is_null(), "{token_call}");
    assert!(token_call["request_body"].as_str().unwrap().contains("grant_type=client_credentials"));
    assert!(token_call["response_body"].as_str().unwrap().contains("access_token"));

    // `users:read` as well: the bodies.
    let shown = get(&app, &users_reader, &call_path).await;
    assert!(shown["bodies_hidden"].is_null(), "{shown}");
    assert!(shown["response_body"].as_str().unwrap().contains("private@example.com"), "{shown}");

    // GraphQL shows the same, in lists too.
    let query =
        "{ events(first: 50) { nodes { path requestBody responseBody bodiesHidden requiredPermissions } } }";
    for (token, visible) in [(&events_only, false), (&users_reader, true)] {
        let r = app
            .http
            .post(app.url("/graphql"))
            .bearer_auth(token)
            .json(&json!({"query": query}))
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        let nodes = body["data"]["events"]["nodes"].as_array().unwrap_or_else(|| panic!("{body}"));
        let call = nodes.iter().find(|e| e["path"] == "/api/v1/users").unwrap();
        assert_eq!(call["requiredPermissions"], json!(["users:read"]));
        if visible {
            assert!(
                call["bodiesHidden"].is_null() && call["responseBody"].as_str().unwrap().contains("private@")
            );
        } else {
            assert_eq!(call["bodiesHidden"], "requires users:read", "{call}");
            assert!(call["responseBody"].is_null() && !body.to_string().contains("private@example.com"));
        }
        let token_call = nodes.iter().find(|e| e["path"] == "/oauth2/token").unwrap();
        assert!(token_call["responseBody"].as_str().unwrap().contains("access_token"), "{token_call}");
    }
    // A GraphQL call needs what its caller held: the admin's whole scope.
    app.service.flush_events().await.unwrap();
    let list = get(&app, &admin, "/api/v1/events?kind=admin.request").await;
    let mut needed = Vec::new();
    for e in list["items"].as_array().unwrap().iter().filter(|e| e["path"] == "/graphql") {
        let e = get(&app, &admin, &format!("/api/v1/events/{}", e["event_id"].as_str().unwrap())).await;
        needed.push(e["required_permissions"].clone());
    }
    needed.sort_by_key(|n| n.to_string());
    assert_eq!(needed, [json!(["events:read", "users:read"]), json!(["events:read"])], "the callers' scopes");
}

/// A change event's details say what its subject was and became (a user's
/// e-mail and roles, a client's name, a role's permissions): a reader needs
/// the permission that reads the subject itself, not `events:read` alone.
async fn change_details_are_shown_only_to_readers_of_their_subject(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.create_user("private@example.com", &["viewer"]).await;
    app.create_client(Some("viewer")).await;
    let admin = app.bearer("admin", None).await;
    let r = app
        .http
        .post(app.url("/api/v1/roles"))
        .bearer_auth(&admin)
        .json(&json!({"name": "secret-project", "permissions": ["clients:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = app.http.post(app.url("/api/v1/keys/rotate")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .http
        .post(app.url("/api/v1/session"))
        .header("user-agent", "Firefox/140")
        .json(&json!({"email": "nobody@example.com", "password": "a wrong password here"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.service.flush_events().await.unwrap();
    let list = get(&app, &admin, "/api/v1/events?kind=session.sign_in_failed").await;
    let failed = &list["items"][0];
    assert_eq!((&failed["source_ip"], &failed["user_agent"]), (&json!("127.0.0.1"), &json!("Firefox/140")));

    let cases = [
        ("session.sign_in_failed", "users:read", "nobody@example.com"),
        ("user.created", "users:read", "private@example.com"),
        ("client.created", "clients:read", "test client"),
        ("role.created", "roles:read", "secret-project"),
        ("key.rotated", "keys:write", "kid"),
    ];
    let events_only = app.bearer("admin", Some("events:read")).await;
    for (kind, needed, private) in cases {
        let list = get(&app, &admin, &format!("/api/v1/events?kind={kind}")).await;
        let path = format!("/api/v1/events/{}", list["items"][0]["event_id"].as_str().unwrap());
        let hidden = get(&app, &events_only, &path).await;
        assert_eq!(hidden["kind"], kind, "the rest of the event is shown");
        assert_eq!(hidden["bodies_hidden"], format!("requires {needed}"), "{hidden}");
        assert_eq!(hidden["required_permissions"], json!([needed]));
        assert!(hidden["details"].is_null() && !hidden.to_string().contains(private), "{hidden}");
        let reader = app.bearer("admin", Some(&format!("events:read {needed}"))).await;
        let shown = get(&app, &reader, &path).await;
        assert!(shown["bodies_hidden"].is_null(), "{shown}");
        assert!(shown["details"].to_string().contains(private), "{shown}");

        // GraphQL, in lists, likewise.
        let query = "{ events(first: 100) { nodes { kind details bodiesHidden requiredPermissions } } }";
        for (token, visible) in [(&events_only, false), (&reader, true)] {
            let r = app
                .http
                .post(app.url("/graphql"))
                .bearer_auth(token)
                .json(&json!({"query": query}))
                .send()
                .await
                .unwrap();
            let body: Value = r.json().await.unwrap();
            let nodes = body["data"]["events"]["nodes"].as_array().unwrap_or_else(|| panic!("{body}"));
            let event = nodes.iter().find(|e| e["kind"] == kind).unwrap_or_else(|| panic!("{body}"));
            assert_eq!(event["requiredPermissions"], json!([needed]));
            if visible {
                assert!(event["bodiesHidden"].is_null(), "{event}");
                assert!(event["details"].to_string().contains(private), "{event}");
            } else {
                assert_eq!(event["bodiesHidden"], format!("requires {needed}"), "{event}");
                assert!(event["details"].is_null(), "{event}");
            }
        }
    }
}

/// What an admin call answers is recorded with it: an event read answers
/// what its reader could see (a change's details, other calls' bodies), a
/// change of a user answers the user (its e-mail and roles). Read back from
/// the events, each needs what reading it directly needs.
async fn recorded_answers_show_nothing_their_reader_could_not_read(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let user = app.create_user("private@example.com", &["viewer"]).await.user;
    let (admin_id, _, admin) = app.client_with_token(Some("admin"), None).await;
    let list = get(&app, &admin, "/api/v1/events?kind=user.created").await;
    let created = format!("/api/v1/events/{}", list["items"][0]["event_id"].as_str().unwrap());
    // An admin opens the change (as the console does), and renames the user.
    assert!(get(&app, &admin, &created).await["details"].to_string().contains("private@example.com"));
    let r = app
        .http
        .patch(app.url(&format!("/api/v1/users/{}", user.id)))
        .bearer_auth(&admin)
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.service.flush_events().await.unwrap();

    let list = get(&app, &admin, &format!("/api/v1/clients/{admin_id}/events?kind=admin.request")).await;
    let recorded = |path: &str, method: &str| {
        let call =
            list["items"].as_array().unwrap().iter().find(|e| e["path"] == path && e["method"] == method);
        format!(
            "/api/v1/events/{}",
            call.unwrap_or_else(|| panic!("{path}: {list}"))["event_id"].as_str().unwrap()
        )
    };
    let event_read = recorded(&created, "GET");
    let user_change = recorded(&format!("/api/v1/users/{}", user.id), "PATCH");
    for (scope, path) in [
        ("events:read", &event_read),
        ("events:read users:write", &user_change),
        ("events:read", &user_change),
    ] {
        let reader = app.bearer("admin", Some(scope)).await;
        let seen = get(&app, &reader, path).await;
        assert!(seen["bodies_hidden"].as_str().is_some_and(|h| h.contains("users:read")), "{scope}: {seen}");
        assert!(!seen.to_string().contains("private@example.com"), "{scope}: {seen}");
    }
    let reader = app.bearer("admin", Some("events:read users:read users:write")).await;
    let seen = get(&app, &reader, &user_change).await;
    assert!(seen["response_body"].as_str().unwrap().contains("private@example.com"), "{seen}");
}

async fn metric(app: &TestApp) -> u64 {
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("portcullis_auth_failures_total{reason=\"unknown_client\"} "))
        .unwrap_or_else(|| panic!("{text}"))
        .parse()
        .unwrap()
}

async fn unknown_client_failures_are_counted_not_stored(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("viewer")).await;
    let known = view.client.id.to_string();
    let unknown = uuid::Uuid::new_v4().to_string();
    let padding = "x".repeat(6 * 1024);
    let before = metric(&app).await;
    for (body, auth) in [
        (
            format!(
                "grant_type=client_credentials&client_id={unknown}&client_secret={}&pad={padding}",
                secret.expose()
            ),
            None,
        ),
        (format!("grant_type=client_credentials&pad={padding}"), Some(basic(&unknown, secret.expose()))),
    ] {
        assert_eq!(post_form(&app, "/oauth2/token", &body, auth.as_deref()).await.status(), 401);
    }
    let r = post_form(&app, "/oauth2/introspect", "token=x", Some(&basic(&unknown, secret.expose()))).await;
    assert_eq!(r.status(), 401);
    assert_eq!(metric(&app).await, before + 3);
    // A failure is counted once, for the first check it fails: a secret
    // that is not one is malformed, before any lookup of its client.
    let r = post_form(&app, "/oauth2/introspect", "token=x", Some(&basic(&unknown, "pcs_wrong"))).await;
    assert_eq!(r.status(), 401);
    assert_eq!(metric(&app).await, before + 3);
    // A known client's failure is kept, short.
    let body = format!("grant_type=client_credentials&pad={padding}");
    assert_eq!(
        post_form(&app, "/oauth2/token", &body, Some(&basic(&known, "pcs_wrong"))).await.status(),
        401
    );
    assert_eq!(metric(&app).await, before + 3, "a known client's failure is not counted as unknown");

    let events = stored(&app).await;
    assert!(!format!("{events:?}").contains(&unknown), "no event names the unknown client");
    let failures: Vec<_> = events.iter().filter(|e| e.status == Some(401)).collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let failure = failures[0];
    assert_eq!(failure.client_id.map(|c| c.to_string()), Some(known));
    let request = failure.request_body.as_deref().unwrap();
    assert!(request.len() <= 1024 + "…[truncated]".len() && request.starts_with("grant_type="), "{request}");
    let response: Value = serde_json::from_str(failure.response_body.as_deref().unwrap()).unwrap();
    assert_eq!(response["error"], "invalid_client");
    assert!(response.as_object().unwrap().keys().all(|k| k == "error" || k == "error_description"));
}
