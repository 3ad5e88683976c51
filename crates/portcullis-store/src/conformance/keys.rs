//! `KeyStore`: signing keys.

use super::{rand_bytes, seconds_from_now};
use crate::{StoreError, StoredSigningKey, Stores};

fn key(kid: &str, age_secs: i64) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.to_owned(),
        algorithm: "EdDSA".to_owned(),
        public_key: rand_bytes().to_vec(),
        sealed_private_key: [rand_bytes(), rand_bytes()].concat(),
        created_at: seconds_from_now(-age_secs),
    }
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
