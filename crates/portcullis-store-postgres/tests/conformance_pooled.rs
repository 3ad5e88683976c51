//! The shared conformance suite on a store made safe for a transaction
//! pooler (`PgSettings::listen_url` given): every pool connection inside a
//! transaction while a store call holds it, no statement cache, prepared
//! statements deallocated before the server connection goes back. Here
//! against PostgreSQL directly: the store must behave exactly as without
//! the pooler mode. `tests/blackbox/test_instances.py` runs it through a
//! real PgBouncer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_store::Stores;
use portcullis_store_postgres::{
    PgSettings, PgStore,
    testing::{TestDatabase, fresh_database, refuse_client_writes},
};

async fn fresh() -> (Stores, (String, TestDatabase)) {
    let (url, guard) = fresh_database().await;
    let settings = PgSettings { listen_url: Some(url.clone()), ..PgSettings::new(&url) };
    let store = PgStore::connect_with(&settings).await.unwrap();
    store.migrate().await.unwrap();
    (store.stores(), (url, guard))
}

portcullis_store::conformance_suite!(fresh, refuse_client_writes = refuse_client_writes);
