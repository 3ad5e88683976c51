use async_trait::async_trait;
use portcullis_domain::{ClientId, Timestamp, now};
use portcullis_store::{Result, TokenStore};
use uuid::Uuid;

use crate::{SqliteStore, clients::micros, error::db_error};

#[async_trait]
impl TokenStore for SqliteStore {
    async fn revoke_token(&self, jti: Uuid, client_id: ClientId, expires_at: Timestamp) -> Result<()> {
        // A second revocation keeps the first row as it is.
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti.to_string())
        .bind(client_id.to_string())
        .bind(micros(expires_at))
        .bind(micros(now()))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn is_token_revoked(&self, jti: Uuid) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM revoked_tokens WHERE jti = ?")
            .bind(jti.to_string())
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_error)?;
        Ok(found.is_some())
    }

    async fn purge_revoked_tokens(&self, now: Timestamp, limit: u32) -> Result<u64> {
        // Bounded, so that one batch never holds the write lock for long.
        let done = sqlx::query(
            "DELETE FROM revoked_tokens WHERE jti IN \
             (SELECT jti FROM revoked_tokens WHERE expires_at <= ? LIMIT ?)",
        )
        .bind(micros(now))
        .bind(i64::from(limit))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
