use async_trait::async_trait;
use chrono::DateTime;
use std::collections::HashMap;

use portcullis_domain::Event;
use portcullis_domain::{ApiClient, ClientId, ClientStatus, RoleId, Timestamp};
use portcullis_store::{
    BulkChange, BulkGuard, ChangeEvents, ClientPatch, ClientQuery, ClientStore, DeleteEvents, Deletion,
    Result, StoreError, Update,
    bulk::{self, done_ids, plan},
    change::{ClientField, DeletionPlan, Plan, plan_client_update, plan_deletion},
    decode::{self, ClientColumns},
    search,
};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use crate::{
    SqliteStore,
    error::{db_error, db_error_fk},
    events,
};

const COLUMNS: &str = "id, name, description, status, role_id, token_ttl_seconds, secret_hash, \
                       created_at, updated_at, last_used_at, tokens_valid_after, version";

/// A client's foreign key is its role; a violation means the role does not exist.
const ROLE_MISSING: &str = "client_role_missing";

/// Ids bound in one statement of a bulk change, well under SQLite's limit
/// of bound parameters (32,766 since 3.32; 999 before).
const BULK_CHUNK: usize = 500;

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    name: String,
    description: Option<String>,
    status: String,
    role_id: Option<String>,
    token_ttl_seconds: i64,
    secret_hash: Vec<u8>,
    created_at: i64,
    updated_at: i64,
    last_used_at: Option<i64>,
    tokens_valid_after: Option<i64>,
    version: i64,
}

pub(crate) fn micros(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn timestamp(micros: i64) -> Option<Timestamp> {
    DateTime::from_timestamp_micros(micros)
}

impl ClientRow {
    fn into_client(self) -> Result<ApiClient> {
        let Ok(id) = self.id.parse::<ClientId>() else {
            return Err(StoreError::Corrupt("api_clients.id is not a UUID".to_owned()));
        };
        let invalid = |column| decode::invalid_client_column(id, column);
        let role_id = match self.role_id {
            None => None,
            Some(r) => Some(Uuid::parse_str(&r).map(RoleId::from_uuid).map_err(|_| invalid("role_id"))?),
        };
        let at = |micros, column| timestamp(micros).ok_or_else(|| invalid(column));
        decode::client(ClientColumns {
            id,
            name: &self.name,
            description: self.description.as_deref(),
            status: &self.status,
            role_id,
            token_ttl_seconds: self.token_ttl_seconds,
            secret_hash: &self.secret_hash,
            created_at: at(self.created_at, "created_at")?,
            updated_at: at(self.updated_at, "updated_at")?,
            last_used_at: self.last_used_at.map(|t| at(t, "last_used_at")).transpose()?,
            tokens_valid_after: self.tokens_valid_after.map(|t| at(t, "tokens_valid_after")).transpose()?,
            version: self.version,
        })
    }
}

/// `(?, ?, …)` for `ids`, to follow `IN`.
fn push_ids(sql: &mut QueryBuilder<'_, Sqlite>, ids: &[ClientId]) {
    sql.push("(");
    let mut list = sql.separated(", ");
    for id in ids {
        list.push_bind(id.to_string());
    }
    sql.push(")");
}

/// The stored clients among `ids`, by id, inside the caller's transaction.
async fn clients_by_id(
    conn: &mut SqliteConnection,
    ids: &[ClientId],
) -> Result<HashMap<ClientId, ApiClient>> {
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(BULK_CHUNK) {
        let mut sql = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM api_clients WHERE id IN "));
        push_ids(&mut sql, chunk);
        let rows: Vec<ClientRow> = sql.build_query_as().fetch_all(&mut *conn).await.map_err(db_error)?;
        for row in rows {
            let client = row.into_client()?;
            found.insert(client.id, client);
        }
    }
    Ok(found)
}

/// One stored client, inside the caller's transaction.
async fn client_by_id(conn: &mut SqliteConnection, id: ClientId) -> Result<Option<ApiClient>> {
    let row: Option<ClientRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_clients WHERE id = ?"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    row.map(ClientRow::into_client).transpose()
}

/// `UPDATE api_clients SET` the `fields` of `c` (plus `updated_at` and
/// `version`) for its id.
async fn write_fields(conn: &mut SqliteConnection, c: &ApiClient, fields: &[ClientField]) -> Result<()> {
    let mut sql = QueryBuilder::<Sqlite>::new("UPDATE api_clients SET updated_at = ");
    sql.push_bind(micros(c.updated_at)).push(", version = ").push_bind(version(c.version)?);
    for field in fields {
        match field {
            ClientField::Name => {
                sql.push(", name = ").push_bind(c.name.as_str());
                sql.push(", name_lower = ").push_bind(search::fold(c.name.as_str()));
            }
            ClientField::Description => {
                sql.push(", description = ").push_bind(c.description.as_ref().map(|d| d.as_str().to_owned()));
            }
            ClientField::Status => {
                sql.push(", status = ").push_bind(c.status.as_str());
            }
            ClientField::Role => {
                sql.push(", role_id = ").push_bind(c.role_id.map(|r| r.to_string()));
            }
            ClientField::TokenTtl => {
                sql.push(", token_ttl_seconds = ").push_bind(i64::from(c.token_ttl.as_secs()));
            }
            ClientField::SecretHash => {
                sql.push(", secret_hash = ").push_bind(c.secret_hash.as_bytes().to_vec());
            }
            ClientField::TokensValidAfter => {
                sql.push(", tokens_valid_after = ").push_bind(c.tokens_valid_after.map(micros));
            }
        }
    }
    sql.push(" WHERE id = ").push_bind(c.id.to_string());
    sql.build().execute(&mut *conn).await.map_err(db_error_fk(ROLE_MISSING))?;
    Ok(())
}

fn version(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt("api_clients.version out of range".to_owned()))
}

/// How many of the newest clients a search reads in order before it asks
/// the trigram index instead: about 2 ms of `LIKE` at a million clients
/// (20,000 took 25 ms, the window being read whole before its filter). A
/// needle in one name of 40 or more fills a page of 50 within it.
const SEARCH_WINDOW: i64 = 2_000;

/// How a page of clients is narrowed before its filters.
enum Narrowing {
    /// Every row, newest first.
    None,
    /// Only the first this many rows in page order.
    Newest(i64),
    /// Only the rows whose folded name the trigram index matches (a GLOB).
    Trigrams(String),
}

impl SqliteStore {
    async fn clients_page(&self, query: &ClientQuery, narrowing: Narrowing) -> Result<Vec<ApiClient>> {
        let mut sql = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM "));
        let filter_order = |sql: &mut QueryBuilder<'_, Sqlite>| {
            if let Some(after) = &query.after {
                // A row value comparison, so that the index on (created_at, id) is used.
                sql.push(" AND (created_at, id) < (")
                    .push_bind(micros(after.created_at))
                    .push(", ")
                    .push_bind(after.id.to_string())
                    .push(")");
            }
            if let Some(status) = query.status {
                sql.push(" AND status = ").push_bind(status.as_str());
            }
        };
        match &narrowing {
            Narrowing::Newest(window) => {
                sql.push(format!("(SELECT {COLUMNS}, name_lower FROM api_clients WHERE 1 = 1"));
                filter_order(&mut sql);
                sql.push(" ORDER BY created_at DESC, id DESC LIMIT ")
                    .push_bind(*window)
                    .push(") WHERE 1 = 1");
            }
            Narrowing::Trigrams(glob) => {
                sql.push("api_clients WHERE rowid IN (SELECT rowid FROM api_clients_name_search WHERE name_lower GLOB ")
                    .push_bind(glob.clone())
                    .push(")");
                filter_order(&mut sql);
            }
            Narrowing::None => {
                sql.push("api_clients WHERE 1 = 1");
                filter_order(&mut sql);
            }
        }
        if let Some(needle) = &query.name_contains {
            sql.push(" AND name_lower LIKE ").push_bind(search::like_contains(needle)).push(" ESCAPE '\\'");
        }
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(i64::from(query.limit));
        let rows: Vec<ClientRow> =
            sql.build_query_as().fetch_all(&mut *self.conn().await?).await.map_err(db_error)?;
        rows.into_iter().map(ClientRow::into_client).collect()
    }
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn insert_client(&self, c: &ApiClient, events: &[Event]) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO api_clients (id, name, name_lower, description, status, role_id, token_ttl_seconds, \
             secret_hash, created_at, updated_at, last_used_at, tokens_valid_after, version) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.id.to_string())
        .bind(c.name.as_str())
        .bind(search::fold(c.name.as_str()))
        .bind(c.description.as_ref().map(|d| d.as_str()))
        .bind(c.status.as_str())
        .bind(c.role_id.map(|r| r.to_string()))
        .bind(i64::from(c.token_ttl.as_secs()))
        .bind(c.secret_hash.as_bytes().as_slice())
        .bind(micros(c.created_at))
        .bind(micros(c.updated_at))
        .bind(c.last_used_at.map(micros))
        .bind(c.tokens_valid_after.map(micros))
        .bind(version(c.version)?)
        .execute(&mut *tx)
        .await
        .map_err(db_error_fk(ROLE_MISSING))?;
        events::insert_in(&mut tx, events).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn get_client(&self, id: ClientId) -> Result<Option<ApiClient>> {
        let row: Option<ClientRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_clients WHERE id = ?"))
                .bind(id.to_string())
                .fetch_optional(&mut *self.conn().await?)
                .await
                .map_err(db_error)?;
        row.map(ClientRow::into_client).transpose()
    }

    async fn get_clients(&self, ids: &[ClientId]) -> Result<Vec<ApiClient>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn().await?;
        Ok(clients_by_id(&mut conn, ids).await?.into_values().collect())
    }

    async fn list_clients(&self, query: &ClientQuery) -> Result<Vec<ApiClient>> {
        let glob = query.name_contains.as_deref().and_then(search::trigram_glob);
        let Some(glob) = glob else { return self.clients_page(query, Narrowing::None).await };
        // A common needle fills the page from the newest rows: walk them in
        // order, a bounded number. A rare one does not: the trigram index
        // names its few rows, sorted then (migration 0011).
        let newest = self.clients_page(query, Narrowing::Newest(SEARCH_WINDOW)).await?;
        if newest.len() >= query.limit as usize {
            return Ok(newest);
        }
        self.clients_page(query, Narrowing::Trigrams(glob)).await
    }

    async fn update_client(
        &self,
        id: ClientId,
        patch: &ClientPatch,
        if_version: Option<u64>,
        at: Timestamp,
        events: ChangeEvents<'_, ApiClient>,
    ) -> Result<Update<ApiClient>> {
        // IMMEDIATE: the write lock first, so that the row read is the row
        // changed; no other writer can come between.
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let stored = client_by_id(&mut tx, id).await?;
        let (before, after, fields) = match plan_client_update(stored, patch, if_version, at) {
            Plan::Answer(answer) => return Ok(answer),
            Plan::Write { before, after, fields } => (before, after, fields),
        };
        write_fields(&mut tx, &after, &fields).await?;
        events::insert_in(&mut tx, &events(&before, &after)).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Update::Changed { before, after })
    }

    async fn delete_client(
        &self,
        id: ClientId,
        if_version: Option<u64>,
        events: DeleteEvents<'_, ApiClient>,
    ) -> Result<Deletion<ApiClient>> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let stored = client_by_id(&mut tx, id).await?;
        let client = match plan_deletion(stored, |c| c.version, if_version) {
            DeletionPlan::Answer(answer) => return Ok(answer),
            DeletionPlan::Delete(client) => client,
        };
        sqlx::query("DELETE FROM api_clients WHERE id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        events::insert_in(&mut tx, &events(&client)).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Deletion::Deleted(client))
    }

    async fn record_last_used(&self, used: &[(ClientId, Timestamp)]) -> Result<()> {
        if used.is_empty() {
            return Ok(());
        }
        // One transaction, one prepared statement per client. An unknown id
        // matches no row; a stored later instant fails the condition (and a
        // client listed twice ends with the later of its instants).
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        for (id, at) in used {
            sqlx::query(
                "UPDATE api_clients SET last_used_at = ?1 \
                 WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)",
            )
            .bind(micros(*at))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn set_clients_status_guarded(
        &self,
        ids: &[ClientId],
        status: ClientStatus,
        at: Timestamp,
        guard: BulkGuard<'_>,
        events: ChangeEvents<'_, ApiClient>,
    ) -> Result<Vec<BulkChange>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // IMMEDIATE: the write lock first, so that what is read below is
        // what gets written (a deferred transaction upgrading its read lock
        // would fail at once if another connection wrote meanwhile).
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let found = clients_by_id(&mut tx, ids).await?;
        let plan = plan(ids, found, |c| c.status != status);
        bulk::check_guard(&plan, guard)?;
        // The status column fires the change-counter trigger (migration 0005).
        for chunk in done_ids(&plan).chunks(BULK_CHUNK) {
            let mut sql = QueryBuilder::<Sqlite>::new("UPDATE api_clients SET status = ");
            sql.push_bind(status.as_str())
                .push(", updated_at = ")
                .push_bind(micros(at))
                .push(", version = version + 1 WHERE id IN ");
            push_ids(&mut sql, chunk);
            sql.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        events::insert_in(&mut tx, &bulk::status_events(&plan, status, at, events)).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(plan)
    }

    async fn delete_clients_guarded(
        &self,
        ids: &[ClientId],
        guard: BulkGuard<'_>,
        events: DeleteEvents<'_, ApiClient>,
    ) -> Result<Vec<BulkChange>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let found = clients_by_id(&mut tx, ids).await?;
        let plan = plan(ids, found, |_| true);
        bulk::check_guard(&plan, guard)?;
        for chunk in done_ids(&plan).chunks(BULK_CHUNK) {
            let mut sql = QueryBuilder::<Sqlite>::new("DELETE FROM api_clients WHERE id IN ");
            push_ids(&mut sql, chunk);
            sql.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        events::insert_in(&mut tx, &bulk::delete_events(&plan, events)).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(plan)
    }
}
