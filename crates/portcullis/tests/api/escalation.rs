//! No escalation (issue 11 §1): a caller never creates, assigns, edits or
//! acts with a permission it does not hold itself.
//!
//! One table: every write operation that hands out or acts with a set of
//! permissions × a caller holding only that operation's own permission (an
//! API client whose role has only it, by access token; and a user whose
//! role has only it, by personal access token) × both APIs. Against an
//! admin target the answer is 403 `escalation` naming exactly the missing
//! permissions, and the stored state is unchanged; against a target the
//! caller fully holds, the operation succeeds.

use portcullis_domain::{
    ApiClient, BuiltinPermission, ClientId, ClientStatus, PermissionName, Role, RoleId, RoleName, User,
    UserId, UserStatus,
};
use portcullis_service::{Caller, ListClients, ListUsers, NewRole, UserUpdate};
use portcullis_testkit::{Backend, PASSWORD, TestApp, spawn_app_on};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    CreateClient,
    UpdateClientRole,
    EnableClient,
    DeleteClient,
    BulkEnable,
    BulkDelete,
    RegenerateSecret,
    IssueToken,
    CreateRole,
    UpdateRole,
    DeleteRole,
    CreateUser,
    UpdateUserRoles,
    SetUserPassword,
    EnableUser,
    DeleteUser,
    RenameClient,
    SetClientTtl,
    KeepClientRole,
    RenameRole,
    RenameUser,
    DisableUser,
    RevokeUserToken,
}

const OPS: [Op; 23] = [
    Op::CreateClient,
    Op::UpdateClientRole,
    Op::EnableClient,
    Op::DeleteClient,
    Op::BulkEnable,
    Op::BulkDelete,
    Op::RegenerateSecret,
    Op::IssueToken,
    Op::CreateRole,
    Op::UpdateRole,
    Op::DeleteRole,
    Op::CreateUser,
    Op::UpdateUserRoles,
    Op::SetUserPassword,
    Op::EnableUser,
    Op::DeleteUser,
    Op::RenameClient,
    Op::SetClientTtl,
    Op::KeepClientRole,
    Op::RenameRole,
    Op::RenameUser,
    Op::DisableUser,
    Op::RevokeUserToken,
];

impl Op {
    /// The operation's own permission: the only one the caller holds.
    fn permission(self) -> BuiltinPermission {
        use BuiltinPermission::*;
        match self {
            Op::CreateClient
            | Op::UpdateClientRole
            | Op::EnableClient
            | Op::DeleteClient
            | Op::BulkEnable
            | Op::BulkDelete
            | Op::RenameClient
            | Op::SetClientTtl
            | Op::KeepClientRole => ClientsWrite,
            Op::RegenerateSecret => ClientsSecrets,
            Op::IssueToken => TokensIssue,
            Op::CreateRole | Op::UpdateRole | Op::DeleteRole | Op::RenameRole => RolesWrite,
            Op::CreateUser
            | Op::UpdateUserRoles
            | Op::SetUserPassword
            | Op::EnableUser
            | Op::DeleteUser
            | Op::RenameUser
            | Op::DisableUser
            | Op::RevokeUserToken => UsersWrite,
        }
    }

    /// Allowed on a held target without changing anything.
    fn may_change_nothing(self) -> bool {
        matches!(self, Op::IssueToken | Op::KeepClientRole)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Holds permissions the caller lacks: refused.
    Admin,
    /// Holds only what the caller holds: allowed.
    Held,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Rest,
    Graphql,
}

/// What the operation may change, read back as the system.
#[derive(Debug, Clone)]
enum Watch {
    Clients(Vec<ClientId>),
    ClientNamed(String),
    Role(RoleId),
    RoleNamed(String),
    User(UserId),
    UserEmail(String),
    PersonalToken(UserId),
}

#[derive(Debug, PartialEq)]
enum Seen {
    Clients(Vec<Option<ApiClient>>),
    Count(usize),
    Role(Option<Role>),
    User(Option<User>),
    PersonalToken(Option<portcullis_service::PersonalTokenInfo>),
}

struct Prepared {
    rest: (Method, String, Option<Value>),
    graphql: (String, Value),
    /// What the admin case must name as missing.
    missing: Vec<String>,
    watch: Watch,
}

fn slug(p: BuiltinPermission) -> String {
    p.as_str().replace(':', "-")
}

/// Every built-in permission but `held`, in name order.
fn all_but(held: BuiltinPermission) -> Vec<String> {
    let mut names: Vec<String> =
        BuiltinPermission::ALL.iter().filter(|p| **p != held).map(|p| p.as_str().to_owned()).collect();
    names.sort();
    names
}

async fn make_role(app: &TestApp, name: &str, permissions: &[&str]) -> Role {
    app.service
        .create_role(
            &Caller::system(),
            NewRole {
                name: RoleName::parse(name).unwrap(),
                description: String::new(),
                permissions: permissions.iter().map(|p| PermissionName::parse(p).unwrap()).collect(),
            },
        )
        .await
        .unwrap()
}

/// `only-<perm>` and `also-<perm>`: roles holding just that permission.
async fn held_roles(app: &TestApp) {
    for p in BuiltinPermission::ALL {
        make_role(app, &format!("only-{}", slug(p)), &[p.as_str()]).await;
        make_role(app, &format!("also-{}", slug(p)), &[p.as_str()]).await;
    }
}

async fn client(app: &TestApp, role: Option<&str>, status: ClientStatus) -> ClientId {
    let id = app.create_client(role).await.0.client.id;
    if status == ClientStatus::Disabled {
        app.service.set_client_status(&Caller::system(), id, status).await.unwrap();
    }
    id
}

async fn user(app: &TestApp, n: usize, roles: &[&str], status: UserStatus) -> UserId {
    let id = app.create_user(&format!("target{n}@example.com"), roles).await.user.id;
    if status == UserStatus::Disabled {
        let update = UserUpdate { status: Some(status), ..Default::default() };
        app.service.update_user(&Caller::system(), id, update).await.unwrap();
    }
    id
}

fn q(query: &str, variables: Value) -> (String, Value) {
    (query.to_owned(), variables)
}

async fn prepare(app: &TestApp, op: Op, target: Target, n: usize) -> Prepared {
    let p = op.permission();
    let own = format!("only-{}", slug(p));
    let also = format!("also-{}", slug(p));
    let admin_or = |held: &str| if target == Target::Admin { "admin".to_owned() } else { held.to_owned() };
    let missing = all_but(p);
    let enabled = ClientStatus::Enabled;
    match op {
        Op::CreateClient => {
            let name = format!("escalated client {n}");
            let role = admin_or(&own);
            Prepared {
                rest: (Method::POST, "/api/v1/clients".into(), Some(json!({"name": name, "role": role}))),
                graphql: q(
                    "mutation($n: String!, $r: String) { createClient(input: {name: $n, role: $r}) { clientSecret } }",
                    json!({"n": name, "r": role}),
                ),
                missing,
                watch: Watch::ClientNamed(name),
            }
        }
        Op::UpdateClientRole => {
            let id = client(app, None, enabled).await;
            let role = admin_or(&also);
            Prepared {
                rest: (Method::PATCH, format!("/api/v1/clients/{id}"), Some(json!({"role": role}))),
                graphql: q(
                    "mutation($id: ID!, $r: String) { updateClient(id: $id, input: {role: $r}) { id } }",
                    json!({"id": id.to_string(), "r": role}),
                ),
                missing,
                watch: Watch::Clients(vec![id]),
            }
        }
        Op::EnableClient => {
            let id = client(app, Some(&admin_or(&own)), ClientStatus::Disabled).await;
            Prepared {
                rest: (Method::PATCH, format!("/api/v1/clients/{id}"), Some(json!({"status": "enabled"}))),
                graphql: q(
                    "mutation($id: ID!) { updateClient(id: $id, input: {status: ENABLED}) { id } }",
                    json!({"id": id.to_string()}),
                ),
                missing,
                watch: Watch::Clients(vec![id]),
            }
        }
        Op::DeleteClient => {
            let id = client(app, Some(&admin_or(&own)), enabled).await;
            Prepared {
                rest: (Method::DELETE, format!("/api/v1/clients/{id}"), None),
                graphql: q("mutation($id: ID!) { deleteClient(id: $id) }", json!({"id": id.to_string()})),
                missing,
                watch: Watch::Clients(vec![id]),
            }
        }
        Op::BulkEnable | Op::BulkDelete => {
            let status = if op == Op::BulkEnable { ClientStatus::Disabled } else { enabled };
            // One the caller holds, one it may not: refused as a whole.
            let ids =
                vec![client(app, Some(&own), status).await, client(app, Some(&admin_or(&own)), status).await];
            let raw: Vec<String> = ids.iter().map(ToString::to_string).collect();
            let (action, query) = if op == Op::BulkEnable {
                (
                    "enable",
                    "mutation($ids: [ID!]!) { setClientsEnabled(clientIds: $ids, enabled: true) { summary { done } } }",
                )
            } else {
                ("delete", "mutation($ids: [ID!]!) { deleteClients(clientIds: $ids) { summary { done } } }")
            };
            Prepared {
                rest: (
                    Method::POST,
                    "/api/v1/clients/bulk".into(),
                    Some(json!({"action": action, "client_ids": raw})),
                ),
                graphql: q(query, json!({"ids": raw})),
                missing,
                watch: Watch::Clients(ids),
            }
        }
        Op::RegenerateSecret => {
            let id = client(app, Some(&admin_or(&own)), enabled).await;
            Prepared {
                rest: (Method::POST, format!("/api/v1/clients/{id}/secret"), None),
                graphql: q(
                    "mutation($id: ID!) { regenerateClientSecret(id: $id) { clientSecret } }",
                    json!({"id": id.to_string()}),
                ),
                missing,
                watch: Watch::Clients(vec![id]),
            }
        }
        Op::IssueToken => {
            let id = client(app, Some(&admin_or(&own)), enabled).await;
            Prepared {
                rest: (Method::POST, format!("/api/v1/clients/{id}/token"), Some(json!({}))),
                graphql: q(
                    "mutation($id: ID!) { issueAccessToken(clientId: $id) { accessToken } }",
                    json!({"id": id.to_string()}),
                ),
                missing,
                watch: Watch::Clients(vec![id]),
            }
        }
        Op::CreateRole => {
            let name = format!("escalated-role-{n}");
            let permissions = if target == Target::Admin { vec!["keys:write"] } else { vec![p.as_str()] };
            Prepared {
                rest: (
                    Method::POST,
                    "/api/v1/roles".into(),
                    Some(json!({"name": name, "permissions": permissions})),
                ),
                graphql: q(
                    "mutation($n: String!, $p: [String!]!) { createRole(input: {name: $n, permissions: $p}) { id } }",
                    json!({"n": name, "p": permissions}),
                ),
                missing: vec!["keys:write".into()],
                watch: Watch::RoleNamed(name),
            }
        }
        Op::UpdateRole => {
            // The admin case edits the caller's own role, adding `keys:write`.
            let (id, permissions) = match target {
                Target::Admin => {
                    let own_role = app
                        .service
                        .roles(&Caller::system())
                        .await
                        .unwrap()
                        .into_iter()
                        .find(|r| r.name.as_str() == own);
                    (own_role.unwrap().id, vec![p.as_str(), "keys:write"])
                }
                Target::Held => (make_role(app, &format!("edited-{n}"), &[]).await.id, vec![p.as_str()]),
            };
            Prepared {
                rest: (
                    Method::PATCH,
                    format!("/api/v1/roles/{id}"),
                    Some(json!({"permissions": permissions})),
                ),
                graphql: q(
                    "mutation($id: ID!, $p: [String!]) { updateRole(id: $id, input: {permissions: $p}) { id } }",
                    json!({"id": id.to_string(), "p": permissions}),
                ),
                missing: vec!["keys:write".into()],
                watch: Watch::Role(id),
            }
        }
        Op::DeleteRole => {
            let everything: Vec<&str> = BuiltinPermission::ALL.iter().map(|p| p.as_str()).collect();
            let permissions = if target == Target::Admin { everything } else { vec![p.as_str()] };
            let id = make_role(app, &format!("doomed-{n}"), &permissions).await.id;
            Prepared {
                rest: (Method::DELETE, format!("/api/v1/roles/{id}"), None),
                graphql: q("mutation($id: ID!) { deleteRole(id: $id) }", json!({"id": id.to_string()})),
                missing,
                watch: Watch::Role(id),
            }
        }
        Op::CreateUser => {
            let email = format!("escalated{n}@example.com");
            let roles = vec![admin_or(&own)];
            Prepared {
                rest: (
                    Method::POST,
                    "/api/v1/users".into(),
                    Some(json!({"email": email, "name": "Mallory", "roles": roles, "password": PASSWORD})),
                ),
                graphql: q(
                    "mutation($e: String!, $r: [String!]!, $p: String) { createUser(input: {email: $e, name: \"Mallory\", roles: $r, password: $p}) { user { id } } }",
                    json!({"e": email, "r": roles, "p": PASSWORD}),
                ),
                missing,
                watch: Watch::UserEmail(email),
            }
        }
        Op::UpdateUserRoles => {
            let id = user(app, n, &[&also], UserStatus::Enabled).await;
            let roles = vec![admin_or(&own)];
            Prepared {
                rest: (Method::PATCH, format!("/api/v1/users/{id}"), Some(json!({"roles": roles}))),
                graphql: q(
                    "mutation($id: ID!, $r: [String!]) { updateUser(id: $id, input: {roles: $r}) { id } }",
                    json!({"id": id.to_string(), "r": roles}),
                ),
                missing,
                watch: Watch::User(id),
            }
        }
        Op::SetUserPassword => {
            let id = user(app, n, &[&admin_or(&own)], UserStatus::Enabled).await;
            let password = "another horse battery staple";
            Prepared {
                rest: (Method::PATCH, format!("/api/v1/users/{id}"), Some(json!({"password": password}))),
                graphql: q(
                    "mutation($id: ID!, $p: String) { updateUser(id: $id, input: {password: $p}) { id } }",
                    json!({"id": id.to_string(), "p": password}),
                ),
                missing,
                watch: Watch::User(id),
            }
        }
        Op::EnableUser => {
            let id = user(app, n, &[&admin_or(&own)], UserStatus::Disabled).await;
            Prepared {
                rest: (Method::PATCH, format!("/api/v1/users/{id}"), Some(json!({"status": "enabled"}))),
                graphql: q(
                    "mutation($id: ID!) { updateUser(id: $id, input: {status: ENABLED}) { id } }",
                    json!({"id": id.to_string()}),
                ),
                missing,
                watch: Watch::User(id),
            }
        }
        Op::DeleteUser => {
            let id = user(app, n, &[&admin_or(&own)], UserStatus::Enabled).await;
            Prepared {
                rest: (Method::DELETE, format!("/api/v1/users/{id}"), None),
                graphql: q("mutation($id: ID!) { deleteUser(id: $id) }", json!({"id": id.to_string()})),
                missing,
                watch: Watch::User(id),
            }
        }
        // Changes that hand out nothing still act on what the target holds:
        // renaming an admin client, lengthening its tokens' lifetime,
        // "setting" the role it already has, renaming a role, renaming,
        // disabling (locking out) an admin user or revoking its token.
        Op::RenameClient | Op::SetClientTtl | Op::KeepClientRole => {
            let role = admin_or(&own);
            let id = client(app, Some(&role), enabled).await;
            let (field, value, input) = match op {
                Op::RenameClient => ("name", json!(format!("renamed {n}")), "name: $v"),
                Op::SetClientTtl => {
                    ("access_token_ttl_seconds", json!(86_400), "accessTokenTtlSeconds: 86400")
                }
                _ => ("role", json!(role), "role: $v"),
            };
            let (query, variables) = if op == Op::SetClientTtl {
                (
                    format!("mutation($id: ID!) {{ updateClient(id: $id, input: {{{input}}}) {{ id }} }}"),
                    json!({"id": id.to_string()}),
                )
            } else {
                (
                    format!(
                        "mutation($id: ID!, $v: String) {{ updateClient(id: $id, input: {{{input}}}) {{ id }} }}"
                    ),
                    json!({"id": id.to_string(), "v": value}),
                )
            };
            Prepared {
                rest: (Method::PATCH, format!("/api/v1/clients/{id}"), Some(json!({ field: value }))),
                graphql: (query, variables),
                missing,
                watch: Watch::Clients(vec![id]),
            }
        }
        Op::RenameRole => {
            let everything: Vec<&str> = BuiltinPermission::ALL.iter().map(|p| p.as_str()).collect();
            let permissions = if target == Target::Admin { everything } else { vec![p.as_str()] };
            let id = make_role(app, &format!("named-{n}"), &permissions).await.id;
            let name = format!("renamed-{n}");
            Prepared {
                rest: (Method::PATCH, format!("/api/v1/roles/{id}"), Some(json!({"name": name}))),
                graphql: q(
                    "mutation($id: ID!, $n: String) { updateRole(id: $id, input: {name: $n}) { id } }",
                    json!({"id": id.to_string(), "n": name}),
                ),
                missing,
                watch: Watch::Role(id),
            }
        }
        Op::RenameUser | Op::DisableUser => {
            let id = user(app, n, &[&admin_or(&own)], UserStatus::Enabled).await;
            let (body, input) = if op == Op::RenameUser {
                (json!({"name": "Someone Else"}), "name: \"Someone Else\"")
            } else {
                (json!({"status": "disabled"}), "status: DISABLED")
            };
            Prepared {
                rest: (Method::PATCH, format!("/api/v1/users/{id}"), Some(body)),
                graphql: q(
                    &format!("mutation($id: ID!) {{ updateUser(id: $id, input: {{{input}}}) {{ id }} }}"),
                    json!({"id": id.to_string()}),
                ),
                missing,
                watch: Watch::User(id),
            }
        }
        Op::RevokeUserToken => {
            let email = format!("target{n}@example.com");
            let (_, id) = app.user_token(&email, &[&admin_or(&own)]).await;
            Prepared {
                rest: (Method::DELETE, format!("/api/v1/users/{id}/token"), None),
                graphql: q(
                    "mutation($id: ID!) { revokeUserPersonalAccessToken(id: $id) }",
                    json!({"id": id}),
                ),
                missing,
                watch: Watch::PersonalToken(id.parse().unwrap()),
            }
        }
    }
}

async fn seen(app: &TestApp, watch: &Watch) -> Seen {
    let s = &app.service;
    let stores_client =
        |id: ClientId| async move { s.get_client(&Caller::system(), id).await.ok().map(|v| v.client) };
    match watch {
        Watch::Clients(ids) => {
            let mut found = Vec::new();
            for id in ids {
                found.push(stores_client(*id).await);
            }
            Seen::Clients(found)
        }
        Watch::ClientNamed(name) => {
            let page = s
                .list_clients(
                    &Caller::system(),
                    ListClients { name_contains: Some(name.clone()), ..Default::default() },
                )
                .await
                .unwrap();
            Seen::Count(page.items.len())
        }
        Watch::Role(id) => Seen::Role(s.get_role(&Caller::system(), *id).await.ok()),
        Watch::RoleNamed(name) => Seen::Count(
            s.roles(&Caller::system()).await.unwrap().iter().filter(|r| r.name.as_str() == name).count(),
        ),
        Watch::User(id) => Seen::User(s.get_user(&Caller::system(), *id).await.ok().map(|v| v.user)),
        Watch::PersonalToken(id) => Seen::PersonalToken(s.personal_token(*id).await.unwrap()),
        Watch::UserEmail(email) => {
            let page = s
                .list_users(&Caller::system(), ListUsers { text: Some(email.clone()), ..Default::default() })
                .await
                .unwrap();
            Seen::Count(page.items.len())
        }
    }
}

async fn call(app: &TestApp, token: &str, api: Api, prepared: &Prepared) -> (u16, Value) {
    match api {
        Api::Rest => {
            let (method, path, body) = prepared.rest.clone();
            let mut request = app.http.request(method, app.url(&path)).bearer_auth(token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Api::Graphql => {
            let (query, variables) = prepared.graphql.clone();
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
    }
}

/// The callers holding only `p`: an API client's token, a user's personal
/// access token.
async fn callers(app: &TestApp, p: BuiltinPermission, n: usize) -> Vec<(&'static str, String)> {
    let role = format!("only-{}", slug(p));
    let client = app.bearer(&role, None).await;
    let (user, _) = app.user_token(&format!("caller{n}@example.com"), &[&role]).await;
    vec![("client", client), ("user", user)]
}

on_both_backends!(no_write_operation_hands_out_what_its_caller_lacks);

async fn no_write_operation_hands_out_what_its_caller_lacks(backend: Backend) {
    let app = spawn_app_on(backend).await;
    held_roles(&app).await;
    let mut n = 0;
    for op in OPS {
        n += 1;
        for (who, token) in callers(&app, op.permission(), n).await {
            for api in [Api::Rest, Api::Graphql] {
                let case = format!("{op:?} by a {who} holding only {} over {api:?}", op.permission());

                n += 1;
                let prepared = prepare(&app, op, Target::Admin, n).await;
                let before = seen(&app, &prepared.watch).await;
                let (status, body) = call(&app, &token, api, &prepared).await;
                match api {
                    Api::Rest => {
                        assert_eq!(status, 403, "{case}: {body}");
                        assert_eq!(body["type"], "urn:portcullis:problem:escalation", "{case}: {body}");
                        assert_eq!(body["missing_permissions"], json!(prepared.missing), "{case}: {body}");
                        for missing in &prepared.missing {
                            assert!(
                                body["detail"].as_str().unwrap().contains(missing.as_str()),
                                "{case}: {body}"
                            );
                        }
                    }
                    Api::Graphql => {
                        assert_eq!(status, 200, "{case}: {body}");
                        let error = &body["errors"][0];
                        assert_eq!(error["extensions"]["code"], "ESCALATION", "{case}: {body}");
                        assert_eq!(error["extensions"]["status"], 403, "{case}: {body}");
                        assert_eq!(
                            error["extensions"]["missingPermissions"],
                            json!(prepared.missing),
                            "{case}: {body}"
                        );
                    }
                }
                assert_eq!(seen(&app, &prepared.watch).await, before, "{case}: the stored state changed");

                n += 1;
                let prepared = prepare(&app, op, Target::Held, n).await;
                let before = seen(&app, &prepared.watch).await;
                let (status, body) = call(&app, &token, api, &prepared).await;
                assert!((200..300).contains(&status), "{case}, held target: {status} {body}");
                assert!(body.get("errors").is_none(), "{case}, held target: {body}");
                if !op.may_change_nothing() {
                    assert_ne!(
                        seen(&app, &prepared.watch).await,
                        before,
                        "{case}, held target: nothing changed"
                    );
                }
            }
        }
    }
}

on_both_backends!(a_client_cannot_make_itself_admin);

async fn a_client_cannot_make_itself_admin(backend: Backend) {
    let app = spawn_app_on(backend).await;
    held_roles(&app).await;
    let (id, _, token) = app.client_with_token(Some("only-clients-write"), None).await;
    let before = app.service.get_client(&Caller::system(), id.parse().unwrap()).await.unwrap();
    let response = app
        .http
        .patch(app.url(&format!("/api/v1/clients/{id}")))
        .bearer_auth(&token)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "urn:portcullis:problem:escalation");
    assert_eq!(body["missing_permissions"], json!(all_but(BuiltinPermission::ClientsWrite)));
    assert_eq!(app.service.get_client(&Caller::system(), id.parse().unwrap()).await.unwrap(), before);
    // Renaming itself acts with no permission: allowed.
    let response = app
        .http
        .patch(app.url(&format!("/api/v1/clients/{id}")))
        .bearer_auth(&token)
        .json(&json!({"name": "still me"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

on_both_backends!(a_narrowed_token_acts_only_within_its_scope);

/// An admin client's token asked with `scope=clients:write` holds exactly
/// that: it reads nothing and hands out no role beyond it.
async fn a_narrowed_token_acts_only_within_its_scope(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let token = app.bearer("admin", Some("clients:write")).await;
    let get = app.http.get(app.url("/api/v1/clients")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(get.status(), 403);
    let body: Value = get.json().await.unwrap();
    assert_eq!(body["type"], "urn:portcullis:problem:insufficient-scope");
    assert_eq!(body["required_permission"], "clients:read");

    let create = |role: Value| {
        app.http
            .post(app.url("/api/v1/clients"))
            .bearer_auth(&token)
            .json(&json!({"name": "narrow", "role": role}))
            .send()
    };
    let refused = create(json!("viewer")).await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "urn:portcullis:problem:escalation");
    assert_eq!(
        body["missing_permissions"],
        json!(["clients:read", "events:read", "roles:read", "users:read"])
    );
    let refused = create(json!("admin")).await.unwrap();
    assert_eq!(refused.status(), 403);
    // A client without a role hands out nothing.
    assert_eq!(create(Value::Null).await.unwrap().status(), 201);
    // A custom permission is not the narrowed token's to hand out, while
    // the full admin token holds every permission, custom ones included.
    let perm = PermissionName::parse("invoices:read").unwrap();
    app.service.create_permission(&Caller::system(), perm, "Read invoices").await.unwrap();
    let full = app.bearer("admin", None).await;
    let response = app
        .http
        .post(app.url("/api/v1/roles"))
        .bearer_auth(&full)
        .json(&json!({"name": "invoices", "permissions": ["invoices:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "admins lose nothing");
}

/// Reads are decided in the service too: a caller without the read
/// permission gets nothing, whichever adapter it comes through.
#[tokio::test]
async fn reads_need_their_permission_in_the_service() {
    let app = portcullis_testkit::spawn_app().await;
    let id = app.create_client(Some("viewer")).await.0.client.id;
    let writer = Caller::new(
        portcullis_service::Actor::Client(id),
        portcullis_domain::Scope::parse("clients:write").unwrap(),
    );
    let forbidden = |r: Result<(), portcullis_service::ServiceError>, p: BuiltinPermission| {
        assert!(matches!(r, Err(portcullis_service::ServiceError::Forbidden(q)) if q == p), "{r:?}");
    };
    forbidden(app.service.get_client(&writer, id).await.map(drop), BuiltinPermission::ClientsRead);
    forbidden(
        app.service.list_clients(&writer, ListClients::default()).await.map(drop),
        BuiltinPermission::ClientsRead,
    );
    forbidden(app.service.client_permissions(&writer, id).await.map(drop), BuiltinPermission::ClientsRead);
    forbidden(app.service.roles(&writer).await.map(drop), BuiltinPermission::RolesRead);
    forbidden(app.service.permissions_by_category(&writer).await.map(drop), BuiltinPermission::RolesRead);
    forbidden(
        app.service.list_users(&writer, ListUsers::default()).await.map(drop),
        BuiltinPermission::UsersRead,
    );
    forbidden(
        app.service.list_events(&writer, portcullis_service::events::ListEvents::default()).await.map(drop),
        BuiltinPermission::EventsRead,
    );
    forbidden(
        app.service.get_event(&writer, portcullis_domain::EventId::generate()).await.map(drop),
        BuiltinPermission::EventsRead,
    );
    forbidden(app.service.signing_keys(&writer).await.map(drop), BuiltinPermission::KeysWrite);
    // Itself it may always read (`/me`).
    assert_eq!(app.service.caller_client(&writer).await.unwrap().client.id, id);
    assert!(app.service.get_client(&Caller::cli(), id).await.is_ok(), "the CLI holds everything");
}

on_both_backends!(stopping_a_client_needs_only_clients_write);

/// The emergency stops: a caller with `clients:write` alone may disable any
/// client, admins' included, and revoke its tokens (alone or in bulk): they
/// take permissions away, never hand them out. Anything else it does to a
/// client whose role it does not hold is refused (the table above).
async fn stopping_a_client_needs_only_clients_write(backend: Backend) {
    let app = spawn_app_on(backend).await;
    held_roles(&app).await;
    let token = app.bearer("only-clients-write", None).await;
    let (admin_id, admin_secret, admin_token) = app.client_with_token(Some("admin"), None).await;
    let introspect = |token: String| {
        let (id, secret) = (admin_id.clone(), admin_secret.clone());
        let app = &app;
        async move {
            let body: Value = app
                .http
                .post(app.url("/oauth2/introspect"))
                .header("authorization", portcullis_testkit::basic(&id, &secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["active"].as_bool().unwrap()
        }
    };
    assert!(introspect(admin_token.clone()).await);
    let r = app
        .http
        .post(app.url(&format!("/api/v1/clients/{admin_id}/revoke-tokens")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert!(!introspect(admin_token).await, "the admin client's token is revoked");

    for api in [Api::Rest, Api::Graphql] {
        let id = client(&app, Some("admin"), ClientStatus::Enabled).await;
        let other = client(&app, Some("admin"), ClientStatus::Enabled).await;
        let disable = Prepared {
            rest: (Method::PATCH, format!("/api/v1/clients/{id}"), Some(json!({"status": "disabled"}))),
            graphql: q(
                "mutation($id: ID!) { updateClient(id: $id, input: {status: DISABLED}) { id } }",
                json!({"id": id.to_string()}),
            ),
            missing: vec![],
            watch: Watch::Clients(vec![id]),
        };
        let (status, body) = call(&app, &token, api, &disable).await;
        assert!(status == 200 && body.get("errors").is_none(), "{api:?}: {status} {body}");
        let raw = vec![other.to_string()];
        let bulk = Prepared {
            rest: (
                Method::POST,
                "/api/v1/clients/bulk".into(),
                Some(json!({"action": "disable", "client_ids": raw})),
            ),
            graphql: q(
                "mutation($ids: [ID!]!) { setClientsEnabled(clientIds: $ids, enabled: false) { summary { done } } }",
                json!({"ids": raw}),
            ),
            missing: vec![],
            watch: Watch::Clients(vec![other]),
        };
        let (status, body) = call(&app, &token, api, &bulk).await;
        assert!(status == 200 && body.get("errors").is_none(), "{api:?}: {status} {body}");
        for id in [id, other] {
            let stored = app.service.get_client(&Caller::system(), id).await.unwrap().client;
            assert_eq!(stored.status, ClientStatus::Disabled, "{api:?}");
        }
    }
}

on_both_backends!(describing_a_permission_needs_it);

/// A permission's description is what operators read when they grant it:
/// changing it needs the permission itself.
async fn describing_a_permission_needs_it(backend: Backend) {
    let app = spawn_app_on(backend).await;
    for name in ["invoices:read", "invoices:write"] {
        let perm = PermissionName::parse(name).unwrap();
        app.service.create_permission(&Caller::system(), perm, "Invoices").await.unwrap();
    }
    make_role(&app, "invoice-editor", &["roles:write", "invoices:read"]).await;
    let token = app.bearer("invoice-editor", None).await;
    let describe = |name: &str| {
        app.http
            .patch(app.url(&format!("/api/v1/permissions/{name}")))
            .bearer_auth(&token)
            .json(&json!({"description": "Changed"}))
            .send()
    };
    let refused = describe("invoices:write").await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "urn:portcullis:problem:escalation");
    assert_eq!(body["missing_permissions"], json!(["invoices:write"]));
    assert_eq!(describe("invoices:read").await.unwrap().status(), 200);
    let groups = app.service.permissions_by_category(&Caller::system()).await.unwrap();
    let described: Vec<(String, String)> = groups
        .iter()
        .flat_map(|g| g.permissions.iter())
        .filter(|p| p.name.as_str().starts_with("invoices:"))
        .map(|p| (p.name.to_string(), p.description.clone()))
        .collect();
    assert_eq!(
        described,
        [
            ("invoices:read".to_owned(), "Changed".to_owned()),
            ("invoices:write".to_owned(), "Invoices".to_owned())
        ]
    );
    // Deleting a permission from the roles that hold it changes those roles:
    // it needs every permission of each of them.
    make_role(&app, "big", &["invoices:read", "keys:write"]).await;
    let delete = || {
        app.http.delete(app.url("/api/v1/permissions/invoices:read?cascade=true")).bearer_auth(&token).send()
    };
    let refused = delete().await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["missing_permissions"], json!(["keys:write"]), "{body}");
    let roles = app.service.roles(&Caller::system()).await.unwrap();
    let big = roles.iter().find(|r| r.name.as_str() == "big").unwrap();
    assert!(big.permissions.iter().any(|p| p.as_str() == "invoices:read"), "big kept it");
    app.service.delete_role(&Caller::system(), big.id).await.unwrap();
    assert_eq!(delete().await.unwrap().status(), 204, "the roles left it are held");
}
