//! `ClientStore::record_last_used`: the batched last-used times.

use portcullis_domain::{ApiClient, ClientId, ClientStatus, Description, TokenTtl, now};

#[allow(unused_imports)]
use super::{NO_DELETE_EVENTS, NO_EVENTS, put_client};
use super::{sample_client, seconds_from_now, with_builtins};
use crate::Stores;

async fn stored(stores: &Stores, client: &ApiClient) -> ApiClient {
    stores.clients.get_client(client.id).await.unwrap().expect("the client is stored")
}

pub async fn record_last_used_sets_the_time_of_every_listed_client(stores: &Stores) {
    let never_used = sample_client("never used");
    let mut used_before = sample_client("used before");
    used_before.last_used_at = Some(seconds_from_now(-3600));
    let bystander = sample_client("not in the batch");
    for c in [&never_used, &used_before, &bystander] {
        stores.clients.insert_client(c, &[]).await.unwrap();
    }

    let (a, b) = (seconds_from_now(-2), seconds_from_now(-1));
    stores.clients.record_last_used(&[(never_used.id, a), (used_before.id, b)]).await.unwrap();
    assert_eq!(stored(stores, &never_used).await.last_used_at, Some(a));
    assert_eq!(stored(stores, &used_before).await.last_used_at, Some(b));
    assert_eq!(stored(stores, &bystander).await, bystander);

    // An empty batch is nothing to do.
    stores.clients.record_last_used(&[]).await.unwrap();
    assert_eq!(stored(stores, &never_used).await.last_used_at, Some(a));
}

pub async fn record_last_used_never_moves_backwards(stores: &Stores) {
    let mut client = sample_client("used recently");
    let latest = seconds_from_now(-10);
    client.last_used_at = Some(latest);
    stores.clients.insert_client(&client, &[]).await.unwrap();

    // A batch from a slower instance, older than what is stored.
    stores.clients.record_last_used(&[(client.id, seconds_from_now(-60))]).await.unwrap();
    assert_eq!(stored(stores, &client).await.last_used_at, Some(latest));
    // The same instant again changes nothing either.
    stores.clients.record_last_used(&[(client.id, latest)]).await.unwrap();
    assert_eq!(stored(stores, &client).await.last_used_at, Some(latest));
    // One microsecond later does move it.
    let later = latest + chrono::TimeDelta::microseconds(1);
    stores.clients.record_last_used(&[(client.id, later)]).await.unwrap();
    assert_eq!(stored(stores, &client).await.last_used_at, Some(later));

    // The same client twice in one batch: the later instant wins, in either order.
    let (t1, t2) = (seconds_from_now(1), seconds_from_now(2));
    stores.clients.record_last_used(&[(client.id, t2), (client.id, t1)]).await.unwrap();
    assert_eq!(stored(stores, &client).await.last_used_at, Some(t2));
    let (t3, t4) = (seconds_from_now(3), seconds_from_now(4));
    stores.clients.record_last_used(&[(client.id, t3), (client.id, t4)]).await.unwrap();
    assert_eq!(stored(stores, &client).await.last_used_at, Some(t4));
}

pub async fn record_last_used_skips_unknown_ids(stores: &Stores) {
    let known = sample_client("known");
    let deleted = sample_client("deleted since the use");
    stores.clients.insert_client(&known, &[]).await.unwrap();
    stores.clients.insert_client(&deleted, &[]).await.unwrap();
    assert!(stores.clients.delete_client(deleted.id, None, NO_DELETE_EVENTS).await.unwrap().is_deleted());

    let at = seconds_from_now(-1);
    let batch = [(ClientId::generate(), at), (deleted.id, at), (known.id, at), (ClientId::generate(), at)];
    stores.clients.record_last_used(&batch).await.unwrap();
    assert_eq!(stored(stores, &known).await.last_used_at, Some(at), "the known one is written");
    assert_eq!(stores.clients.get_client(deleted.id).await.unwrap(), None, "nothing is inserted");
    for (id, _) in batch {
        if id != known.id {
            assert_eq!(stores.clients.get_client(id).await.unwrap(), None, "nothing is inserted");
        }
    }
}

pub async fn record_last_used_changes_no_other_field(stores: &Stores) {
    with_builtins(stores).await;
    let mut client = sample_client("fully populated");
    client.description = Some(Description::parse("every optional field set").unwrap());
    client.status = ClientStatus::Disabled;
    client.role_id = Some(portcullis_domain::VIEWER_ROLE_ID);
    client.token_ttl = TokenTtl::from_secs(600).unwrap();
    client.created_at = seconds_from_now(-86_400);
    client.updated_at = seconds_from_now(-3600);
    client.tokens_valid_after = Some(seconds_from_now(-1800));
    let mut bare = sample_client("nothing optional");
    bare.description = None;
    for c in [&client, &bare] {
        stores.clients.insert_client(c, &[]).await.unwrap();
    }

    // Many clients in one batch, in no particular order.
    let mut batch = vec![(client.id, now()), (bare.id, now())];
    let mut others = Vec::new();
    for i in 0..20 {
        let other = sample_client(&format!("other {i}"));
        stores.clients.insert_client(&other, &[]).await.unwrap();
        batch.push((other.id, seconds_from_now(-i)));
        others.push(other);
    }
    batch.reverse();
    stores.clients.record_last_used(&batch).await.unwrap();

    for (id, at) in &batch {
        let got = stores.clients.get_client(*id).await.unwrap().unwrap();
        let mut expected =
            [&client, &bare].into_iter().chain(&others).find(|c| c.id == *id).cloned().unwrap();
        expected.last_used_at = Some(*at);
        assert_eq!(got, expected, "only last_used_at changed");
    }
}
