use async_trait::async_trait;
use std::collections::HashMap;

use portcullis_domain::{ApiClient, ClientId, ClientStatus, RoleId, Timestamp, TokenTtl};
use portcullis_store::{
    BulkChange, ClientQuery, ClientStore, Result,
    bulk::{done_ids, plan},
    decode::{self, ClientColumns},
    search,
};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{
    PgStore,
    error::{db_error, db_error_fk},
};

const COLUMNS: &str = "id, name, description, status, role_id, token_ttl_seconds, secret_hash, \
                       created_at, updated_at, last_used_at, tokens_valid_after";

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

#[async_trait]
impl ClientStore for PgStore {
    async fn insert_client(&self, c: &ApiClient) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_clients (id, name, name_lower, description, status, role_id, token_ttl_seconds, \
             secret_hash, created_at, updated_at, last_used_at, tokens_valid_after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
        .execute(&self.pool)
        .await
        .map_err(db_error_fk(ROLE_MISSING))?;
        self.changed();
        Ok(())
    }

    async fn get_client(&self, id: ClientId) -> Result<Option<ApiClient>> {
        let row: Option<ClientRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_clients WHERE id = $1"))
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
        row.map(ClientRow::into_client).transpose()
    }

    async fn list_clients(&self, query: &ClientQuery) -> Result<Vec<ApiClient>> {
        let mut sql = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM api_clients WHERE 1 = 1"));
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
        if let Some(needle) = &query.name_contains {
            sql.push(" AND name_lower LIKE ").push_bind(search::like_contains(needle)).push(" ESCAPE '\\'");
        }
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(i64::from(query.limit));
        let rows: Vec<ClientRow> = sql.build_query_as().fetch_all(&self.pool).await.map_err(db_error)?;
        rows.into_iter().map(ClientRow::into_client).collect()
    }

    async fn update_client(&self, c: &ApiClient) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_clients SET name = $1, name_lower = $2, description = $3, status = $4, role_id = $5, \
             token_ttl_seconds = $6, secret_hash = $7, updated_at = $8, last_used_at = $9, \
             tokens_valid_after = $10 WHERE id = $11",
        )
        .bind(c.name.as_str())
        .bind(search::fold(c.name.as_str()))
        .bind(c.description.as_ref().map(|d| d.as_str()))
        .bind(c.status.as_str())
        .bind(c.role_id.map(|r| r.as_uuid()))
        .bind(ttl_seconds(c.token_ttl))
        .bind(c.secret_hash.as_bytes().as_slice())
        .bind(c.updated_at)
        .bind(c.last_used_at)
        .bind(c.tokens_valid_after)
        .bind(c.id.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(db_error_fk(ROLE_MISSING))?;
        self.changed();
        Ok(done.rows_affected() > 0)
    }

    async fn delete_client(&self, id: ClientId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_clients WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        self.changed();
        Ok(done.rows_affected() > 0)
    }

    async fn record_last_used(&self, used: &[(ClientId, Timestamp)]) -> Result<()> {
        if used.is_empty() {
            return Ok(());
        }
        let (ids, ats): (Vec<Uuid>, Vec<Timestamp>) = used.iter().map(|(id, at)| (id.as_uuid(), *at)).unzip();
        let mut tx = self.pool.begin().await.map_err(db_error)?;
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
        tx.commit().await.map_err(db_error)?;
        // Not `self.changed()`: no cache holds last-used times for
        // authentication, and the trigger does not notify either (0002).
        Ok(())
    }

    async fn set_clients_status(
        &self,
        ids: &[ClientId],
        status: ClientStatus,
        at: Timestamp,
    ) -> Result<Vec<BulkChange>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let found = lock_clients(&mut tx, &uuids(ids)).await?;
        let plan = plan(ids, found, |c| c.status != status);
        let changed = uuids(&done_ids(&plan));
        if !changed.is_empty() {
            // The row trigger notifies every instance (0002).
            sqlx::query("UPDATE api_clients SET status = $1, updated_at = $2 WHERE id = ANY($3)")
                .bind(status.as_str())
                .bind(at)
                .bind(&changed)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        if !changed.is_empty() {
            self.changed();
        }
        Ok(plan)
    }

    async fn delete_clients(&self, ids: &[ClientId]) -> Result<Vec<BulkChange>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let found = lock_clients(&mut tx, &uuids(ids)).await?;
        let plan = plan(ids, found, |_| true);
        let deleted = uuids(&done_ids(&plan));
        if !deleted.is_empty() {
            sqlx::query("DELETE FROM api_clients WHERE id = ANY($1)")
                .bind(&deleted)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        if !deleted.is_empty() {
            self.changed();
        }
        Ok(plan)
    }
}
