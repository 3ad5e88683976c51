//! Portcullis's own permissions and its two built-in roles.

use uuid::Uuid;

use crate::{Permission, PermissionName, Role, RoleId, RoleName};

pub const ADMIN_ROLE_ID: RoleId = RoleId::from_uuid(Uuid::from_u128(0x00000000_0000_4000_8000_000000000001));
pub const VIEWER_ROLE_ID: RoleId = RoleId::from_uuid(Uuid::from_u128(0x00000000_0000_4000_8000_000000000002));
pub const RESOURCE_SERVER_ROLE_ID: RoleId =
    RoleId::from_uuid(Uuid::from_u128(0x00000000_0000_4000_8000_000000000003));

const PERMISSIONS: &[(&str, &str)] = &[
    ("clients:read", "List and read API clients"),
    ("clients:write", "Create, update, enable, disable and delete API clients"),
    ("clients:secrets", "Regenerate API client secrets"),
    ("roles:read", "List and read roles and permissions"),
    ("roles:write", "Create, update and delete roles and permissions"),
    ("users:read", "List and read console users"),
    ("users:write", "Create, update, disable and delete console users"),
    ("events:read", "Read request and audit events"),
    ("tokens:issue", "Issue access tokens on behalf of an API client"),
    ("tokens:introspect", "Introspect any access token (RFC 7662), as resource servers do"),
    ("keys:write", "Rotate the token signing keys"),
];

fn name(s: &str) -> PermissionName {
    // The table above is ours and every entry is well formed; a unit test
    // parses each one, so a typo fails the build's tests, not production.
    PermissionName::parse(s).unwrap_or_else(|_| panic!("built-in permission {s} is malformed"))
}

/// The permissions for Portcullis's own admin API, grouped by category in listing order.
pub fn builtin_permissions() -> Vec<Permission> {
    PERMISSIONS
        .iter()
        .map(|(n, d)| Permission { name: name(n), description: (*d).to_owned(), builtin: true })
        .collect()
}

/// `admin` holds every built-in permission; `viewer` the `:read` ones;
/// `resource-server` only `tokens:introspect`.
pub fn builtin_roles() -> Vec<Role> {
    let all: Vec<PermissionName> = PERMISSIONS.iter().map(|(n, _)| name(n)).collect();
    let read: Vec<PermissionName> = all.iter().filter(|p| p.action() == "read").cloned().collect();
    vec![
        Role {
            id: ADMIN_ROLE_ID,
            name: RoleName::parse("admin").unwrap_or_else(|_| panic!("admin role name")),
            description: "Every permission of the Portcullis admin API".to_owned(),
            permissions: all,
            builtin: true,
            version: 1,
        },
        Role {
            id: VIEWER_ROLE_ID,
            name: RoleName::parse("viewer").unwrap_or_else(|_| panic!("viewer role name")),
            description: "Read-only access to the Portcullis admin API".to_owned(),
            permissions: read,
            builtin: true,
            version: 1,
        },
        Role {
            id: RESOURCE_SERVER_ROLE_ID,
            name: RoleName::parse("resource-server").unwrap_or_else(|_| panic!("resource-server role name")),
            description: "For APIs that introspect the tokens they receive".to_owned(),
            permissions: vec![name("tokens:introspect")],
            builtin: true,
            version: 1,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_well_formed() {
        let perms = builtin_permissions();
        assert_eq!(perms.len(), 11);
        let roles = builtin_roles();
        let admin = &roles[0];
        let viewer = &roles[1];
        assert_eq!(admin.permissions.len(), perms.len());
        let viewer_names: Vec<&str> = viewer.permissions.iter().map(|p| p.as_str()).collect();
        assert_eq!(viewer_names, ["clients:read", "roles:read", "users:read", "events:read"]);
        assert_eq!(
            roles[2].permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            ["tokens:introspect"]
        );
    }
}
