use async_trait::async_trait;
use portcullis_domain::{Permission, Role, RoleId, RoleName, now};
use portcullis_store::{Result, RoleStore, decode};
use sqlx::{PgConnection, Postgres};
use uuid::Uuid;

use crate::{
    PgStore,
    error::{db_error, db_error_fk},
};

/// A role's permission must be a stored permission.
const PERMISSION_MISSING: &str = "role_permission_missing";

/// Serializes `sync_builtins` across instances starting at once ("portcull").
const SYNC_LOCK: i64 = 0x706f_7274_6375_6c6c;

const ROLE_SELECT: &str = "SELECT r.id, r.name, r.description, r.builtin, rp.permission \
                           FROM roles r LEFT JOIN role_permissions rp ON rp.role_id = r.id";
const ROLE_ORDER: &str = " ORDER BY r.name, r.id, rp.permission";

#[derive(sqlx::FromRow)]
struct RoleRow {
    id: Uuid,
    name: String,
    description: String,
    builtin: bool,
    permission: Option<String>,
}

/// Folds the joined rows (ordered by role, then permission) into roles.
fn into_roles(rows: Vec<RoleRow>) -> Result<Vec<Role>> {
    let mut roles: Vec<Role> = Vec::new();
    for row in rows {
        let id = RoleId::from_uuid(row.id);
        if roles.last().map(|r| r.id) != Some(id) {
            roles.push(decode::role(id, &row.name, row.description, row.builtin)?);
        }
        if let (Some(role), Some(p)) = (roles.last_mut(), row.permission) {
            role.permissions.push(decode::role_permission(id, &p)?);
        }
    }
    Ok(roles)
}

async fn sync_in(tx: &mut PgConnection, permissions: &[Permission], roles: &[Role]) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SYNC_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    for p in permissions {
        sqlx::query(
            "INSERT INTO permissions (name, category, description, builtin) VALUES ($1, $2, $3, TRUE) \
             ON CONFLICT (name) DO UPDATE SET category = excluded.category, \
             description = excluded.description, builtin = TRUE",
        )
        .bind(p.name.as_str())
        .bind(p.name.category())
        .bind(&p.description)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    }
    // A permission no longer built in becomes an ordinary one: operators'
    // roles may hold it, and they decide whether to delete it.
    let names: Vec<&str> = permissions.iter().map(|p| p.name.as_str()).collect();
    sqlx::query("UPDATE permissions SET builtin = FALSE WHERE builtin AND name <> ALL($1)")
        .bind(&names)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;

    let created_at = now();
    for r in roles {
        let id = r.id.as_uuid();
        sqlx::query(
            "INSERT INTO roles (id, name, description, builtin, created_at) VALUES ($1, $2, $3, TRUE, $4) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, \
             builtin = TRUE",
        )
        .bind(id)
        .bind(r.name.as_str())
        .bind(&r.description)
        .bind(created_at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let held: Vec<&str> = r.permissions.iter().map(|p| p.as_str()).collect();
        sqlx::query("DELETE FROM role_permissions WHERE role_id = $1 AND permission <> ALL($2)")
            .bind(id)
            .bind(&held)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO role_permissions (role_id, permission) SELECT $1, p FROM unnest($2::text[]) AS p \
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(&held)
        .execute(&mut *tx)
        .await
        .map_err(db_error_fk(PERMISSION_MISSING))?;
    }
    // Like permissions: clients may hold a role that is no longer built in.
    let ids: Vec<Uuid> = roles.iter().map(|r| r.id.as_uuid()).collect();
    sqlx::query("UPDATE roles SET builtin = FALSE WHERE builtin AND id <> ALL($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

impl PgStore {
    async fn fetch_roles(&self, filter: &str, bind: Option<RoleKey<'_>>) -> Result<Vec<Role>> {
        let sql = format!("{ROLE_SELECT}{filter}{ROLE_ORDER}");
        let query = sqlx::query_as::<Postgres, RoleRow>(&sql);
        let query = match bind {
            None => query,
            Some(RoleKey::Id(id)) => query.bind(id),
            Some(RoleKey::Name(name)) => query.bind(name),
        };
        let rows = query.fetch_all(&self.pool).await.map_err(db_error)?;
        into_roles(rows)
    }
}

enum RoleKey<'a> {
    Id(Uuid),
    Name(&'a str),
}

#[async_trait]
impl RoleStore for PgStore {
    async fn sync_builtins(&self, permissions: &[Permission], roles: &[Role]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sync_in(&mut tx, permissions, roles).await?;
        tx.commit().await.map_err(db_error)?;
        self.changed();
        Ok(())
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
        self.fetch_roles("", None).await
    }

    async fn get_role(&self, id: RoleId) -> Result<Option<Role>> {
        Ok(self.fetch_roles(" WHERE r.id = $1", Some(RoleKey::Id(id.as_uuid()))).await?.pop())
    }

    async fn get_role_by_name(&self, name: &RoleName) -> Result<Option<Role>> {
        Ok(self.fetch_roles(" WHERE r.name = $1", Some(RoleKey::Name(name.as_str()))).await?.pop())
    }
}
