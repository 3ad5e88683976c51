use async_trait::async_trait;
use portcullis_domain::Timestamp;
use portcullis_store::{KeyStore, Result, ServerSecretStore, StoredSigningKey, decode};

use crate::{PgStore, error::db_error};

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    algorithm: String,
    public_key: Vec<u8>,
    sealed_private_key: Vec<u8>,
    created_at: Timestamp,
}

#[async_trait]
impl KeyStore for PgStore {
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, public_key, sealed_private_key, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(&key.public_key)
        .bind(&key.sealed_private_key)
        .bind(key.created_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        self.changed();
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
        Ok(rows
            .into_iter()
            .map(|r| StoredSigningKey {
                kid: r.kid,
                algorithm: r.algorithm,
                public_key: r.public_key,
                sealed_private_key: r.sealed_private_key,
                created_at: r.created_at,
            })
            .collect())
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        let deleted = done.rows_affected() > 0;
        if deleted {
            self.changed();
        }
        Ok(deleted)
    }
}

#[async_trait]
impl ServerSecretStore for PgStore {
    async fn get_server_secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
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
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        if inserted.rows_affected() > 0 {
            self.changed();
        }
        decode::server_secret_read_back(name, self.get_server_secret(name).await?)
    }
}
