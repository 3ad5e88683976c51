use async_trait::async_trait;
use std::collections::HashMap;

use portcullis_domain::{ApiClient, ClientId, ClientStatus, Event, RoleId, Timestamp, TokenTtl};
use portcullis_store::{
    BulkChange, BulkGuard, ChangeEvents, ClientPatch, ClientQuery, ClientStore, DeleteEvents, Deletion,
    Result, StoreError, Update,
    bulk::{self, done_ids, plan},
    change::{ClientField, DeletionPlan, Plan, plan_client_update, plan_deletion},
    decode::{self, ClientColumns},
    search,
};
use sqlx::{Connection, PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{
    PgStore,
    error::{db_error, db_error_fk},
    events,
};

const COLUMNS: &str = "id, name, description, status, role_id, token_ttl_seconds, secret_hash, \
                       created_at, updated_at, last_used_at, tokens_valid_after, version";

/// A client's foreign key is its role; a violation means the role does not exist.
const ROLE_MISSING: &str = "client_role_missing";

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: Uuid,
    name: String,
    description: Option<String>,
    status: String,
    role_id: Option<Uuid>,
    token_ttl_seconds: i32,
    secret_hash: Vec<u8>,
    created_at: Timestamp,
    updated_at: Timestamp,
    last_used_at: Option<Timestamp>,
    tokens_valid_after: Option<Timestamp>,
    version: i64,
}

impl ClientRow {
    fn into_client(self) -> Result<ApiClient> {
        decode::client(ClientColumns {
            id: ClientId::from_uuid(self.id),
            name: &self.name,
            description: self.description.as_deref(),
            status: &self.status,
            role_id: self.role_id.map(RoleId::from_uuid),
            token_ttl_seconds: i64::from(self.token_ttl_seconds),
            secret_hash: &self.secret_hash,
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_used_at: self.last_used_at,
            tokens_valid_after: self.tokens_valid_after,
            version: self.version,
        })
    }
}

fn ttl_seconds(ttl: TokenTtl) -> i32 {
    // At most 86,400 by construction.
    i32::try_from(ttl.as_secs()).unwrap_or(i32::MAX)
}

/// The stored clients among `ids`, by id, locked until the caller's
/// transaction ends. Locked in id order, so that bulk changes of
/// overlapping lists on several instances wait for each other instead of
/// deadlocking.
async fn lock_clients(conn: &mut PgConnection, ids: &[Uuid]) -> Result<HashMap<ClientId, ApiClient>> {
    let rows: Vec<ClientRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_clients WHERE id = ANY($1) ORDER BY id FOR UPDATE"
    ))
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    rows.into_iter().map(|row| row.into_client().map(|c| (c.id, c))).collect()
}

fn uuids(ids: &[ClientId]) -> Vec<Uuid> {
    ids.iter().map(|id| id.as_uuid()).collect()
}

/// One stored client, locked until the caller's transaction ends.
async fn lock_client(conn: &mut PgConnection, id: ClientId) -> Result<Option<ApiClient>> {
    let row: Option<ClientRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_clients WHERE id = $1 FOR UPDATE"))
            .bind(id.as_uuid())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
    row.map(ClientRow::into_client).transpose()
}

/// `UPDATE api_clients SET` the `fields` of `c` (plus `updated_at` and
/// `version`) for its id.
async fn write_fields(conn: &mut PgConnection, c: &ApiClient, fields: &[ClientField]) -> Result<()> {
    let mut sql = QueryBuilder::<Postgres>::new("UPDATE api_clients SET updated_at = ");
    sql.push_bind(c.updated_at).push(", version = ").push_bind(version(c.version)?);
    for field in fields {
        match field {
            ClientField::Name => {
                sql.push(", name = ").push_bind(c.name.as_str().to_owned());
                sql.push(", name_lower = ").push_bind(search::fold(c.name.as_str()));
            }
            ClientField::Description => {
                sql.push(", description = ").push_bind(c.description.as_ref().map(|d| d.as_str().to_owned()));
            }
            ClientField::Status => {
                sql.push(", status = ").push_bind(c.status.as_str());
            }
            ClientField::Role => {
                sql.push(", role_id = ").push_bind(c.role_id.map(|r| r.as_uuid()));
            }
            ClientField::TokenTtl => {
                sql.push(", token_ttl_seconds = ").push_bind(ttl_seconds(c.token_ttl));
            }
            ClientField::SecretHash => {
                sql.push(", secret_hash = ").push_bind(c.secret_hash.as_bytes().to_vec());
            }
            ClientField::TokensValidAfter => {
                sql.push(", tokens_valid_after = ").push_bind(c.tokens_valid_after);
            }
        }
    }
    sql.push(" WHERE id = ").push_bind(c.id.as_uuid());
    sql.build().execute(&mut *conn).await.map_err(db_error_fk(ROLE_MISSING))?;
    Ok(())
}

fn version(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt("api_clients.version out of range".to_owned()))
}

/// How many of the newest clients a search by name reads in order before
/// it leaves the choice to the planner (as the SQLite store does).
const SEARCH_WINDOW: i64 = 2_000;

impl PgStore {
    /// A page of clients; `window`: only the first this many rows in page
    /// order are searched.
    async fn clients_page(&self, query: &ClientQuery, window: Option<i64>) -> Result<Vec<ApiClient>> {
        let mut sql = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM "));
        let filter = |sql: &mut QueryBuilder<'_, Postgres>| {
            if let Some(after) = &query.after {
                // A row value comparison, so that the index on (created_at, id) is used.
                sql.push(" AND (created_at, id) < (")
                    .push_bind(after.created_at)
                    .push(", ")
                    .push_bind(after.id.as_uuid())
                    .push(")");
            }
            if let Some(status) = query.status {
                sql.push(" AND status = ").push_bind(status.as_str());
            }
        };
        match window {
            Some(window) => {
                sql.push(format!("(SELECT {COLUMNS}, name_lower FROM api_clients WHERE 1 = 1"));
                filter(&mut sql);
                sql.push(" ORDER BY created_at DESC, id DESC LIMIT ")
                    .push_bind(window)
                    .push(") AS newest WHERE 1 = 1");
            }
            None => {
                sql.push("api_clients WHERE 1 = 1");
                filter(&mut sql);
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
impl ClientStore for PgStore {
    async fn insert_client(&self, c: &ApiClient, events: &[Event]) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO api_clients (id, name, name_lower, description, status, role_id, token_ttl_seconds, \
             secret_hash, created_at, updated_at, last_used_at, tokens_valid_after, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(c.id.as_uuid())
        .bind(c.name.as_str())
        .bind(search::fold(c.name.as_str()))
        .bind(c.description.as_ref().map(|d| d.as_str()))
        .bind(c.status.as_str())
        .bind(c.role_id.map(|r| r.as_uuid()))
        .bind(ttl_seconds(c.token_ttl))
        .bind(c.secret_hash.as_bytes().as_slice())
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(c.last_used_at)
        .bind(c.tokens_valid_after)
        .bind(version(c.version)?)
        .execute(&mut *tx)
        .await
        .map_err(db_error_fk(ROLE_MISSING))?;
        events::insert_in(&mut tx, events).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(())
    }

    async fn get_client(&self, id: ClientId) -> Result<Option<ApiClient>> {
        let row: Option<ClientRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_clients WHERE id = $1"))
                .bind(id.as_uuid())
                .fetch_optional(&mut *self.conn().await?)
                .await
                .map_err(db_error)?;
        row.map(ClientRow::into_client).transpose()
    }

    async fn get_clients(&self, ids: &[ClientId]) -> Result<Vec<ApiClient>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<ClientRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_clients WHERE id = ANY($1)"))
                .bind(uuids(ids))
                .fetch_all(&mut *self.conn().await?)
                .await
                .map_err(db_error)?;
        rows.into_iter().map(ClientRow::into_client).collect()
    }

    async fn list_clients(&self, query: &ClientQuery) -> Result<Vec<ApiClient>> {
        if query.name_contains.is_none() {
            return self.clients_page(query, None).await;
        }
        // A common needle fills the page from the newest rows: walk them in
        // order, a bounded number. Otherwise the planner takes the trigram
        // index (migration 0010), whose matches it sorts: few for a rare
        // needle, but 62,500 for a common one at a million clients (175 ms).
        let newest = self.clients_page(query, Some(SEARCH_WINDOW)).await?;
        if newest.len() >= query.limit as usize {
            return Ok(newest);
        }
        self.clients_page(query, None).await
    }

    async fn update_client(
        &self,
        id: ClientId,
        patch: &ClientPatch,
        if_version: Option<u64>,
        at: Timestamp,
        events: ChangeEvents<'_, ApiClient>,
    ) -> Result<Update<ApiClient>> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        // FOR UPDATE: the row read is the row changed; a concurrent change
        // waits for this transaction and then reads its result.
        let stored = lock_client(&mut tx, id).await?;
        let (before, after, fields) = match plan_client_update(stored, patch, if_version, at) {
            Plan::Answer(answer) => return Ok(answer),
            Plan::Write { before, after, fields } => (before, after, fields),
        };
        write_fields(&mut tx, &after, &fields).await?;
        events::insert_in(&mut tx, &events(&before, &after)).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(Update::Changed { before, after })
    }

    async fn delete_client(
        &self,
        id: ClientId,
        if_version: Option<u64>,
        events: DeleteEvents<'_, ApiClient>,
    ) -> Result<Deletion<ApiClient>> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        let stored = lock_client(&mut tx, id).await?;
        let client = match plan_deletion(stored, |c| c.version, if_version) {
            DeletionPlan::Answer(answer) => return Ok(answer),
            DeletionPlan::Delete(client) => client,
        };
        sqlx::query("DELETE FROM api_clients WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        events::insert_in(&mut tx, &events(&client)).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(Deletion::Deleted(client))
    }

    async fn record_last_used(&self, used: &[(ClientId, Timestamp)]) -> Result<()> {
        if used.is_empty() {
            return Ok(());
        }
        let (ids, ats): (Vec<Uuid>, Vec<Timestamp>) = used.iter().map(|(id, at)| (id.as_uuid(), *at)).unzip();
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        // Lock the rows in id order first, so that instances flushing
        // overlapping batches at once wait for each other instead of
        // deadlocking (the UPDATE alone locks in whatever order its plan
        // visits the rows).
        sqlx::query("SELECT id FROM api_clients WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        // Unknown ids join nothing; a client listed twice gets the later
        // instant; a stored later instant fails the condition.
        sqlx::query(
            "UPDATE api_clients c SET last_used_at = u.at \
             FROM (SELECT id, max(at) AS at FROM unnest($1::uuid[], $2::timestamptz[]) AS t (id, at) \
                   GROUP BY id) u \
             WHERE c.id = u.id AND (c.last_used_at IS NULL OR c.last_used_at < u.at)",
        )
        .bind(&ids)
        .bind(&ats)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        self.commit(tx).await?;
        // Not `self.changed()`: no cache holds last-used times for
        // authentication, and the trigger does not notify either (0002).
        Ok(())
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
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        let found = lock_clients(&mut tx, &uuids(ids)).await?;
        let plan = plan(ids, found, |c| c.status != status);
        bulk::check_guard(&plan, guard)?;
        let changed = uuids(&done_ids(&plan));
        if !changed.is_empty() {
            // The row trigger notifies every instance (0002).
            sqlx::query(
                "UPDATE api_clients SET status = $1, updated_at = $2, version = version + 1 WHERE id = ANY($3)",
            )
            .bind(status.as_str())
            .bind(at)
            .bind(&changed)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        events::insert_in(&mut tx, &bulk::status_events(&plan, status, at, events)).await?;
        self.commit(tx).await?;
        if !changed.is_empty() {
            self.changed().await;
        }
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
        let mut tx = conn.begin().await.map_err(db_error)?;
        let found = lock_clients(&mut tx, &uuids(ids)).await?;
        let plan = plan(ids, found, |_| true);
        bulk::check_guard(&plan, guard)?;
        let deleted = uuids(&done_ids(&plan));
        if !deleted.is_empty() {
            sqlx::query("DELETE FROM api_clients WHERE id = ANY($1)")
                .bind(&deleted)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        events::insert_in(&mut tx, &bulk::delete_events(&plan, events)).await?;
        self.commit(tx).await?;
        if !deleted.is_empty() {
            self.changed().await;
        }
        Ok(plan)
    }
}
