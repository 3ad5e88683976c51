//! Fresh databases for tests, here and in other crates (feature `testing`).
//!
//! The server is the one at `PORTCULLIS_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test gets a database
//! of its own, dropped when its guard is.
#![allow(clippy::expect_used, clippy::panic)] // test helpers: failing loudly is the point

use sqlx::{Connection, Executor, PgConnection};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server tests run against.
pub fn server_url() -> String {
    std::env::var("PORTCULLIS_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// Drops its database when dropped, closing whatever still uses it.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    server_url: String,
}

impl TestDatabase {
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (name, server_url) = (self.name.clone(), self.server_url.clone());
        // Drop may run inside a test's runtime, which cannot be blocked on
        // from within: a thread with a runtime of its own does the work.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&server_url).await?;
                conn.execute(&*format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)).await?;
                conn.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        });
        if let Ok(Err(e)) = dropper.join() {
            tracing::warn!(database = %self.name, error = %e, "could not drop a test database");
        }
    }
}

/// A URL for a new, empty database on the test server, and its guard.
///
/// Connect with [`PgStore::connect`](crate::PgStore::connect) and run
/// [`migrate`](crate::PgStore::migrate).
pub async fn fresh_database() -> (String, TestDatabase) {
    let server_url = server_url();
    let name = format!("portcullis_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&server_url).await.unwrap_or_else(|e| {
        panic!("cannot reach the test PostgreSQL server (set PORTCULLIS_TEST_PG_URL; is it running?): {e}")
    });
    conn.execute(&*format!(r#"CREATE DATABASE "{name}""#)).await.expect("create a test database");
    let _ = conn.close().await;
    let url = with_database(&server_url, &name);
    (url, TestDatabase { name, server_url })
}

/// Makes the database at `url` refuse every update and delete of client
/// `id` (a trigger that raises), for the conformance case that a failed
/// write leaves nothing behind. Takes the suite's fixture.
pub async fn refuse_client_writes((url, _): &(String, TestDatabase), id: portcullis_domain::ClientId) {
    let mut conn = PgConnection::connect(url).await.expect("connect to the test database");
    let name = format!("refuse_{}", id.as_uuid().simple());
    conn.execute(&*format!(
        "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
         CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON api_clients FOR EACH ROW \
         WHEN (OLD.id = '{id}') EXECUTE FUNCTION {name}();"
    ))
    .await
    .expect("create the refusing trigger");
    let _ = conn.close().await;
}

/// `url` with its database path replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_or_added() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "t1"), "postgres://u@h:5432/t1");
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t1"), "postgres://h/t1");
        assert_eq!(with_database("postgresql://h:1?x=y", "t1"), "postgresql://h:1/t1?x=y");
    }
}
