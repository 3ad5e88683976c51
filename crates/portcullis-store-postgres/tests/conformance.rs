//! The shared conformance suite, plus what only PostgreSQL has: several
//! instances on one database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use portcullis_domain::{
    ClientId, ClientStatus, UserId, UserName, UserStatus, builtin_permissions, builtin_roles, now,
};
use portcullis_store::{
    ChangeWatch, ClientStore, KeyStore, RoleStore, StoredSigningKey, Stores, TokenStore, UserStore,
    conformance::{
        NO_DELETE_EVENTS, NO_EVENTS, put_client, sample_client, sample_personal_token, sample_session,
        sample_user,
    },
};
use portcullis_store_postgres::{
    PgStore,
    testing::{TestDatabase, fresh_database, refuse_client_writes},
};
use sqlx::{Connection, Executor, PgConnection};

async fn fresh_store() -> (Arc<PgStore>, String, TestDatabase) {
    let (url, guard) = fresh_database().await;
    let store = PgStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (store, url, guard)
}

async fn fresh() -> (Stores, (String, TestDatabase)) {
    let (store, url, guard) = fresh_store().await;
    (store.stores(), (url, guard))
}

portcullis_store::conformance_suite!(fresh, refuse_client_writes = refuse_client_writes);

/// How long a NOTIFY may take to reach another instance's listener.
const NOTIFY_WAIT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(25);

/// Waits (at most [`NOTIFY_WAIT`]) until `store`'s generation differs from `before`.
async fn generation_moves(store: &PgStore, before: u64) -> bool {
    for _ in 0..NOTIFY_WAIT.as_millis() / POLL.as_millis() {
        if store.generation().unwrap() != before {
            return true;
        }
        tokio::time::sleep(POLL).await;
    }
    false
}

/// Waits until the listener is connected and no notification has arrived
/// for a while; returns the generation then.
async fn settled(store: &PgStore) -> u64 {
    listening(store).await;
    let mut last = store.generation().unwrap();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = store.generation().unwrap();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the generation never settled");
}

/// Whether `store`'s generation is still `before` a while after a write
/// (longer than any NOTIFY takes here, as the positive cases show).
async fn generation_stays(store: &PgStore, before: u64) -> bool {
    tokio::time::sleep(Duration::from_millis(500)).await;
    store.generation().unwrap() == before
}

/// Waits until the store's listener is connected, i.e. the generation is steady.
async fn listening(store: &PgStore) {
    for _ in 0..200 {
        let g = store.generation().unwrap();
        if store.generation().unwrap() == g {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the change listener never connected");
}

#[tokio::test]
async fn generation_sees_a_commit_by_another_instance() {
    let (store, url, _guard) = fresh_store().await;
    let other = PgStore::connect(&url).await.unwrap();
    listening(&store).await;
    let before = store.generation().unwrap();
    other.insert_client(&sample_client("made elsewhere"), &[]).await.unwrap();
    assert!(generation_moves(&store, before).await, "no notification arrived");
}

#[tokio::test]
async fn bulk_changes_are_a_change_for_every_instance() {
    let (store, url, _guard) = fresh_store().await;
    let other = PgStore::connect(&url).await.unwrap();
    let (a, b) = (sample_client("a"), sample_client("b"));
    store.insert_client(&a, &[]).await.unwrap();
    store.insert_client(&b, &[]).await.unwrap();
    let ids = [a.id, b.id];

    let (mine, theirs) = (settled(&store).await, settled(&other).await);
    store.set_clients_status(&ids, ClientStatus::Disabled, now(), NO_EVENTS).await.unwrap();
    assert_ne!(store.generation().unwrap(), mine, "the changing instance sees it at once");
    assert!(generation_moves(&other, theirs).await, "no notification after a bulk disable");

    // Nothing to change: nobody needs to drop anything.
    let (mine, theirs) = (settled(&store).await, settled(&other).await);
    store.set_clients_status(&ids, ClientStatus::Disabled, now(), NO_EVENTS).await.unwrap();
    assert_eq!(store.generation().unwrap(), mine);
    assert!(generation_stays(&other, theirs).await, "notified though nothing changed");

    let (mine, theirs) = (settled(&store).await, settled(&other).await);
    other.delete_clients(&ids, NO_DELETE_EVENTS).await.unwrap();
    assert!(generation_moves(&store, mine).await, "no notification after a bulk delete");
    assert_ne!(other.generation().unwrap(), theirs);
}

#[tokio::test]
async fn generation_sees_a_commit_made_outside_portcullis() {
    let (store, url, _guard) = fresh_store().await;
    listening(&store).await;
    let before = store.generation().unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    conn.execute("INSERT INTO server_secrets (name, value) VALUES ('x', '\\x00')").await.unwrap();
    assert!(generation_moves(&store, before).await, "no notification arrived");
}

#[tokio::test]
async fn generation_is_steady_while_nothing_is_written() {
    let (store, _, _guard) = fresh_store().await;
    // Settled, not just listening: the listener connecting (which moves
    // the generation once) may come late on a loaded machine.
    let before = settled(&store).await;
    let _ = store.get_client(sample_client("x").id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.generation().unwrap(), before);
}

#[tokio::test]
async fn instances_starting_at_once_migrate_and_sync_once() {
    let (url, _guard) = fresh_database().await;
    let (a, b) = tokio::join!(PgStore::connect(&url), PgStore::connect(&url));
    let (a, b) = (a.unwrap(), b.unwrap());
    let (ma, mb) = tokio::join!(a.migrate(), b.migrate());
    ma.unwrap();
    mb.unwrap();
    let (permissions, roles) = (builtin_permissions(), builtin_roles());
    for _ in 0..3 {
        let (sa, sb) =
            tokio::join!(a.sync_builtins(&permissions, &roles), b.sync_builtins(&permissions, &roles));
        sa.unwrap();
        sb.unwrap();
    }
    assert_eq!(a.list_roles().await.unwrap().len(), roles.len());
}

async fn connections_to(database: &str) -> i64 {
    let mut conn = PgConnection::connect(&portcullis_store_postgres::testing::server_url()).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
        .bind(database)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn dropping_the_store_closes_its_connections_and_stops_listening() {
    let (store, _, guard) = fresh_store().await;
    listening(&store).await;
    assert!(connections_to(guard.name()).await >= 2, "the pool and the listener");
    drop(store);
    for _ in 0..200 {
        if connections_to(guard.name()).await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("connections left open after the store was dropped");
}

#[tokio::test]
async fn record_last_used_is_not_a_change_for_any_instance() {
    let (store, url, _guard) = fresh_store().await;
    let other = PgStore::connect(&url).await.unwrap();
    let (a, b) = (sample_client("busy"), sample_client("busier"));
    store.insert_client(&a, &[]).await.unwrap();
    store.insert_client(&b, &[]).await.unwrap();
    let (mine, theirs) = (settled(&store).await, settled(&other).await);

    // Both instances flush their batches, the way the service does.
    store.record_last_used(&[(a.id, now()), (b.id, now())]).await.unwrap();
    other.record_last_used(&[(b.id, now()), (ClientId::generate(), now())]).await.unwrap();
    assert!(store.get_client(a.id).await.unwrap().unwrap().last_used_at.is_some(), "it was written");
    assert_eq!(store.generation().unwrap(), mine, "the store does not count it as a change of its own");
    assert!(generation_stays(&store, mine).await, "no notification for the writer");
    assert!(generation_stays(&other, theirs).await, "no notification for the other instance");

    // The listeners are working: a revocation does reach both.
    store.revoke_token(uuid::Uuid::new_v4(), a.id, now()).await.unwrap();
    assert!(generation_moves(&other, theirs).await, "no notification arrived");
    assert!(generation_moves(&store, mine).await);
}

#[tokio::test]
async fn a_revocation_is_a_change_for_every_instance() {
    let (store, url, _guard) = fresh_store().await;
    let other = PgStore::connect(&url).await.unwrap();
    let (mine, theirs) = (settled(&store).await, settled(&other).await);
    let jti = uuid::Uuid::new_v4();
    store.revoke_token(jti, ClientId::generate(), now()).await.unwrap();
    assert_ne!(store.generation().unwrap(), mine, "the revoking instance sees it at once");
    assert!(generation_moves(&other, theirs).await, "no notification arrived");

    // Revoking it again inserts nothing: nobody needs to drop anything.
    let (mine, theirs) = (settled(&store).await, settled(&other).await);
    other.revoke_token(jti, ClientId::generate(), now()).await.unwrap();
    assert_eq!(other.generation().unwrap(), theirs);
    assert!(generation_stays(&store, mine).await);
    assert!(other.is_token_revoked(jti).await.unwrap());
}

#[tokio::test]
async fn deleting_a_signing_key_is_a_change_for_every_instance() {
    let (store, url, _guard) = fresh_store().await;
    let other = PgStore::connect(&url).await.unwrap();
    let key = StoredSigningKey {
        kid: "k1".to_owned(),
        algorithm: "EdDSA".to_owned(),
        public_key: vec![1; 32],
        sealed_private_key: vec![2; 72],
        created_at: now(),
        state: portcullis_store::KeyState::Previous,
        activated_at: None,
        replaced_at: None,
    };
    store.insert_signing_key(&key).await.unwrap();
    let (mine, theirs) = (settled(&store).await, settled(&other).await);
    assert!(store.delete_signing_key("k1").await.unwrap());
    assert_ne!(store.generation().unwrap(), mine, "the deleting instance sees it at once");
    assert!(generation_moves(&other, theirs).await, "no notification arrived");
}

#[tokio::test]
async fn an_update_of_any_client_column_but_last_used_at_is_a_change() {
    let (store, url, _guard) = fresh_store().await;
    store.sync_builtins(&builtin_permissions(), &builtin_roles()).await.unwrap();
    store.insert_client(&sample_client("edited by hand"), &[]).await.unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    // What an operator's psql session (or a later release's code) might do.
    let quiet = [
        "UPDATE api_clients SET last_used_at = now()",
        "UPDATE api_clients SET last_used_at = NULL",
        "UPDATE api_clients SET name = name", // changes nothing at all
        "UPDATE api_clients SET name = 'x' WHERE false",
    ];
    let changes = [
        "UPDATE api_clients SET tokens_valid_after = now()",
        "UPDATE api_clients SET tokens_valid_after = NULL",
        "UPDATE api_clients SET status = 'disabled'",
        "UPDATE api_clients SET secret_hash = '\\x0000000000000000000000000000000000000000000000000000000000000000'",
        "UPDATE api_clients SET role_id = '00000000-0000-4000-8000-000000000001'",
        "UPDATE api_clients SET token_ttl_seconds = 60",
        "UPDATE api_clients SET description = NULL",
        "UPDATE api_clients SET updated_at = now()",
        "UPDATE api_clients SET name = 'renamed', name_lower = 'renamed', last_used_at = now()",
    ];
    for sql in quiet {
        let before = settled(&store).await;
        conn.execute(sql).await.unwrap();
        assert!(generation_stays(&store, before).await, "notified after: {sql}");
    }
    for sql in changes {
        let before = settled(&store).await;
        conn.execute(sql).await.unwrap();
        assert!(generation_moves(&store, before).await, "no notification after: {sql}");
    }
}

#[tokio::test]
async fn migrating_a_database_with_data_from_0001_keeps_it() {
    let (url, _guard) = fresh_database().await;
    // The schema as the previous release left it, with a client in it.
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let mut previous = sqlx::migrate::Migrator::new(std::path::Path::new("migrations")).await.unwrap();
    previous.migrations = previous.migrations.iter().filter(|m| m.version == 1).cloned().collect();
    previous.run(&mut conn).await.unwrap();
    let client = sample_client("from the previous release");
    sqlx::query(
        "INSERT INTO api_clients (id, name, name_lower, description, status, role_id, token_ttl_seconds, \
         secret_hash, created_at, updated_at, last_used_at) \
         VALUES ($1, $2, $3, $4, 'enabled', NULL, $5, $6, $7, $8, NULL)",
    )
    .bind(client.id.as_uuid())
    .bind(client.name.as_str())
    .bind(client.name.as_str().to_lowercase())
    .bind(client.description.as_ref().map(|d| d.as_str()))
    .bind(i32::try_from(client.token_ttl.as_secs()).unwrap())
    .bind(client.secret_hash.as_bytes().as_slice())
    .bind(client.created_at)
    .bind(client.updated_at)
    .execute(&mut conn)
    .await
    .unwrap();

    let store = PgStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.get_client(client.id).await.unwrap(), Some(client.clone()), "tokens_valid_after: None");
    let mut changed = client.clone();
    changed.tokens_valid_after = Some(now());
    assert!(put_client(&*store, &changed).await.unwrap());
    changed.version = 2;
    assert_eq!(store.get_client(client.id).await.unwrap(), Some(changed));
    store.migrate().await.unwrap();
}

#[tokio::test]
async fn session_writes_and_token_use_are_not_a_change_but_user_writes_are() {
    let (store, url, _guard) = fresh_store().await;
    let other = PgStore::connect(&url).await.unwrap();
    store.sync_builtins(&builtin_permissions(), &builtin_roles()).await.unwrap();
    let mut user = sample_user("ada@example.com");
    store.insert_user(&user, &[]).await.unwrap();
    store.replace_personal_token(&sample_personal_token(user.id), &[]).await.unwrap();
    let (mine, theirs) = (settled(&store).await, settled(&other).await);

    // What every console request and every use of a token does.
    let session = sample_session(user.id);
    store.insert_session(&session).await.unwrap();
    store.touch_session(&session.id_hash, now()).await.unwrap();
    other.touch_session(&session.id_hash, now()).await.unwrap();
    store.record_personal_token_used(&[(user.id, now())]).await.unwrap();
    other.record_personal_token_used(&[(user.id, now()), (UserId::generate(), now())]).await.unwrap();
    assert!(store.get_user_personal_token(user.id).await.unwrap().unwrap().last_used_at.is_some(), "written");
    assert!(store.delete_session(&session.id_hash).await.unwrap());
    let idle = sample_session(user.id);
    store.insert_session(&idle).await.unwrap();
    assert_eq!(store.purge_sessions(now(), now(), 10).await.unwrap(), 1);
    assert_eq!(store.generation().unwrap(), mine, "the store does not count them as changes of its own");
    assert_eq!(other.generation().unwrap(), theirs);
    assert!(generation_stays(&store, mine).await, "no notification for the writer");
    assert!(generation_stays(&other, theirs).await, "no notification for the other instance");

    // A user update is a change for every instance.
    user.status = UserStatus::Disabled;
    user.name = UserName::parse("Ada, disabled").unwrap();
    assert!(portcullis_store::conformance::put_user(&*store, &user).await.unwrap());
    assert_ne!(store.generation().unwrap(), mine, "the writer sees it at once");
    assert!(generation_moves(&other, theirs).await, "no notification arrived");
}

#[tokio::test]
async fn an_update_of_any_personal_token_column_but_last_used_at_is_a_change() {
    let (store, url, _guard) = fresh_store().await;
    let user = sample_user("ada@example.com");
    store.insert_user(&user, &[]).await.unwrap();
    store.replace_personal_token(&sample_personal_token(user.id), &[]).await.unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let quiet = [
        "UPDATE personal_access_tokens SET last_used_at = now()",
        "UPDATE personal_access_tokens SET last_used_at = NULL",
        "UPDATE personal_access_tokens SET hint = hint",
        "UPDATE sessions SET last_seen_at = now()",
    ];
    let changes = [
        "UPDATE personal_access_tokens SET hint = 'pat_…0000'",
        "UPDATE personal_access_tokens SET created_at = now(), last_used_at = now()",
        "UPDATE personal_access_tokens SET hash = '\\x0000000000000000000000000000000000000000000000000000000000000000'",
        "UPDATE users SET updated_at = now()",
        "DELETE FROM personal_access_tokens",
    ];
    for sql in quiet {
        let before = settled(&store).await;
        conn.execute(sql).await.unwrap();
        assert!(generation_stays(&store, before).await, "notified after: {sql}");
    }
    for sql in changes {
        let before = settled(&store).await;
        conn.execute(sql).await.unwrap();
        assert!(generation_moves(&store, before).await, "no notification after: {sql}");
    }
}

#[tokio::test]
async fn inserting_and_purging_events_is_no_change() {
    use portcullis_store::{EventStore, conformance::bare_event};
    let (store, url, _guard) = fresh_store().await;
    let other = PgStore::connect(&url).await.unwrap();
    let mine = settled(&store).await;
    let theirs = settled(&other).await;
    let old = now() - chrono::TimeDelta::days(40);
    let events: Vec<_> = (0..20).map(|_| bare_event("token.request", old)).collect();
    store.insert_events(&events).await.unwrap();
    store.insert_events(&[bare_event("client.created", now())]).await.unwrap();
    assert_eq!(store.purge_events(now() - chrono::TimeDelta::days(30), 100).await.unwrap(), 20);
    assert_eq!(store.generation().unwrap(), mine, "the store does not count them as changes of its own");
    assert!(generation_stays(&store, mine).await, "no notification for the writer");
    assert!(generation_stays(&other, theirs).await, "no notification for the other instance");
    // Nor are writes made outside Portcullis.
    let mut conn = PgConnection::connect(&url).await.unwrap();
    conn.execute("UPDATE events SET details = '{}'").await.unwrap();
    conn.execute("DELETE FROM events").await.unwrap();
    assert!(generation_stays(&store, mine).await, "no notification after other writes");
}

#[tokio::test]
async fn concurrent_purges_delete_each_event_once() {
    use portcullis_store::{EventQuery, EventStore, conformance::bare_event};
    let (store, url, _guard) = fresh_store().await;
    let other = PgStore::connect(&url).await.unwrap();
    let start = now() - chrono::TimeDelta::days(40);
    let events: Vec<_> =
        (0..3_000).map(|i| bare_event("token.request", start + chrono::TimeDelta::milliseconds(i))).collect();
    store.insert_events(&events).await.unwrap();
    let kept = bare_event("token.request", now());
    store.insert_events(std::slice::from_ref(&kept)).await.unwrap();
    let before = now() - chrono::TimeDelta::days(30);
    // Several purgers on two instances, each in batches until one is short.
    let purger = |s: Arc<PgStore>| async move {
        let mut total = 0;
        loop {
            let n = s.purge_events(before, 97).await.unwrap();
            total += n;
            if n == 0 {
                return total;
            }
        }
    };
    let (a, b, c, d) = tokio::join!(
        purger(store.clone()),
        purger(other.clone()),
        purger(store.clone()),
        purger(other.clone())
    );
    assert_eq!(a + b + c + d, 3_000, "{a} + {b} + {c} + {d}");
    let left = store.list_events(&EventQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(left, [kept]);
}

#[tokio::test]
async fn a_page_of_events_uses_an_index() {
    use portcullis_store::{EventStore, conformance::request_event};
    let (store, url, _guard) = fresh_store().await;
    let client = ClientId::generate();
    let events: Vec<_> = (0..2_000).map(|_| request_event(client, 200, now())).collect();
    store.insert_events(&events).await.unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    conn.execute("ANALYZE events").await.unwrap();
    for (sql, index) in [
        ("SELECT * FROM events ORDER BY occurred_at DESC, id DESC LIMIT 50", "events_occurred"),
        (
            "SELECT * FROM events WHERE client_id = '00000000-0000-4000-8000-000000000001' ORDER BY occurred_at DESC, id DESC LIMIT 50",
            "events_client",
        ),
        (
            "SELECT * FROM events WHERE user_id = '00000000-0000-4000-8000-000000000001' ORDER BY occurred_at DESC, id DESC LIMIT 50",
            "events_user",
        ),
        (
            "SELECT * FROM events WHERE kind = 'revocation' ORDER BY occurred_at DESC, id DESC LIMIT 50",
            "events_kind",
        ),
        (
            "SELECT * FROM events WHERE status / 100 = 5 ORDER BY occurred_at DESC, id DESC LIMIT 50",
            "events_status_class",
        ),
    ] {
        let plan: Vec<String> =
            sqlx::query_scalar(&format!("EXPLAIN {sql}")).fetch_all(&mut conn).await.unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains(index), "{sql}:\n{plan}");
    }
}

#[tokio::test]
async fn concurrent_purges_of_revocations_and_sessions_remove_each_once() {
    let (store, url, _guard) = fresh_store().await;
    let other = PgStore::connect(&url).await.unwrap();
    let past = now() - chrono::TimeDelta::hours(1);
    for _ in 0..600 {
        store.revoke_token(uuid::Uuid::new_v4(), ClientId::generate(), past).await.unwrap();
    }
    let alive = uuid::Uuid::new_v4();
    store.revoke_token(alive, ClientId::generate(), now() + chrono::TimeDelta::hours(1)).await.unwrap();
    let user = portcullis_store::conformance::sample_user("fleet@example.com");
    store.insert_user(&user, &[]).await.unwrap();
    for _ in 0..600 {
        let mut session = sample_session(user.id);
        session.expires_at = past;
        store.insert_session(&session).await.unwrap();
    }
    let kept = sample_session(user.id);
    store.insert_session(&kept).await.unwrap();

    // What every instance's purger does at once: batches until one is short.
    let purge = |s: Arc<PgStore>| async move {
        let (mut revocations, mut sessions) = (0, 0);
        loop {
            let r = s.purge_revoked_tokens(now(), 37).await.unwrap();
            let q = s.purge_sessions(now(), past - chrono::TimeDelta::days(1), 41).await.unwrap();
            revocations += r;
            sessions += q;
            if r == 0 && q == 0 {
                return (revocations, sessions);
            }
        }
    };
    let results =
        tokio::join!(purge(store.clone()), purge(other.clone()), purge(store.clone()), purge(other.clone()));
    let all = [results.0, results.1, results.2, results.3];
    assert_eq!(all.iter().map(|r| r.0).sum::<u64>(), 600, "{all:?}");
    assert_eq!(all.iter().map(|r| r.1).sum::<u64>(), 600, "{all:?}");
    assert!(store.is_token_revoked(alive).await.unwrap(), "an unexpired revocation stays");
    assert!(store.get_session(&kept.id_hash).await.unwrap().is_some(), "a live session stays");
}

#[tokio::test]
async fn last_used_flushes_from_several_instances_never_move_a_time_back() {
    let (store, url, _guard) = fresh_store().await;
    let other = PgStore::connect(&url).await.unwrap();
    let clients: Vec<_> = (0..20).map(|i| sample_client(&format!("busy {i}"))).collect();
    for c in &clients {
        store.insert_client(c, &[]).await.unwrap();
    }
    let base = now();
    // Each round, the two instances flush overlapping batches at once, one
    // with later instants than the other; whichever commits last, the
    // latest instant stays.
    for round in 0..15i64 {
        let later = base + chrono::TimeDelta::seconds(round * 10 + 5);
        let earlier = base + chrono::TimeDelta::seconds(round * 10);
        let late: Vec<_> = clients.iter().map(|c| (c.id, later)).collect();
        let early: Vec<_> = clients.iter().rev().map(|c| (c.id, earlier)).collect();
        let (first, second) = if round % 2 == 0 { (&store, &other) } else { (&other, &store) };
        let (a, b) = tokio::join!(first.record_last_used(&late), second.record_last_used(&early));
        a.unwrap();
        b.unwrap();
        for c in &clients {
            let stored = store.get_client(c.id).await.unwrap().unwrap().last_used_at;
            assert_eq!(stored.map(|t| t.timestamp_millis()), Some(later.timestamp_millis()), "round {round}");
        }
    }
}
