//! `UserStore`: personal access tokens, one per user.

use chrono::TimeDelta;
use portcullis_domain::{PersonalAccessToken, SecretHash, User, UserId};

use super::{rand_bytes, sample_personal_token, sample_user, seconds_from_now};
use crate::{StoreError, Stores};

async fn stored_user(stores: &Stores, email: &str) -> User {
    let user = sample_user(email);
    stores.users.insert_user(&user, &[]).await.unwrap();
    user
}

async fn by_user(stores: &Stores, user: UserId) -> Option<PersonalAccessToken> {
    stores.users.get_user_personal_token(user).await.unwrap()
}

async fn by_hash(stores: &Stores, hash: &SecretHash) -> Option<PersonalAccessToken> {
    stores.users.get_personal_token_by_hash(hash).await.unwrap()
}

pub async fn replace_personal_token_keeps_exactly_one(stores: &Stores) {
    let user = stored_user(stores, "ada@example.com").await;
    assert_eq!(by_user(stores, user.id).await, None, "none to begin with");
    let mut first = sample_personal_token(user.id);
    first.last_used_at = Some(seconds_from_now(-5));
    stores.users.replace_personal_token(&first, &[]).await.unwrap();
    assert_eq!(by_user(stores, user.id).await, Some(first.clone()));

    // "Revoke" issues a new one: the old hash no longer finds anything, and
    // nothing of the old token (its last use) carries over.
    let mut second = sample_personal_token(user.id);
    second.hint = "pat_…Zz09".to_owned();
    second.created_at = seconds_from_now(1);
    stores.users.replace_personal_token(&second, &[]).await.unwrap();
    assert_eq!(by_hash(stores, &first.hash).await, None, "the old token is gone");
    assert_eq!(by_hash(stores, &second.hash).await, Some(second.clone()));
    assert_eq!(by_user(stores, user.id).await, Some(second.clone()));

    let third = sample_personal_token(user.id);
    stores.users.replace_personal_token(&third, &[]).await.unwrap();
    for old in [&first, &second] {
        assert_eq!(by_hash(stores, &old.hash).await, None);
    }
    assert_eq!(by_user(stores, user.id).await, Some(third.clone()));
    // Replacing it with itself is harmless.
    stores.users.replace_personal_token(&third, &[]).await.unwrap();
    assert_eq!(by_hash(stores, &third.hash).await, Some(third));
}

pub async fn personal_token_of_unknown_user_is_a_conflict(stores: &Stores) {
    stored_user(stores, "ada@example.com").await;
    let token = sample_personal_token(UserId::generate());
    let err = stores.users.replace_personal_token(&token, &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("personal_token_user_missing")), "{err:?}");
    assert_eq!(by_hash(stores, &token.hash).await, None);
}

pub async fn personal_token_hash_of_another_user_is_a_conflict(stores: &Stores) {
    let (ada, grace) =
        (stored_user(stores, "ada@example.com").await, stored_user(stores, "grace@example.com").await);
    let ada_token = sample_personal_token(ada.id);
    let grace_token = sample_personal_token(grace.id);
    stores.users.replace_personal_token(&ada_token, &[]).await.unwrap();
    stores.users.replace_personal_token(&grace_token, &[]).await.unwrap();

    let mut clash = sample_personal_token(grace.id);
    clash.hash = ada_token.hash;
    let err = stores.users.replace_personal_token(&clash, &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("personal_token_hash_unique")), "{err:?}");
    // Nothing changed for either: the failed replacement kept grace's token.
    assert_eq!(by_user(stores, ada.id).await, Some(ada_token.clone()));
    assert_eq!(by_user(stores, grace.id).await, Some(grace_token));
    assert_eq!(by_hash(stores, &ada_token.hash).await, Some(ada_token));
}

pub async fn get_personal_token_by_hash_and_by_user(stores: &Stores) {
    let (ada, grace) =
        (stored_user(stores, "ada@example.com").await, stored_user(stores, "grace@example.com").await);
    let without = stored_user(stores, "none@example.com").await;
    let ada_token = sample_personal_token(ada.id);
    let mut grace_token = sample_personal_token(grace.id);
    grace_token.last_used_at = Some(seconds_from_now(-60));
    grace_token.created_at = seconds_from_now(-86_400);
    stores.users.replace_personal_token(&ada_token, &[]).await.unwrap();
    stores.users.replace_personal_token(&grace_token, &[]).await.unwrap();

    assert_eq!(by_hash(stores, &ada_token.hash).await, Some(ada_token.clone()));
    assert_eq!(by_hash(stores, &grace_token.hash).await, Some(grace_token.clone()));
    assert_eq!(by_user(stores, ada.id).await, Some(ada_token.clone()));
    assert_eq!(by_user(stores, grace.id).await, Some(grace_token));
    assert_eq!(by_user(stores, without.id).await, None);
    assert_eq!(by_user(stores, UserId::generate()).await, None);
    assert_eq!(by_hash(stores, &SecretHash::from_bytes(rand_bytes())).await, None);
    let mut near = *ada_token.hash.as_bytes();
    near[0] ^= 0x80;
    assert_eq!(by_hash(stores, &SecretHash::from_bytes(near)).await, None, "only the whole hash finds it");
}

pub async fn delete_user_personal_token_removes_only_it(stores: &Stores) {
    let (ada, grace) =
        (stored_user(stores, "ada@example.com").await, stored_user(stores, "grace@example.com").await);
    let (ada_token, grace_token) = (sample_personal_token(ada.id), sample_personal_token(grace.id));
    stores.users.replace_personal_token(&ada_token, &[]).await.unwrap();
    stores.users.replace_personal_token(&grace_token, &[]).await.unwrap();

    assert!(stores.users.delete_user_personal_token(ada.id, &[]).await.unwrap());
    assert_eq!(by_user(stores, ada.id).await, None);
    assert_eq!(by_hash(stores, &ada_token.hash).await, None);
    assert_eq!(by_user(stores, grace.id).await, Some(grace_token));
    assert_eq!(stores.users.get_user(ada.id).await.unwrap(), Some(ada.clone()), "the user stays");
    assert!(
        !stores.users.delete_user_personal_token(ada.id, &[]).await.unwrap(),
        "a second delete finds nothing"
    );
    assert!(!stores.users.delete_user_personal_token(UserId::generate(), &[]).await.unwrap());

    // A new one may be issued afterwards.
    let next = sample_personal_token(ada.id);
    stores.users.replace_personal_token(&next, &[]).await.unwrap();
    assert_eq!(by_user(stores, ada.id).await, Some(next));
}

pub async fn record_personal_token_used_never_moves_backwards(stores: &Stores) {
    let user = stored_user(stores, "ada@example.com").await;
    let never_used_user = stored_user(stores, "grace@example.com").await;
    let mut token = sample_personal_token(user.id);
    let latest = seconds_from_now(-10);
    token.last_used_at = Some(latest);
    let never_used = sample_personal_token(never_used_user.id);
    stores.users.replace_personal_token(&token, &[]).await.unwrap();
    stores.users.replace_personal_token(&never_used, &[]).await.unwrap();
    let last_used = |user: UserId| async move { by_user(stores, user).await.unwrap().last_used_at };

    // A batch from a slower instance, older than what is stored.
    stores.users.record_personal_token_used(&[(user.id, seconds_from_now(-60))]).await.unwrap();
    assert_eq!(last_used(user.id).await, Some(latest));
    stores.users.record_personal_token_used(&[(user.id, latest)]).await.unwrap();
    assert_eq!(last_used(user.id).await, Some(latest));
    let later = latest + TimeDelta::microseconds(1);
    stores.users.record_personal_token_used(&[(user.id, later)]).await.unwrap();
    assert_eq!(last_used(user.id).await, Some(later));

    // The same user twice in one batch: the later instant wins, in either order.
    let (t1, t2) = (seconds_from_now(1), seconds_from_now(2));
    stores.users.record_personal_token_used(&[(user.id, t2), (user.id, t1)]).await.unwrap();
    assert_eq!(last_used(user.id).await, Some(t2));
    let (t3, t4) = (seconds_from_now(3), seconds_from_now(4));
    stores.users.record_personal_token_used(&[(user.id, t3), (user.id, t4)]).await.unwrap();
    assert_eq!(last_used(user.id).await, Some(t4));

    // A first use is recorded; an empty batch is nothing to do.
    let first_use = seconds_from_now(-1);
    stores.users.record_personal_token_used(&[(never_used_user.id, first_use)]).await.unwrap();
    assert_eq!(last_used(never_used_user.id).await, Some(first_use));
    stores.users.record_personal_token_used(&[]).await.unwrap();
    assert_eq!(last_used(user.id).await, Some(t4));

    // After "revoke", the new token starts unused.
    let replaced = sample_personal_token(user.id);
    stores.users.replace_personal_token(&replaced, &[]).await.unwrap();
    assert_eq!(last_used(user.id).await, None);
}

pub async fn record_personal_token_used_changes_nothing_else(stores: &Stores) {
    let mut users = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..10 {
        let user = stored_user(stores, &format!("user{i}@example.com")).await;
        if i < 8 {
            let mut t = sample_personal_token(user.id);
            t.created_at = seconds_from_now(-3600 - i);
            t.hint = format!("pat_…{i:04}");
            stores.users.replace_personal_token(&t, &[]).await.unwrap();
            tokens.push(t);
        }
        users.push(user);
    }
    let deleted = stored_user(stores, "deleted@example.com").await;
    assert!(super::drop_user(&*stores.users, deleted.id).await.unwrap());

    // Every user (two without a token), one deleted and one unknown, in no
    // particular order.
    let mut batch: Vec<(UserId, _)> =
        users.iter().enumerate().map(|(i, u)| (u.id, seconds_from_now(-(i as i64)))).collect();
    batch.push((deleted.id, seconds_from_now(0)));
    batch.push((UserId::generate(), seconds_from_now(0)));
    batch.reverse();
    stores.users.record_personal_token_used(&batch).await.unwrap();

    for (i, user) in users.iter().enumerate() {
        let got = by_user(stores, user.id).await;
        match tokens.get(i) {
            Some(token) => {
                let at = batch.iter().find(|(id, _)| *id == user.id).map(|(_, at)| *at);
                let expected = PersonalAccessToken { last_used_at: at, ..token.clone() };
                assert_eq!(got, Some(expected), "only last_used_at changed");
            }
            None => assert_eq!(got, None, "no token is created"),
        }
        assert_eq!(
            stores.users.get_user(user.id).await.unwrap().as_ref(),
            Some(user),
            "the user is unchanged"
        );
    }
    assert_eq!(by_user(stores, deleted.id).await, None);
    assert_eq!(stores.users.count_users().await.unwrap(), 10);
}
