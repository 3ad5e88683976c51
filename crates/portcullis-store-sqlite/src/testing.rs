//! Fresh databases for tests, here and in other crates (feature `testing`).

/// A URL for a new, empty SQLite database file in a temporary directory,
/// and the directory: keep it alive for as long as the database is used.
///
/// Connect with [`SqliteStore::connect`](crate::SqliteStore::connect) and
/// run [`migrate`](crate::SqliteStore::migrate).
#[allow(clippy::expect_used)] // a test helper: failing loudly is the point
pub fn fresh_database() -> (String, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix("portcullis-test-")
        .tempdir()
        .expect("create a temporary directory for a test database");
    let url = format!("sqlite://{}", dir.path().join("portcullis.db").display());
    (url, dir)
}
