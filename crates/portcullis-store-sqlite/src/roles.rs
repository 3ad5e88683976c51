use async_trait::async_trait;
use portcullis_domain::{Permission, Role, RoleId, RoleName, now};
use portcullis_store::{Result, RoleStore, StoreError, decode};
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use crate::{
    SqliteStore,
    clients::micros,
    error::{db_error, db_error_fk},
};

/// A role's permission must be a stored permission.
const PERMISSION_MISSING: &str = "role_permission_missing";

const ROLE_SELECT: &str = "SELECT r.id, r.name, r.description, r.builtin, rp.permission \
                           FROM roles r LEFT JOIN role_permissions rp ON rp.role_id = r.id";
const ROLE_ORDER: &str = " ORDER BY r.name, r.id, rp.permission";

#[derive(sqlx::FromRow)]
struct RoleRow {
    id: String,
    name: String,
    description: String,
    builtin: bool,
    permission: Option<String>,
}

/// Folds the joined rows (ordered by role, then permission) into roles.
fn into_roles(rows: Vec<RoleRow>) -> Result<Vec<Role>> {
    let mut roles: Vec<Role> = Vec::new();
    let mut current_id: Option<String> = None;
    for row in rows {
        if current_id.as_deref() != Some(row.id.as_str()) {
            let Ok(id) = Uuid::parse_str(&row.id).map(RoleId::from_uuid) else {
                return Err(StoreError::Corrupt("roles.id is not a UUID".to_owned()));
            };
            roles.push(decode::role(id, &row.name, row.description, row.builtin)?);
            current_id = Some(row.id);
        }
        if let (Some(role), Some(p)) = (roles.last_mut(), row.permission) {
            role.permissions.push(decode::role_permission(role.id, &p)?);
        }
    }
    Ok(roles)
}

/// A JSON array of strings, for `IN (SELECT value FROM json_each(?))`.
fn json_list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let items = items.into_iter().map(|s| serde_json::Value::String(s.as_ref().to_owned()));
    serde_json::Value::Array(items.collect()).to_string()
}

async fn sync_in(
    tx: &mut Transaction<'static, Sqlite>,
    permissions: &[Permission],
    roles: &[Role],
) -> Result<()> {
    for p in permissions {
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
    // A permission no longer built in becomes an ordinary one: operators'
    // roles may hold it, and they decide whether to delete it.
    sqlx::query(
        "UPDATE permissions SET builtin = 0 WHERE builtin = 1 AND name NOT IN (SELECT value FROM json_each(?))",
    )
    .bind(json_list(permissions.iter().map(|p| p.name.as_str())))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;

    let created_at = micros(now());
    for r in roles {
        let id = r.id.to_string();
        sqlx::query(
            "INSERT INTO roles (id, name, description, builtin, created_at) VALUES (?, ?, ?, 1, ?) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, builtin = 1",
        )
        .bind(&id)
        .bind(r.name.as_str())
        .bind(&r.description)
        .bind(created_at)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "DELETE FROM role_permissions WHERE role_id = ? AND permission NOT IN (SELECT value FROM json_each(?))",
        )
        .bind(&id)
        .bind(json_list(r.permissions.iter().map(|p| p.as_str())))
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        for p in &r.permissions {
            sqlx::query(
                "INSERT INTO role_permissions (role_id, permission) VALUES (?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .bind(p.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db_error_fk(PERMISSION_MISSING))?;
        }
    }
    // Like permissions: clients may hold a role that is no longer built in.
    sqlx::query(
        "UPDATE roles SET builtin = 0 WHERE builtin = 1 AND id NOT IN (SELECT value FROM json_each(?))",
    )
    .bind(json_list(roles.iter().map(|r| r.id.to_string())))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl RoleStore for SqliteStore {
    async fn sync_builtins(&self, permissions: &[Permission], roles: &[Role]) -> Result<()> {
        // IMMEDIATE takes the write lock first, waiting (busy_timeout) for
        // another process doing the same; a deferred transaction would fail
        // at once when upgrading its read lock.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        sync_in(&mut tx, permissions, roles).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn list_permissions(&self) -> Result<Vec<Permission>> {
        let rows: Vec<(String, String, bool)> =
            sqlx::query_as("SELECT name, description, builtin FROM permissions ORDER BY name")
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
        rows.into_iter()
            .map(|(name, description, builtin)| decode::permission(&name, description, builtin))
            .collect()
    }

    async fn list_roles(&self) -> Result<Vec<Role>> {
        let rows = sqlx::query_as(&format!("{ROLE_SELECT}{ROLE_ORDER}"))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        into_roles(rows)
    }

    async fn get_role(&self, id: RoleId) -> Result<Option<Role>> {
        let rows = sqlx::query_as(&format!("{ROLE_SELECT} WHERE r.id = ?{ROLE_ORDER}"))
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(into_roles(rows)?.pop())
    }

    async fn get_role_by_name(&self, name: &RoleName) -> Result<Option<Role>> {
        let rows = sqlx::query_as(&format!("{ROLE_SELECT} WHERE r.name = ?{ROLE_ORDER}"))
            .bind(name.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(into_roles(rows)?.pop())
    }
}
