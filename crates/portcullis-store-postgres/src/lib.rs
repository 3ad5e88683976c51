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
mod peers;
mod roles;
#[cfg(feature = "testing")]
pub mod testing;
mod tokens;
mod users;
mod watch;

use error::db_error;

/// A statement that is committed when it returns, also behind a
/// transaction pooler (where [`pooler_safe`] keeps every pool connection
/// inside a transaction until it goes back to the pool).
pub(crate) trait ExecuteCommitted {
    async fn execute_committed(
        self,
        store: &PgStore,
    ) -> std::result::Result<sqlx::postgres::PgQueryResult, sqlx::Error>;
}

impl<'q> ExecuteCommitted for sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    async fn execute_committed(
        self,
        store: &PgStore,
    ) -> std::result::Result<sqlx::postgres::PgQueryResult, sqlx::Error> {
        let mut conn = store.waits.time(store.pool.acquire()).await?;
        if store.direct.is_none() {
            return self.execute(&mut *conn).await;
        }
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let done = self.execute(&mut *tx).await?;
        sqlx::Executor::execute(&mut *tx, "DEALLOCATE ALL").await?;
        tx.commit().await?;
        Ok(done)
    }
}

/// Generous for a handful of instances; PostgreSQL's default limit is 100.
const POOL_SIZE: u32 = 10;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How a [`PgStore`] connects.
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// Where queries go: the database, or a transaction-pooling PgBouncer in
    /// front of it (then give `listen_url`).
    pub url: String,
    /// A direct connection to the database (not through a pooler), for
    /// `LISTEN` and the migrations' advisory lock, which a transaction
    /// pooler cannot carry. When given, `url` is taken to be such a pooler
    /// and queries are made safe for it (see [`pooler_safe`]).
    pub listen_url: Option<String>,
    /// The oldest change the caches may miss: past it without word from the
    /// change feed, they are bypassed (see `watch`).
    pub max_staleness: Duration,
    /// Connections in the query pool.
    pub pool_size: u32,
    /// This store serves requests from its caches (a server, not a CLI
    /// command): it acknowledges every other instance's writes, which wait
    /// for that before they are answered (see `peers`).
    pub serves: bool,
}

/// The default bound on how stale a cache may be.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(2);

impl PgSettings {
    /// A direct connection to `url`, with the default bound and pool.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            listen_url: None,
            max_staleness: DEFAULT_MAX_STALENESS,
            pool_size: POOL_SIZE,
            serves: false,
        }
    }
}

/// Every Portcullis store on one PostgreSQL database.
pub struct PgStore {
    pool: PgPool,
    /// A direct connection's options, for the migrations (`None`: `pool`'s own).
    direct: Option<PgConnectOptions>,
    /// How long each acquisition of a pool connection waited: every query
    /// takes its connection through [`PgStore::conn`].
    waits: AcquireWaits,
    /// Bumped by this store's own writes and by the listener task.
    generation: Arc<watch::Generation>,
    /// The change feed's heartbeat connection (see `watch`).
    heartbeats: PgPool,
    /// Dropped with the store, which tells the listener task to stop.
    _stop_watching: oneshot::Sender<()>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

fn connect_options(url: &str, setting: &str) -> Result<PgConnectOptions> {
    // The URL may hold a password: the error must not repeat it.
    PgConnectOptions::from_str(url).map_err(|_| {
        StoreError::database(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{setting}: a PostgreSQL database URL looks like postgres://user:password@host:5432/database"
            ),
        ))
    })
}

/// Makes a pool safe behind a transaction-pooling PgBouncer (1.18 and
/// later; 1.21's prepared-statement support is not needed).
///
/// sqlx prepares each statement in one round trip and runs it in another,
/// and keeps named prepared statements on its connection; PgBouncer in
/// transaction mode may hand each round trip to a different server
/// connection, where the statement does not exist (or another client's of
/// the same name does). So a connection, while a store call holds it, keeps
/// one server connection by being inside a transaction (`BEGIN` when taken
/// from the pool, `COMMIT` when given back; a store call's own transaction
/// nests inside, and its commit ends both); statements are not cached, and
/// the named ones are deallocated in the transaction, before the server
/// connection goes back to the pooler ([`PgStore::commit`], and at release).
/// PostgreSQL's warnings about the nesting are notices, which the server's
/// log filter leaves out.
fn pooler_safe(options: PgConnectOptions, pool: PgPoolOptions) -> (PgConnectOptions, PgPoolOptions) {
    use sqlx::Executor;
    let options = options.statement_cache_capacity(0);
    let pool = pool
        .after_connect(|conn, _| Box::pin(async move { conn.execute("BEGIN").await.map(drop) }))
        .before_acquire(|conn, _| Box::pin(async move { conn.execute("BEGIN").await.map(|_| true) }))
        .after_release(|conn, _| {
            // One message, so one server connection for both statements. An
            // aborted transaction's COMMIT is a rollback.
            Box::pin(async move { conn.execute("COMMIT; DEALLOCATE ALL").await.map(|_| true) })
        });
    (options, pool)
}

impl PgStore {
    /// Connects directly to the database at `url`
    /// (`postgres://user:password@host:port/db`) with the default settings,
    /// and starts listening for changes. Run [`migrate`](Self::migrate) before use.
    pub async fn connect(url: &str) -> Result<Arc<PgStore>> {
        Self::connect_with(&PgSettings::new(url)).await
    }

    /// Connects as `settings` say and starts listening for changes.
    pub async fn connect_with(settings: &PgSettings) -> Result<Arc<PgStore>> {
        let options = connect_options(&settings.url, "PORTCULLIS_DATABASE_URL")?;
        let direct = settings
            .listen_url
            .as_deref()
            .map(|url| connect_options(url, "PORTCULLIS_DATABASE_LISTEN_URL"))
            .transpose()?;
        let pool =
            PgPoolOptions::new().max_connections(settings.pool_size.max(1)).acquire_timeout(ACQUIRE_TIMEOUT);
        let (options, pool) = if direct.is_some() { pooler_safe(options, pool) } else { (options, pool) };
        let pool =
            pool.connect_with(options.clone().application_name("portcullis")).await.map_err(db_error)?;
        let generation = Arc::new(watch::Generation::with_peers(
            settings.max_staleness.max(Duration::from_millis(40)),
            settings.serves,
        ));
        let (stop, stopped) = oneshot::channel();
        let heartbeats = watch::spawn(direct.clone().unwrap_or(options), generation.clone(), stopped);
        Ok(Arc::new(PgStore {
            pool,
            direct,
            waits: AcquireWaits::default(),
            generation,
            heartbeats,
            _stop_watching: stop,
        }))
    }

    /// Applies the pending numbered migrations from `migrations/`. Safe when
    /// several instances start at once: sqlx serializes them with an
    /// advisory lock (held on the direct connection when there is one).
    pub async fn migrate(&self) -> Result<()> {
        match &self.direct {
            None => MIGRATOR.run(&self.pool).await.map_err(StoreError::database),
            Some(direct) => {
                let mut conn =
                    sqlx::ConnectOptions::connect(&direct.clone().application_name("portcullis-migrate"))
                        .await
                        .map_err(db_error)?;
                let migrated = MIGRATOR.run(&mut conn).await.map_err(StoreError::database);
                let _ = sqlx::Connection::close(conn).await;
                migrated
            }
        }
    }

    /// This store as the service layer receives it.
    pub fn stores(self: &Arc<Self>) -> Stores {
        Stores::from_backend(self.clone())
    }

    /// Commits `tx`. Behind a transaction pooler, the server connection goes
    /// back to the pooler with the commit: the statements prepared on it
    /// go first (see [`pooler_safe`]).
    async fn commit(&self, mut tx: sqlx::Transaction<'_, sqlx::Postgres>) -> Result<()> {
        if self.direct.is_some() {
            sqlx::Executor::execute(&mut *tx, "DEALLOCATE ALL").await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    /// After each committed write of our own: this instance's caches must
    /// see it at once (the trigger's notification arrives a little later),
    /// and the write is answered only once the change feed has delivered
    /// its notification (to every instance listening), at most the
    /// staleness bound later.
    async fn changed(&self) {
        self.generation.bump();
        watch::settle(&self.heartbeats, &self.generation).await;
    }

    /// A connection of the pool, the wait for it counted (`/metrics`). A
    /// connection that was idle is checked with a ping first (sqlx's
    /// `test_before_acquire`), which the wait includes.
    async fn conn(&self) -> Result<PoolConnection<Postgres>> {
        self.waits.time(self.pool.acquire()).await.map_err(db_error)
    }
}

#[async_trait]
impl ChangeWatch for PgStore {
    fn generation(&self) -> Result<u64> {
        Ok(self.generation.current())
    }

    fn staleness(&self) -> Option<Duration> {
        self.generation.staleness()
    }

    async fn leave(&self) {
        watch::leave(&self.heartbeats, &self.generation).await;
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
