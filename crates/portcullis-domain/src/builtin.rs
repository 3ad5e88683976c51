//! Portcullis's own permissions and its two built-in roles.
//!
//! The built-in permissions are an enum, so that code naming one cannot
//! misspell it: a typo is a compile error, not a permanent 403.

use std::fmt;

use uuid::Uuid;

use crate::{Permission, PermissionName, Role, RoleId, RoleName};

pub const ADMIN_ROLE_ID: RoleId = RoleId::from_uuid(Uuid::from_u128(0x00000000_0000_4000_8000_000000000001));
pub const VIEWER_ROLE_ID: RoleId = RoleId::from_uuid(Uuid::from_u128(0x00000000_0000_4000_8000_000000000002));
pub const RESOURCE_SERVER_ROLE_ID: RoleId =
    RoleId::from_uuid(Uuid::from_u128(0x00000000_0000_4000_8000_000000000003));

/// A permission of Portcullis's own admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BuiltinPermission {
    ClientsRead,
    ClientsWrite,
    ClientsSecrets,
    RolesRead,
    RolesWrite,
    UsersRead,
    UsersWrite,
    EventsRead,
    TokensIssue,
    TokensIntrospect,
    KeysWrite,
}

impl BuiltinPermission {
    /// Every built-in permission, grouped by category in listing order.
    pub const ALL: [Self; 11] = [
        Self::ClientsRead,
        Self::ClientsWrite,
        Self::ClientsSecrets,
        Self::RolesRead,
        Self::RolesWrite,
        Self::UsersRead,
        Self::UsersWrite,
        Self::EventsRead,
        Self::TokensIssue,
        Self::TokensIntrospect,
        Self::KeysWrite,
    ];

    /// Its name, as a token's scope carries it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientsRead => "clients:read",
            Self::ClientsWrite => "clients:write",
            Self::ClientsSecrets => "clients:secrets",
            Self::RolesRead => "roles:read",
            Self::RolesWrite => "roles:write",
            Self::UsersRead => "users:read",
            Self::UsersWrite => "users:write",
            Self::EventsRead => "events:read",
            Self::TokensIssue => "tokens:issue",
            Self::TokensIntrospect => "tokens:introspect",
            Self::KeysWrite => "keys:write",
        }
    }

    /// What it allows.
    pub const fn description(self) -> &'static str {
        match self {
            Self::ClientsRead => "List and read API clients",
            Self::ClientsWrite => "Create, update, enable, disable and delete API clients",
            Self::ClientsSecrets => "Regenerate API client secrets",
            Self::RolesRead => "List and read roles and permissions",
            Self::RolesWrite => "Create, update and delete roles and permissions",
            Self::UsersRead => "List and read console users",
            Self::UsersWrite => "Create, update, disable and delete console users",
            Self::EventsRead => "Read request and audit events",
            Self::TokensIssue => "Issue access tokens on behalf of an API client",
            Self::TokensIntrospect => "Introspect any access token (RFC 7662), as resource servers do",
            Self::KeysWrite => "Rotate the token signing keys",
        }
    }

    /// True for the `…:read` permissions (the `viewer` role's).
    pub const fn is_read(self) -> bool {
        matches!(self, Self::ClientsRead | Self::RolesRead | Self::UsersRead | Self::EventsRead)
    }

    /// The built-in permission with this name, if it is one.
    pub fn from_name(name: &PermissionName) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name.as_str())
    }

    pub fn name(self) -> PermissionName {
        self.into()
    }
}

impl fmt::Display for BuiltinPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<BuiltinPermission> for PermissionName {
    fn from(p: BuiltinPermission) -> Self {
        PermissionName::builtin(p.as_str())
    }
}

impl PartialEq<BuiltinPermission> for PermissionName {
    fn eq(&self, other: &BuiltinPermission) -> bool {
        self.as_str() == other.as_str()
    }
}

/// The permissions for Portcullis's own admin API, grouped by category in listing order.
pub fn builtin_permissions() -> Vec<Permission> {
    BuiltinPermission::ALL
        .into_iter()
        .map(|p| Permission { name: p.into(), description: p.description().to_owned(), builtin: true })
        .collect()
}

/// `admin` holds every built-in permission; `viewer` the `:read` ones;
/// `resource-server` only `tokens:introspect`.
pub fn builtin_roles() -> Vec<Role> {
    let all: Vec<PermissionName> = BuiltinPermission::ALL.into_iter().map(Into::into).collect();
    let read: Vec<PermissionName> =
        BuiltinPermission::ALL.into_iter().filter(|p| p.is_read()).map(Into::into).collect();
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
            permissions: vec![BuiltinPermission::TokensIntrospect.into()],
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
        for p in BuiltinPermission::ALL {
            assert_eq!(PermissionName::parse(p.as_str()).unwrap(), PermissionName::from(p));
            assert_eq!(BuiltinPermission::from_name(&p.name()), Some(p));
            assert_eq!(p.is_read(), p.name().action() == "read");
        }
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
        assert_eq!(BuiltinPermission::from_name(&PermissionName::parse("invoices:read").unwrap()), None);
    }
}
