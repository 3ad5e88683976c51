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
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection, Transaction};
use uuid::Uuid;

use crate::{
    SqliteStore,
    clients::{micros, timestamp},
    error::{db_error, db_error_fk},
    events,
};

/// Every column of `users`, and the user's roles as a JSON array: one
/// statement, so a user and its roles come from the same snapshot.
const USER_SELECT: &str = "SELECT id, email, name, status, password_hash, created_at, updated_at, version, \
                           (SELECT json_group_array(role_id) FROM user_roles WHERE user_id = users.id) \
                           AS roles FROM users";

/// A user's roles must be stored roles.
const ROLE_MISSING: &str = "user_role_missing";
const SESSION_USER_MISSING: &str = "session_user_missing";
const TOKEN_USER_MISSING: &str = "personal_token_user_missing";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    name: String,
    status: String,
    password_hash: Option<String>,
    created_at: i64,
    updated_at: i64,
    version: i64,
    roles: String,
}

fn parse_user_id(id: &str, table: &str, column: &str) -> Result<UserId> {
    id.parse::<UserId>().map_err(|_| StoreError::Corrupt(format!("{table}.{column} is not a UUID")))
}

fn instant(id: UserId, table: &str, column: &str, micros: i64) -> Result<Timestamp> {
    timestamp(micros).ok_or_else(|| decode::invalid_user_column(id, table, column))
}

impl UserRow {
    fn into_user(self) -> Result<User> {
        let id = parse_user_id(&self.id, "users", "id")?;
        let invalid_role = || decode::invalid_user_column(id, "user_roles", "role_id");
        let roles: Vec<String> = serde_json::from_str(&self.roles).map_err(|_| invalid_role())?;
        let roles = roles
            .iter()
            .map(|r| Uuid::parse_str(r).map(RoleId::from_uuid).map_err(|_| invalid_role()))
            .collect::<Result<Vec<_>>>()?;
        decode::user(UserColumns {
            id,
            email: &self.email,
            name: &self.name,
            status: &self.status,
            roles,
            password_hash: self.password_hash,
            created_at: instant(id, "users", "created_at", self.created_at)?,
            updated_at: instant(id, "users", "updated_at", self.updated_at)?,
            version: self.version,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id_hash: Vec<u8>,
    user_id: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
}

impl SessionRow {
    fn into_session(self) -> Result<Session> {
        let user_id = parse_user_id(&self.user_id, "sessions", "user_id")?;
        let at = |column, micros| instant(user_id, "sessions", column, micros);
        decode::session(
            user_id,
            &self.id_hash,
            at("created_at", self.created_at)?,
            at("last_seen_at", self.last_seen_at)?,
            at("expires_at", self.expires_at)?,
        )
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    user_id: String,
    hash: Vec<u8>,
    hint: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl TokenRow {
    fn into_token(self) -> Result<PersonalAccessToken> {
        let user_id = parse_user_id(&self.user_id, "personal_access_tokens", "user_id")?;
        let at = |column, micros| instant(user_id, "personal_access_tokens", column, micros);
        decode::personal_token(
            user_id,
            &self.hash,
            self.hint,
            at("created_at", self.created_at)?,
            self.last_used_at.map(|t| at("last_used_at", t)).transpose()?,
        )
    }
}

const SESSION_COLUMNS: &str = "id_hash, user_id, created_at, last_seen_at, expires_at";
const TOKEN_COLUMNS: &str = "user_id, hash, hint, created_at, last_used_at";

/// Gives the user exactly these roles (it has none yet); a role listed
/// twice is stored once.
async fn insert_roles(tx: &mut Transaction<'_, Sqlite>, user_id: &str, roles: &[RoleId]) -> Result<()> {
    for role in roles {
        sqlx::query("INSERT INTO user_roles (user_id, role_id) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(user_id)
            .bind(role.to_string())
            .execute(&mut **tx)
            .await
            .map_err(db_error_fk(ROLE_MISSING))?;
    }
    Ok(())
}

/// One stored user, inside the caller's transaction.
async fn user_in(conn: &mut SqliteConnection, id: UserId) -> Result<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as(&format!("{USER_SELECT} WHERE id = ?"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    row.map(UserRow::into_user).transpose()
}

fn version(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt("users.version out of range".to_owned()))
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, u: &User, events: &[Event]) -> Result<()> {
        let id = u.id.to_string();
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO users (id, email, name, name_lower, status, password_hash, created_at, updated_at, \
             version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(u.email.as_str())
        .bind(u.name.as_str())
        .bind(search::fold(u.name.as_str()))
        .bind(u.status.as_str())
        .bind(u.password_hash.as_ref().map(|h| h.as_phc()))
        .bind(micros(u.created_at))
        .bind(micros(u.updated_at))
        .bind(version(u.version)?)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_roles(&mut tx, &id, &u.roles).await?;
        events::insert_in(&mut tx, events).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(&format!("{USER_SELECT} WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_error)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn get_user_by_email(&self, email: &Email) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(&format!("{USER_SELECT} WHERE email = ?"))
            .bind(email.as_str())
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_error)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>> {
        let mut sql = QueryBuilder::<Sqlite>::new(format!("{USER_SELECT} WHERE 1 = 1"));
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
        // IMMEDIATE: the write lock first, so that the user read is the user changed.
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let stored = user_in(&mut tx, id).await?;
        let (before, after, fields) = match plan_user_update(stored, patch, if_version, at) {
            Plan::Answer(answer) => return Ok(answer),
            Plan::Write { before, after, fields } => (before, after, fields),
        };
        let user_id = id.to_string();
        let mut sql = QueryBuilder::<Sqlite>::new("UPDATE users SET updated_at = ");
        sql.push_bind(micros(after.updated_at)).push(", version = ").push_bind(version(after.version)?);
        for field in &fields {
            match field {
                UserField::Name => {
                    sql.push(", name = ").push_bind(after.name.as_str());
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
                    for role in removed {
                        sqlx::query("DELETE FROM user_roles WHERE user_id = ? AND role_id = ?")
                            .bind(&user_id)
                            .bind(role.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    }
                    insert_roles(&mut tx, &user_id, added).await?;
                }
            }
        }
        sql.push(" WHERE id = ").push_bind(user_id);
        sql.build().execute(&mut *tx).await.map_err(db_error)?;
        events::insert_in(&mut tx, &events(&before, &after)).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Update::Changed { before, after })
    }

    async fn delete_user(
        &self,
        id: UserId,
        if_version: Option<u64>,
        events: DeleteEvents<'_, User>,
    ) -> Result<Deletion<User>> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let stored = user_in(&mut tx, id).await?;
        let user = match plan_deletion(stored, |u| u.version, if_version) {
            DeletionPlan::Answer(answer) => return Ok(answer),
            DeletionPlan::Delete(user) => user,
        };
        // Its roles, sessions and token go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        events::insert_in(&mut tx, &events(&user)).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Deletion::Deleted(user))
    }

    async fn count_users(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&mut *self.conn().await?)
            .await
            .map_err(db_error)?;
        Ok(count.unsigned_abs())
    }

    async fn insert_session(&self, s: &Session) -> Result<()> {
        sqlx::query(&format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?)"))
            .bind(s.id_hash.as_bytes().as_slice())
            .bind(s.user_id.to_string())
            .bind(micros(s.created_at))
            .bind(micros(s.last_seen_at))
            .bind(micros(s.expires_at))
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_error_fk(SESSION_USER_MISSING))?;
        Ok(())
    }

    async fn get_session(&self, id_hash: &SecretHash) -> Result<Option<Session>> {
        let row: Option<SessionRow> =
            sqlx::query_as(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = ?"))
                .bind(id_hash.as_bytes().as_slice())
                .fetch_optional(&mut *self.conn().await?)
                .await
                .map_err(db_error)?;
        row.map(SessionRow::into_session).transpose()
    }

    async fn touch_session(&self, id_hash: &SecretHash, last_seen_at: Timestamp) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = ?1 WHERE id_hash = ?2 AND last_seen_at < ?1")
            .bind(micros(last_seen_at))
            .bind(id_hash.as_bytes().as_slice())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &SecretHash) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash.as_bytes().as_slice())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user_sessions(&self, user_id: UserId) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(user_id.to_string())
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn purge_sessions(&self, now: Timestamp, idle_before: Timestamp, limit: u32) -> Result<u64> {
        // Bounded, so that one batch never holds the write lock for long.
        let done = sqlx::query(
            "DELETE FROM sessions WHERE id_hash IN \
             (SELECT id_hash FROM sessions WHERE expires_at <= ? OR last_seen_at <= ? LIMIT ?)",
        )
        .bind(micros(now))
        .bind(micros(idle_before))
        .bind(i64::from(limit))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn replace_personal_token(&self, t: &PersonalAccessToken, events: &[Event]) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        // One statement: the old token (if any) and the new one are never
        // both stored, nor neither.
        sqlx::query(&format!(
            "INSERT INTO personal_access_tokens ({TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, hint = excluded.hint, \
             created_at = excluded.created_at, last_used_at = excluded.last_used_at"
        ))
        .bind(t.user_id.to_string())
        .bind(t.hash.as_bytes().as_slice())
        .bind(&t.hint)
        .bind(micros(t.created_at))
        .bind(t.last_used_at.map(micros))
        .execute(&mut *tx)
        .await
        .map_err(db_error_fk(TOKEN_USER_MISSING))?;
        events::insert_in(&mut tx, events).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn get_personal_token_by_hash(&self, hash: &SecretHash) -> Result<Option<PersonalAccessToken>> {
        let row: Option<TokenRow> =
            sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM personal_access_tokens WHERE hash = ?"))
                .bind(hash.as_bytes().as_slice())
                .fetch_optional(&mut *self.conn().await?)
                .await
                .map_err(db_error)?;
        row.map(TokenRow::into_token).transpose()
    }

    async fn get_user_personal_token(&self, user_id: UserId) -> Result<Option<PersonalAccessToken>> {
        let row: Option<TokenRow> =
            sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM personal_access_tokens WHERE user_id = ?"))
                .bind(user_id.to_string())
                .fetch_optional(&mut *self.conn().await?)
                .await
                .map_err(db_error)?;
        row.map(TokenRow::into_token).transpose()
    }

    async fn delete_user_personal_token(&self, user_id: UserId, events: &[Event]) -> Result<bool> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let done = sqlx::query("DELETE FROM personal_access_tokens WHERE user_id = ?")
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        events::insert_in(&mut tx, events).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn record_personal_token_used(&self, used: &[(UserId, Timestamp)]) -> Result<()> {
        if used.is_empty() {
            return Ok(());
        }
        // As record_last_used: one transaction; an unknown user matches no
        // row, a stored later instant fails the condition.
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        for (user_id, at) in used {
            sqlx::query(
                "UPDATE personal_access_tokens SET last_used_at = ?1 \
                 WHERE user_id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)",
            )
            .bind(micros(*at))
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }
}
