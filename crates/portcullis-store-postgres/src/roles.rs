use async_trait::async_trait;
use portcullis_domain::{ClientId, Event, Permission, PermissionName, Role, RoleId, RoleName, UserId, now};
use portcullis_store::{
    ChangeEvents, DeleteEvents, Deletion, PermissionDeleteEvents, Result, RoleHolders, RolePatch, RoleStore,
    StoreError, Update, builtins,
    change::{DeletionPlan, Plan, RoleField, plan_deletion, plan_permission_update, plan_role_update},
    decode::{self, RoleRowColumns},
};
use sqlx::{Connection, Executor, PgConnection, Postgres};
use uuid::Uuid;

use crate::{
    PgStore,
    error::{db_error, db_error_fk},
    events, watch,
};

/// A role's permission must be a stored permission.
const PERMISSION_MISSING: &str = "role_permission_missing";
/// A permission held by a role cannot be deleted (without `cascade`).
const PERMISSION_IN_USE: &str = "permission_in_use";
/// A role held by a client or a user cannot be deleted.
const ROLE_IN_USE: &str = "role_in_use";

/// Serializes `sync_builtins` across instances starting at once ("portcull").
const SYNC_LOCK: i64 = 0x706f_7274_6375_6c6c;

const ROLE_SELECT: &str = "SELECT r.id, r.name, r.description, r.builtin, r.version, rp.permission \
                           FROM roles r LEFT JOIN role_permissions rp ON rp.role_id = r.id";
const ROLE_ORDER: &str = " ORDER BY r.name, r.id, rp.permission";

#[derive(sqlx::FromRow)]
struct RoleRow {
    id: Uuid,
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
            id: RoleId::from_uuid(row.id),
            name: row.name,
            description: row.description,
            builtin: row.builtin,
            version: row.version,
            permission: row.permission,
        })
    }))
}

/// Gives the role exactly these permissions (it has none yet); a permission
/// listed twice is stored once.
async fn insert_permissions(
    tx: &mut PgConnection,
    role_id: Uuid,
    permissions: &[PermissionName],
) -> Result<()> {
    let names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
    sqlx::query(
        "INSERT INTO role_permissions (role_id, permission) SELECT $1, p FROM unnest($2::text[]) AS p \
         ON CONFLICT DO NOTHING",
    )
    .bind(role_id)
    .bind(&names)
    .execute(&mut *tx)
    .await
    .map_err(db_error_fk(PERMISSION_MISSING))?;
    Ok(())
}

/// One stored role, locked until the caller's transaction ends.
///
/// Locked first, read after: a statement that waits for another writer's
/// lock re-reads only the locked row once it has it (READ COMMITTED), while
/// rows joined to it come from the snapshot it started with, from before
/// the other writer's commit; a permission set read that way would undo
/// the other writer's change.
async fn lock_role(conn: &mut PgConnection, id: RoleId) -> Result<Option<Role>> {
    let locked: Option<Uuid> = sqlx::query_scalar("SELECT id FROM roles WHERE id = $1 FOR UPDATE")
        .bind(id.as_uuid())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    if locked.is_none() {
        return Ok(None);
    }
    let rows = sqlx::query_as::<Postgres, RoleRow>(&format!("{ROLE_SELECT} WHERE r.id = $1{ROLE_ORDER}"))
        .bind(id.as_uuid())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(into_roles(rows)?.pop())
}

fn version(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt("roles.version out of range".to_owned()))
}

/// Every stored permission, through `conn` (a pool or a transaction).
async fn permissions_in<'e>(conn: impl Executor<'e, Database = Postgres>) -> Result<Vec<Permission>> {
    let rows: Vec<(String, String, bool)> =
        sqlx::query_as("SELECT name, description, builtin FROM permissions ORDER BY name")
            .fetch_all(conn)
            .await
            .map_err(db_error)?;
    rows.into_iter()
        .map(|(name, description, builtin)| decode::permission(&name, description, builtin))
        .collect()
}

/// Takes these permissions from the role.
async fn delete_permissions(
    tx: &mut PgConnection,
    role_id: Uuid,
    permissions: &[PermissionName],
) -> Result<()> {
    let names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
    sqlx::query("DELETE FROM role_permissions WHERE role_id = $1 AND permission = ANY($2)")
        .bind(role_id)
        .bind(&names)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Executes the plan of [`builtins::plan`] against what is stored now.
async fn sync_in(tx: &mut PgConnection, permissions: &[Permission], roles: &[Role]) -> Result<()> {
    // Instances starting at once sync one after the other, each reading
    // what the one before committed.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SYNC_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let stored_permissions = permissions_in(&mut *tx).await?;
    let rows = sqlx::query_as::<Postgres, RoleRow>(&format!("{ROLE_SELECT}{ROLE_ORDER}"))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
    let stored_roles = into_roles(rows)?;
    let sync = builtins::plan(&stored_permissions, &stored_roles, permissions, roles);
    for p in &sync.upsert_permissions {
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
    if !sync.demote_permissions.is_empty() {
        let names: Vec<&str> = sync.demote_permissions.iter().map(|p| p.as_str()).collect();
        sqlx::query("UPDATE permissions SET builtin = FALSE WHERE name = ANY($1)")
            .bind(&names)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    let created_at = now();
    for r in &sync.upsert_roles {
        sqlx::query(
            "INSERT INTO roles (id, name, description, builtin, created_at) VALUES ($1, $2, $3, TRUE, $4) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, \
             builtin = TRUE",
        )
        .bind(r.id.as_uuid())
        .bind(r.name.as_str())
        .bind(&r.description)
        .bind(created_at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    }
    for changes in &sync.role_permissions {
        delete_permissions(tx, changes.role.as_uuid(), &changes.removed).await?;
        insert_permissions(tx, changes.role.as_uuid(), &changes.added).await?;
    }
    if !sync.demote_roles.is_empty() {
        let ids: Vec<Uuid> = sync.demote_roles.iter().map(|r| r.as_uuid()).collect();
        sqlx::query("UPDATE roles SET builtin = FALSE WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    // One notification even when nothing was written, delivered at commit,
    // as the unconditional upserts of earlier releases sent: every process
    // start (a CLI command's too) has running instances drop their caches.
    // Their caches then also read a CLI command's change made after its
    // start at their next lookup, instead of only once that change's own
    // notification arrives (milliseconds later: delivery is asynchronous).
    sqlx::query("SELECT pg_notify($1, 'builtins')")
        .bind(watch::CHANNEL)
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
        let rows = query.fetch_all(&mut *self.conn().await?).await.map_err(db_error)?;
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
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        sync_in(&mut tx, permissions, roles).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(())
    }

    async fn list_permissions(&self) -> Result<Vec<Permission>> {
        permissions_in(&mut *self.conn().await?).await
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

    async fn insert_permission(&self, p: &Permission, events: &[Event]) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO permissions (name, category, description, builtin) VALUES ($1, $2, $3, FALSE)",
        )
        .bind(p.name.as_str())
        .bind(p.name.category())
        .bind(&p.description)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        events::insert_in(&mut tx, events).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(())
    }

    async fn update_permission_description(
        &self,
        name: &PermissionName,
        description: &str,
        events: ChangeEvents<'_, Permission>,
    ) -> Result<Update<Permission>> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        let row: Option<(String, String, bool)> =
            sqlx::query_as("SELECT name, description, builtin FROM permissions WHERE name = $1 FOR UPDATE")
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
        sqlx::query("UPDATE permissions SET description = $1 WHERE name = $2")
            .bind(description)
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        events::insert_in(&mut tx, &events(&before, &after)).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(Update::Changed { before, after })
    }

    async fn roles_using_permission(&self, name: &PermissionName) -> Result<Vec<RoleName>> {
        let rows: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT r.id, r.name FROM role_permissions rp JOIN roles r ON r.id = rp.role_id \
             WHERE rp.permission = $1 ORDER BY r.name",
        )
        .bind(name.as_str())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_error)?;
        rows.into_iter().map(|(id, name)| decode::role_name(RoleId::from_uuid(id), &name)).collect()
    }

    async fn delete_permission(
        &self,
        name: &PermissionName,
        cascade: bool,
        events: PermissionDeleteEvents<'_>,
    ) -> Result<bool> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        // Lock the permission first: a role given it meanwhile (its foreign
        // key check takes a KEY SHARE lock) waits for us, and then fails
        // because the permission is gone; so the roles read next are all.
        sqlx::query("SELECT 1 FROM permissions WHERE name = $1 FOR UPDATE")
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let rows: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT r.id, r.name FROM role_permissions rp JOIN roles r ON r.id = rp.role_id \
             WHERE rp.permission = $1 ORDER BY r.name",
        )
        .bind(name.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let holders = rows
            .into_iter()
            .map(|(id, name)| decode::role_name(RoleId::from_uuid(id), &name))
            .collect::<Result<Vec<_>>>()?;
        if cascade {
            // Each role it leaves has changed: its version moves on.
            sqlx::query(
                "UPDATE roles SET version = version + 1 \
                 WHERE id IN (SELECT role_id FROM role_permissions WHERE permission = $1)",
            )
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            sqlx::query("DELETE FROM role_permissions WHERE permission = $1")
                .bind(name.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        // Without cascade, the foreign key of role_permissions refuses it.
        let done = sqlx::query("DELETE FROM permissions WHERE name = $1")
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error_fk(PERMISSION_IN_USE))?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        events::insert_in(&mut tx, &events(&holders)).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(true)
    }

    async fn insert_role(&self, r: &Role, events: &[Event]) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO roles (id, name, description, builtin, created_at, version) \
             VALUES ($1, $2, $3, FALSE, $4, $5)",
        )
        .bind(r.id.as_uuid())
        .bind(r.name.as_str())
        .bind(&r.description)
        .bind(now())
        .bind(version(r.version)?)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_permissions(&mut tx, r.id.as_uuid(), &r.permissions).await?;
        events::insert_in(&mut tx, events).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(())
    }

    async fn update_role(
        &self,
        id: RoleId,
        patch: &RolePatch,
        if_version: Option<u64>,
        events: ChangeEvents<'_, Role>,
    ) -> Result<Update<Role>> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        // FOR UPDATE: the role read is the role changed; a concurrent change
        // waits for this transaction and then reads its result.
        let stored = lock_role(&mut tx, id).await?;
        let (before, after, fields) = match plan_role_update(stored, patch, if_version) {
            Plan::Answer(answer) => return Ok(answer),
            Plan::Write { before, after, fields } => (before, after, fields),
        };
        for field in &fields {
            match field {
                RoleField::Name => {
                    sqlx::query("UPDATE roles SET name = $1 WHERE id = $2")
                        .bind(after.name.as_str())
                        .bind(id.as_uuid())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                RoleField::Description => {
                    sqlx::query("UPDATE roles SET description = $1 WHERE id = $2")
                        .bind(&after.description)
                        .bind(id.as_uuid())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                RoleField::Permissions { added, removed } => {
                    delete_permissions(&mut tx, id.as_uuid(), removed).await?;
                    insert_permissions(&mut tx, id.as_uuid(), added).await?;
                }
            }
        }
        sqlx::query("UPDATE roles SET version = $1 WHERE id = $2")
            .bind(version(after.version)?)
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        events::insert_in(&mut tx, &events(&before, &after)).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(Update::Changed { before, after })
    }

    async fn role_holders(&self, id: RoleId) -> Result<RoleHolders> {
        // One statement, so both lists come from the same snapshot.
        let rows: Vec<(bool, Uuid)> = sqlx::query_as(
            "SELECT FALSE, id FROM api_clients WHERE role_id = $1 \
             UNION ALL SELECT TRUE, user_id FROM user_roles WHERE role_id = $1 \
             ORDER BY 1, 2",
        )
        .bind(id.as_uuid())
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_error)?;
        let mut holders = RoleHolders::default();
        for (is_user, holder) in rows {
            if is_user {
                holders.users.push(UserId::from_uuid(holder));
            } else {
                holders.clients.push(ClientId::from_uuid(holder));
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
        let mut tx = conn.begin().await.map_err(db_error)?;
        let stored = lock_role(&mut tx, id).await?;
        let role = match plan_deletion(stored, |r| r.version, if_version) {
            DeletionPlan::Answer(answer) => return Ok(answer),
            DeletionPlan::Delete(role) => role,
        };
        // The foreign keys of api_clients and user_roles refuse it while the
        // role is held; its role_permissions rows go with it.
        sqlx::query("DELETE FROM roles WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db_error_fk(ROLE_IN_USE))?;
        events::insert_in(&mut tx, &events(&role)).await?;
        self.commit(tx).await?;
        self.changed().await;
        Ok(Deletion::Deleted(role))
    }
}
