//! Stored rows back into domain values, the same for every SQL backend.
//!
//! A backend reads its columns in its own types (SQLite: UUIDs as TEXT,
//! timestamps as INTEGER microseconds; PostgreSQL: `uuid`, `timestamptz`),
//! turns ids and timestamps into domain types itself, and leaves the rest to
//! these functions. Every [`StoreError::Corrupt`] they make names the table
//! and column, never the stored value: it could be anything, even a secret.

use portcullis_domain::{
    ApiClient, ClientId, ClientName, ClientStatus, Description, Permission, PermissionName, Role, RoleId,
    RoleName, SecretHash, Timestamp, TokenTtl,
};

use crate::{Result, StoreError};

/// One `api_clients` row, its ids and timestamps already domain values.
/// (No `Debug`: it holds the stored values, which must not reach a log.)
pub struct ClientColumns<'a> {
    pub id: ClientId,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub status: &'a str,
    pub role_id: Option<RoleId>,
    pub token_ttl_seconds: i64,
    pub secret_hash: &'a [u8],
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub tokens_valid_after: Option<Timestamp>,
}

/// `api_clients.{column}` of client `id` is not valid; also what a backend
/// reports for a column it converts itself (a TEXT UUID, INTEGER micros).
pub fn invalid_client_column(id: ClientId, column: &str) -> StoreError {
    StoreError::Corrupt(format!("api_clients.{column} of client {id} is invalid"))
}

/// One `api_clients` row.
pub fn client(row: ClientColumns<'_>) -> Result<ApiClient> {
    let invalid = |column| invalid_client_column(row.id, column);
    Ok(ApiClient {
        id: row.id,
        name: ClientName::parse(row.name).map_err(|_| invalid("name"))?,
        description: row
            .description
            .map(Description::parse)
            .transpose()
            .map_err(|_| invalid("description"))?,
        status: row.status.parse::<ClientStatus>().map_err(|_| invalid("status"))?,
        role_id: row.role_id,
        token_ttl: TokenTtl::from_secs(row.token_ttl_seconds).map_err(|_| invalid("token_ttl_seconds"))?,
        secret_hash: SecretHash::from_slice(row.secret_hash).ok_or_else(|| invalid("secret_hash"))?,
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_used_at: row.last_used_at,
        tokens_valid_after: row.tokens_valid_after,
    })
}

/// One `roles` row, without its permissions (they come from
/// `role_permissions`; see [`role_permission`]).
pub fn role(id: RoleId, name: &str, description: String, builtin: bool) -> Result<Role> {
    let name = RoleName::parse(name)
        .map_err(|_| StoreError::Corrupt(format!("roles.name of role {id} is invalid")))?;
    Ok(Role { id, name, description, permissions: Vec::new(), builtin })
}

/// `role_permissions.permission` of role `role`.
pub fn role_permission(role: RoleId, permission: &str) -> Result<PermissionName> {
    PermissionName::parse(permission)
        .map_err(|_| StoreError::Corrupt(format!("role_permissions.permission of role {role} is invalid")))
}

/// One `permissions` row.
pub fn permission(name: &str, description: String, builtin: bool) -> Result<Permission> {
    let name = PermissionName::parse(name)
        .map_err(|_| StoreError::Corrupt("permissions.name is invalid".to_owned()))?;
    Ok(Permission { name, description, builtin })
}

/// What `insert_server_secret_if_absent` reads back right after its insert,
/// which must be there.
pub fn server_secret_read_back(name: &str, value: Option<Vec<u8>>) -> Result<Vec<u8>> {
    value
        .ok_or_else(|| StoreError::Corrupt(format!("server secret {name} vanished right after being stored")))
}

/// The database driver could not decode stored column `index` into the
/// type the backend asked for.
pub fn undecodable_column(index: &str) -> StoreError {
    StoreError::Corrupt(format!("stored column {index} cannot be decoded"))
}

/// The database driver could not decode a stored value.
pub fn undecodable_value() -> StoreError {
    StoreError::Corrupt("a stored value cannot be decoded".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::DateTime;

    use super::*;

    /// Invalid in every column: a control character, no colon, too short a hash.
    const SECRET: &str = "bell\u{7}secret-ish";

    fn columns<'a>(id: ClientId, hash: &'a [u8]) -> ClientColumns<'a> {
        let at = DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap();
        ClientColumns {
            id,
            name: "CRM sync",
            description: Some("nightly"),
            status: "enabled",
            role_id: None,
            token_ttl_seconds: 3600,
            secret_hash: hash,
            created_at: at,
            updated_at: at,
            last_used_at: None,
            tokens_valid_after: None,
        }
    }

    fn corrupt_message(result: Result<impl std::fmt::Debug>) -> String {
        match result.unwrap_err() {
            StoreError::Corrupt(message) => message,
            other => panic!("not Corrupt: {other:?}"),
        }
    }

    #[test]
    fn a_valid_client_row_decodes() {
        let id = ClientId::generate();
        let at = DateTime::from_timestamp_micros(1_700_000_123_456_789).unwrap();
        let row =
            ClientColumns { last_used_at: Some(at), tokens_valid_after: Some(at), ..columns(id, &[7; 32]) };
        let client = client(row).unwrap();
        assert_eq!(client.id, id);
        assert_eq!((client.last_used_at, client.tokens_valid_after), (Some(at), Some(at)));
        assert_eq!(client.name.as_str(), "CRM sync");
        assert_eq!(client.description.as_ref().map(|d| d.as_str()), Some("nightly"));
        assert_eq!(client.status, ClientStatus::Enabled);
        assert_eq!(client.token_ttl.as_secs(), 3600);
        assert_eq!(client.secret_hash.as_bytes(), &[7; 32]);
    }

    #[test]
    fn an_invalid_client_column_is_named_without_its_value() {
        let id = ClientId::generate();
        let hash = [7; 32];
        let cases: [(&str, ClientColumns<'_>); 5] = [
            ("name", ClientColumns { name: SECRET, ..columns(id, &hash) }),
            ("description", ClientColumns { description: Some(SECRET), ..columns(id, &hash) }),
            ("status", ClientColumns { status: SECRET, ..columns(id, &hash) }),
            ("token_ttl_seconds", ClientColumns { token_ttl_seconds: 59, ..columns(id, &hash) }),
            ("secret_hash", ClientColumns { secret_hash: SECRET.as_bytes(), ..columns(id, &hash) }),
        ];
        for (column, row) in cases {
            let message = corrupt_message(client(row));
            assert_eq!(message, format!("api_clients.{column} of client {id} is invalid"));
        }
    }

    #[test]
    fn invalid_role_and_permission_values_are_named_without_the_value() {
        let id = RoleId::generate();
        let message = corrupt_message(role(id, SECRET, String::new(), false));
        assert_eq!(message, format!("roles.name of role {id} is invalid"));
        let message = corrupt_message(role_permission(id, SECRET));
        assert_eq!(message, format!("role_permissions.permission of role {id} is invalid"));
        let message = corrupt_message(permission(SECRET, String::new(), true));
        assert_eq!(message, "permissions.name is invalid");
    }
}
