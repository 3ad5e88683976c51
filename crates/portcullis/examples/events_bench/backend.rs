//! The throwaway database of one run: a SQLite file in a temp dir, or a
//! PostgreSQL database created for the run and dropped after it.

use std::{fmt, path::PathBuf};

use anyhow::{Context, bail};
use portcullis_store::Stores;
use portcullis_store_postgres::PgStore;
use portcullis_store_sqlite::SqliteStore;
use sqlx::{Connection, PgConnection};

use crate::Args;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

pub enum Scratch {
    Sqlite {
        path: PathBuf,
        /// Removed when dropped, if the benchmark made it.
        _temp: Option<tempfile::TempDir>,
    },
    Postgres {
        /// The server's URL, to create and drop the database from.
        server: String,
        name: String,
        url: String,
    },
}

impl Scratch {
    pub async fn create(args: &Args) -> anyhow::Result<Self> {
        match args.backend {
            Backend::Sqlite => {
                let (dir, temp) = match &args.dir {
                    Some(dir) => (dir.clone(), None),
                    None => {
                        let temp = tempfile::Builder::new().prefix("portcullis-events-bench.").tempdir()?;
                        (temp.path().to_owned(), Some(temp))
                    }
                };
                let path = dir.join("events-bench.db");
                if path.exists() {
                    bail!("{} exists already: give an empty --dir", path.display());
                }
                Ok(Scratch::Sqlite { path, _temp: temp })
            }
            Backend::Postgres => {
                let name = &args.pg_database;
                if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                    bail!("--pg-database: lowercase letters, digits and _ only");
                }
                let mut conn = PgConnection::connect(&args.pg_url)
                    .await
                    .with_context(|| "could not reach the PostgreSQL server (--pg-url)".to_owned())?;
                sqlx::raw_sql(&format!(r#"CREATE DATABASE "{name}""#))
                    .execute(&mut conn)
                    .await
                    .with_context(|| format!("could not create the database {name}"))?;
                conn.close().await?;
                let url = with_database(&args.pg_url, name);
                Ok(Scratch::Postgres { server: args.pg_url.clone(), name: name.clone(), url })
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Scratch::Sqlite { path, .. } => path.display().to_string(),
            Scratch::Postgres { name, .. } => format!("database {name}"),
        }
    }

    /// Connected and migrated, as `portcullis serve` opens it.
    pub async fn open(&self) -> anyhow::Result<Stores> {
        match self {
            Scratch::Sqlite { path, .. } => {
                let store = SqliteStore::connect(&format!("sqlite:{}", path.display())).await?;
                store.migrate().await?;
                Ok(store.stores())
            }
            Scratch::Postgres { url, .. } => {
                let store = PgStore::connect(url).await?;
                store.migrate().await?;
                Ok(store.stores())
            }
        }
    }

    /// After seeding. PostgreSQL: what autovacuum does by itself within a
    /// minute or so of a bulk insert (visibility map, statistics), done now
    /// so that the timings do not depend on when it happens to run. SQLite:
    /// nothing, as in production (Portcullis runs no `ANALYZE`).
    pub async fn settle(&self) -> anyhow::Result<()> {
        if let Scratch::Postgres { url, .. } = self {
            let mut conn = PgConnection::connect(url).await?;
            sqlx::raw_sql("VACUUM (ANALYZE) events").execute(&mut conn).await?;
            conn.close().await?;
        }
        Ok(())
    }

    /// The events table with its indexes (SQLite: the whole file and its WAL).
    pub async fn size_bytes(&self) -> anyhow::Result<u64> {
        match self {
            Scratch::Sqlite { path, .. } => {
                let mut wal = path.clone().into_os_string();
                wal.push("-wal");
                let wal = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
                Ok(std::fs::metadata(path)?.len() + wal)
            }
            Scratch::Postgres { url, .. } => {
                let mut conn = PgConnection::connect(url).await?;
                let size: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('events')")
                    .fetch_one(&mut conn)
                    .await?;
                conn.close().await?;
                Ok(u64::try_from(size)?)
            }
        }
    }

    /// Drops the PostgreSQL database (closing whatever still uses it); the
    /// SQLite temp dir goes with `self`.
    pub async fn remove(self) -> anyhow::Result<()> {
        if let Scratch::Postgres { server, name, .. } = &self {
            let mut conn = PgConnection::connect(server).await?;
            sqlx::raw_sql(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                .execute(&mut conn)
                .await
                .with_context(|| format!("could not drop the database {name}"))?;
            conn.close().await?;
        }
        Ok(())
    }
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{}/{database}{query}", &base[..path])
}
