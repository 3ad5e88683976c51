//! The event writer under load: a flush writes what was queued when it
//! began, in large transactions, and leaves what arrives meanwhile for the
//! next flush (chasing it turned one flush into hundreds of tiny commits a
//! second, each with its own sync).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use portcullis_domain::{Event, EventId, Timestamp, now};
use portcullis_service::{MasterKey, Service, ServiceConfig, events::BATCH};
use portcullis_store::{EventQuery, EventStore, Result, Stores, conformance::bare_event};
use portcullis_store_sqlite::SqliteStore;

/// The real store; every insert sees more events arrive while it runs.
struct Busy {
    inner: Arc<dyn EventStore>,
    service: OnceLock<Service>,
    batch_sizes: Mutex<Vec<usize>>,
}

const ARRIVING_PER_INSERT: usize = 7;

#[async_trait]
impl EventStore for Busy {
    async fn insert_events(&self, events: &[Event]) -> Result<()> {
        self.batch_sizes.lock().unwrap().push(events.len());
        for _ in 0..ARRIVING_PER_INSERT {
            self.service.get().unwrap().record(bare_event("token.request", now()));
        }
        self.inner.insert_events(events).await
    }
    async fn get_event(&self, id: EventId) -> Result<Option<Event>> {
        self.inner.get_event(id).await
    }
    async fn list_events(&self, query: &EventQuery) -> Result<Vec<Event>> {
        self.inner.list_events(query).await
    }
    async fn purge_events(&self, before: Timestamp, limit: u32) -> Result<u64> {
        self.inner.purge_events(before, limit).await
    }
}

#[tokio::test]
async fn a_flush_writes_what_was_queued_when_it_began_in_large_transactions() {
    let (url, _dir) = portcullis_store_sqlite::testing::fresh_database();
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let mut stores: Stores = store.stores();
    let busy = Arc::new(Busy {
        inner: stores.events.clone(),
        service: OnceLock::new(),
        batch_sizes: Mutex::new(Vec::new()),
    });
    stores.events = busy.clone();
    let config = ServiceConfig::new("https://auth.example", "https://api.example");
    let service = Service::start(stores, config, &MasterKey::generate()).await.unwrap();
    busy.service.set(service.clone()).ok().unwrap();

    service.set_event_queue_capacity(3 * BATCH);
    let queued = 2 * BATCH + 3;
    for _ in 0..queued {
        service.record(bare_event("token.request", now()));
    }
    // Chasing the newcomers would never end here: a time limit turns that into a failure.
    let flushed = tokio::time::timeout(std::time::Duration::from_secs(30), service.flush_events()).await;
    assert_eq!(flushed.expect("the flush ended").unwrap(), queued);
    assert_eq!(*busy.batch_sizes.lock().unwrap(), vec![BATCH, BATCH, 3], "one transaction per {BATCH}");
    assert_eq!(service.queued_events(), 3 * ARRIVING_PER_INSERT, "newcomers wait for the next flush");

    // The next flush takes them (and, again, not what arrives meanwhile).
    assert_eq!(service.flush_events().await.unwrap(), 3 * ARRIVING_PER_INSERT);
    assert_eq!(service.queued_events(), ARRIVING_PER_INSERT);
    let stored = service.list_events(&portcullis_service::Caller::cli(), Default::default()).await.unwrap();
    assert!(!stored.items.is_empty());
}
