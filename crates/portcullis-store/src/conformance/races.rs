//! Concurrent changes of one client never undo each other: every change the
//! store acknowledged is kept, a version precondition refuses a stale
//! write, and a change commits with its events or not at all.

use std::sync::{Arc, Mutex};

use portcullis_domain::{ApiClient, ClientName, ClientStatus, Event, SecretHash, Timestamp};

use super::{bare_event, rand_bytes, sample_client, seconds_from_now};
use crate::{ClientPatch, Stores, Update};

/// Rounds of each writer.
const ROUNDS: usize = 25;

/// What one acknowledged change set, by the version it produced.
#[derive(Debug, Clone)]
enum Acked {
    Secret(SecretHash),
    Name(ClientName),
    Status(ClientStatus),
    Revoked(Timestamp),
}

/// Secret regenerations, renames, status changes, revocations of every
/// token and last-used flushes race on one client (tasks on several
/// connections); afterwards the stored client holds the last acknowledged
/// value of each field, the latest revocation instant and last-used time,
/// and a version that counts every change.
pub async fn racing_changes_of_a_client_keep_every_acknowledged_one(stores: &Stores) {
    let client = sample_client("raced");
    stores.clients.insert_client(&client, &[]).await.unwrap();
    let acked: Arc<Mutex<Vec<(u64, Acked)>>> = Arc::default();
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let (stores, acked, id) = (stores.clone(), acked.clone(), client.id);
        tasks.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let (patch, value) = match writer {
                    0 => {
                        let hash = SecretHash::from_bytes(rand_bytes());
                        (ClientPatch { secret_hash: Some(hash), ..Default::default() }, Acked::Secret(hash))
                    }
                    1 => {
                        let name = ClientName::parse(&format!("renamed {round}")).unwrap();
                        (ClientPatch { name: Some(name.clone()), ..Default::default() }, Acked::Name(name))
                    }
                    2 => {
                        let status =
                            if round % 2 == 0 { ClientStatus::Disabled } else { ClientStatus::Enabled };
                        (ClientPatch { status: Some(status), ..Default::default() }, Acked::Status(status))
                    }
                    _ => {
                        let at = seconds_from_now(0);
                        (
                            ClientPatch { tokens_valid_after: Some(at), ..Default::default() },
                            Acked::Revoked(at),
                        )
                    }
                };
                let done =
                    stores.clients.update_client(id, &patch, None, seconds_from_now(0), super::NO_EVENTS);
                if let Update::Changed { after, .. } = done.await.unwrap() {
                    acked.lock().unwrap().push((after.version, value));
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    let flushes = {
        let (stores, id) = (stores.clone(), client.id);
        tokio::spawn(async move {
            let mut last = None;
            for _ in 0..ROUNDS {
                let at = seconds_from_now(0);
                stores.clients.record_last_used(&[(id, at)]).await.unwrap();
                last = Some(at);
                tokio::task::yield_now().await;
            }
            last
        })
    };
    for task in tasks {
        task.await.unwrap();
    }
    let last_used = flushes.await.unwrap();

    let stored = stores.clients.get_client(client.id).await.unwrap().unwrap();
    let mut acked = acked.lock().unwrap().clone();
    acked.sort_by_key(|(version, _)| *version);
    let versions: Vec<u64> = acked.iter().map(|(v, _)| *v).collect();
    let expected: Vec<u64> = (2..2 + acked.len() as u64).collect();
    assert_eq!(versions, expected, "each acknowledged change has its own next version");
    assert_eq!(stored.version, 1 + acked.len() as u64, "the version counts every change");
    let mut want = client.clone();
    for (_, value) in &acked {
        match value {
            Acked::Secret(hash) => want.secret_hash = *hash,
            Acked::Name(name) => want.name = name.clone(),
            Acked::Status(status) => want.status = *status,
            Acked::Revoked(at) => want.tokens_valid_after = want.tokens_valid_after.max(Some(*at)),
        }
    }
    assert!(stored.secret_hash == want.secret_hash, "the last acknowledged secret is the stored one");
    assert_eq!(stored.name, want.name, "the last acknowledged name");
    assert_eq!(stored.status, want.status, "the last acknowledged status");
    assert_eq!(stored.tokens_valid_after, want.tokens_valid_after, "revocations never move back");
    assert_eq!(stored.last_used_at, last_used, "no change undid a flush");
}

/// A version precondition that names another version refuses the write and
/// changes nothing; the right one is accepted.
pub async fn a_stale_version_changes_nothing(stores: &Stores) {
    let client = sample_client("edited twice");
    stores.clients.insert_client(&client, &[]).await.unwrap();
    let rename =
        |name: &str| ClientPatch { name: Some(ClientName::parse(name).unwrap()), ..Default::default() };
    let (first, second) = (rename("first"), rename("second"));
    let done =
        stores.clients.update_client(client.id, &first, Some(1), seconds_from_now(0), super::NO_EVENTS);
    let Update::Changed { after, .. } = done.await.unwrap() else { panic!("version 1 is current") };
    assert_eq!(after.version, 2);

    let stale =
        stores.clients.update_client(client.id, &second, Some(1), seconds_from_now(0), super::NO_EVENTS);
    assert_eq!(stale.await.unwrap(), Update::Stale(after.clone()));
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), Some(after.clone()), "nothing written");
    let stale_delete =
        stores.clients.delete_client(client.id, Some(1), super::NO_DELETE_EVENTS).await.unwrap();
    assert_eq!(stale_delete, crate::Deletion::Stale(after.clone()));
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), Some(after.clone()), "not deleted");
    assert!(
        stores.clients.delete_client(client.id, Some(2), super::NO_DELETE_EVENTS).await.unwrap().is_deleted()
    );
}

/// A change and its events commit together: when the events cannot be
/// inserted (here: one reuses a stored event's id), the change is undone
/// too; when they can, both are stored.
pub async fn a_change_commits_with_its_events_or_not_at_all(stores: &Stores) {
    let client = sample_client("audited");
    let taken = bare_event("taken", seconds_from_now(0));
    stores.events.insert_events(std::slice::from_ref(&taken)).await.unwrap();

    let clash = Event { kind: "client.created".into(), client_id: Some(client.id), ..taken.clone() };
    assert!(stores.clients.insert_client(&client, &[clash]).await.is_err());
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), None, "insert undone");

    let created = Event { client_id: Some(client.id), ..bare_event("client.created", seconds_from_now(0)) };
    stores.clients.insert_client(&client, std::slice::from_ref(&created)).await.unwrap();
    assert_eq!(stores.events.get_event(created.id).await.unwrap(), Some(created));

    let disable = ClientPatch { status: Some(ClientStatus::Disabled), ..Default::default() };
    let failing = |_: &ApiClient, _: &ApiClient| vec![taken.clone()];
    let done = stores.clients.update_client(client.id, &disable, None, seconds_from_now(0), &failing).await;
    assert!(done.is_err());
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), Some(client.clone()), "update undone");
    let failing_delete = |_: &ApiClient| vec![taken.clone()];
    assert!(stores.clients.delete_client(client.id, None, &failing_delete).await.is_err());
    assert!(
        stores
            .clients
            .set_clients_status(&[client.id], ClientStatus::Disabled, seconds_from_now(0), &failing)
            .await
            .is_err()
    );
    assert!(stores.clients.delete_clients(&[client.id], &failing_delete).await.is_err());
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), Some(client.clone()), "nothing undone");

    let event = bare_event("client.disabled", seconds_from_now(0));
    let recorded = |_: &ApiClient, _: &ApiClient| vec![event.clone()];
    let done = stores.clients.update_client(client.id, &disable, None, seconds_from_now(0), &recorded).await;
    assert!(matches!(done.unwrap(), Update::Changed { .. }));
    assert_eq!(stores.events.get_event(event.id).await.unwrap(), Some(event));
}
