//! What a page costs: the store calls behind a list (REST and GraphQL) do
//! not grow with the page, counted by a decorator around the real store
//! (`portcullis_store::counting`). A page reads its rows once and the
//! roles once, never a role (or a client) per row.

use std::{collections::BTreeMap, time::Duration};

use portcullis_domain::{BuiltinPermission, Email, PermissionName, RoleName, UserName};
use portcullis_service::{Caller, NewRole, NewUser};
use portcullis_store::counting::Counting;
use portcullis_testkit::{Backend, PASSWORD, TestApp, spawn_counting_app_on};
use serde_json::{Value, json};

on_both_backends!(
    a_page_of_users_reads_the_roles_once,
    a_page_of_clients_reads_the_roles_once,
    a_page_of_clients_with_their_permissions_reads_the_roles_once,
    a_bulk_action_reads_its_clients_in_one_call,
);

/// How many users or clients a page holds here: far more than the calls
/// a page may make.
const ROWS: usize = 40;

/// Store calls a page of rows with roles may make to the role store: the
/// roles and the permissions, once each.
const ROLE_CALLS: usize = 2;

const VIEWER: [&str; 4] = ["clients:read", "events:read", "roles:read", "users:read"];

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.http.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn gql(app: &TestApp, token: &str, query: &str) -> Value {
    let response = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// Authenticates `token` (with a request that reads no role) until its
/// client is answered from the cache, so that the calls counted next are
/// the page's own, then resets the counts. On PostgreSQL the notifications
/// of the rows just written arrive a moment later, each making the cache
/// start over. The roles are not read: each page below starts cold.
async fn warm_up(app: &TestApp, counting: &Counting, token: &str) {
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        counting.reset();
        get(app, token, "/api/v1/events?limit=1").await;
        if counting.calls("clients.get_client") == 0 {
            break;
        }
    }
    counting.reset();
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

fn admin_permissions() -> Vec<String> {
    let mut all: Vec<String> = BuiltinPermission::ALL.iter().map(|p| p.as_str().to_owned()).collect();
    all.sort();
    all
}

/// The roles row `i` of a page is given: none, one, or two.
fn client_role(i: usize) -> Option<&'static str> {
    [None, Some("viewer"), Some("admin")][i % 3]
}

fn user_roles(i: usize) -> Vec<&'static str> {
    if i % 2 == 0 { vec!["viewer"] } else { vec!["admin", "viewer"] }
}

async fn a_page_of_users_reads_the_roles_once(backend: Backend) {
    let (app, counting) = spawn_counting_app_on(backend).await;
    let token = app.bearer("admin", None).await;
    let mut expected = BTreeMap::new();
    for i in 0..ROWS {
        let email = format!("user{i}@example.com");
        let new = NewUser {
            email: Email::parse(&email).unwrap(),
            name: UserName::parse(&format!("User {i}")).unwrap(),
            roles: user_roles(i).into_iter().map(|r| RoleName::parse(r).unwrap()).collect(),
            password: Some(PASSWORD.into()),
        };
        app.service.create_user(&Caller::system(), new).await.unwrap();
        expected.insert(email, user_roles(i));
    }

    warm_up(&app, &counting, &token).await;
    let body = get(&app, &token, "/api/v1/users?limit=200").await;
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), ROWS);
    for item in items {
        assert_eq!(strings(&item["roles"]), expected[item["email"].as_str().unwrap()], "{item}");
    }
    assert_eq!(counting.calls("users.list_users"), 1);
    assert!(counting.calls_to("roles.") <= ROLE_CALLS, "{:?}", counting.snapshot());
    assert_eq!(counting.calls("users.get_user"), 0, "{:?}", counting.snapshot());

    counting.reset();
    let data = gql(&app, &token, "{ users(first: 200) { edges { node { email roles } } } }").await;
    let edges = data["users"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), ROWS);
    for edge in edges {
        let node = &edge["node"];
        assert_eq!(strings(&node["roles"]), expected[node["email"].as_str().unwrap()], "{node}");
    }
    assert_eq!(counting.calls("users.list_users"), 1);
    assert!(counting.calls_to("roles.") <= ROLE_CALLS, "{:?}", counting.snapshot());
}

async fn a_page_of_clients_reads_the_roles_once(backend: Backend) {
    let (app, counting) = spawn_counting_app_on(backend).await;
    let token = app.bearer("admin", None).await;
    for i in 0..ROWS {
        app.create_client(client_role(i)).await;
    }

    warm_up(&app, &counting, &token).await;
    let body = get(&app, &token, "/api/v1/clients?limit=200").await;
    let items = body["items"].as_array().unwrap();
    // The caller's own client is on the page too.
    assert_eq!(items.len(), ROWS + 1);
    assert_eq!(counting.calls("clients.list_clients"), 1);
    assert_eq!(counting.calls("clients.get_client"), 0, "{:?}", counting.snapshot());
    assert!(counting.calls_to("roles.") <= ROLE_CALLS, "{:?}", counting.snapshot());
    let roles: Vec<Value> = items.iter().map(|c| c["role"].clone()).collect();
    assert_eq!(roles.iter().filter(|r| **r == json!("viewer")).count(), ROWS / 3 + usize::from(ROWS % 3 > 1));
}

async fn a_page_of_clients_with_their_permissions_reads_the_roles_once(backend: Backend) {
    let (app, counting) = spawn_counting_app_on(backend).await;
    let token = app.bearer("admin", None).await;
    for i in 0..ROWS {
        app.create_client(client_role(i)).await;
    }
    let query =
        "{ clients(first: 50) { edges { node { role permissions { category permissions { name } } } } } }";

    warm_up(&app, &counting, &token).await;
    let data = gql(&app, &token, query).await;
    let edges = data["clients"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), ROWS + 1);
    for edge in edges {
        let node = &edge["node"];
        let mut names: Vec<String> = node["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|group| {
                let category = group["category"].as_str().unwrap().to_owned();
                group["permissions"].as_array().unwrap().iter().map(move |p| {
                    let name = p["name"].as_str().unwrap().to_owned();
                    assert!(name.starts_with(&format!("{category}:")), "{name} in {category}");
                    name
                })
            })
            .collect();
        names.sort();
        let expected = match node["role"].as_str() {
            None => Vec::new(),
            Some("viewer") => VIEWER.map(str::to_owned).to_vec(),
            Some("admin") => admin_permissions(),
            Some(other) => panic!("unexpected role {other}"),
        };
        assert_eq!(names, expected, "{node}");
    }
    assert_eq!(counting.calls("clients.list_clients"), 1);
    assert_eq!(counting.calls("clients.get_client"), 0, "{:?}", counting.snapshot());
    assert!(counting.calls_to("roles.") <= ROLE_CALLS, "{:?}", counting.snapshot());
}

async fn a_bulk_action_reads_its_clients_in_one_call(backend: Backend) {
    let (app, counting) = spawn_counting_app_on(backend).await;
    // Not an admin: enabling is checked against every listed client's role.
    let mut permissions: Vec<&str> = VIEWER.to_vec();
    permissions.push("clients:write");
    let new = NewRole {
        name: RoleName::parse("operator").unwrap(),
        description: String::new(),
        permissions: permissions.iter().map(|p| PermissionName::parse(p).unwrap()).collect(),
    };
    app.service.create_role(&Caller::system(), new).await.unwrap();
    let token = app.bearer("operator", None).await;
    let mut ids = Vec::new();
    for i in 0..ROWS {
        let role = if i % 2 == 0 { None } else { Some("viewer") };
        ids.push(app.create_client(role).await.0.client.id.to_string());
    }

    warm_up(&app, &counting, &token).await;
    let response = app
        .http
        .post(app.url("/api/v1/clients/bulk"))
        .bearer_auth(&token)
        .json(&json!({"action": "enable", "client_ids": ids}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["already_in_state"], ROWS, "{body}");
    assert_eq!(counting.calls("clients.get_client"), 0, "{:?}", counting.snapshot());
    assert!(counting.calls_to("clients.") <= 2, "{:?}", counting.snapshot());
    assert!(counting.calls_to("roles.") <= ROLE_CALLS, "{:?}", counting.snapshot());

    // An admin client among them: refused, naming what the caller lacks.
    let admin = app.create_client(Some("admin")).await.0.client.id.to_string();
    ids.push(admin);
    warm_up(&app, &counting, &token).await;
    let response = app
        .http
        .post(app.url("/api/v1/clients/bulk"))
        .bearer_auth(&token)
        .json(&json!({"action": "enable", "client_ids": ids}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(counting.calls("clients.get_client"), 0, "{:?}", counting.snapshot());
}
