use crate::ExecuteCommitted;
use async_trait::async_trait;
use portcullis_domain::{
    Email, Event, PersonalAccessToken, RoleId, SecretHash, Session, Timestamp, User, UserId,
};
use portcullis_store::{
    ChangeEvents, DeleteEvents, Deletion, Result, StoreError, Update, UserPatch, UserQuery, UserStore,
    change::{DeletionPlan, Plan, UserField, plan_deletion, plan_user_update},
    decode::{self, UserColumns},
    search,
};
use sqlx::{Connection, PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{
    PgStore,
    error::{db_error, db_error_fk},
    events,
};

/// Every column of `users`, and the user's roles: one statement, so a user
/// and its roles come from the same snapshot.
const USER_SELECT: &str = "SELECT id, email, name, status, password_hash, created_at, updated_at, version, \
                           ARRAY(SELECT role_id FROM user_roles WHERE user_id = users.id ORDER BY role_id) \
                           AS roles FROM users";

/// A user's roles must be stored roles.
const ROLE_MISSING: &str = "user_role_missing";
const SESSION_USER_MISSING: &str = "session_user_missing";
const TOKEN_USER_MISSING: &str = "personal_token_user_missing";

const SESSION_COLUMNS: &str = "id_hash, user_id, created_at, last_seen_at, expires_at";
const TOKEN_COLUMNS: &str = "user_id, hash, hint, created_at, last_used_at";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    status: String,
    password_hash: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: i64,
    roles: Vec<Uuid>,
}

impl UserRow {
    fn into_user(self) -> Result<User> {
        decode::user(UserColumns {
            id: UserId::from_uuid(self.id),
            email: &self.email,
            name: &self.name,
            status: &self.status,
            roles: self.roles.into_iter().map(RoleId::from_uuid).collect(),
            password_hash: self.password_hash,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id_hash: Vec<u8>,
    user_id: Uuid,
    created_at: Timestamp,
    last_seen_at: Timestamp,
    expires_at: Timestamp,
}

impl SessionRow {
    fn into_session(self) -> Result<Session> {
        let user_id = UserId::from_uuid(self.user_id);
        decode::session(user_id, &self.id_hash, self.created_at, self.last_seen_at, self.expires_at)
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    user_id: Uuid,
    hash: Vec<u8>,
    hint: String,
    created_at: Timestamp,
    last_used_at: Option<Timestamp>,
}

impl TokenRow {
    fn into_token(self) -> Result<PersonalAccessToken> {
        let user_id = UserId::from_uuid(self.user_id);
        decode::personal_token(user_id, &self.hash, self.hint, self.created_at, self.last_used_at)
    }
}

/// Gives the user exactly these roles (it has none yet); a role listed
/// twice is stored once.
async fn insert_roles(tx: &mut PgConnection, user_id: Uuid, roles: &[RoleId]) -> Result<()> {
    let roles: Vec<Uuid> = roles.iter().map(|r| r.as_uuid()).collect();
    sqlx::query(
        "INSERT INTO user_roles (user_id, role_id) SELECT $1, r FROM unnest($2::uuid[]) AS r \
         ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(&roles)
    .execute(&mut *tx)
    .await
    .map_err(db_error_fk(ROLE_MISSING))?;
    Ok(())
}

/// One stored user, locked until the caller's transaction ends.
///
/// Locked first, read after (as `roles::lock_role`): a statement that waited
/// for another writer's lock would read the user's roles from the snapshot it
/// started with, before that writer's commit, and undo its change.
async fn lock_user(conn: &mut PgConnection, id: UserId) -> Result<Option<User>> {
    let locked: Option<Uuid> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1 FOR UPDATE")
        .bind(id.as_uuid())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    if locked.is_none() {
        return Ok(None);
    }
    let row: Option<UserRow> = sqlx::query_as(&format!("{USER_SELECT} WHERE id = $1"))
        .bind(id.as_uuid())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    row.map(UserRow::into_user).transpose()
}

fn version(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt("users.version out of range".to_owned()))
}

#[async_trait]
impl UserStore for PgStore {
    async fn insert_user(&self, u: &User, events: &[Event]) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO users (id, email, name, name_lower, status, password_hash, created_at, updated_at, \
             version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(u.id.as_uuid())
        .bind(u.email.as_str())
        .bind(u.name.as_str())
        .bind(search::fold(u.name.as_str()))
        .bind(u.status.as_str())
        .bind(u.password_hash.as_ref().map(|h| h.as_phc()))
        .bind(u.created_at)
        .bind(u.updated_at)
        .bind(version(u.version)?)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_roles(&mut tx, u.id.as_uuid(), &u.roles).await?;
        events::insert_in(&mut tx, events).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(&format!("{USER_SELECT} WHERE id = $1"))
            .bind(id.as_uuid())
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_error)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn get_user_by_email(&self, email: &Email) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(&format!("{USER_SELECT} WHERE email = $1"))
            .bind(email.as_str())
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_error)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>> {
        let mut sql = QueryBuilder::<Postgres>::new(format!("{USER_SELECT} WHERE 1 = 1"));
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
        if let Some(needle) = &query.text {
            // The e-mail is stored folded already (the domain lowercases it).
            let pattern = search::like_contains(needle);
            sql.push(" AND (email LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR name_lower LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(i64::from(query.limit));
        let rows: Vec<UserRow> =
            sql.build_query_as().fetch_all(&mut *self.conn().await?).await.map_err(db_error)?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    async fn update_user(
        &self,
        id: UserId,
        patch: &UserPatch,
        if_version: Option<u64>,
        at: Timestamp,
        events: ChangeEvents<'_, User>,
    ) -> Result<Update<User>> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        // FOR UPDATE: the user read is the user changed.
        let stored = lock_user(&mut tx, id).await?;
        let (before, after, fields) = match plan_user_update(stored, patch, if_version, at) {
            Plan::Answer(answer) => return Ok(answer),
            Plan::Write { before, after, fields } => (before, after, fields),
        };
        let mut sql = QueryBuilder::<Postgres>::new("UPDATE users SET updated_at = ");
        sql.push_bind(after.updated_at).push(", version = ").push_bind(version(after.version)?);
        for field in &fields {
            match field {
                UserField::Name => {
                    sql.push(", name = ").push_bind(after.name.as_str().to_owned());
                    sql.push(", name_lower = ").push_bind(search::fold(after.name.as_str()));
                }
                UserField::Status => {
                    sql.push(", status = ").push_bind(after.status.as_str());
                }
                UserField::PasswordHash => {
                    sql.push(", password_hash = ")
                        .push_bind(after.password_hash.as_ref().map(|h| h.as_phc().to_owned()));
                }
                UserField::Roles { added, removed } => {
                    let removed: Vec<Uuid> = removed.iter().map(RoleId::as_uuid).collect();
                    sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role_id = ANY($2)")
                        .bind(id.as_uuid())
                        .bind(&removed)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    insert_roles(&mut tx, id.as_uuid(), added).await?;
                }
            }
        }
        sql.push(" WHERE id = ").push_bind(id.as_uuid());
        sql.build().execute(&mut *tx).await.map_err(db_error)?;
        events::insert_in(&mut tx, &events(&before, &after)).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(Update::Changed { before, after })
    }

    async fn delete_user(
        &self,
        id: UserId,
        if_version: Option<u64>,
        events: DeleteEvents<'_, User>,
    ) -> Result<Deletion<User>> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        let stored = lock_user(&mut tx, id).await?;
        let user = match plan_deletion(stored, |u| u.version, if_version) {
            DeletionPlan::Answer(answer) => return Ok(answer),
            DeletionPlan::Delete(user) => user,
        };
        // Its roles, sessions and token go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        events::insert_in(&mut tx, &events(&user)).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(Deletion::Deleted(user))
    }

    async fn count_users(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&mut *self.conn().await?)
            .await
            .map_err(db_error)?;
        Ok(count.unsigned_abs())
    }

    // Sessions: no trigger and no `self.changed()` (see 0003): they are not
    // something the change notifications cover.

    async fn insert_session(&self, s: &Session) -> Result<()> {
        sqlx::query(&format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"))
            .bind(s.id_hash.as_bytes().as_slice())
            .bind(s.user_id.as_uuid())
            .bind(s.created_at)
            .bind(s.last_seen_at)
            .bind(s.expires_at)
            .execute_committed(self)
            .await
            .map_err(db_error_fk(SESSION_USER_MISSING))?;
        Ok(())
    }

    async fn get_session(&self, id_hash: &SecretHash) -> Result<Option<Session>> {
        let row: Option<SessionRow> =
            sqlx::query_as(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = $1"))
                .bind(id_hash.as_bytes().as_slice())
                .fetch_optional(&mut *self.conn().await?)
                .await
                .map_err(db_error)?;
        row.map(SessionRow::into_session).transpose()
    }

    async fn touch_session(&self, id_hash: &SecretHash, last_seen_at: Timestamp) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2 AND last_seen_at < $1")
            .bind(last_seen_at)
            .bind(id_hash.as_bytes().as_slice())
            .execute_committed(self)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &SecretHash) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash.as_bytes().as_slice())
            .execute_committed(self)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user_sessions(&self, user_id: UserId) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id.as_uuid())
            .execute_committed(self)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn purge_sessions(&self, now: Timestamp, idle_before: Timestamp, limit: u32) -> Result<u64> {
        // Bounded batches; SKIP LOCKED, so that instances purging at once
        // take different rows instead of queueing behind each other.
        let done = sqlx::query(
            "DELETE FROM sessions WHERE id_hash IN \
             (SELECT id_hash FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2 \
              LIMIT $3 FOR UPDATE SKIP LOCKED)",
        )
        .bind(now)
        .bind(idle_before)
        .bind(i64::from(limit))
        .execute_committed(self)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn replace_personal_token(&self, t: &PersonalAccessToken, events: &[Event]) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        // One statement: the old token (if any) and the new one are never
        // both stored, nor neither.
        sqlx::query(&format!(
            "INSERT INTO personal_access_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, hint = excluded.hint, \
             created_at = excluded.created_at, last_used_at = excluded.last_used_at"
        ))
        .bind(t.user_id.as_uuid())
        .bind(t.hash.as_bytes().as_slice())
        .bind(&t.hint)
        .bind(t.created_at)
        .bind(t.last_used_at)
        .execute(&mut *tx)
        .await
        .map_err(db_error_fk(TOKEN_USER_MISSING))?;
        events::insert_in(&mut tx, events).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(())
    }

    async fn get_personal_token_by_hash(&self, hash: &SecretHash) -> Result<Option<PersonalAccessToken>> {
        let row: Option<TokenRow> =
            sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM personal_access_tokens WHERE hash = $1"))
                .bind(hash.as_bytes().as_slice())
                .fetch_optional(&mut *self.conn().await?)
                .await
                .map_err(db_error)?;
        row.map(TokenRow::into_token).transpose()
    }

    async fn get_user_personal_token(&self, user_id: UserId) -> Result<Option<PersonalAccessToken>> {
        let row: Option<TokenRow> =
            sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM personal_access_tokens WHERE user_id = $1"))
                .bind(user_id.as_uuid())
                .fetch_optional(&mut *self.conn().await?)
                .await
                .map_err(db_error)?;
        row.map(TokenRow::into_token).transpose()
    }

    async fn delete_user_personal_token(&self, user_id: UserId, events: &[Event]) -> Result<bool> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        let done = sqlx::query("DELETE FROM personal_access_tokens WHERE user_id = $1")
            .bind(user_id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        events::insert_in(&mut tx, events).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(true)
    }

    async fn record_personal_token_used(&self, used: &[(UserId, Timestamp)]) -> Result<()> {
        if used.is_empty() {
            return Ok(());
        }
        let (ids, ats): (Vec<Uuid>, Vec<Timestamp>) = used.iter().map(|(id, at)| (id.as_uuid(), *at)).unzip();
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        // As record_last_used: lock the rows in user order first, so that
        // instances flushing overlapping batches never deadlock.
        sqlx::query(
            "SELECT user_id FROM personal_access_tokens WHERE user_id = ANY($1) ORDER BY user_id FOR UPDATE",
        )
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        // Unknown users join nothing; a user listed twice gets the later
        // instant; a stored later instant fails the condition.
        sqlx::query(
            "UPDATE personal_access_tokens t SET last_used_at = u.at \
             FROM (SELECT id, max(at) AS at FROM unnest($1::uuid[], $2::timestamptz[]) AS x (id, at) \
                   GROUP BY id) u \
             WHERE t.user_id = u.id AND (t.last_used_at IS NULL OR t.last_used_at < u.at)",
        )
        .bind(&ids)
        .bind(&ats)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        self.commit(tx).await?;
        // Not `self.changed()`, and the trigger does not notify either (0003).
        Ok(())
    }
}
