//! `KeyStore`: signing keys.

use super::{rand_bytes, seconds_from_now};
use crate::{KeyState, StoreError, StoredSigningKey, Stores};

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
    assert!(keys.rotate_signing_keys("c1", &in_state("n2", 0, KeyState::Next), at).await.unwrap());
    let listed = keys.list_signing_keys().await.unwrap();
    assert_eq!(
        states(&listed),
        [pair("c1", KeyState::Previous), pair("n1", KeyState::Current), pair("n2", KeyState::Next)]
    );
    let find = |kid: &str| listed.iter().find(|k| k.kid == kid).unwrap().clone();
    assert_eq!(find("c1").replaced_at, Some(at));
    assert_eq!(find("n1").activated_at, Some(at));
    // A rotation from a key that is no longer current changes nothing.
    assert!(!keys.rotate_signing_keys("c1", &in_state("n3", 0, KeyState::Next), at).await.unwrap());
    assert_eq!(states(&keys.list_signing_keys().await.unwrap()), states(&listed));
}

pub async fn racing_rotations_leave_one_current_and_one_next_key(stores: &Stores) {
    let keys = &stores.keys;
    keys.insert_signing_key(&in_state("c0", 20, KeyState::Current)).await.unwrap();
    keys.insert_signing_key(&in_state("n0", 10, KeyState::Next)).await.unwrap();
    let at = seconds_from_now(0);
    // Eight rotations from the same current key at once: exactly one wins.
    let new_keys: Vec<_> = (0..8).map(|i| in_state(&format!("r{i}"), 0, KeyState::Next)).collect();
    let results =
        futures_util::future::join_all(new_keys.iter().map(|k| keys.rotate_signing_keys("c0", k, at))).await;
    let won = results.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(won, 1, "{results:?}");
    let listed = keys.list_signing_keys().await.unwrap();
    assert_eq!(listed.iter().filter(|k| k.state == KeyState::Current).count(), 1);
    assert_eq!(listed.iter().filter(|k| k.state == KeyState::Next).count(), 1);
    assert_eq!(listed.iter().find(|k| k.state == KeyState::Current).unwrap().kid, "n0");
}

pub async fn revoking_a_key_replaces_it_in_one_step(stores: &Stores) {
    let keys = &stores.keys;
    keys.insert_signing_key(&in_state("p1", 30, KeyState::Previous)).await.unwrap();
    keys.insert_signing_key(&in_state("c1", 20, KeyState::Current)).await.unwrap();
    keys.insert_signing_key(&in_state("n1", 10, KeyState::Next)).await.unwrap();
    let at = seconds_from_now(0);
    // The current key: the next one signs, a fresh next one is published.
    let revoked = keys.revoke_signing_key("c1", &in_state("n2", 0, KeyState::Next), at).await.unwrap();
    assert_eq!(revoked, Some(KeyState::Current));
    assert_eq!(
        states(&keys.list_signing_keys().await.unwrap()),
        [pair("n1", KeyState::Current), pair("n2", KeyState::Next), pair("p1", KeyState::Previous)]
    );
    // The next key: a fresh one takes its place.
    let revoked = keys.revoke_signing_key("n2", &in_state("n3", 0, KeyState::Next), at).await.unwrap();
    assert_eq!(revoked, Some(KeyState::Next));
    // A replaced key: just gone; the spare new key is not stored.
    let revoked = keys.revoke_signing_key("p1", &in_state("unused", 0, KeyState::Next), at).await.unwrap();
    assert_eq!(revoked, Some(KeyState::Previous));
    assert_eq!(
        states(&keys.list_signing_keys().await.unwrap()),
        [pair("n1", KeyState::Current), pair("n3", KeyState::Next)]
    );
    // An unknown kid changes nothing.
    assert_eq!(
        keys.revoke_signing_key("p1", &in_state("unused", 0, KeyState::Next), at).await.unwrap(),
        None
    );
    assert_eq!(keys.list_signing_keys().await.unwrap().len(), 2);
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
