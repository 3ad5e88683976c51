//! Attacks from outside (security review of issue 11): a caller with one
//! narrow permission trying to reach more, over HTTP against the real server.

use portcullis_domain::{PermissionName, RoleName};
use portcullis_service::{Caller, ClientUpdate, NewRole};
use portcullis_testkit::{Backend, TestApp, spawn_app_on};

async fn make_role(app: &TestApp, name: &str, permissions: &[&str]) {
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
        .unwrap();
}

on_both_backends!(a_secret_regeneration_never_lands_on_a_role_set_after_its_check);

/// Check, then write: a `clients:secrets` caller regenerates the secret of a
/// client with no role while an admin makes that client admin. The
/// regeneration may come first (then the admin's change is what grants), or
/// be refused; it must never be written after the role change, which would
/// hand an admin secret to a caller that does not hold admin. Detected by
/// the versions: the admin's change answers version v; a regeneration
/// written after it leaves the client past v.
async fn a_secret_regeneration_never_lands_on_a_role_set_after_its_check(backend: Backend) {
    let app = spawn_app_on(backend).await;
    make_role(&app, "secrets-only", &["clients:secrets"]).await;
    let token = app.bearer("secrets-only", None).await;
    let system = Caller::system();
    let mut late = 0;
    for _ in 0..60 {
        let id = app.create_client(None).await.0.client.id;
        let regenerate =
            app.http.post(app.url(&format!("/api/v1/clients/{id}/secret"))).bearer_auth(&token).send();
        let promote = app.service.update_client(
            &system,
            id,
            ClientUpdate { role: Some(Some(RoleName::parse("admin").unwrap())), ..ClientUpdate::default() },
        );
        let (regenerated, promoted) = tokio::join!(regenerate, promote);
        let status = regenerated.unwrap().status().as_u16();
        let promoted = promoted.unwrap();
        assert!(matches!(status, 200 | 403 | 409), "regeneration answered {status}");
        let now = app.service.get_client(&Caller::system(), id).await.unwrap();
        if status == 200 && now.client.version > promoted.client.version {
            late += 1;
        }
    }
    assert_eq!(late, 0, "secrets regenerated for an admin client by a caller without admin");
}

on_both_backends!(a_bulk_enable_never_lands_on_a_role_set_after_its_check);

/// The same race through `POST /api/v1/clients/bulk`: a `clients:write`
/// caller enables a disabled client with no role while an admin makes it
/// admin (disabled). The enable must never be written after the role
/// change: that would switch on an admin client for a caller without admin.
async fn a_bulk_enable_never_lands_on_a_role_set_after_its_check(backend: Backend) {
    use portcullis_domain::ClientStatus;
    let app = spawn_app_on(backend).await;
    make_role(&app, "write-only", &["clients:write"]).await;
    let token = app.bearer("write-only", None).await;
    let system = Caller::system();
    let mut late = 0;
    for _ in 0..60 {
        let id = app.create_client(None).await.0.client.id;
        app.service.set_client_status(&system, id, ClientStatus::Disabled).await.unwrap();
        let enable = app
            .http
            .post(app.url("/api/v1/clients/bulk"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"action": "enable", "client_ids": [id.to_string()]}))
            .send();
        let promote = app.service.update_client(
            &system,
            id,
            ClientUpdate { role: Some(Some(RoleName::parse("admin").unwrap())), ..ClientUpdate::default() },
        );
        let (enabled, promoted) = tokio::join!(enable, promote);
        let status = enabled.unwrap().status().as_u16();
        let promoted = promoted.unwrap();
        assert!(matches!(status, 200 | 403 | 409), "bulk enable answered {status}");
        let now = app.service.get_client(&system, id).await.unwrap();
        if status == 200 && now.client.version > promoted.client.version {
            late += 1;
        }
    }
    assert_eq!(late, 0, "an admin client enabled by a caller without admin");
}

on_both_backends!(a_secret_sent_oddly_is_never_stored);

/// A real secret sent where the token endpoint does not expect it: as the
/// client id, twice, with `+` for nothing, under a wrong content type.
/// Whatever the answer (never a 500), the events never hold it.
async fn a_secret_sent_oddly_is_never_stored(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let (view, secret) = app.create_client(Some("resource-server")).await;
    let id = view.client.id.to_string();
    let secret = secret.expose().to_owned();
    let bodies = [
        (format!("grant_type=client_credentials&client_id={secret}&client_secret={secret}"), "form"),
        (
            format!("grant_type=client_credentials&client_id={id}&client_secret=x&client_secret={secret}"),
            "form",
        ),
        (format!("grant_type=client_credentials&client_id={id}&scope={secret}"), "form"),
        (format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"), "text/plain"),
        (
            format!(
                "{{\"grant_type\":\"client_credentials\",\"client_id\":\"{id}\",\"client_secret\":\"{secret}\"}}"
            ),
            "application/json",
        ),
    ];
    for (body, kind) in &bodies {
        let content_type = if *kind == "form" { "application/x-www-form-urlencoded" } else { kind };
        let r = app
            .http
            .post(app.url("/oauth2/token"))
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(r.status().as_u16() < 500, "{kind}: {}", r.status());
    }
    app.service.flush_events().await.unwrap();
    let events =
        app.service.list_events(&portcullis_service::Caller::cli(), Default::default()).await.unwrap().items;
    let dump = format!("{events:?}");
    assert!(!dump.contains(&secret[..secret.len() / 2]), "a secret reached the events: {dump}");
}

on_both_backends!(event_lists_show_an_events_reader_no_more_than_single_events);

/// `events:read` alone, through the lists (all events, a client's events)
/// and GraphQL, never sees what an admin read from the users' list, nor a
/// query string holding an e-mail.
async fn event_lists_show_an_events_reader_no_more_than_single_events(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.create_user("private@example.com", &["viewer"]).await;
    let (admin_id, _, admin) = app.client_with_token(Some("admin"), None).await;
    for path in ["/api/v1/users", "/api/v1/users?q=private%40example.com&email=private@example.com"] {
        let r = app.http.get(app.url(path)).bearer_auth(&admin).send().await.unwrap();
        assert!(r.status().as_u16() < 500);
    }
    app.service.flush_events().await.unwrap();
    let reader = app.bearer("admin", Some("events:read")).await;
    let mut seen = String::new();
    for path in [
        format!("/api/v1/clients/{admin_id}/events"),
        format!("/api/v1/clients/{admin_id}/events?kind=admin.request"),
        "/api/v1/events".to_owned(),
    ] {
        let r = app.http.get(app.url(&path)).bearer_auth(&reader).send().await.unwrap();
        seen.push_str(&format!("{path} {} {}\n", r.status(), r.text().await.unwrap()));
    }
    let query = "{ events(first: 50) { nodes { path requestBody responseBody } } }";
    let r = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&reader)
        .json(&serde_json::json!({"query": query}))
        .send()
        .await
        .unwrap();
    let graphql = r.text().await.unwrap();
    assert!(graphql.contains("\"nodes\"") && !graphql.contains("\"errors\""), "{graphql}");
    seen.push_str(&graphql);
    assert!(!seen.contains("private@example.com") && !seen.contains("private%40example.com"), "{seen}");
}

on_both_backends!(an_if_match_ahead_of_the_checked_version_carries_nothing_past_the_check);

/// A narrow caller sends `If-Match` naming the *next* version of a target
/// it holds now. The escalation check passes on what is stored (version
/// v); if the write were pinned to the caller's `If-Match` (v + 1) rather
/// than to the version checked, an admin's change in between (making the
/// target admin) would make it match, and the narrow change would land on
/// an admin target: a password chosen by the caller on an admin user, a
/// rename of an admin client or role. Such an `If-Match` can only match
/// after the admin's change, so any success is the hole.
async fn an_if_match_ahead_of_the_checked_version_carries_nothing_past_the_check(backend: Backend) {
    use portcullis_service::{RoleUpdate, UserUpdate};
    let app = spawn_app_on(backend).await;
    make_role(&app, "plain", &["users:read"]).await;
    make_role(&app, "keeper", &["users:read", "users:write", "clients:write", "roles:write"]).await;
    let token = app.bearer("keeper", None).await;
    let system = Caller::system();
    let admin_roles = || Some(vec![RoleName::parse("plain").unwrap(), RoleName::parse("admin").unwrap()]);
    let patch = |path: String, version: u64, body: serde_json::Value| {
        app.http
            .patch(app.url(&path))
            .bearer_auth(&token)
            .header("if-match", format!("\"{}\"", version + 1))
            .json(&body)
            .send()
    };
    let mut landed = Vec::new();
    for round in 0..8 {
        // A user: the new password is hashed after the check (a wide window).
        let user = app.create_user(&format!("target{round}@example.com"), &["plain"]).await.user;
        let narrow = patch(
            format!("/api/v1/users/{}", user.id),
            user.version,
            serde_json::json!({"password": "caller chosen passphrase 4711"}),
        );
        let promote = async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let update = UserUpdate { roles: admin_roles(), ..UserUpdate::default() };
            app.service.update_user(&system, user.id, update).await.unwrap()
        };
        let (narrow, _) = tokio::join!(narrow, promote);
        let status = narrow.unwrap().status().as_u16();
        assert!(matches!(status, 200 | 403 | 412), "user: {status}");
        if status == 200 {
            landed.push(format!("a password set on user {round} after it became admin"));
        }

        // A client and a role: renames.
        let client = app.create_client(Some("plain")).await.0.client;
        let narrow = patch(
            format!("/api/v1/clients/{}", client.id),
            client.version,
            serde_json::json!({"name": "renamed by the keeper"}),
        );
        let promote = async {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            let update = ClientUpdate {
                role: Some(Some(RoleName::parse("admin").unwrap())),
                ..ClientUpdate::default()
            };
            app.service.update_client(&system, client.id, update).await.unwrap()
        };
        let (narrow, _) = tokio::join!(narrow, promote);
        let status = narrow.unwrap().status().as_u16();
        assert!(matches!(status, 200 | 403 | 412), "client: {status}");
        if status == 200 {
            landed.push(format!("client {round} renamed after it became admin"));
        }

        let role = app
            .service
            .create_role(
                &system,
                NewRole {
                    name: RoleName::parse(&format!("small-{round}")).unwrap(),
                    description: String::new(),
                    permissions: vec![PermissionName::parse("users:read").unwrap()],
                },
            )
            .await
            .unwrap();
        let narrow = patch(
            format!("/api/v1/roles/{}", role.id),
            role.version,
            serde_json::json!({"name": format!("renamed-{round}")}),
        );
        let grow = async {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            let permissions = vec![
                PermissionName::parse("users:read").unwrap(),
                PermissionName::parse("keys:write").unwrap(),
            ];
            let update = RoleUpdate { permissions: Some(permissions), ..RoleUpdate::default() };
            app.service.update_role(&system, role.id, update).await.unwrap()
        };
        let (narrow, _) = tokio::join!(narrow, grow);
        let status = narrow.unwrap().status().as_u16();
        assert!(matches!(status, 200 | 403 | 412), "role: {status}");
        if status == 200 {
            landed.push(format!("role {round} renamed after it gained keys:write"));
        }
    }
    assert!(landed.is_empty(), "narrow changes written past the escalation check: {landed:?}");
}
