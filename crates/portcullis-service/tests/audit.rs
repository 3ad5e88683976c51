//! Audit events at the service layer, on a real SQLite store: recorded only
//! after a write succeeded, never for a change that changes nothing, with
//! the actor as given.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_domain::{
    ClientId, ClientName, ClientStatus, Email, Event, PermissionName, RoleName, TokenTtl, UserId, UserName,
};
use portcullis_service::{
    Actor, ChangeKind, ClientUpdate, MasterKey, NewClient, NewRole, NewUser, RoleUpdate, Service,
    ServiceConfig, UserUpdate,
};
use portcullis_store_sqlite::SqliteStore;

async fn service() -> (Service, tempfile::TempDir) {
    let (url, dir) = portcullis_store_sqlite::testing::fresh_database();
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let config =
        ServiceConfig { issuer: "https://auth.example".into(), audience: "https://api.example".into() };
    (Service::start(store.stores(), config, &MasterKey::generate()).await.unwrap(), dir)
}

/// The events queued since the last call, written and read back.
async fn written(service: &Service) -> Vec<Event> {
    service.flush_events().await.unwrap();
    let mut events = service.list_events(Default::default()).await.unwrap().items;
    events.reverse();
    events
}

fn new_client(name: &str) -> NewClient {
    NewClient {
        name: ClientName::parse(name).unwrap(),
        description: None,
        role: Some(RoleName::parse("viewer").unwrap()),
        token_ttl: TokenTtl::DEFAULT,
    }
}

#[tokio::test]
async fn failed_and_empty_changes_record_nothing() {
    let (service, _dir) = service().await;
    let actor = Actor::User(UserId::generate());
    let (view, _) = service.create_client(&actor, new_client("crm")).await.unwrap();
    let id = view.client.id;
    let created = written(&service).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].kind, ChangeKind::ClientCreated.as_str());
    assert_eq!(created[0].actor.as_deref(), Some(actor.to_string().as_str()));
    assert_eq!(created[0].client_id, Some(id));

    // Nothing changes: nothing is written, nothing recorded.
    let same = ClientUpdate { name: Some(ClientName::parse("crm").unwrap()), ..Default::default() };
    let after = service.update_client(&actor, id, same).await.unwrap();
    assert_eq!(after.client.updated_at, view.client.updated_at, "not even written");
    service.set_client_status(&actor, id, ClientStatus::Enabled).await.unwrap();
    service.update_client(&actor, id, ClientUpdate::default()).await.unwrap();

    // Failures record nothing.
    let missing = ClientId::generate();
    assert!(service.set_client_status(&actor, missing, ClientStatus::Disabled).await.is_err());
    assert!(service.delete_client(&actor, missing).await.is_err());
    assert!(service.regenerate_client_secret(&actor, missing).await.is_err());
    assert!(service.revoke_client_tokens(&actor, missing).await.is_err());
    let bad_role =
        ClientUpdate { role: Some(Some(RoleName::parse("nosuch").unwrap())), ..Default::default() };
    assert!(service.update_client(&actor, id, bad_role).await.is_err());
    let admin_role = service.roles().await.unwrap().into_iter().find(|r| r.name.as_str() == "admin").unwrap();
    assert!(service.delete_role(&actor, admin_role.id).await.is_err(), "built-in");
    assert!(service.update_role(&actor, admin_role.id, RoleUpdate::default()).await.is_err(), "built-in");
    let weak = NewUser {
        email: Email::parse("ada@example.com").unwrap(),
        name: UserName::parse("Ada").unwrap(),
        roles: vec![RoleName::parse("viewer").unwrap()],
        password: Some("password1234".into()),
    };
    assert!(service.create_user(&actor, weak).await.is_err());
    assert!(service.delete_user(&actor, UserId::generate()).await.is_err());
    assert!(service.revoke_personal_token(&actor, UserId::generate()).await.is_err());
    assert!(service.rotate_personal_token(&actor, UserId::generate()).await.is_err());
    let unknown = PermissionName::parse("nosuch:thing").unwrap();
    assert!(service.delete_permission(&Actor::Cli, &unknown, true).await.is_err());
    assert_eq!(service.queued_events(), 0);
    assert_eq!(written(&service).await.len(), 1, "only the creation");
}

#[tokio::test]
async fn each_change_records_one_event_naming_its_actor() {
    let (service, _dir) = service().await;
    let (client, _) = service.create_client(&Actor::Cli, new_client("crm")).await.unwrap();
    let id = client.client.id;
    let by_client = Actor::Client(id);
    service.set_client_status(&by_client, id, ClientStatus::Disabled).await.unwrap();
    service.set_client_status(&by_client, id, ClientStatus::Disabled).await.unwrap();
    // Several fields at once, the status among them: one event, named after the status.
    let update = ClientUpdate {
        name: Some(ClientName::parse("crm sync").unwrap()),
        status: Some(ClientStatus::Enabled),
        ..Default::default()
    };
    service.update_client(&by_client, id, update).await.unwrap();

    let permission = PermissionName::parse("invoices:read").unwrap();
    service.create_permission(&Actor::System, permission.clone(), "Read invoices").await.unwrap();
    service.update_permission(&Actor::System, &permission, "Read invoices").await.unwrap();
    let role = service
        .create_role(
            &Actor::System,
            NewRole {
                name: RoleName::parse("billing").unwrap(),
                description: String::new(),
                permissions: vec![permission.clone()],
            },
        )
        .await
        .unwrap();
    let same = RoleUpdate { permissions: Some(vec![permission.clone(), permission]), ..Default::default() };
    service.update_role(&Actor::System, role.id, same).await.unwrap();

    let (user, _) = service
        .create_first_admin(&Actor::System, Email::parse("root@example.com").unwrap(), None)
        .await
        .unwrap();
    let by_user = Actor::User(user.user.id);
    let same = UserUpdate { roles: Some(vec![RoleName::parse("admin").unwrap()]), ..Default::default() };
    service.update_user(&by_user, user.user.id, same).await.unwrap();
    service.rotate_signing_key(&Actor::Cli).await.unwrap();

    let events = written(&service).await;
    let seen: Vec<(&str, Option<&str>)> =
        events.iter().map(|e| (e.kind.as_str(), e.actor.as_deref())).collect();
    let client_actor = by_client.to_string();
    assert_eq!(
        seen,
        [
            ("client.created", Some("cli")),
            ("client.disabled", Some(client_actor.as_str())),
            ("client.enabled", Some(client_actor.as_str())),
            ("permission.created", Some("system")),
            ("role.created", Some("system")),
            ("user.created", Some("system")),
            ("key.rotated", Some("cli")),
        ]
    );
    let enabled: serde_json::Value = serde_json::from_str(events[2].details.as_deref().unwrap()).unwrap();
    assert_eq!(
        enabled,
        serde_json::json!({
            "name": {"from": "crm", "to": "crm sync"},
            "status": {"from": "disabled", "to": "enabled"},
        })
    );
    assert_eq!(events[5].user_id, Some(user.user.id));
    assert!(events.iter().all(|e| e.method.is_none() && e.status.is_none()));
}
