//! `ClientStore::set_clients_status` and `delete_clients`: many clients in
//! one transaction, one outcome per distinct id.

use std::future::Future;

use portcullis_domain::{ApiClient, ClientId, ClientStatus, now};

#[allow(unused_imports)]
use super::{NO_DELETE_EVENTS, NO_EVENTS, put_client};
use super::{sample_client, seconds_from_now};
use crate::{BulkChange, BulkOutcome, Stores};

/// The largest list the service hands over.
const MANY: usize = 1_000;

async fn stored(stores: &Stores, id: ClientId) -> Option<ApiClient> {
    stores.clients.get_client(id).await.unwrap()
}

async fn insert(stores: &Stores, name: &str, status: ClientStatus) -> ApiClient {
    let mut client = sample_client(name);
    client.status = status;
    // Distinct from the bulk change's instant, so that a write shows.
    client.updated_at = seconds_from_now(-3600);
    stores.clients.insert_client(&client, &[]).await.unwrap();
    client
}

fn change(id: ClientId, outcome: BulkOutcome) -> BulkChange {
    BulkChange { id, outcome }
}

pub async fn bulk_status_reports_each_id_once_in_order(stores: &Stores) {
    let a = insert(stores, "a", ClientStatus::Enabled).await;
    let b = insert(stores, "b", ClientStatus::Enabled).await;
    let off = insert(stores, "already off", ClientStatus::Disabled).await;
    let bystander = insert(stores, "not listed", ClientStatus::Enabled).await;
    let unknown = ClientId::generate();

    let at = now();
    let ids = [a.id, unknown, off.id, b.id, a.id, unknown, off.id];
    let got = stores.clients.set_clients_status(&ids, ClientStatus::Disabled, at, NO_EVENTS).await.unwrap();
    assert_eq!(
        got,
        [
            change(a.id, BulkOutcome::Done(a.clone())),
            change(unknown, BulkOutcome::NotFound),
            change(off.id, BulkOutcome::AlreadyInState(off.clone())),
            change(b.id, BulkOutcome::Done(b.clone())),
        ],
        "one outcome per distinct id, in the order of first appearance; Done holds the client as it was"
    );
    for before in [&a, &b] {
        let expected = ApiClient {
            status: ClientStatus::Disabled,
            updated_at: at,
            version: before.version + 1,
            ..before.clone()
        };
        assert_eq!(stored(stores, before.id).await, Some(expected));
    }
    assert_eq!(stored(stores, off.id).await, Some(off.clone()), "already disabled: not written");
    assert_eq!(stored(stores, bystander.id).await, Some(bystander.clone()));
    assert_eq!(stored(stores, unknown).await, None, "an unknown id is not inserted");

    // And back: the disabled ones are enabled, the enabled one is left.
    let later = seconds_from_now(5);
    let got = stores
        .clients
        .set_clients_status(&[off.id, bystander.id], ClientStatus::Enabled, later, NO_EVENTS)
        .await
        .unwrap();
    assert_eq!(
        got,
        [
            change(off.id, BulkOutcome::Done(off.clone())),
            change(bystander.id, BulkOutcome::AlreadyInState(bystander.clone())),
        ]
    );
    let expected = ApiClient { status: ClientStatus::Enabled, updated_at: later, version: 2, ..off.clone() };
    assert_eq!(stored(stores, off.id).await, Some(expected));
    assert_eq!(stored(stores, bystander.id).await, Some(bystander));
}

pub async fn bulk_delete_reports_each_id_once_in_order(stores: &Stores) {
    let a = insert(stores, "a", ClientStatus::Enabled).await;
    let off = insert(stores, "disabled", ClientStatus::Disabled).await;
    let kept = insert(stores, "not listed", ClientStatus::Enabled).await;
    let unknown = ClientId::generate();

    let got = stores
        .clients
        .delete_clients(&[unknown, a.id, off.id, a.id, unknown], NO_DELETE_EVENTS)
        .await
        .unwrap();
    assert_eq!(
        got,
        [
            change(unknown, BulkOutcome::NotFound),
            change(a.id, BulkOutcome::Done(a.clone())),
            change(off.id, BulkOutcome::Done(off.clone())),
        ],
        "a disabled client is deleted too; Done holds the client as it was"
    );
    assert_eq!(stored(stores, a.id).await, None);
    assert_eq!(stored(stores, off.id).await, None);
    assert_eq!(stored(stores, kept.id).await, Some(kept));

    let again = stores.clients.delete_clients(&[a.id, off.id], NO_DELETE_EVENTS).await.unwrap();
    assert_eq!(again, [change(a.id, BulkOutcome::NotFound), change(off.id, BulkOutcome::NotFound)]);
}

pub async fn bulk_of_no_ids_changes_nothing(stores: &Stores) {
    let client = insert(stores, "untouched", ClientStatus::Enabled).await;
    assert!(
        stores
            .clients
            .set_clients_status(&[], ClientStatus::Disabled, now(), NO_EVENTS)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(stores.clients.delete_clients(&[], NO_DELETE_EVENTS).await.unwrap().is_empty());
    assert_eq!(stored(stores, client.id).await, Some(client));
}

pub async fn bulk_changes_a_thousand_clients(stores: &Stores) {
    let mut clients = Vec::with_capacity(MANY);
    for i in 0..MANY {
        clients.push(insert(stores, &format!("client {i}"), ClientStatus::Enabled).await);
    }
    let ids: Vec<ClientId> = clients.iter().map(|c| c.id).collect();
    let mut read = stores.clients.get_clients(&ids).await.unwrap();
    read.sort_by_key(|c| ids.iter().position(|id| *id == c.id));
    assert_eq!(read, clients);

    let at = now();
    let got = stores.clients.set_clients_status(&ids, ClientStatus::Disabled, at, NO_EVENTS).await.unwrap();
    let expected: Vec<BulkChange> =
        clients.iter().map(|c| change(c.id, BulkOutcome::Done(c.clone()))).collect();
    assert_eq!(got, expected);
    for c in [&clients[0], &clients[499], &clients[500], &clients[MANY - 1]] {
        let now_stored = stored(stores, c.id).await.unwrap();
        assert_eq!((now_stored.status, now_stored.updated_at), (ClientStatus::Disabled, at));
    }

    let again =
        stores.clients.set_clients_status(&ids, ClientStatus::Disabled, now(), NO_EVENTS).await.unwrap();
    assert_eq!(again.len(), MANY);
    assert!(again.iter().all(|c| matches!(c.outcome, BulkOutcome::AlreadyInState(_))));

    let deleted = stores.clients.delete_clients(&ids, NO_DELETE_EVENTS).await.unwrap();
    assert_eq!(deleted.iter().map(|c| c.id).collect::<Vec<_>>(), ids);
    assert!(deleted.iter().all(|c| matches!(c.outcome, BulkOutcome::Done(_))));
    for c in [&clients[0], &clients[500], &clients[MANY - 1]] {
        assert_eq!(stored(stores, c.id).await, None);
    }
}

/// `refuse_writes_to(id)` makes the database refuse any update or delete
/// of that client (a trigger the backend's tests install), so that a bulk
/// change fails after it has changed others.
pub async fn bulk_changes_are_all_or_nothing<F, Fut>(stores: &Stores, refuse_writes_to: F)
where
    F: Fn(ClientId) -> Fut,
    Fut: Future<Output = ()>,
{
    // More than one statement's worth of clients to change (SQLite binds 500
    // ids a statement), the refused ones near the end, so that backends that
    // split the list fail after earlier statements succeeded.
    let mut clients = Vec::new();
    for i in 0..700 {
        let status = if i % 10 == 0 { ClientStatus::Disabled } else { ClientStatus::Enabled };
        clients.push(insert(stores, &format!("client {i}"), status).await);
    }
    // One enabled and one disabled client refuse, so that every action
    // meets one it must write.
    let refused = [clients[650].id, clients[651].id];
    assert_ne!(clients[650].status, clients[651].status);
    for id in refused {
        refuse_writes_to(id).await;
    }
    let mut ids: Vec<ClientId> = clients.iter().map(|c| c.id).collect();
    ids.push(ClientId::generate());

    let disable = stores.clients.set_clients_status(&ids, ClientStatus::Disabled, now(), NO_EVENTS).await;
    assert!(disable.is_err(), "the refused client fails the whole change: {disable:?}");
    let enable = stores.clients.set_clients_status(&ids, ClientStatus::Enabled, now(), NO_EVENTS).await;
    assert!(enable.is_err(), "{enable:?}");
    let delete = stores.clients.delete_clients(&ids, NO_DELETE_EVENTS).await;
    assert!(delete.is_err(), "{delete:?}");
    for client in &clients {
        assert_eq!(stored(stores, client.id).await.as_ref(), Some(client), "nothing half-done");
    }

    // The store is fine afterwards: the same change without the refused clients.
    ids.retain(|id| !refused.contains(id));
    let got =
        stores.clients.set_clients_status(&ids, ClientStatus::Disabled, now(), NO_EVENTS).await.unwrap();
    let done = got.iter().filter(|c| matches!(c.outcome, BulkOutcome::Done(_))).count();
    let enabled = clients.iter().filter(|c| c.status == ClientStatus::Enabled && !refused.contains(&c.id));
    assert_eq!(done, enabled.count());
    assert_eq!(stored(stores, clients[650].id).await.as_ref(), Some(&clients[650]));
}
