//! `/graphql` beyond the twin table: authentication, bad input, hostile
//! queries, pagination, events of GraphQL calls, the page for people and
//! the committed schema.

use portcullis_service::Caller;
use std::time::{Duration, Instant};

use portcullis_domain::credential::{REDACTED, redact_credential};
use portcullis_service::events::ListEvents;
use portcullis_testkit::{Backend, TestApp, spawn_app, spawn_app_on};
use serde_json::{Value, json};

async fn post(app: &TestApp, token: Option<&str>, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = app.http.post(app.url("/graphql")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.json().await.unwrap())
}

async fn gql(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let (status, headers, body) =
        post(app, Some(token), json!({"query": query, "variables": variables})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "no-store");
    body
}

/// The first error's `extensions.code`, asserting there is one.
fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code: {body}"))
}

on_both_backends!(
    callers_are_authenticated_as_for_rest,
    bad_input_is_a_coded_error_and_changes_nothing,
    connections_page_forward_by_cursor,
    graphql_calls_are_recorded_without_their_secrets,
);

async fn callers_are_authenticated_as_for_rest(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let query = json!({"query": "{ me { kind } }"});

    let (status, headers, body) = post(&app, None, query.clone()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(code(&body), "UNAUTHORIZED");
    assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer realm=\"portcullis\""));
    assert_eq!(body["errors"][0]["extensions"]["status"], 401);

    let (status, headers, body) = post(&app, Some("not-a-token"), query.clone()).await;
    assert_eq!(status, 401, "{body}");
    assert!(headers["www-authenticate"].to_str().unwrap().contains("invalid_token"));

    // A viewer reads clients, not secrets, and cannot change anything.
    let viewer = app.bearer("viewer", None).await;
    let body = gql(
        &app,
        &viewer,
        "{ me { kind permissions client { role } } clients { edges { node { id role } } } }",
        json!({}),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["me"]["kind"], "CLIENT");
    assert_eq!(body["data"]["me"]["client"]["role"], "viewer");
    let body =
        gql(&app, &viewer, "mutation { createClient(input: {name: \"x\"}) { clientSecret } }", json!({}))
            .await;
    assert_eq!(code(&body), "INSUFFICIENT_SCOPE");
    assert_eq!(body["errors"][0]["extensions"]["requiredPermission"], "clients:write");
    assert_eq!(body["errors"][0]["path"], json!(["createClient"]));
    assert_eq!(body["data"], json!({"createClient": null}), "a refused field is null");
    // Field by field: what may be read is answered next to what may not.
    let (narrow_client, narrow_secret) = app.create_client(Some("admin")).await;
    let narrow: Value = app
        .token_basic(&narrow_client.client.id.to_string(), narrow_secret.expose(), Some("clients:read"))
        .await
        .json()
        .await
        .unwrap();
    let body = gql(
        &app,
        narrow["access_token"].as_str().unwrap(),
        "{ clients(first: 5) { edges { node { id events(first: 5) { nodes { id } } } } } me { kind personalAccessToken { hint } } }",
        json!({}),
    )
    .await;
    let edges = body["data"]["clients"]["edges"].as_array().unwrap_or_else(|| panic!("{body}"));
    assert!(!edges.is_empty() && edges.iter().all(|e| e["node"]["events"].is_null()), "{body}");
    assert_eq!(body["data"]["me"], json!({"kind": "CLIENT", "personalAccessToken": null}), "{body}");
    assert_eq!(body["errors"].as_array().unwrap().len(), 1 + edges.len());
    for error in body["errors"].as_array().unwrap() {
        let expected = if error["path"] == json!(["me", "personalAccessToken"]) {
            "NOT_A_USER"
        } else {
            "INSUFFICIENT_SCOPE"
        };
        assert_eq!(error["extensions"]["code"], expected, "{body}");
    }

    // The console's session cookie works too, and changes need its CSRF token.
    let email = "graphql-session@example.com";
    let password = portcullis_testkit::PASSWORD;
    app.create_user(email, &["admin"]).await;
    let response = app
        .http
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = response.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_owned();
    let request = |csrf: Option<&str>| {
        let mut r = app.http.post(app.url("/graphql")).header("cookie", &cookie).json(&query);
        if let Some(csrf) = csrf {
            r = r.header("x-csrf-token", csrf);
        }
        r
    };
    let response = request(None).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(code(&response.json().await.unwrap()), "CSRF");
    let body: Value = request(Some(&csrf)).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["data"]["me"]["kind"], "USER", "{body}");
}

async fn bad_input_is_a_coded_error_and_changes_nothing(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = app.bearer("admin", None).await;
    let (view, _) = app.create_client(Some("viewer")).await;
    let id = view.client.id.to_string();

    let cases: Vec<(&str, Value, &str, Option<&str>)> = vec![
        ("query($id: ID!) { client(id: $id) { name } }", json!({"id": "nope"}), "INVALID_FIELD", Some("id")),
        (
            "query($id: ID!) { client(id: $id) { name } }",
            json!({"id": "7d0c8f3e-1111-4a3b-9c2d-000000000000"}),
            "NOT_FOUND",
            None,
        ),
        (
            "mutation($id: ID!) { updateClient(id: $id, input: {accessTokenTtlSeconds: 5}) { name } }",
            json!({"id": id}),
            "INVALID_FIELD",
            Some("accessTokenTtlSeconds"),
        ),
        (
            "mutation($id: ID!) { updateClient(id: $id, input: {name: null}) { name } }",
            json!({"id": id}),
            "INVALID_FIELD",
            Some("name"),
        ),
        (
            "mutation($id: ID!) { updateClient(id: $id, input: {role: \"no-such-role\"}) { name } }",
            json!({"id": id}),
            "INVALID_FIELD",
            Some("role"),
        ),
        (
            "mutation { createClient(input: {name: \"\"}) { clientSecret } }",
            json!({}),
            "INVALID_FIELD",
            Some("name"),
        ),
        (
            "mutation($ids: [ID!]!) { deleteClients(clientIds: $ids) { action } }",
            json!({"ids": [id, "x"]}),
            "INVALID_FIELD",
            Some("clientIds[1]"),
        ),
        (
            "mutation { deleteClients(clientIds: []) { action } }",
            json!({}),
            "INVALID_FIELD",
            Some("clientIds"),
        ),
        ("{ clients(first: 0) { edges { cursor } } }", json!({}), "INVALID_FIELD", Some("first")),
        ("{ clients(first: 201) { edges { cursor } } }", json!({}), "INVALID_FIELD", Some("first")),
        ("{ clients(after: \"garbage\") { edges { cursor } } }", json!({}), "INVALID_FIELD", Some("after")),
        ("{ users(after: \"1.2\") { edges { cursor } } }", json!({}), "INVALID_FIELD", Some("after")),
        (
            "{ events(filter: {status: \"6xx\"}) { edges { cursor } } }",
            json!({}),
            "INVALID_FIELD",
            Some("filter.status"),
        ),
        (
            "mutation { issueAccessToken(clientId: \"x\") { accessToken } }",
            json!({}),
            "INVALID_FIELD",
            Some("clientId"),
        ),
        (
            "mutation { deleteRole(id: \"7d0c8f3e-1111-4a3b-9c2d-000000000000\") }",
            json!({}),
            "NOT_FOUND",
            None,
        ),
        ("{ clients { edges { node { secret } } } }", json!({}), "GRAPHQL_VALIDATION_FAILED", None),
        ("{ clients { ", json!({}), "GRAPHQL_PARSE_FAILED", None),
        ("{ clients(first: \"ten\") { edges { cursor } } }", json!({}), "GRAPHQL_VALIDATION_FAILED", None),
        (
            "query($n: Int) { clients(first: $n) { edges { cursor } } }",
            json!({"n": "ten"}),
            "GRAPHQL_VALIDATION_FAILED",
            None,
        ),
    ];
    for (query, variables, expected, field) in cases {
        let body = gql(&app, &admin, query, variables).await;
        assert_eq!(code(&body), expected, "{query}: {body}");
        let error = &body["errors"][0];
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        if let Some(field) = field {
            assert_eq!(error["extensions"]["field"], field, "{query}: {body}");
        }
    }
    // The one client is as it was.
    let after = app.service.get_client(&Caller::system(), view.client.id).await.unwrap();
    assert_eq!(after, view);

    // Requests that are not GraphQL requests at all.
    let raw = |body: &'static str, content_type: &'static str| {
        app.http
            .post(app.url("/graphql"))
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (body, content_type, status) in [
        ("{\"query\": ", "application/json", 400),
        ("[{\"query\": \"{ me { kind } }\"}]", "application/json", 400),
        ("{\"query\": \"{ me { kind } }\", \"variables\": [1]}", "application/json", 400),
        ("{\"query\": \"{ me { kind } }\", \"colour\": 1}", "application/json", 400),
        ("{\"query\": 5}", "application/json", 400),
        ("query { me { kind } }", "text/plain", 415),
    ] {
        let response = raw(body, content_type).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let body: Value = response.json().await.unwrap();
        assert!(code(&body).chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{body}");
    }
    let huge = json!({"query": format!("{{ me {{ kind }} }}{}", " ".repeat(70_000))});
    let (status, _, body) = post(&app, Some(&admin), huge).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(code(&body), "PAYLOAD_TOO_LARGE");
}

async fn connections_page_forward_by_cursor(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = app.bearer("admin", None).await; // itself a client
    for _ in 0..4 {
        app.create_client(None).await;
    }
    let body = gql(&app, &admin, "{ clients(first: 1) { edges { node { createdAt } } } }", json!({})).await;
    let created = body["data"]["clients"]["edges"][0]["node"]["createdAt"].as_str().unwrap().to_owned();
    assert!(created.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(&created).is_ok(), "{created}");
    app.service.flush_events().await.unwrap();
    let body = gql(
        &app,
        &admin,
        "query($t: DateTime) { events(filter: {since: $t}) { edges { node { occurredAt } } } }",
        json!({"t": "2000-01-01T00:00:00+02:00"}),
    )
    .await;
    assert!(body["data"]["events"]["edges"].as_array().is_some_and(|e| !e.is_empty()), "{body}");
    let query = "query($after: String) { clients(first: 2, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let (mut seen, mut after, mut pages) = (Vec::new(), Value::Null, 0);
    loop {
        let body = gql(&app, &admin, query, json!({"after": after})).await;
        let page = &body["data"]["clients"];
        let edges = page["edges"].as_array().unwrap();
        seen.extend(edges.iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()));
        assert_eq!(page["pageInfo"]["endCursor"], edges.last().unwrap()["cursor"]);
        assert_eq!(page["pageInfo"]["hasPreviousPage"], pages > 0);
        pages += 1;
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        // Any edge's cursor continues after it.
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!((seen.len(), pages), (5, 3));
    let listed = app.service.list_clients(&Caller::system(), Default::default()).await.unwrap();
    let newest_first: Vec<String> = listed.items.iter().map(|c| c.client.id.to_string()).collect();
    assert_eq!(seen, newest_first);
    // Continuing from the first edge of page one skips just that client.
    let body = gql(&app, &admin, query, json!({})).await;
    let first_cursor = body["data"]["clients"]["edges"][0]["cursor"].clone();
    let body = gql(&app, &admin, query, json!({"after": first_cursor})).await;
    assert_eq!(body["data"]["clients"]["edges"][0]["node"]["id"], seen[1]);
}

async fn graphql_calls_are_recorded_without_their_secrets(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = app.bearer("admin", None).await;
    let password = "inline horse battery staple";
    let body = gql(
        &app,
        &admin,
        &format!("mutation {{ createUser(input: {{email: \"u@example.com\", name: \"U\", roles: [\"viewer\"], password: \"{password}\"}}) {{ user {{ id }} }} }}"),
        json!({}),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let body = gql(
        &app,
        &admin,
        "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } pw: password } }",
        json!({"i": {"email": "v@example.com", "name": "V", "roles": ["viewer"]}}),
    )
    .await;
    let generated = body["data"]["createUser"]["pw"].as_str().unwrap().to_owned();
    let bound = "lantern orbit meadow password";
    let body = gql(
        &app,
        &admin,
        "mutation($x: String, $e: String!) { createUser(input: {email: $e, name: \"W\", roles: [\"viewer\"], password: $x}) { user { id } } }",
        json!({"x": bound, "e": "w@example.com"}),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let body = gql(
        &app,
        &admin,
        "mutation { createClient(input: {name: \"c\"}) { client { id } clientSecret } }",
        json!({}),
    )
    .await;
    let secret = body["data"]["createClient"]["clientSecret"].as_str().unwrap().to_owned();
    let id = body["data"]["createClient"]["client"]["id"].as_str().unwrap().to_owned();
    let body = gql(
        &app,
        &admin,
        &format!("mutation {{ issueAccessToken(clientId: \"{id}\") {{ accessToken }} }}"),
        json!({}),
    )
    .await;
    let token = body["data"]["issueAccessToken"]["accessToken"].as_str().unwrap().to_owned();

    app.service.flush_events().await.unwrap();
    let events = app
        .service
        .list_events(
            &portcullis_service::Caller::cli(),
            ListEvents { kind: Some("admin.request".into()), ..Default::default() },
        )
        .await
        .unwrap();
    let graphql: Vec<_> = events.items.iter().filter(|e| e.path.as_deref() == Some("/graphql")).collect();
    assert_eq!(graphql.len(), 5, "one event per GraphQL call");
    for event in &graphql {
        let stored = serde_json::to_string(&(&event.request_body, &event.response_body)).unwrap();
        for s in [password, &generated, bound, &secret, &token, &admin] {
            assert!(!stored.contains(s), "a secret in a stored event: {stored}");
        }
        assert_eq!(event.method.as_deref(), Some("POST"));
        assert_eq!(event.status, Some(200));
        assert!(event.client_id.is_some());
    }
    let inline = graphql
        .iter()
        .find(|e| e.request_body.as_deref().is_some_and(|b| b.contains("u@example.com")))
        .unwrap();
    assert!(
        inline.request_body.as_deref().unwrap().contains("password: \\\"[redacted]\\\""),
        "{:?}",
        inline.request_body
    );
    // A generated password is not one of our formats: nothing of it is kept; the rest of the answer is.
    let aliased = graphql
        .iter()
        .find(|e| e.request_body.as_deref().is_some_and(|b| b.contains("v@example.com")))
        .unwrap();
    let answer = aliased.response_body.as_deref().unwrap();
    assert_eq!(redact_credential(&generated), REDACTED);
    assert!(answer.contains(REDACTED) && answer.contains("\"user\""), "{answer}");
    // The change events name the caller, as for REST.
    let created = app
        .service
        .list_events(
            &portcullis_service::Caller::cli(),
            ListEvents { kind: Some("user.created".into()), ..Default::default() },
        )
        .await
        .unwrap();
    assert!(created.items.iter().all(|e| e.actor.as_deref().is_some_and(|a| a.starts_with("client:"))));
}

#[tokio::test]
async fn hostile_queries_get_a_clear_error_quickly() {
    let app = spawn_app().await;
    let admin = app.bearer("admin", None).await;

    // Standard introspection (what GraphiQL and client libraries send) fits the limits.
    let introspection = "query IntrospectionQuery { __schema { queryType { name } mutationType { name } subscriptionType { name } \
        types { ...FullType } directives { name description locations args { ...InputValue } } } } \
        fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description \
        args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason } inputFields { ...InputValue } \
        interfaces { ...TypeRef } enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } \
        possibleTypes { ...TypeRef } } \
        fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue } \
        fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name \
        ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";
    let body = gql(&app, &admin, introspection, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert!(body["data"]["__schema"]["types"].as_array().unwrap().len() > 30);

    let deep =
        format!("{{ __type(name: \"Client\") {{ {} name {} }} }}", "ofType { ".repeat(20), "}".repeat(20));
    let many_aliases =
        format!("{{ {} }}", (0..2000).map(|i| format!("a{i}:me{{kind permissions}}")).collect::<String>());
    let fan_out =
        "{ clients(first: 200) { edges { node { events(first: 200) { edges { node { id kind } } } } } } }";
    let nested_braces = format!("{}{}", "{ me ".repeat(5000), "}".repeat(5000));
    // Values nest without a limit in the parser: refused before it runs.
    let nested_list = format!("{{ me(x: {}{}) {{ kind }} }}", "[".repeat(3000), "]".repeat(3000));
    let nested_object =
        format!("query($v: Int = {}1{}) {{ me {{ kind }} }}", "{a:".repeat(3000), "}".repeat(3000));
    let nested_selections =
        format!("{{ __type(name: \"Client\") {{ {} name {} }} }}", "ofType { ".repeat(100), "}".repeat(100));
    // Each introspection answers the whole schema: at most four fit.
    let schemas = |n: usize| {
        format!(
            "{{ {} }}",
            (0..n).map(|i| format!("s{i}: __schema {{ types {{ name }} }} ")).collect::<String>()
        )
    };
    let aliased_schemas = schemas(5);
    let four = gql(&app, &admin, &schemas(4), json!({})).await;
    assert!(four.get("errors").is_none(), "{four}");
    for (query, expected) in [
        (aliased_schemas.as_str(), "QUERY_TOO_COMPLEX"),
        (deep.as_str(), "QUERY_TOO_DEEP"),
        (many_aliases.as_str(), "QUERY_TOO_COMPLEX"),
        (fan_out, "QUERY_TOO_COMPLEX"),
        (nested_braces.as_str(), "QUERY_TOO_DEEP"),
        (nested_list.as_str(), "QUERY_TOO_DEEP"),
        (nested_object.as_str(), "QUERY_TOO_DEEP"),
        (nested_selections.as_str(), "QUERY_TOO_DEEP"),
    ] {
        let started = Instant::now();
        let body = gql(&app, &admin, query, json!({})).await;
        assert_eq!(code(&body), expected, "{}", &body.to_string()[..200.min(body.to_string().len())]);
        assert!(body["errors"][0]["extensions"]["limit"].is_number());
        assert!(body.get("data").is_none_or(Value::is_null));
        // Not a wall-clock assertion on speed: a guard against a stall.
        assert!(started.elapsed() < Duration::from_secs(20), "{expected} took {:?}", started.elapsed());
    }
    // The largest body there may be, of cheap aliases, is answered.
    let typenames = format!("{{ {} }}", (0..3500).map(|i| format!("a{i}:__typename ")).collect::<String>());
    assert!(typenames.len() < 64 * 1024);
    let started = Instant::now();
    let (status, _, _) = post(&app, Some(&admin), json!({"query": typenames})).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(20));
    let ready = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

/// Event bodies cost what they can answer, so the size of an answer is
/// bounded by the cost: a full page of events with their bodies (the 34 MB
/// answer of issue 13, aliased) is refused before it runs, and the largest
/// page that fits stays within the budget of about a kilobyte a unit.
#[tokio::test]
async fn event_bodies_count_toward_the_cost_and_answers_stay_within_the_budget() {
    let app = spawn_app().await;
    let admin = app.bearer("admin", None).await;
    // 80 admin calls, each recorded with a request body of nearly 16 KiB.
    let padding = "p".repeat(16 * 1024);
    for _ in 0..80 {
        let response = app
            .http
            .post(app.url("/api/v1/clients"))
            .bearer_auth(&admin)
            .json(&json!({"name": "padded", "role": "viewer", "padding": padding}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    }
    // A path is kept up to 2 KiB.
    let long = format!("/api/v1/clients/{}", "a".repeat(6000));
    let response = app.http.get(app.url(&long)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(response.status(), 400);
    app.service.flush_events().await.unwrap();
    let latest = gql(&app, &admin, "{ events(first: 1) { edges { node { path } } } }", json!({})).await;
    let path = latest["data"]["events"]["edges"][0]["node"]["path"].as_str().unwrap();
    assert!(path.starts_with("/api/v1/clients/aaa") && path.len() < 2100, "{} bytes", path.len());

    let page = |first: usize| {
        format!(
            "events(first: {first}) {{ edges {{ node {{ id kind occurredAt path userAgent requestBody responseBody details }} }} }}"
        )
    };
    for refused in [
        "{ events(first: 200) { edges { node { requestBody responseBody } } } }".to_owned(),
        format!("{{ a: {} b: {} }}", page(75), page(75)),
        format!("{{ {} }}", page(100)),
    ] {
        let body = gql(&app, &admin, &refused, json!({})).await;
        assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{refused}");
        assert!(body.get("data").is_none_or(Value::is_null));
    }
    let (status, _, body) = post(&app, Some(&admin), json!({"query": format!("{{ {} }}", page(75))})).await;
    assert_eq!(status, 200);
    assert!(body.get("errors").is_none(), "{}", &body.to_string()[..300]);
    let edges = body["data"]["events"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 75);
    let padded =
        edges.iter().filter(|e| e["node"]["requestBody"].as_str().is_some_and(|b| b.len() > 15_000)).count();
    assert!(padded >= 70, "only {padded} events hold their padded body");
    let size = body.to_string().len();
    assert!(size > 70 * 15_000, "{size} bytes: the bodies are not in the answer");
    assert!(size <= portcullis_web::graphql::MAX_COMPLEXITY * 1024, "{size} bytes is past the budget");
}

/// The attack review's answers past the budget, each bounded now: a long
/// alias spread through fragments and aliases (72 MB), a variable of the
/// wrong type quoted in an error at each of 1,150 uses (74 MB), lists that
/// cost 1 however long (124 MB), and thousands of aliased root fields, each
/// its own store query.
#[tokio::test]
async fn answers_past_the_budget_are_refused_whatever_the_trick() {
    let app = spawn_app().await;
    let admin = app.bearer("admin", None).await;

    let long = "A".repeat(65);
    let body = gql(&app, &admin, &format!("{{ {long}: __typename }}"), json!({})).await;
    assert_eq!(code(&body), "ALIAS_TOO_LONG");
    let fine = "A".repeat(64);
    let body = gql(&app, &admin, &format!("{{ {fine}: __typename }}"), json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let spread = format!(
        "{{ {} }} fragment F on Me {{ {long}: kind }}",
        (0..2400).map(|i| format!("a{i}: me {{ ...F }} ")).collect::<String>()
    );
    assert_eq!(code(&gql(&app, &admin, &spread, json!({})).await), "ALIAS_TOO_LONG");

    let uses = (0..1150).map(|i| format!("e{i}:events(first:$x){{__typename}} ")).collect::<String>();
    let echo = format!("query($x: Int) {{ {uses} }}");
    let started = Instant::now();
    let (status, _, body) =
        post(&app, Some(&admin), json!({"query": echo, "variables": {"x": "y".repeat(20_000)}})).await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{}", &body.to_string()[..300.min(body.to_string().len())]);
    assert!(body.to_string().len() < 10_000);
    assert!(started.elapsed() < Duration::from_secs(20));
    // Used once, a long value of the wrong type is quoted once.
    let (_, _, body) =
        post(&app, Some(&admin), json!({"query": "query($x: Int) { events(first: $x) { __typename } }", "variables": {"x": "y".repeat(30_000)}})).await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED");

    // Each aliased root field that reads the store costs 50: at most 100 fit.
    let roots =
        |n: usize| format!("{{ {} }}", (0..n).map(|i| format!("r{i}: roles {{ id }} ")).collect::<String>());
    assert_eq!(code(&gql(&app, &admin, &roots(2500), json!({})).await), "QUERY_TOO_COMPLEX");
    assert!(gql(&app, &admin, &roots(90), json!({})).await.get("errors").is_none());

    // Lists cost 1 however long: 20 roles of 300 permissions, 90 times over, would answer some 12 MB.
    let mut names = Vec::new();
    for i in 0..300 {
        let name = format!("reports{i:03}:read-everything-there-is-to-read");
        let response = app
            .http
            .post(app.url("/api/v1/permissions"))
            .bearer_auth(&admin)
            .json(&json!({"name": name, "description": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        names.push(name);
    }
    for i in 0..20 {
        let response = app
            .http
            .post(app.url("/api/v1/roles"))
            .bearer_auth(&admin)
            .json(&json!({"name": format!("wide-{i}"), "permissions": names}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let lists =
        format!("{{ {} }}", (0..90).map(|i| format!("r{i}: roles {{ permissions }} ")).collect::<String>());
    let (status, _, body) = post(&app, Some(&admin), json!({"query": lists})).await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "ANSWER_TOO_LARGE");
    assert_eq!(
        body["errors"][0]["extensions"]["limit"].as_i64(),
        Some(i64::try_from(portcullis_web::graphql::MAX_ANSWER_BYTES).unwrap())
    );
    assert!(body.get("data").is_none_or(Value::is_null));
    assert!(body.to_string().len() < 10_000, "{} bytes", body.to_string().len());
    // A few of them are answered.
    let few =
        format!("{{ {} }}", (0..3).map(|i| format!("r{i}: roles {{ permissions }} ")).collect::<String>());
    let body = gql(&app, &admin, &few, json!({})).await;
    assert!(body.get("errors").is_none());
}

#[tokio::test]
async fn graphiql_page_and_committed_schema() {
    let app = spawn_app().await;
    let response = app.http.get(app.url("/graphql")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    assert!(response.text().await.unwrap().contains("graphql/assets/"));

    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/schema.graphql");
    let committed = std::fs::read_to_string(committed_path).unwrap();
    assert!(
        committed.trim() == portcullis_web::graphql::sdl().trim(),
        "docs/schema.graphql is stale: run `cargo run -p portcullis -- graphql-schema > docs/schema.graphql`"
    );
    // No hash, and secrets only in the payloads that make them.
    let sdl = portcullis_web::graphql::sdl();
    assert!(!sdl.to_lowercase().contains("hash"), "the schema names a hash");
    let mut holders = Vec::new();
    let mut current = "";
    let mut in_description = false;
    for line in sdl.lines() {
        let line = line.trim();
        if line.starts_with("\"\"\"") {
            in_description ^= !(line.len() > 3 && line.ends_with("\"\"\""));
            continue;
        }
        if in_description {
            continue;
        }
        if let Some(rest) = line.strip_prefix("type ").or_else(|| line.strip_prefix("input ")) {
            current = rest.split_whitespace().next().unwrap();
        }
        let field = line.split(['(', ':']).next().unwrap().trim();
        let lower = field.to_lowercase();
        if current != "Mutation"
            && (lower.ends_with("secret")
                || lower.ends_with("password")
                || lower == "token"
                || lower == "accesstoken")
        {
            holders.push(format!("{current}.{field}"));
        }
    }
    holders.sort();
    assert_eq!(
        holders,
        [
            "AccessToken.accessToken",
            "CreateClientPayload.clientSecret",
            "CreateUserInput.password",
            "CreateUserPayload.password",
            "RegenerateClientSecretPayload.clientSecret",
            "RotatePersonalAccessTokenPayload.token",
            "UpdateUserInput.password",
        ]
    );
}
