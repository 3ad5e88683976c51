//! [`RoleStore::sync_builtins`](crate::RoleStore::sync_builtins), decided
//! once for every SQL backend: from the permissions and roles stored (read
//! in the sync's transaction) and this release's built-in ones, what to
//! write. The backend executes the plan in that transaction, in the order of
//! its fields; a sync that finds everything in place writes nothing.

use std::collections::{BTreeMap, HashMap};

use portcullis_domain::{Permission, PermissionName, Role, RoleId};

use crate::change::{set_changes, sorted_set};

/// What a sync writes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BuiltinSync<'a> {
    /// Built-in permissions missing, or stored with another description or
    /// not marked built-in: insert, or update category and description,
    /// with `builtin = true`.
    pub upsert_permissions: Vec<&'a Permission>,
    /// Stored as built-in and no longer so: `builtin = false`, kept, since
    /// operators' roles may hold them (deleting them is the operators' call).
    pub demote_permissions: Vec<PermissionName>,
    /// Built-in roles missing, or stored with another name or description
    /// or not marked built-in: insert (created now), or update name and
    /// description, with `builtin = true`. Their permissions are in
    /// [`role_permissions`](Self::role_permissions), not here.
    pub upsert_roles: Vec<&'a Role>,
    /// The `role_permissions` rows of built-in roles to delete and insert,
    /// after the roles and permissions above are written.
    pub role_permissions: Vec<RolePermissionChanges>,
    /// Stored as built-in and no longer so: `builtin = false`, kept, since
    /// clients and users may hold them.
    pub demote_roles: Vec<RoleId>,
}

/// The rows of `role_permissions` of one role to delete and to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePermissionChanges {
    pub role: RoleId,
    pub added: Vec<PermissionName>,
    pub removed: Vec<PermissionName>,
}

impl BuiltinSync<'_> {
    /// Everything is in place: nothing to write.
    pub fn is_empty(&self) -> bool {
        self.upsert_permissions.is_empty()
            && self.demote_permissions.is_empty()
            && self.upsert_roles.is_empty()
            && self.role_permissions.is_empty()
            && self.demote_roles.is_empty()
    }
}

/// The plan that makes the stored built-in permissions and roles exactly
/// `permissions` and `roles` (one listed twice: the last one), leaving
/// operators' ones alone. `stored_*` are every stored permission and role,
/// each role with its permissions.
pub fn plan<'a>(
    stored_permissions: &[Permission],
    stored_roles: &[Role],
    permissions: &'a [Permission],
    roles: &'a [Role],
) -> BuiltinSync<'a> {
    let permissions: BTreeMap<&PermissionName, &Permission> =
        permissions.iter().map(|p| (&p.name, p)).collect();
    let roles: BTreeMap<RoleId, &Role> = roles.iter().map(|r| (r.id, r)).collect();
    let stored_permissions: HashMap<&PermissionName, &Permission> =
        stored_permissions.iter().map(|p| (&p.name, p)).collect();
    let stored_roles: HashMap<RoleId, &Role> = stored_roles.iter().map(|r| (r.id, r)).collect();

    let mut sync = BuiltinSync::default();
    for (name, wanted) in &permissions {
        let in_place = stored_permissions
            .get(name)
            .is_some_and(|stored| stored.builtin && stored.description == wanted.description);
        if !in_place {
            sync.upsert_permissions.push(wanted);
        }
    }
    sync.demote_permissions = stored_permissions
        .values()
        .filter(|p| p.builtin && !permissions.contains_key(&p.name))
        .map(|p| p.name.clone())
        .collect();
    sync.demote_permissions.sort();

    for (id, wanted) in &roles {
        let stored = stored_roles.get(id);
        let in_place = stored.is_some_and(|stored| {
            stored.builtin && stored.name == wanted.name && stored.description == wanted.description
        });
        if !in_place {
            sync.upsert_roles.push(wanted);
        }
        let held = stored.map(|s| sorted_set(&s.permissions)).unwrap_or_default();
        let (added, removed) = set_changes(&held, &sorted_set(&wanted.permissions));
        if !added.is_empty() || !removed.is_empty() {
            sync.role_permissions.push(RolePermissionChanges { role: *id, added, removed });
        }
    }
    sync.demote_roles =
        stored_roles.values().filter(|r| r.builtin && !roles.contains_key(&r.id)).map(|r| r.id).collect();
    sync.demote_roles.sort();
    sync
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use portcullis_domain::{RoleName, builtin_permissions, builtin_roles};

    use super::*;

    fn perm(name: &str) -> PermissionName {
        PermissionName::parse(name).unwrap()
    }

    fn permission(name: &str, builtin: bool) -> Permission {
        Permission { name: perm(name), description: format!("{name} text"), builtin }
    }

    fn role(name: &str, permissions: &[&str], builtin: bool) -> Role {
        Role {
            id: RoleId::generate(),
            name: RoleName::parse(name).unwrap(),
            description: format!("the {name} role"),
            permissions: permissions.iter().map(|p| perm(p)).collect(),
            builtin,
            version: 1,
        }
    }

    #[test]
    fn an_empty_store_gets_everything() {
        let (permissions, roles) = (builtin_permissions(), builtin_roles());
        let sync = plan(&[], &[], &permissions, &roles);
        assert_eq!(sync.upsert_permissions.len(), permissions.len());
        assert_eq!(sync.upsert_roles.len(), roles.len());
        for r in &roles {
            let changes = sync.role_permissions.iter().find(|c| c.role == r.id).unwrap();
            assert_eq!(changes.added, sorted_set(&r.permissions));
            assert!(changes.removed.is_empty());
        }
        assert!(sync.demote_permissions.is_empty() && sync.demote_roles.is_empty());
    }

    #[test]
    fn builtins_in_place_write_nothing() {
        let (permissions, roles) = (builtin_permissions(), builtin_roles());
        // As stored: permissions of roles in another order, operators' ones beside.
        let mut stored_roles = roles.clone();
        for r in &mut stored_roles {
            r.permissions.reverse();
            r.version = 7;
        }
        stored_roles.push(role("ops", &["clients:read"], false));
        let mut stored_permissions = permissions.clone();
        stored_permissions.push(permission("invoices:read", false));
        let sync = plan(&stored_permissions, &stored_roles, &permissions, &roles);
        assert!(sync.is_empty(), "{sync:?}");
    }

    #[test]
    fn only_what_differs_is_written() {
        let kept = permission("a:read", true);
        let mut reworded = permission("a:write", true);
        let was_operators = permission("b:read", false);
        let dropped = permission("c:read", true);
        let operators = permission("d:read", false);
        let stored_permissions =
            [kept.clone(), reworded.clone(), was_operators.clone(), dropped.clone(), operators.clone()];
        reworded.description = "new words".to_owned();
        let was_operators = Permission { builtin: true, ..was_operators };
        let new = permission("e:read", true);
        let permissions = [kept.clone(), reworded.clone(), was_operators.clone(), new.clone()];

        let same = role("same", &["a:read"], true);
        let mut renamed = role("renamed", &["a:read", "a:write"], true);
        let gone = role("gone", &["c:read"], true);
        let ops = role("ops", &["d:read"], false);
        let stored_roles = [same.clone(), renamed.clone(), gone.clone(), ops];
        renamed.name = RoleName::parse("better-name").unwrap();
        renamed.permissions = vec![perm("e:read"), perm("a:read"), perm("e:read")];
        let fresh = role("fresh", &["b:read"], true);
        let roles = [same.clone(), renamed.clone(), fresh.clone()];

        let sync = plan(&stored_permissions, &stored_roles, &permissions, &roles);
        let mut upserted: Vec<&str> = sync.upsert_permissions.iter().map(|p| p.name.as_str()).collect();
        upserted.sort_unstable();
        assert_eq!(upserted, ["a:write", "b:read", "e:read"]);
        assert_eq!(sync.demote_permissions, [perm("c:read")]);
        let mut upserted: Vec<RoleId> = sync.upsert_roles.iter().map(|r| r.id).collect();
        upserted.sort_unstable();
        let mut expected = vec![renamed.id, fresh.id];
        expected.sort_unstable();
        assert_eq!(upserted, expected);
        let mut changes = sync.role_permissions.clone();
        changes.sort_by_key(|c| c.role);
        let mut expected = vec![
            RolePermissionChanges {
                role: renamed.id,
                added: vec![perm("e:read")],
                removed: vec![perm("a:write")],
            },
            RolePermissionChanges { role: fresh.id, added: vec![perm("b:read")], removed: Vec::new() },
        ];
        expected.sort_by_key(|c| c.role);
        assert_eq!(changes, expected);
        assert_eq!(sync.demote_roles, [gone.id]);
    }

    #[test]
    fn a_role_or_permission_listed_twice_counts_once_the_last_way() {
        let first = permission("a:read", true);
        let last = Permission { description: "last".to_owned(), ..first.clone() };
        let given = [first.clone(), last.clone()];
        let sync = plan(&[first], &[], &given, &[]);
        assert_eq!(sync.upsert_permissions, [&last]);
        let r = role("twice", &["a:read"], true);
        let again = Role { description: "again".to_owned(), ..r.clone() };
        let given = [r, again.clone()];
        let sync = plan(&[], &[], &[], &given);
        assert_eq!(sync.upsert_roles, [&again]);
        assert_eq!(sync.role_permissions.len(), 1);
    }
}
