//! Every role and permission as stored at one moment, read in two store
//! calls and kept by the cache until anything changes: what a page of
//! clients or users is shown with (role names, a client's permissions),
//! instead of a read per row.

use std::collections::{HashMap, HashSet};

use portcullis_domain::{Permission, Role, RoleId, RoleName};

use crate::roles::{PermissionGroup, group_by_category};

#[derive(Debug, Clone, Default)]
pub struct RoleBook {
    /// By name, as the store lists them.
    roles: Vec<Role>,
    /// Each role's position in `roles`.
    by_id: HashMap<RoleId, usize>,
    /// By name.
    permissions: Vec<Permission>,
}

impl RoleBook {
    pub(crate) fn new(roles: Vec<Role>, permissions: Vec<Permission>) -> Self {
        let by_id = roles.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        Self { roles, by_id, permissions }
    }

    fn role(&self, id: RoleId) -> Option<&Role> {
        self.by_id.get(&id).map(|&i| &self.roles[i])
    }

    /// The role's name; `None` for no role, or for one no longer stored.
    pub fn role_name(&self, id: Option<RoleId>) -> Option<RoleName> {
        id.and_then(|id| self.role(id)).map(|r| r.name.clone())
    }

    /// The names of those of these roles that are stored, in name order.
    pub fn role_names(&self, ids: &[RoleId]) -> Vec<RoleName> {
        let mut roles: Vec<&Role> = ids.iter().filter_map(|id| self.role(*id)).collect();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        roles.dedup_by_key(|r| r.id);
        roles.into_iter().map(|r| r.name.clone()).collect()
    }

    /// What the tokens of a client with this role may carry: the role's
    /// permissions, grouped by category, each with its description. None
    /// for no role, or for one no longer stored.
    pub fn client_permissions(&self, role: Option<RoleId>) -> Vec<PermissionGroup> {
        let Some(role) = role.and_then(|id| self.role(id)) else { return Vec::new() };
        let held: HashSet<_> = role.permissions.iter().collect();
        group_by_category(self.permissions.iter().filter(|p| held.contains(&p.name)).cloned())
    }
}

#[cfg(test)]
mod tests {
    use portcullis_domain::PermissionName;

    use super::*;

    fn permission(name: &str) -> Permission {
        Permission {
            name: PermissionName::parse(name).unwrap(),
            description: format!("{name}!"),
            builtin: false,
        }
    }

    fn role(name: &str, permissions: &[&str]) -> Role {
        Role {
            id: RoleId::generate(),
            name: RoleName::parse(name).unwrap(),
            description: String::new(),
            permissions: permissions.iter().map(|p| PermissionName::parse(p).unwrap()).collect(),
            builtin: false,
            version: 1,
        }
    }

    #[test]
    fn names_and_permissions_come_from_the_one_read() {
        let (reader, writer) = (role("reader", &["b:read", "a:read"]), role("writer", &["b:write"]));
        let permissions = ["a:read", "b:read", "b:write", "c:read"].map(permission).to_vec();
        let book = RoleBook::new(vec![reader.clone(), writer.clone()], permissions);
        let gone = RoleId::generate();

        assert_eq!(book.role_name(Some(writer.id)), Some(writer.name.clone()));
        assert_eq!(book.role_name(Some(gone)), None);
        assert_eq!(book.role_name(None), None);
        // Name order whatever the order given; unknown ids and repeats left out.
        assert_eq!(
            book.role_names(&[writer.id, gone, reader.id, writer.id]),
            vec![reader.name.clone(), writer.name.clone()]
        );

        let groups = book.client_permissions(Some(reader.id));
        let shape: Vec<(&str, Vec<&str>, Vec<&str>)> = groups
            .iter()
            .map(|g| {
                (
                    g.category.as_str(),
                    g.permissions.iter().map(|p| p.name.as_str()).collect(),
                    g.permissions.iter().map(|p| p.description.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![("a", vec!["a:read"], vec!["a:read!"]), ("b", vec!["b:read"], vec!["b:read!"])]
        );
        assert!(book.client_permissions(None).is_empty());
        assert!(book.client_permissions(Some(gone)).is_empty());
    }
}
