//! `TokenStore`: revoked access tokens, kept until they expire.

use chrono::TimeDelta;
use portcullis_domain::{ClientId, Timestamp};
use uuid::Uuid;

#[allow(unused_imports)]
use super::{NO_DELETE_EVENTS, NO_EVENTS, put_client};
use super::{sample_client, seconds_from_now};
use crate::Stores;

/// Revokes a new token of `client` expiring at `expires_at`; returns its jti.
async fn revoke_new(stores: &Stores, client: ClientId, expires_at: Timestamp) -> Uuid {
    let jti = Uuid::new_v4();
    stores.tokens.revoke_token(jti, client, expires_at).await.unwrap();
    jti
}

pub async fn is_token_revoked_only_for_revoked_tokens(stores: &Stores) {
    let client = sample_client("token holder");
    stores.clients.insert_client(&client, &[]).await.unwrap();
    let never_revoked = Uuid::new_v4();
    assert!(!stores.tokens.is_token_revoked(never_revoked).await.unwrap(), "empty store");

    let revoked = revoke_new(stores, client.id, seconds_from_now(3600)).await;
    assert!(stores.tokens.is_token_revoked(revoked).await.unwrap());
    assert!(!stores.tokens.is_token_revoked(never_revoked).await.unwrap());
    // A revocation already past its expiry (not yet purged) still answers true.
    let expired = revoke_new(stores, client.id, seconds_from_now(-3600)).await;
    assert!(stores.tokens.is_token_revoked(expired).await.unwrap());
}

pub async fn revoking_a_token_again_changes_nothing(stores: &Stores) {
    let client = sample_client("token holder");
    stores.clients.insert_client(&client, &[]).await.unwrap();
    let expires_at = seconds_from_now(600);
    let jti = revoke_new(stores, client.id, expires_at).await;
    // Again, and again with another expiry: both succeed, neither adds a row
    // nor moves the first expiry (so the purge still finds it then).
    stores.tokens.revoke_token(jti, client.id, expires_at).await.unwrap();
    stores.tokens.revoke_token(jti, client.id, seconds_from_now(86_400)).await.unwrap();
    assert!(stores.tokens.is_token_revoked(jti).await.unwrap());
    let after_expiry = expires_at + TimeDelta::seconds(1);
    assert_eq!(
        stores.tokens.purge_revoked_tokens(after_expiry, 100).await.unwrap(),
        1,
        "one row, first expiry"
    );
    assert!(!stores.tokens.is_token_revoked(jti).await.unwrap());
}

pub async fn revocations_need_no_stored_client(stores: &Stores) {
    // The token's client may be gone (deleted after issuing): the revocation
    // is still recorded, and deleting a client leaves its revocations.
    let unknown = revoke_new(stores, ClientId::generate(), seconds_from_now(600)).await;
    assert!(stores.tokens.is_token_revoked(unknown).await.unwrap());

    let client = sample_client("deleted later");
    stores.clients.insert_client(&client, &[]).await.unwrap();
    let jti = revoke_new(stores, client.id, seconds_from_now(600)).await;
    assert!(stores.clients.delete_client(client.id, None, NO_DELETE_EVENTS).await.unwrap().is_deleted());
    assert!(stores.tokens.is_token_revoked(jti).await.unwrap());
}

pub async fn purge_removes_only_expired_revocations(stores: &Stores) {
    let client = ClientId::generate();
    let now = seconds_from_now(0);
    let long_expired = revoke_new(stores, client, now - TimeDelta::seconds(3600)).await;
    let just_expired = revoke_new(stores, client, now - TimeDelta::microseconds(1)).await;
    let expiring_now = revoke_new(stores, client, now).await;
    let still_valid = revoke_new(stores, client, now + TimeDelta::microseconds(1)).await;
    let far_future = revoke_new(stores, client, now + TimeDelta::seconds(86_400)).await;

    assert_eq!(stores.tokens.purge_revoked_tokens(now, 100).await.unwrap(), 3);
    for gone in [long_expired, just_expired, expiring_now] {
        assert!(!stores.tokens.is_token_revoked(gone).await.unwrap(), "expired at or before now: purged");
    }
    for kept in [still_valid, far_future] {
        assert!(stores.tokens.is_token_revoked(kept).await.unwrap(), "not yet expired: kept");
    }
    assert_eq!(stores.tokens.purge_revoked_tokens(now, 100).await.unwrap(), 0, "nothing left to purge");
    // Later, the next one has expired too.
    let later = now + TimeDelta::seconds(1);
    assert_eq!(stores.tokens.purge_revoked_tokens(later, 100).await.unwrap(), 1);
    assert!(!stores.tokens.is_token_revoked(still_valid).await.unwrap());
    assert!(stores.tokens.is_token_revoked(far_future).await.unwrap());
}

pub async fn purge_deletes_at_most_the_limit(stores: &Stores) {
    let client = ClientId::generate();
    let mut expired = Vec::new();
    for i in 0..7 {
        expired.push(revoke_new(stores, client, seconds_from_now(-60 - i)).await);
    }
    let valid = revoke_new(stores, client, seconds_from_now(600)).await;
    let now = seconds_from_now(0);

    assert_eq!(stores.tokens.purge_revoked_tokens(now, 0).await.unwrap(), 0, "a limit of 0 deletes nothing");
    // What the purge task does: batches until one comes back short.
    let mut counts = Vec::new();
    loop {
        let n = stores.tokens.purge_revoked_tokens(now, 3).await.unwrap();
        counts.push(n);
        if n < 3 {
            break;
        }
    }
    assert_eq!(counts, [3, 3, 1]);
    for jti in expired {
        assert!(!stores.tokens.is_token_revoked(jti).await.unwrap());
    }
    assert!(stores.tokens.is_token_revoked(valid).await.unwrap());
}
