//! `UserStore`: console sessions.

use chrono::TimeDelta;
use portcullis_domain::{SecretHash, Session, User, UserId};

use super::{rand_bytes, sample_session, sample_user, seconds_from_now};
use crate::{StoreError, Stores};

async fn stored_user(stores: &Stores, email: &str) -> User {
    let user = sample_user(email);
    stores.users.insert_user(&user, &[]).await.unwrap();
    user
}

async fn stored(stores: &Stores, session: &Session) -> Option<Session> {
    stores.users.get_session(&session.id_hash).await.unwrap()
}

/// A session of `user` with the given times, in seconds from now.
fn session_at(user: UserId, created: i64, last_seen: i64, expires: i64) -> Session {
    Session {
        id_hash: SecretHash::from_bytes(rand_bytes()),
        user_id: user,
        created_at: seconds_from_now(created),
        last_seen_at: seconds_from_now(last_seen),
        expires_at: seconds_from_now(expires),
    }
}

pub async fn insert_then_get_session(stores: &Stores) {
    let user = stored_user(stores, "ada@example.com").await;
    let session = sample_session(user.id);
    let other = session_at(user.id, -7200, -3600, 3600);
    stores.users.insert_session(&session).await.unwrap();
    stores.users.insert_session(&other).await.unwrap();
    assert_eq!(stored(stores, &session).await, Some(session.clone()));
    assert_eq!(stored(stores, &other).await, Some(other));
    assert_eq!(stores.users.get_session(&SecretHash::from_bytes(rand_bytes())).await.unwrap(), None);
    // Only the whole hash finds it.
    let mut near = *session.id_hash.as_bytes();
    near[31] ^= 1;
    assert_eq!(stores.users.get_session(&SecretHash::from_bytes(near)).await.unwrap(), None);
}

pub async fn session_of_unknown_user_is_a_conflict(stores: &Stores) {
    stored_user(stores, "ada@example.com").await;
    let session = sample_session(UserId::generate());
    let err = stores.users.insert_session(&session).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("session_user_missing")), "{err:?}");
    assert_eq!(stored(stores, &session).await, None);
}

pub async fn duplicate_session_is_a_conflict(stores: &Stores) {
    let (ada, grace) =
        (stored_user(stores, "ada@example.com").await, stored_user(stores, "grace@example.com").await);
    let first = sample_session(ada.id);
    stores.users.insert_session(&first).await.unwrap();
    let mut second = sample_session(grace.id);
    second.id_hash = first.id_hash;
    let err = stores.users.insert_session(&second).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("session_id_unique")), "{err:?}");
    assert_eq!(stored(stores, &first).await, Some(first), "the first one is unchanged");
}

pub async fn touch_session_moves_last_seen_forward_only(stores: &Stores) {
    let user = stored_user(stores, "ada@example.com").await;
    let mut session = session_at(user.id, -600, -60, 3600);
    let bystander = session_at(user.id, -600, -60, 3600);
    stores.users.insert_session(&session).await.unwrap();
    stores.users.insert_session(&bystander).await.unwrap();

    let later = seconds_from_now(-1);
    stores.users.touch_session(&session.id_hash, later).await.unwrap();
    session.last_seen_at = later;
    assert_eq!(stored(stores, &session).await, Some(session.clone()), "only last_seen_at moved");
    // A slower request's older instant, or the same one, changes nothing.
    stores.users.touch_session(&session.id_hash, seconds_from_now(-30)).await.unwrap();
    stores.users.touch_session(&session.id_hash, later).await.unwrap();
    assert_eq!(stored(stores, &session).await, Some(session.clone()));
    // One microsecond later does move it.
    let next = later + TimeDelta::microseconds(1);
    stores.users.touch_session(&session.id_hash, next).await.unwrap();
    session.last_seen_at = next;
    assert_eq!(stored(stores, &session).await, Some(session));

    assert_eq!(stored(stores, &bystander).await, Some(bystander));
    // An unknown (e.g. signed-out) session is skipped, not created.
    let unknown = SecretHash::from_bytes(rand_bytes());
    stores.users.touch_session(&unknown, seconds_from_now(0)).await.unwrap();
    assert_eq!(stores.users.get_session(&unknown).await.unwrap(), None);
}

pub async fn delete_session_removes_only_that_session(stores: &Stores) {
    let user = stored_user(stores, "ada@example.com").await;
    let (doomed, kept) = (sample_session(user.id), sample_session(user.id));
    stores.users.insert_session(&doomed).await.unwrap();
    stores.users.insert_session(&kept).await.unwrap();
    assert!(stores.users.delete_session(&doomed.id_hash).await.unwrap());
    assert_eq!(stored(stores, &doomed).await, None);
    assert_eq!(stored(stores, &kept).await, Some(kept));
    assert!(!stores.users.delete_session(&doomed.id_hash).await.unwrap(), "a second delete finds nothing");
    assert_eq!(stores.users.get_user(user.id).await.unwrap(), Some(user), "the user stays");
}

pub async fn delete_user_sessions_removes_only_that_users(stores: &Stores) {
    let (ada, grace) =
        (stored_user(stores, "ada@example.com").await, stored_user(stores, "grace@example.com").await);
    let ada_sessions: Vec<Session> = (0..3).map(|_| sample_session(ada.id)).collect();
    let grace_session = sample_session(grace.id);
    for s in ada_sessions.iter().chain([&grace_session]) {
        stores.users.insert_session(s).await.unwrap();
    }
    assert_eq!(stores.users.delete_user_sessions(ada.id).await.unwrap(), 3);
    for s in &ada_sessions {
        assert_eq!(stored(stores, s).await, None);
    }
    assert_eq!(stored(stores, &grace_session).await, Some(grace_session));
    assert_eq!(stores.users.delete_user_sessions(ada.id).await.unwrap(), 0);
    assert_eq!(stores.users.delete_user_sessions(UserId::generate()).await.unwrap(), 0);
    assert_eq!(stores.users.get_user(ada.id).await.unwrap(), Some(ada), "the user stays");
}

pub async fn purge_sessions_by_absolute_and_idle_time(stores: &Stores) {
    let user = stored_user(stores, "ada@example.com").await;
    // Times in seconds from now: created, last seen, expires.
    let ended = session_at(user.id, -7200, -5, -10);
    let ends_now = session_at(user.id, -7200, -5, 0);
    let idle = session_at(user.id, -7200, -1800, 3600);
    let idle_exactly = session_at(user.id, -7200, -900, 3600);
    let active = session_at(user.id, -7200, -899, 3600);
    let fresh = sample_session(user.id);
    for s in [&ended, &ends_now, &idle, &idle_exactly, &active, &fresh] {
        stores.users.insert_session(s).await.unwrap();
    }
    // Purge "now" with a 15-minute idle timeout.
    let (now, idle_before) = (ends_now.expires_at, idle_exactly.last_seen_at);
    assert_eq!(stores.users.purge_sessions(now, idle_before, 100).await.unwrap(), 4);
    for gone in [&ended, &ends_now, &idle, &idle_exactly] {
        assert_eq!(stored(stores, gone).await, None);
    }
    assert_eq!(stored(stores, &active).await, Some(active));
    assert_eq!(stored(stores, &fresh).await, Some(fresh));
    assert_eq!(stores.users.purge_sessions(now, idle_before, 100).await.unwrap(), 0, "nothing left to purge");
}

pub async fn purge_sessions_deletes_at_most_the_limit(stores: &Stores) {
    let user = stored_user(stores, "ada@example.com").await;
    let mut stale = Vec::new();
    for i in 0..7 {
        // Alternately past their end and idle too long.
        let s = if i % 2 == 0 {
            session_at(user.id, -7200, -5, -60)
        } else {
            session_at(user.id, -7200, -7000, 60)
        };
        stores.users.insert_session(&s).await.unwrap();
        stale.push(s);
    }
    let kept = sample_session(user.id);
    stores.users.insert_session(&kept).await.unwrap();
    let (now, idle_before) = (seconds_from_now(0), seconds_from_now(-3600));
    assert_eq!(stores.users.purge_sessions(now, idle_before, 3).await.unwrap(), 3);
    assert_eq!(stores.users.purge_sessions(now, idle_before, 3).await.unwrap(), 3);
    assert_eq!(stores.users.purge_sessions(now, idle_before, 3).await.unwrap(), 1);
    assert_eq!(stores.users.purge_sessions(now, idle_before, 3).await.unwrap(), 0);
    assert_eq!(stores.users.purge_sessions(now, idle_before, 0).await.unwrap(), 0);
    for s in &stale {
        assert_eq!(stored(stores, s).await, None);
    }
    assert_eq!(stored(stores, &kept).await, Some(kept));
}
