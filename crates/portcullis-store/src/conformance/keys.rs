//! `KeyStore`: signing keys.

use portcullis_domain::Event;

use super::{bare_event, rand_bytes, seconds_from_now};
use crate::{EventQuery, KeyState, StoreError, StoredSigningKey, Stores};

fn key(kid: &str, age_secs: i64) -> StoredSigningKey {
    in_state(kid, age_secs, KeyState::Previous)
}

fn in_state(kid: &str, age_secs: i64, state: KeyState) -> StoredSigningKey {
    let created_at = seconds_from_now(-age_secs);
    StoredSigningKey {
        kid: kid.to_owned(),
        algorithm: "EdDSA".to_owned(),
        public_key: rand_bytes().to_vec(),
        sealed_private_key: [rand_bytes(), rand_bytes()].concat(),
        created_at,
        state,
        activated_at: (state != KeyState::Next).then_some(created_at),
        replaced_at: (state == KeyState::Previous).then_some(created_at),
    }
}

fn states(keys: &[StoredSigningKey]) -> Vec<(String, KeyState)> {
    let mut out: Vec<_> = keys.iter().map(|k| (k.kid.clone(), k.state)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn pair(kid: &str, state: KeyState) -> (String, KeyState) {
    (kid.to_owned(), state)
}

/// The event of a rotation that made `kid` current, as the service makes it.
fn rotated(kid: &str) -> Vec<Event> {
    let details = format!(r#"{{"kid":"{kid}"}}"#);
    vec![Event {
        actor: Some("cli".to_owned()),
        details: Some(details),
        ..bare_event("key.rotated", seconds_from_now(0))
    }]
}

/// The event of revoking `kid` in `state`, as the service makes it.
fn revoked(kid: &str, state: KeyState) -> Vec<Event> {
    let details = format!(r#"{{"kid":"{kid}","state":"{}"}}"#, state.as_str());
    vec![Event {
        actor: Some("cli".to_owned()),
        details: Some(details),
        ..bare_event("key.revoked", seconds_from_now(0))
    }]
}

/// Every stored event, as `(kind, details)`, sorted.
async fn stored_events(stores: &Stores) -> Vec<(String, Option<String>)> {
    let query = EventQuery { limit: 1000, ..Default::default() };
    kind_and_details(stores.events.list_events(&query).await.unwrap())
}

/// The events as `(kind, details)`, sorted.
fn kind_and_details(events: Vec<Event>) -> Vec<(String, Option<String>)> {
    let mut events: Vec<_> = events.into_iter().map(|e| (e.kind, e.details)).collect();
    events.sort();
    events
}

pub async fn at_most_one_current_and_one_next_key(stores: &Stores) {
    let keys = &stores.keys;
    keys.insert_signing_key(&in_state("c1", 20, KeyState::Current)).await.unwrap();
    keys.insert_signing_key(&in_state("n1", 10, KeyState::Next)).await.unwrap();
    for (kid, state) in [("c2", KeyState::Current), ("n2", KeyState::Next)] {
        let err = keys.insert_signing_key(&in_state(kid, 0, state)).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict("signing_key_state_unique")), "{err:?}");
    }
    keys.insert_signing_key(&in_state("p1", 30, KeyState::Previous)).await.unwrap();
    keys.insert_signing_key(&in_state("p2", 40, KeyState::Previous)).await.unwrap();
    let listed = keys.list_signing_keys().await.unwrap();
    assert_eq!(listed.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["n1", "c1", "p1", "p2"]);
    assert_eq!(
        (listed[0].state, listed[0].activated_at, listed[0].replaced_at),
        (KeyState::Next, None, None)
    );
    assert_eq!(listed[3].replaced_at, Some(listed[3].created_at));
}

pub async fn rotation_promotes_the_next_key_and_stores_a_new_one(stores: &Stores) {
    let keys = &stores.keys;
    keys.insert_signing_key(&in_state("c1", 20, KeyState::Current)).await.unwrap();
    keys.insert_signing_key(&in_state("n1", 10, KeyState::Next)).await.unwrap();
    let at = seconds_from_now(0);
    assert_eq!(
        keys.rotate_signing_keys("c1", &in_state("n2", 0, KeyState::Next), at, &rotated)
            .await
            .unwrap()
            .as_deref(),
        Some("n1")
    );
    let listed = keys.list_signing_keys().await.unwrap();
    assert_eq!(
        states(&listed),
        [pair("c1", KeyState::Previous), pair("n1", KeyState::Current), pair("n2", KeyState::Next)]
    );
    let find = |kid: &str| listed.iter().find(|k| k.kid == kid).unwrap().clone();
    assert_eq!(find("c1").replaced_at, Some(at));
    assert_eq!(find("n1").activated_at, Some(at));
    // Exactly its event, written with it, naming the key made current.
    assert_eq!(stored_events(stores).await, kind_and_details(rotated("n1")));
    // A rotation from a key that is no longer current (it lost a race)
    // changes nothing and leaves no event.
    assert_eq!(
        keys.rotate_signing_keys("c1", &in_state("n3", 0, KeyState::Next), at, &rotated).await.unwrap(),
        None
    );
    assert_eq!(states(&keys.list_signing_keys().await.unwrap()), states(&listed));
    assert_eq!(stored_events(stores).await, kind_and_details(rotated("n1")));
}

pub async fn rotation_without_a_next_key_changes_nothing(stores: &Stores) {
    let keys = &stores.keys;
    keys.insert_signing_key(&in_state("c1", 20, KeyState::Current)).await.unwrap();
    assert_eq!(
        keys.rotate_signing_keys("c1", &in_state("n1", 0, KeyState::Next), seconds_from_now(0), &rotated)
            .await
            .unwrap(),
        None
    );
    let listed = keys.list_signing_keys().await.unwrap();
    assert_eq!(states(&listed), [pair("c1", KeyState::Current)], "the current key still signs");
    assert_eq!(listed[0].replaced_at, None);
    assert!(stored_events(stores).await.is_empty());
}

pub async fn racing_rotations_leave_one_current_and_one_next_key(stores: &Stores) {
    let keys = &stores.keys;
    keys.insert_signing_key(&in_state("c0", 20, KeyState::Current)).await.unwrap();
    keys.insert_signing_key(&in_state("n0", 10, KeyState::Next)).await.unwrap();
    let at = seconds_from_now(0);
    // Eight rotations from the same current key at once: exactly one wins.
    let new_keys: Vec<_> = (0..8).map(|i| in_state(&format!("r{i}"), 0, KeyState::Next)).collect();
    let results = futures_util::future::join_all(
        new_keys.iter().map(|k| keys.rotate_signing_keys("c0", k, at, &rotated)),
    )
    .await;
    let won: Vec<_> = results.iter().filter(|r| matches!(r, Ok(Some(_)))).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert!(results.iter().all(|r| matches!(r, Ok(Some(kid)) if kid == "n0") || matches!(r, Ok(None))));
    let listed = keys.list_signing_keys().await.unwrap();
    assert_eq!(listed.iter().filter(|k| k.state == KeyState::Current).count(), 1);
    assert_eq!(listed.iter().filter(|k| k.state == KeyState::Next).count(), 1);
    assert_eq!(listed.iter().find(|k| k.state == KeyState::Current).unwrap().kid, "n0");
    // One rotation, one event: the losers left none.
    assert_eq!(stored_events(stores).await, kind_and_details(rotated("n0")));
}

pub async fn revoking_a_key_replaces_it_in_one_step(stores: &Stores) {
    let keys = &stores.keys;
    keys.insert_signing_key(&in_state("p1", 30, KeyState::Previous)).await.unwrap();
    keys.insert_signing_key(&in_state("c1", 20, KeyState::Current)).await.unwrap();
    keys.insert_signing_key(&in_state("n1", 10, KeyState::Next)).await.unwrap();
    let at = seconds_from_now(0);
    let mut expected_events = Vec::new();
    // The current key: the next one signs, a fresh next one is published.
    let revoked_c1 = |state| revoked("c1", state);
    assert_eq!(
        keys.revoke_signing_key("c1", &in_state("n2", 0, KeyState::Next), at, &revoked_c1).await.unwrap(),
        Some(KeyState::Current)
    );
    assert_eq!(
        states(&keys.list_signing_keys().await.unwrap()),
        [pair("n1", KeyState::Current), pair("n2", KeyState::Next), pair("p1", KeyState::Previous)]
    );
    expected_events.extend(revoked_c1(KeyState::Current));
    assert_eq!(
        stored_events(stores).await,
        kind_and_details(expected_events.clone()),
        "exactly its event, naming the state"
    );
    // The next key: a fresh one takes its place.
    let revoked_n2 = |state| revoked("n2", state);
    assert_eq!(
        keys.revoke_signing_key("n2", &in_state("n3", 0, KeyState::Next), at, &revoked_n2).await.unwrap(),
        Some(KeyState::Next)
    );
    expected_events.extend(revoked_n2(KeyState::Next));
    // A replaced key: just gone; the spare new key is not stored.
    let revoked_p1 = |state| revoked("p1", state);
    assert_eq!(
        keys.revoke_signing_key("p1", &in_state("unused", 0, KeyState::Next), at, &revoked_p1).await.unwrap(),
        Some(KeyState::Previous)
    );
    expected_events.extend(revoked_p1(KeyState::Previous));
    assert_eq!(
        states(&keys.list_signing_keys().await.unwrap()),
        [pair("n1", KeyState::Current), pair("n3", KeyState::Next)]
    );
    assert_eq!(stored_events(stores).await, kind_and_details(expected_events.clone()));
    // An unknown kid changes nothing and leaves no event.
    assert_eq!(
        keys.revoke_signing_key("p1", &in_state("unused", 0, KeyState::Next), at, &revoked_p1).await.unwrap(),
        None
    );
    assert_eq!(keys.list_signing_keys().await.unwrap().len(), 2);
    assert_eq!(stored_events(stores).await, kind_and_details(expected_events.clone()));
}

/// A key change and its event commit together: when the event cannot be
/// inserted (it reuses a stored event's id), the rotation or revocation is
/// undone too.
pub async fn a_key_change_commits_with_its_events_or_not_at_all(stores: &Stores) {
    let keys = &stores.keys;
    keys.insert_signing_key(&in_state("c1", 20, KeyState::Current)).await.unwrap();
    keys.insert_signing_key(&in_state("n1", 10, KeyState::Next)).await.unwrap();
    let before = keys.list_signing_keys().await.unwrap();
    let taken = bare_event("taken", seconds_from_now(0));
    stores.events.insert_events(std::slice::from_ref(&taken)).await.unwrap();
    let at = seconds_from_now(0);

    let clash = |_: &str| vec![Event { kind: "key.rotated".to_owned(), ..taken.clone() }];
    assert!(keys.rotate_signing_keys("c1", &in_state("n2", 0, KeyState::Next), at, &clash).await.is_err());
    assert_eq!(keys.list_signing_keys().await.unwrap(), before, "rotation undone");
    let clash = |_: KeyState| vec![Event { kind: "key.revoked".to_owned(), ..taken.clone() }];
    assert!(keys.revoke_signing_key("c1", &in_state("n2", 0, KeyState::Next), at, &clash).await.is_err());
    assert_eq!(keys.list_signing_keys().await.unwrap(), before, "revocation undone");
    assert_eq!(stored_events(stores).await, [("taken".to_owned(), None)]);

    // With an event that can be stored, the same rotation goes through.
    assert_eq!(
        keys.rotate_signing_keys("c1", &in_state("n2", 0, KeyState::Next), at, &rotated)
            .await
            .unwrap()
            .as_deref(),
        Some("n1")
    );
}

pub async fn signing_keys_are_listed_newest_first(stores: &Stores) {
    assert!(stores.keys.list_signing_keys().await.unwrap().is_empty());
    let old = key("k-old", 7200);
    let new = key("k-new", 0);
    let mid = key("k-mid", 3600);
    for k in [&old, &new, &mid] {
        stores.keys.insert_signing_key(k).await.unwrap();
    }
    assert_eq!(stores.keys.list_signing_keys().await.unwrap(), [new, mid, old]);
}

pub async fn duplicate_kid_is_a_conflict(stores: &Stores) {
    let first = key("same-kid", 10);
    stores.keys.insert_signing_key(&first).await.unwrap();
    let err = stores.keys.insert_signing_key(&key("same-kid", 0)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("signing_key_kid_unique")), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("same-kid"), "names the rule, not the data: {shown}");
    assert_eq!(stores.keys.list_signing_keys().await.unwrap(), [first]);
}

pub async fn delete_signing_key_removes_only_that_key(stores: &Stores) {
    let retired = key("k-retired", 7200);
    let current = key("k-current", 0);
    for k in [&retired, &current] {
        stores.keys.insert_signing_key(k).await.unwrap();
    }
    assert!(stores.keys.delete_signing_key("k-retired").await.unwrap());
    assert_eq!(stores.keys.list_signing_keys().await.unwrap(), std::slice::from_ref(&current));
    assert!(!stores.keys.delete_signing_key("k-retired").await.unwrap(), "a second delete finds nothing");
    assert!(!stores.keys.delete_signing_key("never-stored").await.unwrap());
    assert_eq!(stores.keys.list_signing_keys().await.unwrap(), [current]);
    // The kid may be used again afterwards.
    stores.keys.insert_signing_key(&retired).await.unwrap();
    assert_eq!(stores.keys.list_signing_keys().await.unwrap().len(), 2);
}
