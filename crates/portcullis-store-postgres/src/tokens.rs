use crate::ExecuteCommitted;
use async_trait::async_trait;
use portcullis_domain::{ClientId, Timestamp, now};
use portcullis_store::{Result, TokenStore};
use uuid::Uuid;

use crate::{PgStore, error::db_error};

#[async_trait]
impl TokenStore for PgStore {
    async fn revoke_token(&self, jti: Uuid, client_id: ClientId, expires_at: Timestamp) -> Result<()> {
        // A second revocation keeps the first row as it is, and (no row
        // inserted) neither fires the trigger nor bumps the generation.
        let done = sqlx::query(
            "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(client_id.as_uuid())
        .bind(expires_at)
        .bind(now())
        .execute_committed(self)
        .await
        .map_err(db_error)?;
        if done.rows_affected() > 0 {
            self.changed().await;
        }
        Ok(())
    }

    async fn is_token_revoked(&self, jti: Uuid) -> Result<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1)")
            .bind(jti)
            .fetch_one(&mut *self.conn().await?)
            .await
            .map_err(db_error)
    }

    async fn purge_revoked_tokens(&self, now: Timestamp, limit: u32) -> Result<u64> {
        // Bounded batches. SKIP LOCKED: instances purging at once take
        // different rows instead of queueing behind each other. Not a change
        // for any cache (only expired tokens' revocations go), so no bump.
        let done = sqlx::query(
            "DELETE FROM revoked_tokens WHERE jti IN \
             (SELECT jti FROM revoked_tokens WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(now)
        .bind(i64::from(limit))
        .execute_committed(self)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
