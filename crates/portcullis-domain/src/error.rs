/// A rule of the domain was broken by a value from outside.
///
/// Messages name the field and the rule, never the offending value when it
/// could be a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("name must be 1 to 200 characters with no control characters")]
    InvalidClientName,
    #[error(
        "description must be at most 2000 characters with no control characters other than newlines and tabs"
    )]
    InvalidDescription,
    #[error("access token lifetime must be between {min} and {max} seconds", min = crate::TokenTtl::MIN, max = crate::TokenTtl::MAX)]
    InvalidTokenTtl,
    #[error("client id must be a UUID")]
    InvalidClientId,
    #[error("client_ids must list 1 to {max} client ids", max = crate::MAX_BULK_CLIENTS)]
    InvalidBulkSize,
    #[error("role id must be a UUID")]
    InvalidRoleId,
    #[error("status must be `enabled` or `disabled`")]
    InvalidStatus,
    #[error(
        "permission must look like `category:action` (lowercase letters, digits, `_`, `-`, `.`; at most 100 characters)"
    )]
    InvalidPermission,
    #[error(
        "role name must be 1 to 64 characters: lowercase letters, digits, `_` and `-`, starting with a letter"
    )]
    InvalidRoleName,
    #[error("scope must be a space-separated list of permissions")]
    InvalidScope,
    #[error("malformed client secret")]
    MalformedSecret,
    #[error("event id must be a UUID")]
    InvalidEventId,
    #[error("user id must be a UUID")]
    InvalidUserId,
    #[error("email must look like name@example.com")]
    InvalidEmail,
    #[error("name must be 1 to 200 characters with no control characters")]
    InvalidUserName,
}
