use async_trait::async_trait;
use portcullis_domain::{ClientId, Event, Permission, PermissionName, Role, RoleId, RoleName, UserId, now};
use portcullis_store::{
    ChangeEvents, DeleteEvents, Deletion, PermissionDeleteEvents, Result, RoleHolders, RolePatch, RoleStore,
    StoreError, Update, builtins,
    change::{DeletionPlan, Plan, RoleField, plan_deletion, plan_permission_update, plan_role_update},
    decode::{self, RoleRowColumns},
};
use sqlx::{Connection, Executor, Sqlite, SqliteConnection, Transaction};
use uuid::Uuid;

use crate::{
    SqliteStore,
    clients::micros,
    error::{db_error, db_error_fk},
    events,
};

/// A role's permission must be a stored permission.
const PERMISSION_MISSING: &str = "role_permission_missing";
/// A permission held by a role cannot be deleted (without `cascade`).
const PERMISSION_IN_USE: &str = "permission_in_use";
/// A role held by a client or a user cannot be deleted.
const ROLE_IN_USE: &str = "role_in_use";

const ROLE_SELECT: &str = "SELECT r.id, r.name, r.description, r.builtin, r.version, rp.permission \
                           FROM roles r LEFT JOIN role_permissions rp ON rp.role_id = r.id";
const ROLE_ORDER: &str = " ORDER BY r.name, r.id, rp.permission";

#[derive(sqlx::FromRow)]
struct RoleRow {
    id: String,
    name: String,
    description: String,
    builtin: bool,
    version: i64,
    permission: Option<String>,
}

/// Folds the joined rows (ordered by role, then permission) into roles.
fn into_roles(rows: Vec<RoleRow>) -> Result<Vec<Role>> {
    decode::roles(rows.into_iter().map(|row| {
        Ok(RoleRowColumns {
            id: parse_role_id(&row.id)?,
            name: row.name,
            description: row.description,
            builtin: row.builtin,
            version: row.version,
            permission: row.permission,
        })
    }))
}

/// A JSON array of strings, for `IN (SELECT value FROM json_each(?))`.
fn json_list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let items = items.into_iter().map(|s| serde_json::Value::String(s.as_ref().to_owned()));
    serde_json::Value::Array(items.collect()).to_string()
}

fn parse_role_id(id: &str) -> Result<RoleId> {
    Uuid::parse_str(id)
        .map(RoleId::from_uuid)
        .map_err(|_| StoreError::Corrupt("roles.id is not a UUID".to_owned()))
}

/// Gives the role exactly these permissions (it has none yet); a permission
/// listed twice is stored once.
async fn insert_permissions(
    tx: &mut Transaction<'_, Sqlite>,
    role_id: &str,
    permissions: &[PermissionName],
) -> Result<()> {
    for p in permissions {
        sqlx::query(
            "INSERT INTO role_permissions (role_id, permission) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(role_id)
        .bind(p.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db_error_fk(PERMISSION_MISSING))?;
    }
    Ok(())
}

/// One stored role, inside the caller's transaction.
async fn role_in(conn: &mut SqliteConnection, id: RoleId) -> Result<Option<Role>> {
    let rows = sqlx::query_as(&format!("{ROLE_SELECT} WHERE r.id = ?{ROLE_ORDER}"))
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(into_roles(rows)?.pop())
}

fn version(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt("roles.version out of range".to_owned()))
}

/// Every stored permission, through `conn` (a pool or a transaction).
async fn permissions_in<'e>(conn: impl Executor<'e, Database = Sqlite>) -> Result<Vec<Permission>> {
    let rows: Vec<(String, String, bool)> =
        sqlx::query_as("SELECT name, description, builtin FROM permissions ORDER BY name")
            .fetch_all(conn)
            .await
            .map_err(db_error)?;
    rows.into_iter()
        .map(|(name, description, builtin)| decode::permission(&name, description, builtin))
        .collect()
}

/// Every stored role with its permissions, through `conn`.
async fn roles_in<'e>(conn: impl Executor<'e, Database = Sqlite>) -> Result<Vec<Role>> {
    let rows =
        sqlx::query_as(&format!("{ROLE_SELECT}{ROLE_ORDER}")).fetch_all(conn).await.map_err(db_error)?;
    into_roles(rows)
}

/// Takes these permissions from the role.
async fn delete_permissions(
    tx: &mut Transaction<'_, Sqlite>,
    role_id: &str,
    permissions: &[PermissionName],
) -> Result<()> {
    sqlx::query(
        "DELETE FROM role_permissions WHERE role_id = ? AND permission IN (SELECT value FROM json_each(?))",
    )
    .bind(role_id)
    .bind(json_list(permissions.iter().map(|p| p.as_str())))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Executes the plan of [`builtins::plan`] against what is stored now.
async fn sync_in(tx: &mut Transaction<'_, Sqlite>, permissions: &[Permission], roles: &[Role]) -> Result<()> {
    let (stored_permissions, stored_roles) = (permissions_in(&mut **tx).await?, roles_in(&mut **tx).await?);
    let sync = builtins::plan(&stored_permissions, &stored_roles, permissions, roles);
    for p in &sync.upsert_permissions {
        sqlx::query(
            "INSERT INTO permissions (name, category, description, builtin) VALUES (?, ?, ?, 1) \
             ON CONFLICT (name) DO UPDATE SET category = excluded.category, \
             description = excluded.description, builtin = 1",
        )
        .bind(p.name.as_str())
        .bind(p.name.category())
        .bind(&p.description)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    }
    if !sync.demote_permissions.is_empty() {
        sqlx::query("UPDATE permissions SET builtin = 0 WHERE name IN (SELECT value FROM json_each(?))")
            .bind(json_list(sync.demote_permissions.iter().map(|p| p.as_str())))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    let created_at = micros(now());
    for r in &sync.upsert_roles {
        sqlx::query(
            "INSERT INTO roles (id, name, description, builtin, created_at) VALUES (?, ?, ?, 1, ?) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, builtin = 1",
        )
        .bind(r.id.to_string())
        .bind(r.name.as_str())
        .bind(&r.description)
        .bind(created_at)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    }
    for changes in &sync.role_permissions {
        let role_id = changes.role.to_string();
        delete_permissions(tx, &role_id, &changes.removed).await?;
        insert_permissions(tx, &role_id, &changes.added).await?;
    }
    if !sync.demote_roles.is_empty() {
        sqlx::query("UPDATE roles SET builtin = 0 WHERE id IN (SELECT value FROM json_each(?))")
            .bind(json_list(sync.demote_roles.iter().map(|r| r.to_string())))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

#[async_trait]
impl RoleStore for SqliteStore {
    async fn sync_builtins(&self, permissions: &[Permission], roles: &[Role]) -> Result<()> {
        // IMMEDIATE takes the write lock first, waiting (busy_timeout) for
        // another process doing the same; a deferred transaction would fail
        // at once when upgrading its read lock.
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        sync_in(&mut tx, permissions, roles).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn list_permissions(&self) -> Result<Vec<Permission>> {
        permissions_in(&mut *self.conn().await?).await
    }

    async fn list_roles(&self) -> Result<Vec<Role>> {
        roles_in(&mut *self.conn().await?).await
    }

    async fn get_role(&self, id: RoleId) -> Result<Option<Role>> {
        let rows = sqlx::query_as(&format!("{ROLE_SELECT} WHERE r.id = ?{ROLE_ORDER}"))
            .bind(id.to_string())
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_error)?;
        Ok(into_roles(rows)?.pop())
    }

    async fn get_role_by_name(&self, name: &RoleName) -> Result<Option<Role>> {
        let rows = sqlx::query_as(&format!("{ROLE_SELECT} WHERE r.name = ?{ROLE_ORDER}"))
            .bind(name.as_str())
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_error)?;
        Ok(into_roles(rows)?.pop())
    }

    async fn insert_permission(&self, p: &Permission, events: &[Event]) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        sqlx::query("INSERT INTO permissions (name, category, description, builtin) VALUES (?, ?, ?, 0)")
            .bind(p.name.as_str())
            .bind(p.name.category())
            .bind(&p.description)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        events::insert_in(&mut tx, events).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn update_permission_description(
        &self,
        name: &PermissionName,
        description: &str,
        events: ChangeEvents<'_, Permission>,
    ) -> Result<Update<Permission>> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let row: Option<(String, String, bool)> =
            sqlx::query_as("SELECT name, description, builtin FROM permissions WHERE name = ?")
                .bind(name.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        let stored = row.map(|(name, text, builtin)| decode::permission(&name, text, builtin)).transpose()?;
        let (before, after) = match plan_permission_update(stored, description) {
            Plan::Answer(answer) => return Ok(answer),
            // The description is the one field a permission change writes.
            Plan::Write { before, after, fields: _ } => (before, after),
        };
        sqlx::query("UPDATE permissions SET description = ? WHERE name = ?")
            .bind(description)
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        events::insert_in(&mut tx, &events(&before, &after)).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Update::Changed { before, after })
    }

    async fn roles_using_permission(&self, name: &PermissionName) -> Result<Vec<RoleName>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT r.id, r.name FROM role_permissions rp JOIN roles r ON r.id = rp.role_id \
             WHERE rp.permission = ? ORDER BY r.name",
        )
        .bind(name.as_str())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_error)?;
        rows.into_iter().map(|(id, name)| decode::role_name(parse_role_id(&id)?, &name)).collect()
    }

    async fn delete_permission(
        &self,
        name: &PermissionName,
        cascade: bool,
        events: PermissionDeleteEvents<'_>,
    ) -> Result<bool> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT r.id, r.name FROM role_permissions rp JOIN roles r ON r.id = rp.role_id \
             WHERE rp.permission = ? ORDER BY r.name",
        )
        .bind(name.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let holders = rows
            .into_iter()
            .map(|(id, name)| decode::role_name(parse_role_id(&id)?, &name))
            .collect::<Result<Vec<_>>>()?;
        if cascade {
            // Each role it leaves has changed: its version moves on.
            sqlx::query(
                "UPDATE roles SET version = version + 1 \
                 WHERE id IN (SELECT role_id FROM role_permissions WHERE permission = ?)",
            )
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            sqlx::query("DELETE FROM role_permissions WHERE permission = ?")
                .bind(name.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        // Without cascade, the foreign key of role_permissions refuses it.
        let done = sqlx::query("DELETE FROM permissions WHERE name = ?")
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error_fk(PERMISSION_IN_USE))?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        events::insert_in(&mut tx, &events(&holders)).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn insert_role(&self, r: &Role, events: &[Event]) -> Result<()> {
        let id = r.id.to_string();
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO roles (id, name, description, builtin, created_at, version) VALUES (?, ?, ?, 0, ?, ?)",
        )
        .bind(&id)
        .bind(r.name.as_str())
        .bind(&r.description)
        .bind(micros(now()))
        .bind(version(r.version)?)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_permissions(&mut tx, &id, &r.permissions).await?;
        events::insert_in(&mut tx, events).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn update_role(
        &self,
        id: RoleId,
        patch: &RolePatch,
        if_version: Option<u64>,
        events: ChangeEvents<'_, Role>,
    ) -> Result<Update<Role>> {
        // IMMEDIATE: the write lock first, so that the role read is the role changed.
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let stored = role_in(&mut tx, id).await?;
        let (before, after, fields) = match plan_role_update(stored, patch, if_version) {
            Plan::Answer(answer) => return Ok(answer),
            Plan::Write { before, after, fields } => (before, after, fields),
        };
        let role_id = id.to_string();
        for field in &fields {
            match field {
                RoleField::Name => {
                    sqlx::query("UPDATE roles SET name = ? WHERE id = ?")
                        .bind(after.name.as_str())
                        .bind(&role_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                RoleField::Description => {
                    sqlx::query("UPDATE roles SET description = ? WHERE id = ?")
                        .bind(&after.description)
                        .bind(&role_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                RoleField::Permissions { added, removed } => {
                    delete_permissions(&mut tx, &role_id, removed).await?;
                    insert_permissions(&mut tx, &role_id, added).await?;
                }
            }
        }
        sqlx::query("UPDATE roles SET version = ? WHERE id = ?")
            .bind(version(after.version)?)
            .bind(&role_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        events::insert_in(&mut tx, &events(&before, &after)).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Update::Changed { before, after })
    }

    async fn role_holders(&self, id: RoleId) -> Result<RoleHolders> {
        // One statement, so both lists come from the same snapshot.
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT 'client', id FROM api_clients WHERE role_id = ?1 \
             UNION ALL SELECT 'user', user_id FROM user_roles WHERE role_id = ?1 \
             ORDER BY 1, 2",
        )
        .bind(id.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_error)?;
        let mut holders = RoleHolders::default();
        for (kind, holder) in rows {
            if kind == "client" {
                let id = holder.parse::<ClientId>();
                holders.clients.push(id.map_err(|_| corrupt_id("api_clients.id"))?);
            } else {
                let id = holder.parse::<UserId>();
                holders.users.push(id.map_err(|_| corrupt_id("user_roles.user_id"))?);
            }
        }
        Ok(holders)
    }

    async fn delete_role(
        &self,
        id: RoleId,
        if_version: Option<u64>,
        events: DeleteEvents<'_, Role>,
    ) -> Result<Deletion<Role>> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let stored = role_in(&mut tx, id).await?;
        let role = match plan_deletion(stored, |r| r.version, if_version) {
            DeletionPlan::Answer(answer) => return Ok(answer),
            DeletionPlan::Delete(role) => role,
        };
        // The foreign keys of api_clients and user_roles refuse it while the
        // role is held; its role_permissions rows go with it.
        sqlx::query("DELETE FROM roles WHERE id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error_fk(ROLE_IN_USE))?;
        events::insert_in(&mut tx, &events(&role)).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Deletion::Deleted(role))
    }
}

fn corrupt_id(column: &str) -> StoreError {
    StoreError::Corrupt(format!("{column} is not a UUID"))
}
