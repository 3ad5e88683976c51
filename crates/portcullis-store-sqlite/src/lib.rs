//! Portcullis storage on an embedded SQLite database: the default backend.
//!
//! One [`SqliteStore`] implements every role trait of `portcullis-store`.
//! Timestamps are stored as INTEGER unix microseconds, UUIDs as hyphenated
//! lowercase TEXT, hashes and keys as BLOB.
//!
//! Durability: WAL with `synchronous = FULL`, so a write that returned `Ok`
//! survives `kill -9` and power loss. Change detection: `PRAGMA
//! data_version` on a dedicated connection, which changes whenever any other
//! connection — this store's pool, the CLI, another process — commits.

use std::{
    path::Path,
    str::FromStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use portcullis_store::{
    ChangeWatch, Health, Result, StoreError, Stores,
    stats::{AcquireWaits, PoolStats},
};
use sqlx::{
    Sqlite, SqlitePool,
    pool::PoolConnection,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

mod clients;
mod error;
mod events;
mod keys;
mod roles;
#[cfg(feature = "testing")]
pub mod testing;
mod tokens;
mod users;

use error::db_error;

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite has one writer at a time; a few connections serve concurrent reads.
const POOL_SIZE: u32 = 4;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Every Portcullis store on one SQLite database file.
pub struct SqliteStore {
    pool: SqlitePool,
    /// How long each acquisition of a pool connection waited: every query
    /// takes its connection through [`SqliteStore::conn`].
    waits: AcquireWaits,
    /// The change watch's own connection: see [`Watch`].
    watch: Mutex<Watch>,
}

/// `PRAGMA data_version` on a connection of its own sees every commit made
/// through the pool as well as by other processes, cheaply. It moves on
/// *every* commit, though, including events, sessions and last-used times
/// that no cache holds; so only when it moved is `change_counter` read,
/// which triggers bump on writes to what caches do hold (migration 0005).
struct Watch {
    conn: rusqlite::Connection,
    data_version: Option<i64>,
    generation: u64,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn invalid_url(msg: &'static str) -> StoreError {
    StoreError::database(std::io::Error::new(std::io::ErrorKind::InvalidInput, msg))
}

impl SqliteStore {
    /// Opens (creating it and its directory if missing) the database at
    /// `url`, `sqlite:path` or `sqlite://path`. Run [`migrate`](Self::migrate)
    /// before use.
    pub async fn connect(url: &str) -> Result<Arc<SqliteStore>> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            // The change watch needs a second connection to the same database.
            return Err(invalid_url("an in-memory SQLite database cannot be used; give a file path"));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| invalid_url("a SQLite database URL looks like sqlite:path/to/portcullis.db"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: in WAL mode NORMAL may lose the last commits on power loss.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let path = options.get_filename().to_owned();
        create_private(&path).map_err(StoreError::database)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(1)
            .connect_with(options)
            .await
            .map_err(db_error)?;
        let watch = open_watch(&path)?;
        Ok(Arc::new(SqliteStore {
            pool,
            waits: AcquireWaits::default(),
            watch: Mutex::new(Watch { conn: watch, data_version: None, generation: 0 }),
        }))
    }

    /// Applies the pending numbered migrations from `migrations/`.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await.map_err(StoreError::database)
    }

    /// This store as the service layer receives it.
    pub fn stores(self: &Arc<Self>) -> Stores {
        Stores::from_backend(self.clone())
    }

    /// A connection of the pool, the wait for it counted (`/metrics`). A
    /// connection that was idle is checked with a ping first (sqlx's
    /// `test_before_acquire`), which the wait includes.
    async fn conn(&self) -> Result<PoolConnection<Sqlite>> {
        self.waits.time(self.pool.acquire()).await.map_err(db_error)
    }
}

/// Creates the database's missing directories (0700) and the empty
/// database file (0600) before SQLite opens it: the file holds every
/// client's secret hash and the sealed keys, so it is the owner's alone,
/// like `master.key`. SQLite gives the `-wal` and `-shm` files it creates
/// the database file's mode. An existing file or directory is left as the
/// operator set it.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut dirs = std::fs::DirBuilder::new();
    dirs.recursive(true);
    let mut file = std::fs::OpenOptions::new();
    // Never truncate: `create` without `truncate` opens an existing file as is.
    file.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        dirs.mode(0o700);
        file.mode(0o600);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        dirs.create(parent)?;
    }
    file.open(path).map(drop)
}

fn open_watch(path: &Path) -> Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    // The pool has created the file already; never create a stray one here.
    let flags =
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(StoreError::database)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(StoreError::database)?;
    Ok(conn)
}

#[async_trait]
impl ChangeWatch for SqliteStore {
    fn generation(&self) -> Result<u64> {
        // A panic elsewhere while holding the lock leaves the connection
        // usable: it only ever runs these two reads.
        let mut watch = self.watch.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let version: i64 = watch
            .conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
            .map_err(StoreError::database)?;
        if watch.data_version != Some(version) {
            let counter: rusqlite::Result<i64> = watch
                .conn
                .prepare_cached("SELECT value FROM change_counter WHERE id = 1")
                .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)));
            watch.generation = match counter {
                Ok(counter) => counter as u64,
                // Not migrated yet: every commit counts, in a range of its own.
                Err(_) => (version as u64) | (1 << 63),
            };
            watch.data_version = Some(version);
        }
        Ok(watch.generation)
    }
}

#[async_trait]
impl Health for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&mut *self.conn().await?).await.map_err(db_error)?;
        Ok(())
    }

    fn pool(&self) -> PoolStats {
        let open = self.pool.size();
        PoolStats {
            name: "sqlite",
            max: self.pool.options().get_max_connections(),
            open,
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(open).min(open),
            acquire_wait: self.waits.waits(),
            acquire_failures: self.waits.failures(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_connection_is_durable_and_checks_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("nested/dir/p.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        // Several connections, so that the settings are seen on more than the first.
        let mut conns = Vec::new();
        for _ in 0..POOL_SIZE {
            conns.push(store.pool.acquire().await.unwrap());
        }
        for conn in &mut conns {
            let journal: String =
                sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut **conn).await.unwrap();
            let synchronous: i64 =
                sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut **conn).await.unwrap();
            let foreign_keys: i64 =
                sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut **conn).await.unwrap();
            let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut **conn).await.unwrap();
            assert_eq!(journal, "wal");
            assert_eq!(synchronous, 2, "FULL");
            assert_eq!(foreign_keys, 1);
            assert_eq!(busy, 5000);
        }
    }

    #[tokio::test]
    async fn in_memory_databases_are_refused() {
        for url in ["sqlite::memory:", "sqlite://file?mode=memory"] {
            let err = SqliteStore::connect(url).await.unwrap_err();
            assert!(err.to_string().contains("in-memory"), "{err}");
        }
    }
}
