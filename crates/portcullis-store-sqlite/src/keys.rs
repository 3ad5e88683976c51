use async_trait::async_trait;
use portcullis_domain::Timestamp;
use portcullis_store::{
    KeyState, KeyStore, Result, RevocationEvents, RotationEvents, ServerSecretStore, StoreError,
    StoredSigningKey, decode,
};
use sqlx::{Connection, Sqlite, Transaction};

use crate::{
    SqliteStore,
    clients::{micros, timestamp},
    error::db_error,
    events,
};

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    algorithm: String,
    public_key: Vec<u8>,
    sealed_private_key: Vec<u8>,
    created_at: i64,
    state: String,
    activated_at: Option<i64>,
    replaced_at: Option<i64>,
}

impl KeyRow {
    fn into_key(self) -> Result<StoredSigningKey> {
        let corrupt = |column: &str| {
            StoreError::Corrupt(format!("signing_keys.{column} of key {} is invalid", self.kid))
        };
        let created_at = timestamp(self.created_at).ok_or_else(|| corrupt("created_at"))?;
        let state = decode::key_state(&self.kid, &self.state)?;
        let optional = |value: Option<i64>, column: &str| match value {
            None => Ok(None),
            Some(v) => timestamp(v).map(Some).ok_or_else(|| corrupt(column)),
        };
        let activated_at = optional(self.activated_at, "activated_at")?;
        let replaced_at = optional(self.replaced_at, "replaced_at")?;
        Ok(StoredSigningKey {
            kid: self.kid,
            algorithm: self.algorithm,
            public_key: self.public_key,
            sealed_private_key: self.sealed_private_key,
            created_at,
            state,
            activated_at,
            replaced_at,
        })
    }
}

async fn insert(tx: &mut Transaction<'_, Sqlite>, key: &StoredSigningKey) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_keys \
         (kid, algorithm, public_key, sealed_private_key, created_at, state, activated_at, replaced_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&key.kid)
    .bind(&key.algorithm)
    .bind(&key.public_key)
    .bind(&key.sealed_private_key)
    .bind(micros(key.created_at))
    .bind(key.state.as_str())
    .bind(key.activated_at.map(micros))
    .bind(key.replaced_at.map(micros))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// The next key becomes current; its kid, `None` when there is none.
async fn promote_next(tx: &mut Transaction<'_, Sqlite>, at: Timestamp) -> Result<Option<String>> {
    sqlx::query_scalar(
        "UPDATE signing_keys SET state = 'current', activated_at = ? WHERE state = 'next' RETURNING kid",
    )
    .bind(micros(at))
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error)
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        insert(&mut tx, key).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn list_signing_keys(&self) -> Result<Vec<StoredSigningKey>> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, algorithm, public_key, sealed_private_key, created_at, state, activated_at, replaced_at \
             FROM signing_keys ORDER BY created_at DESC, kid DESC",
        )
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_error)?;
        rows.into_iter().map(KeyRow::into_key).collect()
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM signing_keys WHERE kid = ?")
            .bind(kid)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn rotate_signing_keys(
        &self,
        current_kid: &str,
        new_next: &StoredSigningKey,
        at: Timestamp,
        events: RotationEvents<'_>,
    ) -> Result<Option<String>> {
        // The first statement writes, so the transaction holds SQLite's write
        // lock from its start: a racing rotation waits, then finds
        // `current_kid` no longer current.
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        let replaced = sqlx::query(
            "UPDATE signing_keys SET state = 'previous', replaced_at = ? WHERE kid = ? AND state = 'current'",
        )
        .bind(micros(at))
        .bind(current_kid)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if replaced.rows_affected() != 1 {
            return Ok(None);
        }
        let Some(promoted) = promote_next(&mut tx, at).await? else { return Ok(None) };
        insert(&mut tx, new_next).await?;
        events::insert_in(&mut tx, &events(&promoted)).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(promoted))
    }

    async fn revoke_signing_key(
        &self,
        kid: &str,
        new_next: &StoredSigningKey,
        at: Timestamp,
        events: RevocationEvents<'_>,
    ) -> Result<Option<KeyState>> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        let state: Option<String> =
            sqlx::query_scalar("DELETE FROM signing_keys WHERE kid = ? RETURNING state")
                .bind(kid)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        let Some(state) = state else { return Ok(None) };
        let state = decode::key_state(kid, &state)?;
        let revocation = state.revoking();
        if revocation.promote_next {
            promote_next(&mut tx, at).await?;
        }
        if revocation.store_new_next {
            insert(&mut tx, new_next).await?;
        }
        events::insert_in(&mut tx, &events(state)).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(state))
    }
}

#[async_trait]
impl ServerSecretStore for SqliteStore {
    async fn get_server_secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_error)
    }

    async fn insert_server_secret_if_absent(&self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
        // The first writer wins; everyone reads back what it wrote.
        sqlx::query("INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_error)?;
        decode::server_secret_read_back(name, self.get_server_secret(name).await?)
    }
}
