//! Portcullis storage on PostgreSQL, for several instances sharing the load.
//!
//! One [`PgStore`] implements every role trait of `portcullis-store`.
//! Timestamps are `timestamptz`, ids `uuid`, hashes and keys `bytea`.
//!
//! Change detection: triggers `pg_notify('portcullis_changes', …)` on every
//! write to a Portcullis table that a cache could care about; a background
//! task `LISTEN`s and bumps the store's generation, so the caches of every
//! instance see every such commit. Not notified: updates of a client or a
//! personal access token that change only `last_used_at`
//! (`record_last_used`, `record_personal_token_used`, several times a
//! minute), purges of expired token revocations, console sessions (every
//! write to `sessions`) and events (inserts and purges of `events`). The
//! store's own writes bump the generation at once, those excepted. While the
//! listener is not connected (at start-up, after
//! losing the server) every read of the generation answers a new number:
//! caches cannot tell what they missed.

use std::{str::FromStr, sync::Arc, time::Duration};

use async_trait::async_trait;
use portcullis_store::{
    ChangeWatch, Health, Result, StoreError, Stores,
    stats::{AcquireWaits, PoolStats},
};
use sqlx::{
    PgPool, Postgres,
    pool::PoolConnection,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::sync::oneshot;

mod clients;
mod error;
mod events;
mod keys;
mod roles;
#[cfg(feature = "testing")]
pub mod testing;
mod tokens;
mod users;
mod watch;

use error::db_error;

/// Generous for a handful of instances; PostgreSQL's default limit is 100.
const POOL_SIZE: u32 = 10;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Every Portcullis store on one PostgreSQL database.
pub struct PgStore {
    pool: PgPool,
    /// How long each acquisition of a pool connection waited: every query
    /// takes its connection through [`PgStore::conn`].
    waits: AcquireWaits,
    /// Bumped by this store's own writes and by the listener task.
    generation: Arc<watch::Generation>,
    /// Dropped with the store, which tells the listener task to stop.
    _stop_watching: oneshot::Sender<()>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`)
    /// and starts listening for changes. Run [`migrate`](Self::migrate) before use.
    pub async fn connect(url: &str) -> Result<Arc<PgStore>> {
        // The URL may hold a password: the error must not repeat it.
        let options = PgConnectOptions::from_str(url).map_err(|_| {
            StoreError::database(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a PostgreSQL database URL looks like postgres://user:password@host:5432/database",
            ))
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone().application_name("portcullis"))
            .await
            .map_err(db_error)?;
        let generation = Arc::new(watch::Generation::default());
        let (stop, stopped) = oneshot::channel();
        watch::spawn(options.application_name("portcullis-watch"), generation.clone(), stopped);
        Ok(Arc::new(PgStore { pool, waits: AcquireWaits::default(), generation, _stop_watching: stop }))
    }

    /// Applies the pending numbered migrations from `migrations/`. Safe when
    /// several instances start at once: sqlx serializes them with an
    /// advisory lock.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await.map_err(StoreError::database)
    }

    /// This store as the service layer receives it.
    pub fn stores(self: &Arc<Self>) -> Stores {
        Stores::from_backend(self.clone())
    }

    /// After each committed write of our own: the notification from the
    /// trigger arrives a little later, but this instance's cache must see
    /// its own writes at once.
    fn changed(&self) {
        self.generation.bump();
    }

    /// A connection of the pool, the wait for it counted (`/metrics`). A
    /// connection that was idle is checked with a ping first (sqlx's
    /// `test_before_acquire`), which the wait includes.
    async fn conn(&self) -> Result<PoolConnection<Postgres>> {
        self.waits.time(self.pool.acquire()).await.map_err(db_error)
    }
}

impl ChangeWatch for PgStore {
    fn generation(&self) -> Result<u64> {
        Ok(self.generation.current())
    }
}

#[async_trait]
impl Health for PgStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&mut *self.conn().await?).await.map_err(db_error)?;
        Ok(())
    }

    /// The pool the queries use; the change listener's own connection
    /// (see `watch`) is not in it.
    fn pool(&self) -> PoolStats {
        let open = self.pool.size();
        PoolStats {
            name: "postgres",
            max: self.pool.options().get_max_connections(),
            open,
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(open).min(open),
            acquire_wait: self.waits.waits(),
            acquire_failures: self.waits.failures(),
        }
    }
}
