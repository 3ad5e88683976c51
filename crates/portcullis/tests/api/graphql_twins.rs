//! Every REST operation has a GraphQL twin that calls the same service
//! function with the same permission. One table lists the pairs; the test
//! checks it against the OpenAPI document and the served schema, then runs
//! each pair on fresh fixtures and compares what both answered, which
//! change events both recorded, and how both refuse a caller without the
//! permission.

use std::collections::{BTreeSet, HashMap};

use portcullis_domain::{ClientName, PermissionName, RoleName, TokenTtl, builtin_permissions};
use portcullis_service::{Caller, NewClient, NewRole, events::ListEvents};
use portcullis_testkit::{Backend, TestApp, spawn_app_on};
use reqwest::Method;
use serde_json::{Value, json};

/// Objects made for one side of one row, so that the REST call and the
/// GraphQL call act on equal but separate things.
struct Fixture {
    n: usize,
    client: String,
    role: String,
    permission: String,
    user: String,
    event: String,
    /// The personal access token of a user made for this fixture, for the
    /// operations on the caller's own token.
    user_token: String,
    /// A replaced signing key that signed no token, to revoke.
    key: String,
}

impl Fixture {
    /// Names that must be new for a create.
    fn new_permission(&self) -> String {
        format!("twin{}:new", self.n)
    }
    fn new_role(&self) -> String {
        format!("twin-role-{}", self.n)
    }
    fn new_email(&self) -> String {
        format!("new{}@example.com", self.n)
    }
    /// The answer with this fixture's ids and names replaced by placeholders,
    /// so that the two sides' answers compare.
    fn normalize(&self, value: &Value) -> Value {
        let mut text = value.to_string();
        for (from, to) in [
            (self.new_permission(), "{new_permission}".to_owned()),
            (self.new_role(), "{new_role}".to_owned()),
            (self.new_email(), "{new_email}".to_owned()),
            (format!("fixture client {}", self.n), "{client_name}".to_owned()),
            (format!("pat_…{}", &self.user_token[self.user_token.len() - 4..]), "{token_hint}".to_owned()),
            (format!("fixture{}@example.com", self.n), "{email}".to_owned()),
            (format!("fixture-{}", self.n), "{role_name}".to_owned()),
            (self.client.clone(), "{client}".to_owned()),
            (self.role.clone(), "{role}".to_owned()),
            (self.permission.clone(), "{permission}".to_owned()),
            (self.user.clone(), "{user}".to_owned()),
            (self.event.clone(), "{event}".to_owned()),
            (self.key.clone(), "{key}".to_owned()),
        ] {
            text = text.replace(&from, &to);
        }
        lowercase(serde_json::from_str(&text).unwrap())
    }
}

/// String values lowercased: REST says `enabled` where GraphQL says `ENABLED`.
fn lowercase(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.to_lowercase()),
        Value::Array(items) => Value::Array(items.into_iter().map(lowercase).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, lowercase(v))).collect()),
        other => other,
    }
}

type RestCall = fn(&Fixture) -> (Method, String, Option<Value>);
type GraphqlCall = fn(&Fixture) -> (String, Value);

struct Twin {
    /// The REST operation as the OpenAPI document names it.
    rest: (&'static str, &'static str),
    /// The GraphQL field: a root field, or `Type.field`.
    graphql: &'static str,
    /// `None`: any caller; `Some("user")`: only a user, on its own token.
    permission: Access,
    rest_call: RestCall,
    graphql_call: GraphqlCall,
    /// JSON pointers into the REST answer and into GraphQL's `data` that
    /// must hold the same value (after placeholders and lowercasing).
    same: &'static [(&'static str, &'static str)],
}

#[derive(Clone, Copy, PartialEq)]
enum Access {
    Permission(&'static str),
    AnyCaller,
    OwnUser,
}

/// REST operations without a GraphQL twin, and why.
const REST_ONLY: [((&str, &str), &str); 2] = [
    (
        ("post", "/api/v1/session"),
        "signing in sets the console's session cookie; GraphQL is called with a token or that session",
    ),
    (("delete", "/api/v1/session"), "signing out clears the console's session cookie"),
];

fn q(query: &str, variables: Value) -> (String, Value) {
    (query.to_owned(), variables)
}

fn twins() -> Vec<Twin> {
    use Access::*;
    vec![
        Twin {
            rest: ("post", "/api/v1/clients"),
            graphql: "createClient",
            permission: Permission("clients:write"),
            rest_call: |_| {
                (
                    Method::POST,
                    "/api/v1/clients".into(),
                    Some(json!({"name": "made", "role": "viewer", "access_token_ttl_seconds": 600})),
                )
            },
            graphql_call: |_| {
                q(
                    "mutation($i: CreateClientInput!) { createClient(input: $i) { client { name role accessTokenTtlSeconds status } clientSecret } }",
                    json!({"i": {"name": "made", "role": "viewer", "accessTokenTtlSeconds": 600}}),
                )
            },
            same: &[
                ("/client/name", "/createClient/client/name"),
                ("/client/role", "/createClient/client/role"),
                ("/client/access_token_ttl_seconds", "/createClient/client/accessTokenTtlSeconds"),
                ("/client/status", "/createClient/client/status"),
            ],
        },
        Twin {
            rest: ("get", "/api/v1/clients"),
            graphql: "clients",
            permission: Permission("clients:read"),
            rest_call: |_| (Method::GET, "/api/v1/clients?limit=1&status=enabled".into(), None),
            graphql_call: |_| {
                q(
                    "{ clients(first: 1, filter: {status: ENABLED}) { edges { node { id name } } pageInfo { hasNextPage } } }",
                    json!({}),
                )
            },
            same: &[
                ("/items/0/client_id", "/clients/edges/0/node/id"),
                ("/items/0/name", "/clients/edges/0/node/name"),
            ],
        },
        Twin {
            rest: ("get", "/api/v1/clients/{client_id}"),
            graphql: "client",
            permission: Permission("clients:read"),
            rest_call: |f| (Method::GET, format!("/api/v1/clients/{}", f.client), None),
            graphql_call: |f| {
                q(
                    "query($id: ID!) { client(id: $id) { id name description role status } }",
                    json!({"id": f.client}),
                )
            },
            same: &[
                ("/client_id", "/client/id"),
                ("/name", "/client/name"),
                ("/description", "/client/description"),
                ("/role", "/client/role"),
            ],
        },
        Twin {
            rest: ("patch", "/api/v1/clients/{client_id}"),
            graphql: "updateClient",
            permission: Permission("clients:write"),
            rest_call: |f| {
                (
                    Method::PATCH,
                    format!("/api/v1/clients/{}", f.client),
                    Some(json!({"name": "renamed", "description": null})),
                )
            },
            graphql_call: |f| {
                q(
                    "mutation($id: ID!) { updateClient(id: $id, input: {name: \"renamed\", description: null}) { name description } }",
                    json!({"id": f.client}),
                )
            },
            same: &[("/name", "/updateClient/name"), ("/description", "/updateClient/description")],
        },
        Twin {
            rest: ("delete", "/api/v1/clients/{client_id}"),
            graphql: "deleteClient",
            permission: Permission("clients:write"),
            rest_call: |f| (Method::DELETE, format!("/api/v1/clients/{}", f.client), None),
            graphql_call: |f| q("mutation($id: ID!) { deleteClient(id: $id) }", json!({"id": f.client})),
            same: &[],
        },
        Twin {
            rest: ("post", "/api/v1/clients/{client_id}/secret"),
            graphql: "regenerateClientSecret",
            permission: Permission("clients:secrets"),
            rest_call: |f| (Method::POST, format!("/api/v1/clients/{}/secret", f.client), None),
            graphql_call: |f| {
                q(
                    "mutation($id: ID!) { regenerateClientSecret(id: $id) { client { id } clientSecret } }",
                    json!({"id": f.client}),
                )
            },
            same: &[("/client_id", "/regenerateClientSecret/client/id")],
        },
        Twin {
            rest: ("post", "/api/v1/clients/{client_id}/token"),
            graphql: "issueAccessToken",
            permission: Permission("tokens:issue"),
            rest_call: |f| {
                (
                    Method::POST,
                    format!("/api/v1/clients/{}/token", f.client),
                    Some(json!({"scope": "clients:read"})),
                )
            },
            graphql_call: |f| {
                q(
                    "mutation($id: ID!) { issueAccessToken(clientId: $id, scope: \"clients:read\") { accessToken tokenType expiresIn scope } }",
                    json!({"id": f.client}),
                )
            },
            same: &[
                ("/token_type", "/issueAccessToken/tokenType"),
                ("/expires_in", "/issueAccessToken/expiresIn"),
                ("/scope", "/issueAccessToken/scope"),
            ],
        },
        Twin {
            rest: ("post", "/api/v1/clients/{client_id}/revoke-tokens"),
            graphql: "revokeClientTokens",
            permission: Permission("clients:write"),
            rest_call: |f| (Method::POST, format!("/api/v1/clients/{}/revoke-tokens", f.client), None),
            graphql_call: |f| {
                q("mutation($id: ID!) { revokeClientTokens(id: $id) { id } }", json!({"id": f.client}))
            },
            same: &[("/client_id", "/revokeClientTokens/id")],
        },
        Twin {
            rest: ("post", "/api/v1/clients/bulk"),
            graphql: "setClientsEnabled",
            permission: Permission("clients:write"),
            rest_call: |f| {
                (
                    Method::POST,
                    "/api/v1/clients/bulk".into(),
                    Some(
                        json!({"action": "disable", "client_ids": [f.client, "7d0c8f3e-1111-4a3b-9c2d-000000000000"]}),
                    ),
                )
            },
            graphql_call: |f| {
                q(
                    "mutation($ids: [ID!]!) { setClientsEnabled(clientIds: $ids, enabled: false) { action results { clientId result } summary { done notFound alreadyInState } } }",
                    json!({"ids": [f.client, "7d0c8f3e-1111-4a3b-9c2d-000000000000"]}),
                )
            },
            same: &[
                ("/action", "/setClientsEnabled/action"),
                ("/results/0/client_id", "/setClientsEnabled/results/0/clientId"),
                ("/results/0/result", "/setClientsEnabled/results/0/result"),
                ("/results/1/result", "/setClientsEnabled/results/1/result"),
                ("/summary/not_found", "/setClientsEnabled/summary/notFound"),
            ],
        },
        Twin {
            rest: ("post", "/api/v1/clients/bulk"),
            graphql: "deleteClients",
            permission: Permission("clients:write"),
            rest_call: |f| {
                (
                    Method::POST,
                    "/api/v1/clients/bulk".into(),
                    Some(json!({"action": "delete", "client_ids": [f.client]})),
                )
            },
            graphql_call: |f| {
                q(
                    "mutation($ids: [ID!]!) { deleteClients(clientIds: $ids) { action results { clientId result } } }",
                    json!({"ids": [f.client]}),
                )
            },
            same: &[
                ("/action", "/deleteClients/action"),
                ("/results/0/result", "/deleteClients/results/0/result"),
            ],
        },
        Twin {
            rest: ("get", "/api/v1/clients/{client_id}/permissions"),
            graphql: "Client.permissions",
            permission: Permission("clients:read"),
            rest_call: |f| (Method::GET, format!("/api/v1/clients/{}/permissions", f.client), None),
            graphql_call: |f| {
                q(
                    "query($id: ID!) { client(id: $id) { permissions { category permissions { name } } } }",
                    json!({"id": f.client}),
                )
            },
            same: &[
                ("/categories/0/category", "/client/permissions/0/category"),
                ("/categories/0/permissions/0/name", "/client/permissions/0/permissions/0/name"),
            ],
        },
        Twin {
            rest: ("get", "/api/v1/clients/{client_id}/events"),
            graphql: "Client.events",
            permission: Permission("events:read"),
            rest_call: |f| {
                (Method::GET, format!("/api/v1/clients/{}/events?kind=client.created", f.client), None)
            },
            graphql_call: |f| {
                q(
                    "query($id: ID!) { client(id: $id) { events(filter: {kind: \"client.created\"}) { edges { node { id kind clientId } } } } }",
                    json!({"id": f.client}),
                )
            },
            same: &[
                ("/items/0/event_id", "/client/events/edges/0/node/id"),
                ("/items/0/kind", "/client/events/edges/0/node/kind"),
                ("/items/0/client_id", "/client/events/edges/0/node/clientId"),
            ],
        },
        Twin {
            rest: ("post", "/api/v1/keys/rotate"),
            graphql: "rotateSigningKey",
            permission: Permission("keys:write"),
            rest_call: |_| (Method::POST, "/api/v1/keys/rotate".into(), None),
            graphql_call: |_| q("mutation { rotateSigningKey { kid } }", json!({})),
            same: &[],
        },
        Twin {
            rest: ("get", "/api/v1/keys"),
            graphql: "signingKeys",
            permission: Permission("keys:write"),
            rest_call: |_| (Method::GET, "/api/v1/keys".into(), None),
            graphql_call: |_| q("{ signingKeys { kid state } }", json!({})),
            same: &[("/items/0/state", "/signingKeys/0/state"), ("/items/1/state", "/signingKeys/1/state")],
        },
        Twin {
            rest: ("post", "/api/v1/keys/{kid}/revoke"),
            graphql: "revokeSigningKey",
            permission: Permission("keys:write"),
            rest_call: |f| (Method::POST, format!("/api/v1/keys/{}/revoke", f.key), None),
            graphql_call: |f| {
                q("mutation($k: String!) { revokeSigningKey(kid: $k) { kid state } }", json!({"k": f.key}))
            },
            same: &[("/kid", "/revokeSigningKey/kid"), ("/state", "/revokeSigningKey/state")],
        },
        Twin {
            rest: ("get", "/api/v1/permissions"),
            graphql: "permissions",
            permission: Permission("roles:read"),
            rest_call: |_| (Method::GET, "/api/v1/permissions".into(), None),
            graphql_call: |_| {
                q("{ permissions { category permissions { name description builtin } } }", json!({}))
            },
            same: &[
                ("/categories/0/category", "/permissions/0/category"),
                ("/categories/0/permissions/0/name", "/permissions/0/permissions/0/name"),
                ("/categories/0/permissions/0/builtin", "/permissions/0/permissions/0/builtin"),
            ],
        },
        Twin {
            rest: ("post", "/api/v1/permissions"),
            graphql: "createPermission",
            permission: Permission("roles:write"),
            rest_call: |f| {
                (
                    Method::POST,
                    "/api/v1/permissions".into(),
                    Some(json!({"name": f.new_permission(), "description": "made"})),
                )
            },
            graphql_call: |f| {
                q(
                    "mutation($n: String!) { createPermission(input: {name: $n, description: \"made\"}) { name description builtin } }",
                    json!({"n": f.new_permission()}),
                )
            },
            same: &[
                ("/name", "/createPermission/name"),
                ("/description", "/createPermission/description"),
                ("/builtin", "/createPermission/builtin"),
            ],
        },
        Twin {
            rest: ("patch", "/api/v1/permissions/{name}"),
            graphql: "updatePermission",
            permission: Permission("roles:write"),
            rest_call: |f| {
                (
                    Method::PATCH,
                    format!("/api/v1/permissions/{}", f.permission),
                    Some(json!({"description": "changed"})),
                )
            },
            graphql_call: |f| {
                q(
                    "mutation($n: String!) { updatePermission(name: $n, description: \"changed\") { name description } }",
                    json!({"n": f.permission}),
                )
            },
            same: &[("/name", "/updatePermission/name"), ("/description", "/updatePermission/description")],
        },
        Twin {
            rest: ("delete", "/api/v1/permissions/{name}"),
            graphql: "deletePermission",
            permission: Permission("roles:write"),
            rest_call: |f| {
                (Method::DELETE, format!("/api/v1/permissions/{}?cascade=true", f.permission), None)
            },
            graphql_call: |f| {
                q(
                    "mutation($n: String!) { deletePermission(name: $n, cascade: true) }",
                    json!({"n": f.permission}),
                )
            },
            same: &[],
        },
        Twin {
            rest: ("get", "/api/v1/roles"),
            graphql: "roles",
            permission: Permission("roles:read"),
            rest_call: |_| (Method::GET, "/api/v1/roles".into(), None),
            graphql_call: |_| q("{ roles { id name permissions builtin } }", json!({})),
            same: &[
                ("/items/0/name", "/roles/0/name"),
                ("/items/0/permissions", "/roles/0/permissions"),
                ("/items/0/builtin", "/roles/0/builtin"),
            ],
        },
        Twin {
            rest: ("post", "/api/v1/roles"),
            graphql: "createRole",
            permission: Permission("roles:write"),
            rest_call: |f| {
                (
                    Method::POST,
                    "/api/v1/roles".into(),
                    Some(json!({"name": f.new_role(), "permissions": [f.permission]})),
                )
            },
            graphql_call: |f| {
                q(
                    "mutation($n: String!, $p: [String!]!) { createRole(input: {name: $n, permissions: $p}) { name permissions builtin } }",
                    json!({"n": f.new_role(), "p": [f.permission]}),
                )
            },
            same: &[
                ("/name", "/createRole/name"),
                ("/permissions", "/createRole/permissions"),
                ("/builtin", "/createRole/builtin"),
            ],
        },
        Twin {
            rest: ("get", "/api/v1/roles/{role_id}"),
            graphql: "role",
            permission: Permission("roles:read"),
            rest_call: |f| (Method::GET, format!("/api/v1/roles/{}", f.role), None),
            graphql_call: |f| {
                q("query($id: ID!) { role(id: $id) { id name permissions } }", json!({"id": f.role}))
            },
            same: &[("/id", "/role/id"), ("/name", "/role/name"), ("/permissions", "/role/permissions")],
        },
        Twin {
            rest: ("patch", "/api/v1/roles/{role_id}"),
            graphql: "updateRole",
            permission: Permission("roles:write"),
            rest_call: |f| {
                (
                    Method::PATCH,
                    format!("/api/v1/roles/{}", f.role),
                    Some(json!({"description": "changed", "permissions": []})),
                )
            },
            graphql_call: |f| {
                q(
                    "mutation($id: ID!) { updateRole(id: $id, input: {description: \"changed\", permissions: []}) { id description permissions } }",
                    json!({"id": f.role}),
                )
            },
            same: &[
                ("/id", "/updateRole/id"),
                ("/description", "/updateRole/description"),
                ("/permissions", "/updateRole/permissions"),
            ],
        },
        Twin {
            rest: ("delete", "/api/v1/roles/{role_id}"),
            graphql: "deleteRole",
            permission: Permission("roles:write"),
            rest_call: |f| (Method::DELETE, format!("/api/v1/roles/{}", f.role), None),
            graphql_call: |f| q("mutation($id: ID!) { deleteRole(id: $id) }", json!({"id": f.role})),
            same: &[],
        },
        Twin {
            rest: ("post", "/api/v1/users"),
            graphql: "createUser",
            permission: Permission("users:write"),
            rest_call: |f| {
                (
                    Method::POST,
                    "/api/v1/users".into(),
                    Some(json!({"email": f.new_email(), "name": "Made", "roles": ["viewer"]})),
                )
            },
            graphql_call: |f| {
                q(
                    "mutation($e: String!) { createUser(input: {email: $e, name: \"Made\", roles: [\"viewer\"]}) { user { email name roles status } password } }",
                    json!({"e": f.new_email()}),
                )
            },
            same: &[
                ("/user/email", "/createUser/user/email"),
                ("/user/roles", "/createUser/user/roles"),
                ("/user/status", "/createUser/user/status"),
            ],
        },
        Twin {
            rest: ("get", "/api/v1/users"),
            graphql: "users",
            permission: Permission("users:read"),
            rest_call: |_| (Method::GET, "/api/v1/users?limit=1".into(), None),
            graphql_call: |_| q("{ users(first: 1) { edges { node { id email } } } }", json!({})),
            same: &[
                ("/items/0/user_id", "/users/edges/0/node/id"),
                ("/items/0/email", "/users/edges/0/node/email"),
            ],
        },
        Twin {
            rest: ("get", "/api/v1/users/{user_id}"),
            graphql: "user",
            permission: Permission("users:read"),
            rest_call: |f| (Method::GET, format!("/api/v1/users/{}", f.user), None),
            graphql_call: |f| {
                q("query($id: ID!) { user(id: $id) { id email roles } }", json!({"id": f.user}))
            },
            same: &[("/user_id", "/user/id"), ("/roles", "/user/roles")],
        },
        Twin {
            rest: ("patch", "/api/v1/users/{user_id}"),
            graphql: "updateUser",
            permission: Permission("users:write"),
            rest_call: |f| {
                (
                    Method::PATCH,
                    format!("/api/v1/users/{}", f.user),
                    Some(json!({"name": "Renamed", "roles": ["admin"]})),
                )
            },
            graphql_call: |f| {
                q(
                    "mutation($id: ID!) { updateUser(id: $id, input: {name: \"Renamed\", roles: [\"admin\"]}) { id name roles } }",
                    json!({"id": f.user}),
                )
            },
            same: &[
                ("/user_id", "/updateUser/id"),
                ("/name", "/updateUser/name"),
                ("/roles", "/updateUser/roles"),
            ],
        },
        Twin {
            rest: ("delete", "/api/v1/users/{user_id}"),
            graphql: "deleteUser",
            permission: Permission("users:write"),
            rest_call: |f| (Method::DELETE, format!("/api/v1/users/{}", f.user), None),
            graphql_call: |f| q("mutation($id: ID!) { deleteUser(id: $id) }", json!({"id": f.user})),
            same: &[],
        },
        Twin {
            rest: ("delete", "/api/v1/users/{user_id}/token"),
            graphql: "revokeUserPersonalAccessToken",
            permission: Permission("users:write"),
            rest_call: |f| (Method::DELETE, format!("/api/v1/users/{}/token", f.user), None),
            graphql_call: |f| {
                q("mutation($id: ID!) { revokeUserPersonalAccessToken(id: $id) }", json!({"id": f.user}))
            },
            same: &[],
        },
        Twin {
            rest: ("get", "/api/v1/me"),
            graphql: "me",
            permission: AnyCaller,
            rest_call: |_| (Method::GET, "/api/v1/me".into(), None),
            graphql_call: |_| q("{ me { kind permissions user { email } } }", json!({})),
            same: &[
                ("/kind", "/me/kind"),
                ("/permissions", "/me/permissions"),
                ("/user/email", "/me/user/email"),
            ],
        },
        Twin {
            rest: ("get", "/api/v1/me/token"),
            graphql: "Me.personalAccessToken",
            permission: OwnUser,
            rest_call: |_| (Method::GET, "/api/v1/me/token".into(), None),
            graphql_call: |_| q("{ me { personalAccessToken { hint createdAt } } }", json!({})),
            same: &[("/hint", "/me/personalAccessToken/hint")],
        },
        Twin {
            rest: ("post", "/api/v1/me/token"),
            graphql: "rotatePersonalAccessToken",
            permission: OwnUser,
            rest_call: |_| (Method::POST, "/api/v1/me/token".into(), None),
            graphql_call: |_| {
                q("mutation { rotatePersonalAccessToken { token personalAccessToken { hint } } }", json!({}))
            },
            same: &[],
        },
        Twin {
            rest: ("delete", "/api/v1/me/token"),
            graphql: "revokePersonalAccessToken",
            permission: OwnUser,
            rest_call: |_| (Method::DELETE, "/api/v1/me/token".into(), None),
            graphql_call: |_| q("mutation { revokePersonalAccessToken }", json!({})),
            same: &[],
        },
        Twin {
            rest: ("get", "/api/v1/events"),
            graphql: "events",
            permission: Permission("events:read"),
            rest_call: |_| (Method::GET, "/api/v1/events?kind=client.created&limit=1".into(), None),
            graphql_call: |_| {
                q(
                    "{ events(first: 1, filter: {kind: \"client.created\"}) { edges { node { id kind actor } } } }",
                    json!({}),
                )
            },
            same: &[
                ("/items/0/event_id", "/events/edges/0/node/id"),
                ("/items/0/kind", "/events/edges/0/node/kind"),
                ("/items/0/actor", "/events/edges/0/node/actor"),
            ],
        },
        Twin {
            rest: ("get", "/api/v1/events/{event_id}"),
            graphql: "event",
            permission: Permission("events:read"),
            rest_call: |f| (Method::GET, format!("/api/v1/events/{}", f.event), None),
            graphql_call: |f| {
                q("query($id: ID!) { event(id: $id) { id kind clientId details } }", json!({"id": f.event}))
            },
            same: &[
                ("/event_id", "/event/id"),
                ("/kind", "/event/kind"),
                ("/client_id", "/event/clientId"),
                ("/details", "/event/details"),
            ],
        },
    ]
}

async fn rest(
    app: &TestApp,
    token: &str,
    (method, path, body): (Method, String, Option<Value>),
) -> (u16, Value) {
    let mut request = app.http.request(method, app.url(&path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn graphql(app: &TestApp, token: &str, (query, variables): (String, Value)) -> (u16, Value) {
    let response = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Fresh objects for one side of one row, made as the system.
async fn fixture(app: &TestApp, n: usize) -> Fixture {
    let s = &app.service;
    let permission = PermissionName::parse(&format!("twin{n}:read")).unwrap();
    s.create_permission(&Caller::system(), permission.clone(), "fixture").await.unwrap();
    let role = s
        .create_role(
            &Caller::system(),
            NewRole {
                name: RoleName::parse(&format!("fixture-{n}")).unwrap(),
                description: "fixture".into(),
                permissions: vec![permission.clone()],
            },
        )
        .await
        .unwrap();
    let (client, _) = s
        .create_client(
            &Caller::system(),
            NewClient {
                name: ClientName::parse(&format!("fixture client {n}")).unwrap(),
                description: Some(portcullis_domain::Description::parse("about it").unwrap()),
                role: Some(RoleName::parse("viewer").unwrap()),
                token_ttl: TokenTtl::DEFAULT,
            },
        )
        .await
        .unwrap();
    let (user_token, user) = app.user_token(&format!("fixture{n}@example.com"), &["viewer"]).await;
    // Two rotations: the first one's key is replaced at once and so signed
    // nothing; revoking it leaves every token of the test valid.
    let key = s.rotate_signing_key(&Caller::system()).await.unwrap();
    s.rotate_signing_key(&Caller::system()).await.unwrap();
    s.flush_events().await.unwrap();
    let events = s
        .list_events(
            &portcullis_service::Caller::cli(),
            ListEvents { client_id: Some(client.client.id), limit: Some(1), ..Default::default() },
        )
        .await
        .unwrap();
    Fixture {
        n,
        client: client.client.id.to_string(),
        role: role.id.to_string(),
        permission: permission.to_string(),
        user,
        event: events.items[0].id.to_string(),
        user_token,
        key,
    }
}

/// The kinds of the change events recorded since `since`, sorted.
async fn changes_since(app: &TestApp, since: portcullis_domain::Timestamp) -> Vec<String> {
    app.service.flush_events().await.unwrap();
    let page = app
        .service
        .list_events(
            &portcullis_service::Caller::cli(),
            ListEvents { since: Some(since), limit: Some(200), ..Default::default() },
        )
        .await
        .unwrap();
    let mut kinds: Vec<String> =
        page.items.iter().filter(|e| e.actor.is_some()).map(|e| e.kind.clone()).collect();
    kinds.sort();
    kinds
}

/// An admin API client's token with every built-in permission but `missing`.
async fn token_without(app: &TestApp, missing: &str) -> String {
    let (view, secret) = app.create_client(Some("admin")).await;
    let scope: Vec<String> =
        builtin_permissions().into_iter().map(|p| p.name.to_string()).filter(|p| p != missing).collect();
    let body: Value = app
        .token_basic(&view.client.id.to_string(), secret.expose(), Some(&scope.join(" ")))
        .await
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// The operations the OpenAPI document lists, as `(method, path)`.
fn openapi_operations() -> BTreeSet<(String, String)> {
    let doc: Value = serde_json::from_str(&portcullis_web::api::openapi_json()).unwrap();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert((method.clone(), path.clone()));
        }
    }
    ops
}

/// The fields the served schema has: root fields by name, others as `Type.field`.
async fn schema_fields(app: &TestApp, token: &str) -> BTreeSet<String> {
    let query = "{ __schema { queryType { fields { name } } mutationType { fields { name } } } \
                 client: __type(name: \"Client\") { fields { name } } me: __type(name: \"Me\") { fields { name } } }";
    let (status, body) = graphql(app, token, (query.into(), json!({}))).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    let names = |v: &Value| -> Vec<String> {
        v["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_owned()).collect()
    };
    let mut fields: BTreeSet<String> = BTreeSet::new();
    fields.extend(names(&data["__schema"]["queryType"]));
    fields.extend(names(&data["__schema"]["mutationType"]));
    fields.extend(names(&data["client"]).into_iter().map(|f| format!("Client.{f}")));
    fields.extend(names(&data["me"]).into_iter().map(|f| format!("Me.{f}")));
    fields
}

on_both_backends!(every_rest_operation_has_a_graphql_twin);

async fn every_rest_operation_has_a_graphql_twin(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let twins = twins();

    // The table covers the REST API exactly, and names fields that exist.
    let listed: BTreeSet<(String, String)> = twins
        .iter()
        .map(|t| t.rest)
        .chain(REST_ONLY.iter().map(|(op, _)| *op))
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    assert_eq!(listed, openapi_operations(), "the twin table and the OpenAPI document differ");

    // The caller: an admin user, by personal access token.
    let (admin_token, _) = app.user_token("twins@example.com", &["admin"]).await;
    let fields = schema_fields(&app, &admin_token).await;
    for twin in &twins {
        assert!(fields.contains(twin.graphql), "the schema has no `{}`", twin.graphql);
    }

    let mut narrowed: HashMap<&str, String> = HashMap::new();
    let client_caller = token_without(&app, "keys:write").await;
    let mut n = 0;
    for twin in &twins {
        let name = twin.graphql;
        // Each side on its own fixture, made just before its call.
        n += 1;
        let f = fixture(&app, n).await;
        let token =
            if twin.permission == Access::OwnUser { f.user_token.clone() } else { admin_token.clone() };
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let since = portcullis_domain::now();
        let (status, rest_body) = rest(&app, &token, (twin.rest_call)(&f)).await;
        assert!((200..300).contains(&status), "{name}: REST answered {status}: {rest_body}");
        let rest_changes = changes_since(&app, since).await;
        let rest_seen = f.normalize(&rest_body);

        n += 1;
        let g = fixture(&app, n).await;
        let token =
            if twin.permission == Access::OwnUser { g.user_token.clone() } else { admin_token.clone() };
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let since = portcullis_domain::now();
        let (status, gql_body) = graphql(&app, &token, (twin.graphql_call)(&g)).await;
        assert_eq!(status, 200, "{name}: {gql_body}");
        assert!(gql_body.get("errors").is_none(), "{name}: {gql_body}");
        let gql_changes = changes_since(&app, since).await;
        let gql_seen = g.normalize(&gql_body["data"]);

        assert_eq!(rest_changes, gql_changes, "{name}: the two recorded different changes");
        for (rest_pointer, gql_pointer) in twin.same {
            let (r, q) = (rest_seen.pointer(rest_pointer), gql_seen.pointer(gql_pointer));
            assert!(r.is_some(), "{name}: REST answer has no {rest_pointer}: {rest_seen}");
            assert_eq!(
                r, q,
                "{name}: {rest_pointer} vs {gql_pointer}\nREST: {rest_seen}\nGraphQL: {gql_seen}"
            );
        }

        // Refused alike, for the same reason.
        n += 1;
        let h = fixture(&app, n).await;
        let (token, kind, code) = match twin.permission {
            Access::Permission(p) => {
                if !narrowed.contains_key(p) {
                    narrowed.insert(p, token_without(&app, p).await);
                }
                (narrowed[p].clone(), "insufficient-scope", "INSUFFICIENT_SCOPE")
            }
            Access::OwnUser => (client_caller.clone(), "not-a-user", "NOT_A_USER"),
            Access::AnyCaller => continue,
        };
        let (status, rest_body) = rest(&app, &token, (twin.rest_call)(&h)).await;
        assert_eq!(status, 403, "{name}: {rest_body}");
        assert_eq!(rest_body["type"], format!("urn:portcullis:problem:{kind}"), "{name}");
        let (status, gql_body) = graphql(&app, &token, (twin.graphql_call)(&h)).await;
        assert_eq!(status, 200, "{name}: {gql_body}");
        let error = &gql_body["errors"][0];
        assert_eq!(error["extensions"]["code"], code, "{name}: {gql_body}");
        assert_eq!(error["extensions"]["type"], rest_body["type"], "{name}");
        assert_eq!(error["extensions"]["requiredPermission"], rest_body["required_permission"], "{name}");
        assert_eq!(error["message"], rest_body["detail"], "{name}");
    }
}
