//! The shared conformance suite, plus what only PostgreSQL has: several
//! instances on one database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use portcullis_domain::{builtin_permissions, builtin_roles};
use portcullis_store::{ChangeWatch, ClientStore, RoleStore, Stores, conformance::sample_client};
use portcullis_store_postgres::{
    PgStore,
    testing::{TestDatabase, fresh_database},
};
use sqlx::{Connection, Executor, PgConnection};

async fn fresh_store() -> (Arc<PgStore>, String, TestDatabase) {
    let (url, guard) = fresh_database().await;
    let store = PgStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (store, url, guard)
}

async fn fresh() -> (Stores, TestDatabase) {
    let (store, _, guard) = fresh_store().await;
    (store.stores(), guard)
}

portcullis_store::conformance_suite!(fresh);

/// Waits (a bounded time) until `store`'s generation differs from `before`.
async fn generation_moves(store: &PgStore, before: u64) -> bool {
    for _ in 0..200 {
        if store.generation().unwrap() != before {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
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
    other.insert_client(&sample_client("made elsewhere")).await.unwrap();
    assert!(generation_moves(&store, before).await, "no notification arrived");
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
    listening(&store).await;
    let before = store.generation().unwrap();
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
