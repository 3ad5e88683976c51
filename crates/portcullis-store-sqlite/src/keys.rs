use async_trait::async_trait;
use portcullis_store::{KeyStore, Result, ServerSecretStore, StoreError, StoredSigningKey, decode};

use crate::{
    SqliteStore,
    clients::{micros, timestamp},
    error::db_error,
};

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    algorithm: String,
    public_key: Vec<u8>,
    sealed_private_key: Vec<u8>,
    created_at: i64,
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, public_key, sealed_private_key, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(&key.public_key)
        .bind(&key.sealed_private_key)
        .bind(micros(key.created_at))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn list_signing_keys(&self) -> Result<Vec<StoredSigningKey>> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, algorithm, public_key, sealed_private_key, created_at FROM signing_keys \
             ORDER BY created_at DESC, kid DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.into_iter()
            .map(|r| {
                let created_at = timestamp(r.created_at).ok_or_else(|| {
                    StoreError::Corrupt(format!("signing_keys.created_at of key {} is invalid", r.kid))
                })?;
                Ok(StoredSigningKey {
                    kid: r.kid,
                    algorithm: r.algorithm,
                    public_key: r.public_key,
                    sealed_private_key: r.sealed_private_key,
                    created_at,
                })
            })
            .collect()
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM signing_keys WHERE kid = ?")
            .bind(kid)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }
}

#[async_trait]
impl ServerSecretStore for SqliteStore {
    async fn get_server_secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)
    }

    async fn insert_server_secret_if_absent(&self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
        // The first writer wins; everyone reads back what it wrote.
        sqlx::query("INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        decode::server_secret_read_back(name, self.get_server_secret(name).await?)
    }
}
