//! Audit events at the service layer, on a real SQLite store: recorded only
//! after a write succeeded, never for a change that changes nothing, with
//! the actor as given.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_domain::{
    ClientId, ClientName, ClientStatus, Email, Event, MAX_BULK_CLIENTS, PermissionName, RoleName, TokenTtl,
    UserId, UserName,
};
use portcullis_service::{
    Actor, BulkAction, BulkResult, BulkSummary, Caller, ChangeKind, ClientUpdate, MasterKey, NewClient,
    NewRole, NewUser, RoleUpdate, Service, ServiceConfig, ServiceError, UserUpdate,
};
use portcullis_store_sqlite::SqliteStore;

async fn service() -> (Service, tempfile::TempDir) {
    let (url, dir) = portcullis_store_sqlite::testing::fresh_database();
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let config = ServiceConfig::new("https://auth.example", "https://api.example");
    (Service::start(store.stores(), config, &MasterKey::generate()).await.unwrap(), dir)
}

/// The events queued since the last call, written and read back.
async fn written(service: &Service) -> Vec<Event> {
    service.flush_events().await.unwrap();
    let mut events =
        service.list_events(&portcullis_service::Caller::cli(), Default::default()).await.unwrap().items;
    events.reverse();
    events
}

/// The events written since `seen` were; moves `seen` on.
async fn written_since(service: &Service, seen: &mut usize) -> Vec<Event> {
    let events = written(service).await;
    let new = events[*seen..].to_vec();
    *seen = events.len();
    new
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
    let (view, _) = service.create_client(&Caller::admin(actor), new_client("crm")).await.unwrap();
    let id = view.client.id;
    let created = written(&service).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].kind, ChangeKind::ClientCreated.as_str());
    assert_eq!(created[0].actor.as_deref(), Some(actor.to_string().as_str()));
    assert_eq!(created[0].client_id, Some(id));

    // Nothing changes: nothing is written, nothing recorded.
    let same = ClientUpdate { name: Some(ClientName::parse("crm").unwrap()), ..Default::default() };
    let after = service.update_client(&Caller::admin(actor), id, same).await.unwrap();
    assert_eq!(after.client.updated_at, view.client.updated_at, "not even written");
    service.set_client_status(&Caller::admin(actor), id, ClientStatus::Enabled).await.unwrap();
    service.update_client(&Caller::admin(actor), id, ClientUpdate::default()).await.unwrap();

    // Failures record nothing.
    let missing = ClientId::generate();
    assert!(service.set_client_status(&Caller::admin(actor), missing, ClientStatus::Disabled).await.is_err());
    assert!(service.delete_client(&Caller::admin(actor), missing).await.is_err());
    assert!(service.regenerate_client_secret(&Caller::admin(actor), missing).await.is_err());
    assert!(service.revoke_client_tokens(&Caller::admin(actor), missing).await.is_err());
    let bad_role =
        ClientUpdate { role: Some(Some(RoleName::parse("nosuch").unwrap())), ..Default::default() };
    assert!(service.update_client(&Caller::admin(actor), id, bad_role).await.is_err());
    let admin_role = service
        .roles(&Caller::system())
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name.as_str() == "admin")
        .unwrap();
    assert!(service.delete_role(&Caller::admin(actor), admin_role.id).await.is_err(), "built-in");
    assert!(
        service.update_role(&Caller::admin(actor), admin_role.id, RoleUpdate::default()).await.is_err(),
        "built-in"
    );
    let weak = NewUser {
        email: Email::parse("ada@example.com").unwrap(),
        name: UserName::parse("Ada").unwrap(),
        roles: vec![RoleName::parse("viewer").unwrap()],
        password: Some("password1234".into()),
    };
    assert!(service.create_user(&Caller::admin(actor), weak).await.is_err());
    assert!(service.delete_user(&Caller::admin(actor), UserId::generate()).await.is_err());
    assert!(service.revoke_personal_token(&actor, UserId::generate()).await.is_err());
    assert!(service.rotate_personal_token(&actor, UserId::generate()).await.is_err());
    let unknown = PermissionName::parse("nosuch:thing").unwrap();
    assert!(service.delete_permission(&Caller::cli(), &unknown, true).await.is_err());
    assert!(service.revoke_signing_key(&Caller::cli(), "no-such-kid").await.is_err());
    assert_eq!(service.queued_events(), 0);
    assert_eq!(written(&service).await.len(), 1, "only the creation");
}

#[tokio::test]
async fn each_change_records_one_event_naming_its_actor() {
    let (service, _dir) = service().await;
    let (client, _) = service.create_client(&Caller::cli(), new_client("crm")).await.unwrap();
    let id = client.client.id;
    let by_client = Actor::Client(id);
    service.set_client_status(&Caller::admin(by_client), id, ClientStatus::Disabled).await.unwrap();
    service.set_client_status(&Caller::admin(by_client), id, ClientStatus::Disabled).await.unwrap();
    // Several fields at once, the status among them: one event, named after the status.
    let update = ClientUpdate {
        name: Some(ClientName::parse("crm sync").unwrap()),
        status: Some(ClientStatus::Enabled),
        ..Default::default()
    };
    service.update_client(&Caller::admin(by_client), id, update).await.unwrap();

    let permission = PermissionName::parse("invoices:read").unwrap();
    service.create_permission(&Caller::system(), permission.clone(), "Read invoices").await.unwrap();
    service.update_permission(&Caller::system(), &permission, "Read invoices").await.unwrap();
    let role = service
        .create_role(
            &Caller::system(),
            NewRole {
                name: RoleName::parse("billing").unwrap(),
                description: String::new(),
                permissions: vec![permission.clone()],
            },
        )
        .await
        .unwrap();
    let same = RoleUpdate { permissions: Some(vec![permission.clone(), permission]), ..Default::default() };
    service.update_role(&Caller::system(), role.id, same).await.unwrap();

    let (user, _) = service
        .create_first_admin(&Caller::system(), Email::parse("root@example.com").unwrap(), None)
        .await
        .unwrap();
    let by_user = Actor::User(user.user.id);
    let same = UserUpdate { roles: Some(vec![RoleName::parse("admin").unwrap()]), ..Default::default() };
    service.update_user(&Caller::admin(by_user), user.user.id, same).await.unwrap();
    service.rotate_signing_key(&Caller::cli()).await.unwrap();

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

/// Key rotations and revocations write their events in their own
/// transaction, like every change: a full request-event queue loses none.
#[tokio::test]
async fn key_changes_write_their_events_with_them_not_through_the_queue() {
    let (service, _dir) = service().await;
    service.set_event_queue_capacity(0);
    let made_current = service.rotate_signing_key(&Caller::cli()).await.unwrap();
    let keys = service.signing_keys(&Caller::cli()).await.unwrap();
    let next = keys.iter().find(|k| k.state == portcullis_service::KeyState::Next).unwrap().kid.clone();
    service.revoke_signing_key(&Caller::cli(), &next).await.unwrap();
    assert_eq!((service.queued_events(), service.dropped_events()), (0, 0), "none went to the queue");

    // Read back without flushing the queue: they are stored already.
    let mut events = service.list_events(&Caller::cli(), Default::default()).await.unwrap().items;
    events.reverse();
    let seen: Vec<(&str, Option<&str>, serde_json::Value)> = events
        .iter()
        .map(|e| {
            let details = serde_json::from_str(e.details.as_deref().unwrap()).unwrap();
            (e.kind.as_str(), e.actor.as_deref(), details)
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("key.rotated", Some("cli"), serde_json::json!({"kid": made_current})),
            ("key.revoked", Some("cli"), serde_json::json!({"kid": next, "state": "next"})),
        ]
    );
}

#[tokio::test]
async fn bulk_actions_record_one_event_per_changed_client_and_none_for_the_rest() {
    let (service, _dir) = service().await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        ids.push(service.create_client(&Caller::cli(), new_client(name)).await.unwrap().0.client.id);
    }
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    service.set_client_status(&Caller::cli(), c, ClientStatus::Disabled).await.unwrap();
    let mut count = written(&service).await.len();
    let by_user = Actor::User(UserId::generate());
    let missing = ClientId::generate();

    let items = service
        .bulk_clients(&Caller::admin(by_user), BulkAction::Disable, &[a, missing, c, b, a])
        .await
        .unwrap();
    let results: Vec<(ClientId, BulkResult)> = items.iter().map(|i| (i.client_id, i.result)).collect();
    assert_eq!(
        results,
        [
            (a, BulkResult::Done),
            (missing, BulkResult::NotFound),
            (c, BulkResult::AlreadyInState),
            (b, BulkResult::Done),
        ]
    );
    assert_eq!(items[0].name.as_ref().map(|n| n.as_str()), Some("a"));
    assert_eq!(items[1].name, None);
    assert_eq!(BulkSummary::of(&items), BulkSummary { done: 2, not_found: 1, already_in_state: 1 });
    let events = written_since(&service, &mut count).await;
    let seen: Vec<(&str, Option<ClientId>, Option<&str>)> =
        events.iter().map(|e| (e.kind.as_str(), e.client_id, e.actor.as_deref())).collect();
    let user = by_user.to_string();
    assert_eq!(
        seen,
        [
            ("client.disabled", Some(a), Some(user.as_str())),
            ("client.disabled", Some(b), Some(user.as_str()))
        ],
        "one per client disabled, in the order listed; none for the unknown or the already disabled"
    );
    let details: serde_json::Value = serde_json::from_str(events[0].details.as_deref().unwrap()).unwrap();
    assert_eq!(details, serde_json::json!({"status": {"from": "enabled", "to": "disabled"}}));

    service.bulk_clients(&Caller::cli(), BulkAction::Enable, &[c, a]).await.unwrap();
    let events = written_since(&service, &mut count).await;
    let kinds: Vec<(&str, Option<ClientId>)> =
        events.iter().map(|e| (e.kind.as_str(), e.client_id)).collect();
    assert_eq!(kinds, [("client.enabled", Some(c)), ("client.enabled", Some(a))]);

    let items = service.bulk_clients(&Caller::cli(), BulkAction::Delete, &[b, missing]).await.unwrap();
    assert_eq!(items[0].result, BulkResult::Done);
    assert_eq!(items[1].result, BulkResult::NotFound);
    let events = written_since(&service, &mut count).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "client.deleted");
    assert_eq!(events[0].client_id, Some(b));
    assert_eq!(events[0].actor.as_deref(), Some("cli"));
    let details: serde_json::Value = serde_json::from_str(events[0].details.as_deref().unwrap()).unwrap();
    assert_eq!(details, serde_json::json!({"name": "b"}));

    // Nothing to change: nothing recorded.
    let items = service.bulk_clients(&Caller::cli(), BulkAction::Enable, &[a, c, missing]).await.unwrap();
    assert_eq!(BulkSummary::of(&items), BulkSummary { done: 0, not_found: 1, already_in_state: 2 });
    assert_eq!(service.queued_events(), 0);
}

#[tokio::test]
async fn bulk_actions_need_one_to_a_thousand_ids_and_refuse_others_untouched() {
    let (service, _dir) = service().await;
    let (view, _) = service.create_client(&Caller::cli(), new_client("kept")).await.unwrap();
    let id = view.client.id;
    written(&service).await;
    let too_many: Vec<ClientId> =
        std::iter::once(id).chain((0..MAX_BULK_CLIENTS).map(|_| ClientId::generate())).collect();
    assert_eq!(too_many.len(), MAX_BULK_CLIENTS + 1);
    for action in [BulkAction::Enable, BulkAction::Disable, BulkAction::Delete] {
        for ids in [&[][..], &too_many[..]] {
            let err = service.bulk_clients(&Caller::cli(), action, ids).await.unwrap_err();
            assert!(
                matches!(err, ServiceError::Invalid { field: "client_ids", .. }),
                "{action} of {} ids: {err}",
                ids.len()
            );
        }
    }
    assert_eq!(
        service.get_client(&Caller::system(), id).await.unwrap().client,
        view.client,
        "nothing changed"
    );
    assert_eq!(service.queued_events(), 0);

    // Exactly the limit is fine, whatever the duplicates among them.
    let mut thousand = too_many[..MAX_BULK_CLIENTS].to_vec();
    thousand[MAX_BULK_CLIENTS - 1] = id;
    let items = service.bulk_clients(&Caller::cli(), BulkAction::Disable, &thousand).await.unwrap();
    assert_eq!(items.len(), MAX_BULK_CLIENTS - 1, "the id listed twice is reported once");
    assert_eq!(items[0].client_id, id);
    assert_eq!(items[0].result, BulkResult::Done);
    assert_eq!(BulkSummary::of(&items).not_found, MAX_BULK_CLIENTS - 2);
}
