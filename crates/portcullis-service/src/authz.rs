//! Who calls the service, with which permissions, and the two checks every
//! operation makes before it changes anything:
//!
//! 1. the caller holds the operation's own permission ([`Caller::require`]);
//! 2. no escalation ([`Caller::require_all`]): an operation that creates,
//!    assigns, edits or acts with a set of permissions (a role's, a client's,
//!    a user's) is allowed only when the caller holds every one of them,
//!    before and after the change (Kubernetes RBAC's escalation prevention).
//!
//! "Holds" means the permissions this very request carries: an access
//! token's scope (which may be narrower than its client's role), or a
//! user's roles for a session or personal access token. A caller that holds
//! every built-in permission (an admin) holds every permission, operators'
//! own included: admins lose nothing. Anyone else holds exactly its scope.

use std::collections::BTreeSet;

use portcullis_domain::{BuiltinPermission, PermissionName, RoleId, Scope};

use crate::{Actor, Result, Service, ServiceError};

/// Every operation that checks its caller, with the permission it needs
/// first. Adapters may ask [`Caller::may`] before they read a request's
/// body (a refusal comes before a complaint about the input); the
/// operation itself checks again, then applies the escalation rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Read or list clients, and a client's permissions.
    ReadClients,
    /// Read roles and permissions.
    ReadRoles,
    ReadUsers,
    ReadEvents,
    CreateClient,
    UpdateClient,
    DeleteClient,
    BulkClients,
    RegenerateClientSecret,
    IssueClientToken,
    RevokeClientTokens,
    RotateSigningKey,
    RevokeSigningKey,
    /// List the signing keys (with their states): a keys operator's view.
    ReadSigningKeys,
    CreatePermission,
    UpdatePermission,
    DeletePermission,
    CreateRole,
    UpdateRole,
    DeleteRole,
    CreateUser,
    UpdateUser,
    DeleteUser,
    RevokeUserPersonalToken,
}

impl Operation {
    /// The operation's own permission.
    pub fn permission(self) -> BuiltinPermission {
        use BuiltinPermission::*;
        match self {
            Self::ReadClients => ClientsRead,
            Self::ReadRoles => RolesRead,
            Self::ReadUsers => UsersRead,
            Self::ReadEvents => EventsRead,
            Self::CreateClient
            | Self::UpdateClient
            | Self::DeleteClient
            | Self::BulkClients
            | Self::RevokeClientTokens => ClientsWrite,
            Self::RegenerateClientSecret => ClientsSecrets,
            Self::IssueClientToken => TokensIssue,
            Self::RotateSigningKey | Self::RevokeSigningKey | Self::ReadSigningKeys => KeysWrite,
            Self::CreatePermission
            | Self::UpdatePermission
            | Self::DeletePermission
            | Self::CreateRole
            | Self::UpdateRole
            | Self::DeleteRole => RolesWrite,
            Self::CreateUser | Self::UpdateUser | Self::DeleteUser | Self::RevokeUserPersonalToken => {
                UsersWrite
            }
        }
    }
}

/// The caller of a service operation: who it is (named by the change
/// events) and the permissions its request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub actor: Actor,
    pub scope: Scope,
}

impl Caller {
    pub fn new(actor: Actor, scope: Scope) -> Self {
        Self { actor, scope }
    }

    /// Someone at a shell on the server (`portcullis …`): holds everything.
    /// A shell that can read the database and the master key is root; the
    /// CLI does not pretend otherwise.
    pub fn cli() -> Self {
        Self::root(Actor::Cli)
    }

    /// The server itself (the first administrator from the environment):
    /// holds everything.
    pub fn system() -> Self {
        Self::root(Actor::System)
    }

    /// A caller holding every built-in permission (an admin), named as
    /// `actor` in the change events.
    pub fn admin(actor: Actor) -> Self {
        Self::root(actor)
    }

    fn root(actor: Actor) -> Self {
        Self { actor, scope: BuiltinPermission::ALL.into_iter().map(PermissionName::from).collect() }
    }

    /// True when the request carries every built-in permission: then it
    /// holds every permission, operators' own included.
    pub fn is_admin(&self) -> bool {
        BuiltinPermission::ALL.into_iter().all(|p| self.scope.contains(&p.into()))
    }

    pub fn holds(&self, permission: &PermissionName) -> bool {
        self.scope.contains(permission) || self.is_admin()
    }

    /// The operation's own permission: else [`ServiceError::Forbidden`].
    pub fn require(&self, permission: BuiltinPermission) -> Result<()> {
        if self.scope.contains(&permission.into()) {
            Ok(())
        } else {
            tracing::info!(%permission, actor = %self.actor, "permission refused");
            Err(ServiceError::Forbidden(permission))
        }
    }

    /// The operation's own permission (step 1 of every operation).
    pub fn may(&self, operation: Operation) -> Result<()> {
        self.require(operation.permission())
    }

    /// Of `permissions`, those the caller does not hold, sorted, once each.
    pub fn missing<'a>(
        &self,
        permissions: impl IntoIterator<Item = &'a PermissionName>,
    ) -> Vec<PermissionName> {
        if self.is_admin() {
            return Vec::new();
        }
        let missing: BTreeSet<&PermissionName> =
            permissions.into_iter().filter(|p| !self.scope.contains(p)).collect();
        missing.into_iter().cloned().collect()
    }

    /// No escalation: the caller must hold every one of `permissions`;
    /// else [`ServiceError::Escalation`] naming those it lacks.
    pub fn require_all<'a>(&self, permissions: impl IntoIterator<Item = &'a PermissionName>) -> Result<()> {
        let missing = self.missing(permissions);
        if missing.is_empty() {
            return Ok(());
        }
        tracing::info!(
            actor = %self.actor,
            missing = %missing.iter().map(PermissionName::as_str).collect::<Vec<_>>().join(" "),
            "escalation refused"
        );
        Err(ServiceError::Escalation { missing })
    }

    /// The version a checked write is pinned to, for a caller that is not
    /// an admin: the version its escalation check read, and no other. An
    /// `If-Match` naming another version is stale now, even one that a
    /// change in between would make current (say the next one, after an
    /// admin gave the target more permissions): the check saw `checked`.
    /// An admin's write is pinned only to its own `If-Match`, if any.
    pub(crate) fn pin(&self, if_version: Option<u64>, checked: u64) -> Result<Option<u64>> {
        if self.is_admin() {
            return Ok(if_version);
        }
        match if_version {
            Some(expected) if expected != checked => Err(ServiceError::Stale { expected, current: checked }),
            _ => Ok(Some(checked)),
        }
    }
}

impl Service {
    /// The permissions of the roles with these ids (a role no longer
    /// stored, none), for the escalation check.
    pub(crate) async fn roles_permissions(
        &self,
        ids: impl IntoIterator<Item = RoleId>,
    ) -> Result<BTreeSet<PermissionName>> {
        let ids: BTreeSet<RoleId> = ids.into_iter().collect();
        if ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let roles = self.inner.stores.roles.list_roles().await?;
        Ok(roles.into_iter().filter(|r| ids.contains(&r.id)).flat_map(|r| r.permissions).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(scope: &str) -> Caller {
        Caller::new(Actor::System, Scope::parse(scope).unwrap())
    }

    fn names(s: &str) -> Vec<PermissionName> {
        s.split(' ').map(|p| PermissionName::parse(p).unwrap()).collect()
    }

    #[test]
    fn a_caller_holds_exactly_its_scope() {
        let c = caller("clients:write invoices:read");
        assert!(c.require(BuiltinPermission::ClientsWrite).is_ok());
        assert!(matches!(
            c.require(BuiltinPermission::ClientsRead),
            Err(ServiceError::Forbidden(BuiltinPermission::ClientsRead))
        ));
        assert!(c.require_all(&names("invoices:read clients:write")).is_ok());
        match c.require_all(&names("keys:write invoices:write clients:write keys:write")) {
            Err(ServiceError::Escalation { missing }) => {
                assert_eq!(missing, names("invoices:write keys:write"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn admins_hold_every_permission_custom_ones_included() {
        let all: Vec<&str> = BuiltinPermission::ALL.iter().map(|p| p.as_str()).collect();
        let admin = caller(&all.join(" "));
        assert!(admin.is_admin());
        assert!(admin.require_all(&names("invoices:write reports:read")).is_ok());
        assert!(Caller::cli().require_all(&names("invoices:write")).is_ok());
        assert!(Caller::system().is_admin());
        // One built-in short of admin: exactly its scope.
        let almost = caller(&all[..all.len() - 1].join(" "));
        assert!(!almost.is_admin());
        assert!(almost.require_all(&names("invoices:write")).is_err());
    }
}
