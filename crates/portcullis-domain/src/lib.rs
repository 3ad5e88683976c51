//! The Portcullis domain: identifiers, entities and the rules that bind them.
//!
//! Everything here is pure: no I/O, no clock reads except where a caller asks
//! for "now", no async runtime. Values are parsed at the edge (`parse`,
//! `TryFrom`) so that the rest of the program only ever sees valid ones.

mod builtin;
mod client;
pub mod credential;
mod error;
mod event;
mod permission;
mod role;
mod secret;
mod time;
mod user;

/// Entry points for the fuzz targets in `fuzz/` (docs/fuzzing.md); not an API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::{Secret, SecretKind};

    /// The secret of kind `K` whose 256-bit body is `bytes`, as
    /// [`Secret::generate`] renders it: lets a target build valid secrets
    /// from its input, reproducibly.
    pub fn secret_from_bytes<K: SecretKind>(bytes: &[u8; 32]) -> Secret<K> {
        Secret::from_random_bytes(bytes)
    }
}

pub use builtin::{
    ADMIN_ROLE_ID, BuiltinPermission, RESOURCE_SERVER_ROLE_ID, VIEWER_ROLE_ID, builtin_permissions,
    builtin_roles,
};
pub use client::{ApiClient, ClientId, ClientName, ClientStatus, Description, MAX_BULK_CLIENTS, TokenTtl};
pub use error::DomainError;
pub use event::{Event, EventId};
pub use permission::{Permission, PermissionName, Scope};
pub use role::{Role, RoleId, RoleName};
pub use secret::{
    ClientSecret, ClientSecretKind, PersonalTokenKind, PersonalTokenSecret, Secret, SecretHash, SecretKind,
};
pub use time::{Timestamp, now};
pub use user::{
    Email, Password, PasswordHash, PersonalAccessToken, Session, User, UserId, UserName, UserStatus,
};
