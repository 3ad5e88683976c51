//! `ClientStore`: single clients in and out.

use portcullis_domain::{
    ADMIN_ROLE_ID, ClientId, ClientName, ClientStatus, Description, RoleId, SecretHash, TokenTtl,
    VIEWER_ROLE_ID, now,
};

#[allow(unused_imports)]
use super::{NO_DELETE_EVENTS, NO_EVENTS, put_client};
use super::{rand_bytes, sample_client, seconds_from_now, with_builtins};
use crate::{ClientQuery, StoreError, Stores};

pub async fn insert_then_get_returns_the_same_client(stores: &Stores) {
    with_builtins(stores).await;
    let mut client = sample_client("CRM sync");
    client.role_id = Some(ADMIN_ROLE_ID);
    client.last_used_at = Some(now());
    client.tokens_valid_after = Some(seconds_from_now(-60));
    stores.clients.insert_client(&client, &[]).await.unwrap();
    let got = stores.clients.get_client(client.id).await.unwrap();
    assert_eq!(got, Some(client));
}

pub async fn client_without_optional_fields_round_trips(stores: &Stores) {
    let mut client = sample_client("nightly job");
    client.description = None;
    client.role_id = None;
    client.last_used_at = None;
    client.status = ClientStatus::Disabled;
    client.token_ttl = TokenTtl::from_secs(i64::from(TokenTtl::MIN)).unwrap();
    stores.clients.insert_client(&client, &[]).await.unwrap();
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), Some(client));
}

pub async fn longest_and_non_ascii_values_round_trip(stores: &Stores) {
    let mut client = sample_client("x");
    client.name = ClientName::parse(&"é🦀".repeat(100)).unwrap();
    let description = format!("line one\nline two\ttabbed 'quoted' \"double\" ; --{}", "ß".repeat(1940));
    client.description = Some(Description::parse(&description).unwrap());
    client.token_ttl = TokenTtl::from_secs(i64::from(TokenTtl::MAX)).unwrap();
    client.secret_hash = SecretHash::from_bytes([0; 32]);
    // Distinct instants, each with a non-zero microsecond part.
    client.created_at = seconds_from_now(-86_400 * 400);
    client.updated_at = seconds_from_now(-5);
    client.last_used_at = Some(seconds_from_now(-1));
    stores.clients.insert_client(&client, &[]).await.unwrap();
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), Some(client.clone()));

    client.secret_hash = SecretHash::from_bytes([0xff; 32]);
    assert!(put_client(&*stores.clients, &client).await.unwrap());
    client.version = 2;
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), Some(client));
}

pub async fn get_unknown_client_is_none(stores: &Stores) {
    stores.clients.insert_client(&sample_client("someone else"), &[]).await.unwrap();
    assert_eq!(stores.clients.get_client(ClientId::generate()).await.unwrap(), None);
}

pub async fn get_clients_answers_the_stored_ones_among_the_ids(stores: &Stores) {
    with_builtins(stores).await;
    let mut a = sample_client("a");
    a.role_id = Some(VIEWER_ROLE_ID);
    let b = sample_client("b");
    let other = sample_client("not asked for");
    for client in [&a, &b, &other] {
        stores.clients.insert_client(client, &[]).await.unwrap();
    }
    let unknown = ClientId::generate();
    let mut got = stores.clients.get_clients(&[b.id, unknown, a.id, b.id]).await.unwrap();
    got.sort_by_key(|c| c.name.as_str().to_owned());
    assert_eq!(got, vec![a, b]);
    assert_eq!(stores.clients.get_clients(&[unknown]).await.unwrap(), vec![]);
    assert_eq!(stores.clients.get_clients(&[]).await.unwrap(), vec![]);
}

/// Every field a patch names, and nothing else: not `last_used_at` (the
/// flush's alone), not `created_at`; `tokens_valid_after` only forward.
pub async fn update_writes_every_mutable_field(stores: &Stores) {
    with_builtins(stores).await;
    let original = sample_client("before");
    let bystander = sample_client("bystander");
    stores.clients.insert_client(&original, &[]).await.unwrap();
    stores.clients.insert_client(&bystander, &[]).await.unwrap();

    let mut changed = original.clone();
    changed.name = ClientName::parse("after").unwrap();
    changed.description = Some(Description::parse("now described differently").unwrap());
    changed.status = ClientStatus::Disabled;
    changed.role_id = Some(VIEWER_ROLE_ID);
    changed.token_ttl = TokenTtl::from_secs(120).unwrap();
    changed.secret_hash = SecretHash::from_bytes(rand_bytes());
    changed.updated_at = seconds_from_now(10);
    changed.tokens_valid_after = Some(seconds_from_now(3));
    let mut with_last_used = changed.clone();
    with_last_used.last_used_at = Some(seconds_from_now(5));
    assert!(put_client(&*stores.clients, &with_last_used).await.unwrap());
    changed.version = 2;
    assert_eq!(stores.clients.get_client(changed.id).await.unwrap(), Some(changed.clone()));

    // And back from Some to None (not tokens_valid_after: it only moves
    // forward); the creation time is not a mutable field.
    changed.description = None;
    changed.role_id = None;
    changed.status = ClientStatus::Enabled;
    let mut with_other_created_at = changed.clone();
    with_other_created_at.created_at = seconds_from_now(-3600);
    with_other_created_at.tokens_valid_after = None;
    assert!(put_client(&*stores.clients, &with_other_created_at).await.unwrap());
    changed.version = 3;
    assert_eq!(stores.clients.get_client(changed.id).await.unwrap(), Some(changed));

    assert_eq!(stores.clients.get_client(bystander.id).await.unwrap(), Some(bystander));
}

pub async fn update_unknown_client_returns_false(stores: &Stores) {
    let client = sample_client("never stored");
    assert!(!put_client(&*stores.clients, &client).await.unwrap());
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), None, "update must not insert");
}

pub async fn tokens_valid_after_round_trips_and_updates(stores: &Stores) {
    let mut client = sample_client("revoked everything once");
    client.tokens_valid_after = Some(seconds_from_now(-3600));
    let bystander = sample_client("bystander");
    stores.clients.insert_client(&client, &[]).await.unwrap();
    stores.clients.insert_client(&bystander, &[]).await.unwrap();
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), Some(client.clone()));

    // "Revoke every token" again, later: the instant moves forward.
    client.tokens_valid_after = Some(now());
    client.updated_at = now();
    assert!(put_client(&*stores.clients, &client).await.unwrap());
    client.version = 2;
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), Some(client.clone()));
    let listed =
        stores.clients.list_clients(&ClientQuery { limit: 10, ..ClientQuery::default() }).await.unwrap();
    assert!(listed.contains(&client), "listing reads it too");

    // An earlier instant (a revocation that lost the race) never moves it back.
    let mut earlier = client.clone();
    earlier.tokens_valid_after = Some(seconds_from_now(-60));
    assert!(put_client(&*stores.clients, &earlier).await.unwrap());
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), Some(client));
    assert_eq!(stores.clients.get_client(bystander.id).await.unwrap(), Some(bystander));
}

pub async fn delete_removes_only_that_client(stores: &Stores) {
    let doomed = sample_client("doomed");
    let kept = sample_client("kept");
    stores.clients.insert_client(&doomed, &[]).await.unwrap();
    stores.clients.insert_client(&kept, &[]).await.unwrap();
    assert!(stores.clients.delete_client(doomed.id, None, NO_DELETE_EVENTS).await.unwrap().is_deleted());
    assert_eq!(stores.clients.get_client(doomed.id).await.unwrap(), None);
    assert_eq!(stores.clients.get_client(kept.id).await.unwrap(), Some(kept));
    assert!(
        !stores.clients.delete_client(doomed.id, None, NO_DELETE_EVENTS).await.unwrap().is_deleted(),
        "a second delete finds nothing"
    );
}

pub async fn delete_unknown_client_returns_false(stores: &Stores) {
    let kept = sample_client("kept");
    stores.clients.insert_client(&kept, &[]).await.unwrap();
    assert!(
        !stores
            .clients
            .delete_client(ClientId::generate(), None, NO_DELETE_EVENTS)
            .await
            .unwrap()
            .is_deleted()
    );
    assert_eq!(stores.clients.get_client(kept.id).await.unwrap(), Some(kept));
}

pub async fn duplicate_client_id_is_a_conflict(stores: &Stores) {
    let first = sample_client("first");
    stores.clients.insert_client(&first, &[]).await.unwrap();
    let mut second = sample_client("second");
    second.id = first.id;
    let err = stores.clients.insert_client(&second, &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("client_id_unique")), "{err:?}");
    assert_eq!(stores.clients.get_client(first.id).await.unwrap(), Some(first));
}

pub async fn unknown_role_is_a_conflict(stores: &Stores) {
    with_builtins(stores).await;
    let mut client = sample_client("orphan");
    client.role_id = Some(RoleId::generate());
    let err = stores.clients.insert_client(&client, &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("client_role_missing")), "{err:?}");
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), None);

    client.role_id = Some(ADMIN_ROLE_ID);
    stores.clients.insert_client(&client, &[]).await.unwrap();
    let mut changed = client.clone();
    changed.role_id = Some(RoleId::generate());
    changed.name = ClientName::parse("renamed in the same update").unwrap();
    let err = put_client(&*stores.clients, &changed).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("client_role_missing")), "{err:?}");
    assert_eq!(stores.clients.get_client(client.id).await.unwrap(), Some(client), "nothing changed");
}
