use portcullis_domain::DomainError;
use portcullis_store::StoreError;

use crate::crypto::CryptoError;

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// What a service operation can fail with. Adapters map each variant to
/// their own status codes; only the last three are the server's fault.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{field}: {source}")]
    Invalid {
        field: &'static str,
        #[source]
        source: DomainError,
    },
    /// The caller's request does not carry the operation's own permission.
    #[error("this operation needs the `{0}` permission")]
    Forbidden(portcullis_domain::BuiltinPermission),
    /// The operation would hand out, or act with, permissions the caller
    /// does not hold (see [`crate::Caller::require_all`]).
    #[error("the caller does not hold {}", missing.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "))]
    Escalation { missing: Vec<portcullis_domain::PermissionName> },
    #[error("the cursor is not one this server handed out")]
    InvalidCursor,
    /// A list's text filter holds a NUL byte (which no stored text holds,
    /// and PostgreSQL refuses): named by its query parameter.
    #[error("{0} must not contain a NUL byte")]
    NulInFilter(&'static str),
    #[error("no client with that id")]
    ClientNotFound,
    #[error("the client is disabled")]
    ClientDisabled,
    #[error("built-in {0}s cannot be changed or deleted")]
    Builtin(&'static str),
    #[error("no permission named `{0}`")]
    PermissionNotFound(String),
    /// A role's permission set names one that does not exist: the
    /// request's fault (unlike [`Self::PermissionNotFound`], a missing
    /// subject).
    #[error("no permission named `{0}`")]
    UnknownPermission(String),
    #[error("the permission is used by roles: {}", roles.join(", "))]
    PermissionInUse { roles: Vec<String> },
    #[error("no role with that id")]
    RoleIdNotFound,
    #[error("the role is held by {} client(s) and {} user(s)", clients.len(), users.len())]
    RoleInUse { clients: Vec<portcullis_domain::ClientId>, users: Vec<portcullis_domain::UserId> },
    #[error("no event with that id")]
    EventNotFound,
    #[error("no user with that id")]
    UserNotFound,
    #[error("a user with that e-mail exists")]
    EmailTaken,
    #[error("there are users already")]
    UsersExist,
    #[error("a user needs at least one role")]
    NoRoles,
    #[error("{0}")]
    WeakPassword(crate::passwords::PasswordRejected),
    #[error("there is no personal access token")]
    PersonalTokenNotFound,
    #[error("no signing key with that kid")]
    KeyNotFound,
    #[error("no role named `{0}`")]
    RoleNotFound(String),
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The caller's version precondition (`If-Match`) names another version
    /// than the stored one: nothing was changed.
    #[error("the resource has changed since version {expected}: it is at version {current}")]
    Stale { expected: u64, current: u64 },
    /// Every argon2 slot and its queue are taken (a flood of sign-ins):
    /// refused at once; try again in a second.
    #[error("the server is busy checking passwords; try again shortly")]
    Busy,
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl ServiceError {
    pub fn invalid(field: &'static str) -> impl FnOnce(DomainError) -> Self {
        move |source| Self::Invalid { field, source }
    }

    /// True when the caller is not to blame (an adapter answers 5xx).
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Store(_) | Self::Crypto(_) | Self::Corrupt(_))
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(rule) => Self::Conflict(rule),
            other => Self::Store(other),
        }
    }
}
