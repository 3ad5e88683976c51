//! Permissions and roles: operators' own, beside the built-in ones.
//! Built-ins cannot be changed or deleted; a role or permission in use is
//! not deleted from under its holders.

use std::collections::BTreeMap;

use portcullis_domain::{ApiClient, ClientId, Event, Permission, PermissionName, Role, RoleId, RoleName};
use portcullis_store::{Deletion, RoleHolders, RolePatch, Update};
use serde_json::{Value, json};

use crate::{
    Actor, Caller, Result, Service, ServiceError,
    audit::{ChangeKind, FieldChanges, Subject, change_event},
};

/// How a role is named in its events' details (`"role": {…}`; roles have
/// no column of their own there).
fn role_ref(role: &Role) -> Value {
    json!({ "id": role.id.to_string(), "name": role.name.as_str() })
}

fn names(permissions: &[PermissionName]) -> Vec<String> {
    permissions.iter().map(ToString::to_string).collect()
}

/// The event of a role's change from `before` to `after` (permissions as
/// sorted sets), if there is one: `role.updated` listing what changed.
fn role_change_events(actor: &Actor, before: &Role, after: &Role) -> Vec<Event> {
    let mut changes = FieldChanges::default();
    changes.field("name", before.name.as_str(), after.name.as_str());
    changes.field("description", before.description.as_str(), after.description.as_str());
    changes.set("permissions", &names(&before.permissions), &names(&after.permissions));
    if changes.is_empty() {
        return Vec::new();
    }
    let details = changes.into_details([("role", role_ref(after))]);
    vec![change_event(actor, ChangeKind::RoleUpdated, Subject::None, Some(details))]
}

/// Permissions of one category (`invoices` for `invoices:read`), by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionGroup {
    pub category: String,
    pub permissions: Vec<Permission>,
}

/// Groups permissions by category, both in name order.
pub fn group_by_category(permissions: impl IntoIterator<Item = Permission>) -> Vec<PermissionGroup> {
    let mut groups: BTreeMap<String, Vec<Permission>> = BTreeMap::new();
    for p in permissions {
        groups.entry(p.name.category().to_owned()).or_default().push(p);
    }
    groups
        .into_iter()
        .map(|(category, mut permissions)| {
            permissions.sort_by(|a, b| a.name.cmp(&b.name));
            PermissionGroup { category, permissions }
        })
        .collect()
}

/// Descriptions are short: what the permission allows.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

fn description(text: &str) -> Result<String> {
    let text = text.trim();
    if text.chars().count() > MAX_DESCRIPTION_CHARS || text.chars().any(char::is_control) {
        return Err(ServiceError::Invalid {
            field: "description",
            source: portcullis_domain::DomainError::InvalidDescription,
        });
    }
    Ok(text.to_owned())
}

#[derive(Debug, Clone)]
pub struct NewRole {
    pub name: RoleName,
    pub description: String,
    pub permissions: Vec<PermissionName>,
}

#[derive(Debug, Clone, Default)]
pub struct RoleUpdate {
    pub name: Option<RoleName>,
    pub description: Option<String>,
    pub permissions: Option<Vec<PermissionName>>,
}

impl Service {
    /// Every permission, grouped by category.
    pub async fn permissions_by_category(&self, caller: &Caller) -> Result<Vec<PermissionGroup>> {
        caller.may(crate::Operation::ReadRoles)?;
        Ok(group_by_category(self.inner.stores.roles.list_permissions().await?))
    }

    async fn permission(&self, name: &PermissionName) -> Result<Permission> {
        self.inner
            .stores
            .roles
            .list_permissions()
            .await?
            .into_iter()
            .find(|p| &p.name == name)
            .ok_or_else(|| ServiceError::PermissionNotFound(name.to_string()))
    }

    pub async fn create_permission(
        &self,
        caller: &Caller,
        name: PermissionName,
        text: &str,
    ) -> Result<Permission> {
        caller.may(crate::Operation::CreatePermission)?;
        let actor = &caller.actor;
        let permission = Permission { name, description: description(text)?, builtin: false };
        let details =
            json!({ "permission": permission.name.as_str(), "description": permission.description });
        let event = change_event(actor, ChangeKind::PermissionCreated, Subject::None, Some(details));
        self.inner.stores.roles.insert_permission(&permission, &[event]).await?;
        self.inner.cache.invalidate();
        tracing::info!(permission = %permission.name, "permission created");
        Ok(permission)
    }

    /// Setting the description it already has changes and records nothing.
    /// The caller must hold the permission.
    pub async fn update_permission(
        &self,
        caller: &Caller,
        name: &PermissionName,
        text: &str,
    ) -> Result<Permission> {
        caller.may(crate::Operation::UpdatePermission)?;
        let actor = &caller.actor;
        let permission = self.permission(name).await?;
        if permission.builtin {
            return Err(ServiceError::Builtin("permission"));
        }
        // Its description is what operators go by when they grant it.
        caller.require_all([name])?;
        let text = description(text)?;
        let events = |before: &Permission, after: &Permission| {
            let mut changes = FieldChanges::default();
            changes.field("description", before.description.as_str(), after.description.as_str());
            let details = changes.into_details([("permission", name.as_str().into())]);
            vec![change_event(actor, ChangeKind::PermissionUpdated, Subject::None, Some(details))]
        };
        match self.inner.stores.roles.update_permission_description(name, &text, &events).await? {
            Update::Changed { after, .. } => {
                self.inner.cache.invalidate();
                tracing::info!(permission = %name, "permission updated");
                Ok(after)
            }
            Update::Unchanged(permission) | Update::Stale(permission) => Ok(permission),
            Update::NotFound => Err(ServiceError::PermissionNotFound(name.to_string())),
        }
    }

    /// Refused while a role uses it, naming the roles, unless `cascade`:
    /// then it is removed from them first. Taking it from roles needs it
    /// (the caller must hold it) and, as any change to those roles, every
    /// permission of each. (A role given it between that check and the
    /// deletion loses it too: the deletion is one transaction, the check
    /// reads the roles just before.)
    pub async fn delete_permission(
        &self,
        caller: &Caller,
        name: &PermissionName,
        cascade: bool,
    ) -> Result<()> {
        caller.may(crate::Operation::DeletePermission)?;
        let permission = self.permission(name).await?;
        if permission.builtin {
            return Err(ServiceError::Builtin("permission"));
        }
        caller.require_all([name])?;
        let actor = &caller.actor;
        let roles = self.inner.stores.roles.roles_using_permission(name).await?;
        if !cascade && !roles.is_empty() {
            return Err(ServiceError::PermissionInUse {
                roles: roles.iter().map(ToString::to_string).collect(),
            });
        }
        // Taking it from roles changes them: like any change to a role, it
        // needs every permission of each.
        if !roles.is_empty() && !caller.is_admin() {
            let changed = self.inner.stores.roles.list_roles().await?;
            caller.require_all(
                changed.iter().filter(|r| roles.contains(&r.name)).flat_map(|r| r.permissions.iter()),
            )?;
        }
        // With `cascade`, the roles it is removed from, as the store found
        // them in the transaction of the deletion.
        let events = |roles: &[RoleName]| {
            let details = json!({
                "permission": name.as_str(),
                "cascade": cascade,
                "removed_from_roles": roles.iter().map(ToString::to_string).collect::<Vec<_>>(),
            });
            vec![change_event(actor, ChangeKind::PermissionDeleted, Subject::None, Some(details))]
        };
        match self.inner.stores.roles.delete_permission(name, cascade, &events).await {
            Ok(true) => {}
            Ok(false) => return Err(ServiceError::PermissionNotFound(name.to_string())),
            Err(portcullis_store::StoreError::Conflict("permission_in_use")) => {
                let roles = self.inner.stores.roles.roles_using_permission(name).await?;
                return Err(ServiceError::PermissionInUse {
                    roles: roles.iter().map(ToString::to_string).collect(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        self.inner.cache.invalidate();
        tracing::info!(permission = %name, cascade, "permission deleted");
        Ok(())
    }

    pub async fn get_role(&self, caller: &Caller, id: RoleId) -> Result<Role> {
        caller.may(crate::Operation::ReadRoles)?;
        self.role(id).await
    }

    async fn role(&self, id: RoleId) -> Result<Role> {
        self.inner.stores.roles.get_role(id).await?.ok_or(ServiceError::RoleIdNotFound)
    }

    async fn check_permissions_exist(&self, permissions: &[PermissionName]) -> Result<()> {
        let known = self.inner.stores.roles.list_permissions().await?;
        match permissions.iter().find(|p| !known.iter().any(|k| &k.name == *p)) {
            Some(missing) => Err(ServiceError::UnknownPermission(missing.to_string())),
            None => Ok(()),
        }
    }

    /// The caller must hold every permission of the new role.
    pub async fn create_role(&self, caller: &Caller, new: NewRole) -> Result<Role> {
        caller.may(crate::Operation::CreateRole)?;
        self.check_permissions_exist(&new.permissions).await?;
        caller.require_all(&new.permissions)?;
        let actor = &caller.actor;
        let mut permissions = new.permissions;
        permissions.sort();
        permissions.dedup();
        let role = Role {
            id: RoleId::generate(),
            name: new.name,
            description: description(&new.description)?,
            permissions,
            builtin: false,
            version: 1,
        };
        let details = json!({
            "role": role_ref(&role),
            "description": role.description,
            "permissions": names(&role.permissions),
        });
        let event = change_event(actor, ChangeKind::RoleCreated, Subject::None, Some(details));
        self.inner.stores.roles.insert_role(&role, &[event]).await?;
        self.inner.cache.invalidate();
        tracing::info!(role = %role.name, "role created");
        Ok(role)
    }

    /// Changes take effect for new tokens at once; tokens already issued
    /// keep their scope until they expire. An update that changes nothing
    /// writes and records nothing. Any change needs every permission of the
    /// role; replacing them, every one of the new set too.
    pub async fn update_role(&self, caller: &Caller, id: RoleId, update: RoleUpdate) -> Result<Role> {
        self.update_role_if(caller, id, update, None).await
    }

    /// [`update_role`](Self::update_role), refused with
    /// [`ServiceError::Stale`] (and nothing changed) unless the role is at
    /// `if_version`, when given (REST `If-Match`). Only what differs is
    /// written (the permission rows added or removed), with the event, in
    /// one transaction.
    pub async fn update_role_if(
        &self,
        caller: &Caller,
        id: RoleId,
        update: RoleUpdate,
        if_version: Option<u64>,
    ) -> Result<Role> {
        caller.may(crate::Operation::UpdateRole)?;
        // Built-in is not something an update changes: read once, here.
        let current = self.role(id).await?;
        if current.builtin {
            return Err(ServiceError::Builtin("role"));
        }
        let description = update.description.as_deref().map(description).transpose()?;
        // No escalation, for any change (a name or description too: they
        // are what operators go by when they grant it): the old set and the
        // new one. The write is pinned to the version checked, so a change
        // in between cannot slip past the check (it answers as a stale edit).
        if let Some(permissions) = &update.permissions {
            self.check_permissions_exist(permissions).await?;
        }
        caller.require_all(current.permissions.iter().chain(update.permissions.iter().flatten()))?;
        let if_version = caller.pin(if_version, current.version)?;
        let actor = &caller.actor;
        let patch = RolePatch { name: update.name, description, permissions: update.permissions };
        let events = |before: &Role, after: &Role| role_change_events(actor, before, after);
        match self.inner.stores.roles.update_role(id, &patch, if_version, &events).await? {
            Update::Changed { after, .. } => {
                self.inner.cache.invalidate();
                tracing::info!(role = %after.name, "role updated");
                Ok(after)
            }
            Update::Unchanged(role) => Ok(role),
            Update::NotFound => Err(ServiceError::RoleIdNotFound),
            Update::Stale(current) => Err(ServiceError::Stale {
                expected: if_version.unwrap_or_default(),
                current: current.version,
            }),
        }
    }

    /// Refused for built-in roles, and while clients or users hold it (the
    /// error lists them). The caller must hold every permission of it.
    pub async fn delete_role(&self, caller: &Caller, id: RoleId) -> Result<()> {
        self.delete_role_if(caller, id, None).await
    }

    /// [`delete_role`](Self::delete_role), refused with
    /// [`ServiceError::Stale`] (and nothing deleted) unless the role is at
    /// `if_version`, when given (REST `If-Match`).
    pub async fn delete_role_if(&self, caller: &Caller, id: RoleId, if_version: Option<u64>) -> Result<()> {
        caller.may(crate::Operation::DeleteRole)?;
        let role = self.role(id).await?;
        if role.builtin {
            return Err(ServiceError::Builtin("role"));
        }
        caller.require_all(&role.permissions)?;
        if if_version.is_some_and(|v| v != role.version) {
            let expected = if_version.unwrap_or_default();
            return Err(ServiceError::Stale { expected, current: role.version });
        }
        let if_version = caller.pin(if_version, role.version)?;
        let actor = &caller.actor;
        let stale = |current: u64| ServiceError::Stale { expected: if_version.unwrap_or_default(), current };
        let holders = self.inner.stores.roles.role_holders(id).await?;
        if holders != RoleHolders::default() {
            return Err(ServiceError::RoleInUse { clients: holders.clients, users: holders.users });
        }
        let events = |role: &Role| {
            let details = json!({ "role": role_ref(role) });
            vec![change_event(actor, ChangeKind::RoleDeleted, Subject::None, Some(details))]
        };
        match self.inner.stores.roles.delete_role(id, if_version, &events).await {
            Ok(Deletion::Deleted(_)) => {}
            Ok(Deletion::NotFound) => return Err(ServiceError::RoleIdNotFound),
            Ok(Deletion::Stale(current)) => return Err(stale(current.version)),
            Err(portcullis_store::StoreError::Conflict("role_in_use")) => {
                let holders = self.inner.stores.roles.role_holders(id).await?;
                return Err(ServiceError::RoleInUse { clients: holders.clients, users: holders.users });
            }
            Err(e) => return Err(e.into()),
        }
        self.inner.cache.invalidate();
        tracing::info!(role = %role.name, "role deleted");
        Ok(())
    }

    /// The permissions a client's tokens may carry now, grouped by category,
    /// each with its description.
    pub async fn client_permissions(&self, caller: &Caller, id: ClientId) -> Result<Vec<PermissionGroup>> {
        caller.may(crate::Operation::ReadClients)?;
        let client = self.inner.stores.clients.get_client(id).await?.ok_or(ServiceError::ClientNotFound)?;
        self.permissions_of(caller, &client).await
    }

    /// [`client_permissions`](Self::client_permissions) of a client already
    /// read (one of a page): its role's permissions as they are now, from the
    /// [`RoleBook`](crate::RoleBook), so that a page of clients asking costs
    /// no read per client.
    pub async fn permissions_of(&self, caller: &Caller, client: &ApiClient) -> Result<Vec<PermissionGroup>> {
        caller.may(crate::Operation::ReadClients)?;
        Ok(self.role_book().await?.client_permissions(client.role_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_category_in_name_order() {
        let p = |n: &str| Permission {
            name: PermissionName::parse(n).unwrap(),
            description: String::new(),
            builtin: false,
        };
        let groups = group_by_category([p("b:write"), p("a:read"), p("b:read")]);
        let shape: Vec<(String, Vec<String>)> = groups
            .iter()
            .map(|g| (g.category.clone(), g.permissions.iter().map(|p| p.name.to_string()).collect()))
            .collect();
        assert_eq!(
            shape,
            vec![("a".into(), vec!["a:read".into()]), ("b".into(), vec!["b:read".into(), "b:write".into()])]
        );
    }

    #[test]
    fn descriptions_are_bounded() {
        assert!(description(&"d".repeat(500)).is_ok());
        assert!(description(&"d".repeat(501)).is_err());
        assert!(description("bell\u{7}").is_err());
    }
}
