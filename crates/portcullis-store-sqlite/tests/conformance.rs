//! The shared conformance suite, plus what only SQLite has: other processes
//! writing to the same file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use portcullis_domain::{ClientId, ClientStatus, now};
use portcullis_store::{
    ChangeWatch, ClientStore, Stores,
    conformance::{NO_DELETE_EVENTS, NO_EVENTS, put_client, sample_client},
};
use portcullis_store_sqlite::{SqliteStore, testing::fresh_database};
use tempfile::TempDir;

async fn fresh_store() -> (Arc<SqliteStore>, String, TempDir) {
    let (url, dir) = fresh_database();
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (store, url, dir)
}

async fn fresh() -> (Stores, TempDir) {
    let (store, _, dir) = fresh_store().await;
    (store.stores(), dir)
}

/// Makes the database refuse every update and delete of client `id`.
async fn refuse_client_writes(dir: &TempDir, id: ClientId) {
    let conn = rusqlite::Connection::open(db_path(dir)).unwrap();
    for (event, name) in [("UPDATE", "update"), ("DELETE", "delete")] {
        conn.execute_batch(&format!(
            "CREATE TRIGGER refuse_{name}_{simple} BEFORE {event} ON api_clients WHEN OLD.id = '{id}' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
            simple = id.as_uuid().simple(),
        ))
        .unwrap();
    }
}

portcullis_store::conformance_suite!(fresh, refuse_client_writes = refuse_client_writes);

fn db_path(dir: &TempDir) -> std::path::PathBuf {
    dir.path().join("portcullis.db")
}

#[tokio::test]
async fn generation_is_stable_while_nothing_is_written() {
    let (store, _, _dir) = fresh_store().await;
    let g = store.generation().unwrap();
    let _ = store.get_client(sample_client("x").id).await.unwrap();
    assert_eq!(store.generation().unwrap(), g);
}

#[tokio::test]
async fn generation_sees_a_commit_by_another_process() {
    let (store, _, dir) = fresh_store().await;
    let before = store.generation().unwrap();
    // What the CLI or an operator's sqlite3 shell does: its own connection.
    let other = rusqlite::Connection::open(db_path(&dir)).unwrap();
    other.execute("INSERT INTO server_secrets (name, value) VALUES ('x', x'00')", []).unwrap();
    assert_ne!(store.generation().unwrap(), before);
    let again = store.generation().unwrap();
    other.execute("DELETE FROM server_secrets", []).unwrap();
    assert_ne!(store.generation().unwrap(), again);
}

#[tokio::test]
async fn generation_sees_a_commit_by_another_store_on_the_same_file() {
    let (store, url, _dir) = fresh_store().await;
    let cli = SqliteStore::connect(&url).await.unwrap();
    let before = store.generation().unwrap();
    cli.insert_client(&sample_client("made by the CLI"), &[]).await.unwrap();
    assert_ne!(store.generation().unwrap(), before);
}

#[tokio::test]
async fn generation_sees_a_bulk_change_by_another_store_on_the_same_file() {
    let (store, url, _dir) = fresh_store().await;
    let cli = SqliteStore::connect(&url).await.unwrap();
    let (a, b) = (sample_client("a"), sample_client("b"));
    cli.insert_client(&a, &[]).await.unwrap();
    cli.insert_client(&b, &[]).await.unwrap();
    let before = store.generation().unwrap();
    cli.set_clients_status(&[a.id, b.id], ClientStatus::Disabled, now(), NO_EVENTS).await.unwrap();
    let disabled = store.generation().unwrap();
    assert_ne!(disabled, before, "bulk disable");
    cli.set_clients_status(&[a.id, b.id], ClientStatus::Disabled, now(), NO_EVENTS).await.unwrap();
    assert_eq!(store.generation().unwrap(), disabled, "nothing to change is no change");
    cli.delete_clients(&[a.id, b.id], NO_DELETE_EVENTS).await.unwrap();
    assert_ne!(store.generation().unwrap(), disabled, "bulk delete");
}

#[tokio::test]
async fn a_rolled_back_write_by_another_process_is_not_a_change() {
    let (store, _, dir) = fresh_store().await;
    let before = store.generation().unwrap();
    let mut other = rusqlite::Connection::open(db_path(&dir)).unwrap();
    let tx = other.transaction().unwrap();
    tx.execute("INSERT INTO server_secrets (name, value) VALUES ('x', x'00')", []).unwrap();
    tx.rollback().unwrap();
    assert_eq!(store.generation().unwrap(), before);
}

#[tokio::test]
async fn a_corrupt_row_is_reported_without_its_content() {
    let (store, _, dir) = fresh_store().await;
    let client = sample_client("fine");
    store.insert_client(&client, &[]).await.unwrap();
    let other = rusqlite::Connection::open(db_path(&dir)).unwrap();
    other.execute("UPDATE api_clients SET name = 'tab\tsecret-ish'", []).unwrap();
    let err = store.get_client(client.id).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, portcullis_store::StoreError::Corrupt(_)), "{shown}");
    assert!(shown.contains("api_clients.name"), "{shown}");
    assert!(!shown.contains("secret-ish"), "{shown}");
    let err = store.list_clients(&portcullis_store::ClientQuery { limit: 10, ..Default::default() }).await;
    assert!(matches!(err, Err(portcullis_store::StoreError::Corrupt(_))));
}

#[tokio::test]
async fn migrations_are_idempotent_and_data_survives_reopening() {
    let (store, url, _dir) = fresh_store().await;
    let client = sample_client("durable");
    store.insert_client(&client, &[]).await.unwrap();
    drop(store);
    let reopened = SqliteStore::connect(&url).await.unwrap();
    reopened.migrate().await.unwrap();
    assert_eq!(reopened.get_client(client.id).await.unwrap(), Some(client));
}

#[tokio::test]
async fn connect_accepts_both_url_spellings_and_creates_directories() {
    let dir = tempfile::tempdir().unwrap();
    for (i, prefix) in ["sqlite:", "sqlite://"].iter().enumerate() {
        let path = dir.path().join(format!("a{i}/b/portcullis.db"));
        let store = SqliteStore::connect(&format!("{prefix}{}", path.display())).await.unwrap();
        store.migrate().await.unwrap();
        assert!(path.exists(), "{prefix}");
    }
}

/// Inserts `client` with the columns every release had, as an older
/// release would have (the current store writes columns it may lack).
fn insert_as_released(dir: &TempDir, client: &portcullis_domain::ApiClient) {
    let other = rusqlite::Connection::open(db_path(dir)).unwrap();
    other
        .execute(
            "INSERT INTO api_clients (id, name, name_lower, description, status, role_id, token_ttl_seconds, \
             secret_hash, created_at, updated_at, last_used_at) \
             VALUES (?1, ?2, ?3, ?4, 'enabled', NULL, ?5, ?6, ?7, ?8, NULL)",
            rusqlite::params![
                client.id.to_string(),
                client.name.as_str(),
                client.name.as_str().to_lowercase(),
                client.description.as_ref().map(|d| d.as_str()),
                i64::from(client.token_ttl.as_secs()),
                client.secret_hash.as_bytes().as_slice(),
                client.created_at.timestamp_micros(),
                client.updated_at.timestamp_micros(),
            ],
        )
        .unwrap();
}

#[tokio::test]
async fn migrating_a_database_with_data_from_0001_keeps_it() {
    use sqlx::Connection;
    let (url, dir) = fresh_database();
    // The schema as the previous release left it, with a client in it.
    let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc")).await.unwrap();
    let mut previous = sqlx::migrate::Migrator::new(std::path::Path::new("migrations")).await.unwrap();
    previous.migrations = previous.migrations.iter().filter(|m| m.version == 1).cloned().collect();
    previous.run(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let client = sample_client("from the previous release");
    insert_as_released(&dir, &client);

    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.get_client(client.id).await.unwrap(), Some(client.clone()), "tokens_valid_after: None");
    let mut changed = client.clone();
    changed.tokens_valid_after = Some(portcullis_domain::now());
    assert!(put_client(&*store, &changed).await.unwrap());
    changed.version = 2;
    assert_eq!(store.get_client(client.id).await.unwrap(), Some(changed));
    store.migrate().await.unwrap();
}

#[tokio::test]
async fn a_corrupt_user_row_is_reported_without_its_content() {
    use portcullis_store::{StoreError, UserQuery, UserStore};
    let (store, _, dir) = fresh_store().await;
    let user = portcullis_store::conformance::sample_user("ada@example.com");
    store.insert_user(&user, &[]).await.unwrap();
    let other = rusqlite::Connection::open(db_path(&dir)).unwrap();
    for (column, sql) in [
        ("users.email", "UPDATE users SET email = 'no at sign, secret-ish'"),
        ("users.status", "UPDATE users SET email = 'ada@example.com', status = 'secret-ish'"),
    ] {
        if column == "users.status" {
            // The CHECK constraint refuses it; go around it as a broken tool might.
            other.execute_batch("PRAGMA ignore_check_constraints = ON").unwrap();
        }
        other.execute(sql, []).unwrap();
        let err = store.get_user(user.id).await.unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(matches!(err, StoreError::Corrupt(_)), "{shown}");
        assert!(shown.contains(column), "{shown}");
        assert!(!shown.contains("secret-ish"), "{shown}");
        let listed = store.list_users(&UserQuery { limit: 10, ..Default::default() }).await;
        assert!(matches!(listed, Err(StoreError::Corrupt(_))));
    }
}

#[tokio::test]
async fn migrating_a_database_with_data_from_0002_keeps_it() {
    let (url, dir) = fresh_database();
    // The schema as the previous release left it, with a client in it.
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc")).await.unwrap();
        let mut previous = sqlx::migrate::Migrator::new(std::path::Path::new("migrations")).await.unwrap();
        previous.migrations = previous.migrations.iter().filter(|m| m.version <= 2).cloned().collect();
        previous.run(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
    let store = SqliteStore::connect(&url).await.unwrap();
    let client = sample_client("from the previous release");
    insert_as_released(&dir, &client);
    store.migrate().await.unwrap();
    assert_eq!(store.get_client(client.id).await.unwrap(), Some(client));
    let user = portcullis_store::conformance::sample_user("ada@example.com");
    portcullis_store::UserStore::insert_user(&*store, &user, &[]).await.unwrap();
    assert_eq!(portcullis_store::UserStore::count_users(&*store).await.unwrap(), 1);
}

#[tokio::test]
async fn a_corrupt_event_row_is_reported_without_its_content() {
    use portcullis_store::{EventQuery, EventStore, StoreError, conformance::request_event};
    let (store, _, dir) = fresh_store().await;
    let event = request_event(portcullis_domain::ClientId::generate(), 200, portcullis_domain::now());
    store.insert_events(std::slice::from_ref(&event)).await.unwrap();
    let other = rusqlite::Connection::open(db_path(&dir)).unwrap();
    for (column, sql) in [
        ("events.status", "UPDATE events SET status = 70000, request_body = 'secret-ish'"),
        ("events.client_id", "UPDATE events SET status = 200, client_id = 'secret-ish'"),
    ] {
        other.execute(sql, []).unwrap();
        let err = store.get_event(event.id).await.unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(matches!(err, StoreError::Corrupt(_)), "{shown}");
        assert!(shown.contains(column), "{shown}");
        assert!(!shown.contains("secret-ish"), "{shown}");
        let listed = store.list_events(&EventQuery { limit: 10, ..Default::default() }).await;
        assert!(matches!(listed, Err(StoreError::Corrupt(_))));
    }
}

#[tokio::test]
async fn a_page_of_events_uses_an_index() {
    let (_store, _, dir) = fresh_store().await;
    let conn = rusqlite::Connection::open(db_path(&dir)).unwrap();
    for (sql, index) in [
        (
            "SELECT * FROM events WHERE (occurred_at, id) < (1, 'x') ORDER BY occurred_at DESC, id DESC LIMIT 50",
            "PRIMARY KEY",
        ),
        (
            "SELECT * FROM events WHERE client_id = 'x' ORDER BY occurred_at DESC, id DESC LIMIT 50",
            "events_client",
        ),
        (
            "SELECT * FROM events WHERE user_id = 'x' ORDER BY occurred_at DESC, id DESC LIMIT 50",
            "events_user",
        ),
        ("SELECT * FROM events WHERE kind = 'x' ORDER BY occurred_at DESC, id DESC LIMIT 50", "events_kind"),
        ("SELECT id FROM events WHERE occurred_at < 1 ORDER BY occurred_at LIMIT 50", "PRIMARY KEY"),
        ("SELECT * FROM events WHERE id = 'x'", "events_id"),
        (
            "SELECT * FROM events WHERE status / 100 = 5 ORDER BY occurred_at DESC, id DESC LIMIT 50",
            "events_status_class",
        ),
        (
            "SELECT * FROM events WHERE client_id = 'x' AND status BETWEEN 500 AND 599 ORDER BY occurred_at DESC, id DESC LIMIT 50",
            "events_client",
        ),
    ] {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let plan: Vec<String> =
            stmt.query_map([], |row| row.get::<_, String>(3)).unwrap().collect::<Result<_, _>>().unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains(index), "{sql}:\n{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "sorted by the index: {sql}:\n{plan}");
    }
}

#[tokio::test]
async fn migrating_a_database_with_data_from_0003_keeps_it() {
    use portcullis_store::{EventStore, UserStore, conformance::bare_event};
    let (url, dir) = fresh_database();
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc")).await.unwrap();
        let mut previous = sqlx::migrate::Migrator::new(std::path::Path::new("migrations")).await.unwrap();
        previous.migrations = previous.migrations.iter().filter(|m| m.version <= 3).cloned().collect();
        previous.run(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
    let store = SqliteStore::connect(&url).await.unwrap();
    let client = sample_client("from the previous release");
    insert_as_released(&dir, &client);
    let user = portcullis_store::conformance::sample_user("ada@example.com");
    // As that release wrote it (no version column yet).
    rusqlite::Connection::open(db_path(&dir))
        .unwrap()
        .execute(
            "INSERT INTO users (id, email, name, name_lower, status, password_hash, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, 'enabled', ?5, ?6, ?7)",
            rusqlite::params![
                user.id.to_string(),
                user.email.as_str(),
                user.name.as_str(),
                user.name.as_str().to_lowercase(),
                user.password_hash.as_ref().map(|h| h.as_phc().to_owned()),
                user.created_at.timestamp_micros(),
                user.updated_at.timestamp_micros(),
            ],
        )
        .unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.get_client(client.id).await.unwrap(), Some(client.clone()));
    assert_eq!(store.get_user(user.id).await.unwrap(), Some(user));
    // Events outlive what they are about: no foreign keys.
    let event = portcullis_domain::Event {
        client_id: Some(client.id),
        ..bare_event("client.deleted", portcullis_domain::now())
    };
    store.insert_events(std::slice::from_ref(&event)).await.unwrap();
    assert!(store.delete_client(client.id, None, NO_DELETE_EVENTS).await.unwrap().is_deleted());
    assert_eq!(store.get_event(event.id).await.unwrap(), Some(event));
}

#[tokio::test]
async fn writes_no_cache_holds_leave_the_generation_alone() {
    let (store, _, _dir) = fresh_store().await;
    let client = sample_client("busy");
    store.insert_client(&client, &[]).await.unwrap();
    let before = store.generation().unwrap();
    // Last-used flushes and events are written all the time; they must not
    // empty the caches (SQLite's data_version moves for them).
    store.record_last_used(&[(client.id, portcullis_domain::now())]).await.unwrap();
    assert_eq!(store.generation().unwrap(), before, "record_last_used");
    let mut renamed = client.clone();
    renamed.name = portcullis_domain::ClientName::parse("renamed").unwrap();
    put_client(&*store, &renamed).await.unwrap();
    assert_ne!(store.generation().unwrap(), before, "update_client");
}

#[tokio::test]
async fn events_written_before_0006_survive_the_move_to_time_order() {
    use portcullis_store::{EventQuery, EventStore, conformance::request_event};
    let (url, _dir) = fresh_database();
    let client = portcullis_domain::ClientId::generate();
    let older = request_event(client, 401, portcullis_domain::now() - chrono::TimeDelta::seconds(5));
    let newer = request_event(client, 200, portcullis_domain::now());
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc")).await.unwrap();
        let mut previous = sqlx::migrate::Migrator::new(std::path::Path::new("migrations")).await.unwrap();
        previous.migrations = previous.migrations.iter().filter(|m| m.version <= 5).cloned().collect();
        previous.run(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
    let store = SqliteStore::connect(&url).await.unwrap();
    store.insert_events(&[newer.clone(), older.clone()]).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.get_event(older.id).await.unwrap(), Some(older.clone()));
    let page = store
        .list_events(&EventQuery { limit: 10, client_id: Some(client), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(page, vec![newer, older]);
}
