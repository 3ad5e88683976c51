use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{DomainError, PermissionName, Scope};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoleId(Uuid);

impl RoleId {
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }

    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl FromStr for RoleId {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self).map_err(|_| DomainError::InvalidRoleId)
    }
}

impl fmt::Display for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A role's unique name: lowercase letters, digits, `_` and `-`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoleName(String);

impl RoleName {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let mut bytes = s.bytes();
        let ok = s.len() <= 64
            && matches!(bytes.next(), Some(b'a'..=b'z'))
            && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
        if ok { Ok(Self(s.to_owned())) } else { Err(DomainError::InvalidRoleName) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A named set of permissions. Built-in roles cannot be changed or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: RoleId,
    pub name: RoleName,
    pub description: String,
    pub permissions: Vec<PermissionName>,
    pub builtin: bool,
    /// 1 when created, one more after every change of name, description or
    /// permission set: the REST `ETag`.
    pub version: u64,
}

impl Role {
    /// The scope a token of this role may carry at most.
    pub fn scope(&self) -> Scope {
        self.permissions.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        for ok in ["admin", "viewer", "ci-bot_2"] {
            assert!(RoleName::parse(ok).is_ok());
        }
        for bad in ["", "Admin", "2fa", "a b", &"a".repeat(65)] {
            assert!(RoleName::parse(bad).is_err(), "{bad}");
        }
    }
}
