use crate::ExecuteCommitted;
use async_trait::async_trait;
use portcullis_domain::Timestamp;
use portcullis_store::{
    KeyState, KeyStore, Result, RevocationEvents, RotationEvents, ServerSecretStore, StoredSigningKey, decode,
};
use sqlx::{Connection, Postgres, Transaction};

use crate::{PgStore, error::db_error, events};

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    algorithm: String,
    public_key: Vec<u8>,
    sealed_private_key: Vec<u8>,
    created_at: Timestamp,
    state: String,
    activated_at: Option<Timestamp>,
    replaced_at: Option<Timestamp>,
}

impl KeyRow {
    fn into_key(self) -> Result<StoredSigningKey> {
        let state = decode::key_state(&self.kid, &self.state)?;
        Ok(StoredSigningKey {
            kid: self.kid,
            algorithm: self.algorithm,
            public_key: self.public_key,
            sealed_private_key: self.sealed_private_key,
            created_at: self.created_at,
            state,
            activated_at: self.activated_at,
            replaced_at: self.replaced_at,
        })
    }
}

async fn insert(tx: &mut Transaction<'_, Postgres>, key: &StoredSigningKey) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_keys \
         (kid, algorithm, public_key, sealed_private_key, created_at, state, activated_at, replaced_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&key.kid)
    .bind(&key.algorithm)
    .bind(&key.public_key)
    .bind(&key.sealed_private_key)
    .bind(key.created_at)
    .bind(key.state.as_str())
    .bind(key.activated_at)
    .bind(key.replaced_at)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// The next key becomes current; its kid, `None` when there is none.
async fn promote_next(tx: &mut Transaction<'_, Postgres>, at: Timestamp) -> Result<Option<String>> {
    sqlx::query_scalar(
        "UPDATE signing_keys SET state = 'current', activated_at = $1 WHERE state = 'next' RETURNING kid",
    )
    .bind(at)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error)
}

#[async_trait]
impl KeyStore for PgStore {
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        insert(&mut tx, key).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(())
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
        let done = sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .execute_committed(self)
            .await
            .map_err(db_error)?;
        let deleted = done.rows_affected() > 0;
        if deleted {
            self.changed().await;
        }
        Ok(deleted)
    }

    async fn rotate_signing_keys(
        &self,
        current_kid: &str,
        new_next: &StoredSigningKey,
        at: Timestamp,
        events: RotationEvents<'_>,
    ) -> Result<Option<String>> {
        // A racing rotation blocks on the current key's row lock, then
        // re-checks `state = 'current'`, finds it false and changes nothing.
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        let replaced = sqlx::query(
            "UPDATE signing_keys SET state = 'previous', replaced_at = $1 WHERE kid = $2 AND state = 'current'",
        )
        .bind(at)
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
        self.commit(tx).await?;
        self.changed().await;
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
            sqlx::query_scalar("DELETE FROM signing_keys WHERE kid = $1 RETURNING state")
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
        self.commit(tx).await?;
        self.changed().await;
        Ok(Some(state))
    }
}

#[async_trait]
impl ServerSecretStore for PgStore {
    async fn get_server_secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_error)
    }

    async fn insert_server_secret_if_absent(&self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
        // The first writer wins; everyone reads back what it wrote. The
        // insert waits for a concurrent uncommitted one with the same name,
        // so the read that follows sees the winner.
        let inserted = sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute_committed(self)
        .await
        .map_err(db_error)?;
        if inserted.rows_affected() > 0 {
            self.changed().await;
        }
        decode::server_secret_read_back(name, self.get_server_secret(name).await?)
    }
}
