//! Stored rows back into domain values, the same for every SQL backend.
//!
//! A backend reads its columns in its own types (SQLite: UUIDs as TEXT,
//! timestamps as INTEGER microseconds; PostgreSQL: `uuid`, `timestamptz`),
//! turns ids and timestamps into domain types itself, and leaves the rest to
//! these functions. Every [`StoreError::Corrupt`] they make names the table
//! and column, never the stored value: it could be anything, even a secret.

use portcullis_domain::{
    ApiClient, ClientId, ClientName, ClientStatus, Description, Email, Event, EventId, PasswordHash,
    Permission, PermissionName, PersonalAccessToken, Role, RoleId, RoleName, SecretHash, Session, Timestamp,
    TokenTtl, User, UserId, UserName, UserStatus,
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
    pub version: i64,
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
        version: u64::try_from(row.version).ok().filter(|v| *v > 0).ok_or_else(|| invalid("version"))?,
    })
}

/// One `roles` row, without its permissions (they come from
/// `role_permissions`; see [`role_permission`]).
pub fn role(id: RoleId, name: &str, description: String, builtin: bool, version: i64) -> Result<Role> {
    let name = role_name(id, name)?;
    let version = u64::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("roles.version of role {id} is invalid")))?;
    Ok(Role { id, name, description, permissions: Vec::new(), builtin, version })
}

/// One row of `roles LEFT JOIN role_permissions`, its id already a domain
/// value: a role with one of its permissions, or with none.
pub struct RoleRowColumns {
    pub id: RoleId,
    pub name: String,
    pub description: String,
    pub builtin: bool,
    pub version: i64,
    pub permission: Option<String>,
}

/// Folds joined rows, ordered by role and then permission (each role's rows
/// together), into roles with their permissions in that order.
pub fn roles(rows: impl IntoIterator<Item = Result<RoleRowColumns>>) -> Result<Vec<Role>> {
    let mut roles: Vec<Role> = Vec::new();
    for row in rows {
        let row = row?;
        if roles.last().map(|r| r.id) != Some(row.id) {
            roles.push(role(row.id, &row.name, row.description, row.builtin, row.version)?);
        }
        if let (Some(role), Some(p)) = (roles.last_mut(), row.permission) {
            role.permissions.push(role_permission(role.id, &p)?);
        }
    }
    Ok(roles)
}

/// `roles.name` of role `id`.
pub fn role_name(id: RoleId, name: &str) -> Result<RoleName> {
    RoleName::parse(name).map_err(|_| StoreError::Corrupt(format!("roles.name of role {id} is invalid")))
}

/// `role_permissions.permission` of role `role`.
pub fn role_permission(role: RoleId, permission: &str) -> Result<PermissionName> {
    PermissionName::parse(permission)
        .map_err(|_| StoreError::Corrupt(format!("role_permissions.permission of role {role} is invalid")))
}

/// `signing_keys.state` of key `kid`.
pub fn key_state(kid: &str, state: &str) -> Result<crate::KeyState> {
    crate::KeyState::parse(state)
        .ok_or_else(|| StoreError::Corrupt(format!("signing_keys.state of key {kid} is invalid")))
}

/// One `permissions` row.
pub fn permission(name: &str, description: String, builtin: bool) -> Result<Permission> {
    let name = PermissionName::parse(name)
        .map_err(|_| StoreError::Corrupt("permissions.name is invalid".to_owned()))?;
    Ok(Permission { name, description, builtin })
}

/// One `users` row with its roles (from `user_roles`), ids and timestamps
/// already domain values. (No `Debug`: it holds the password hash.)
pub struct UserColumns<'a> {
    pub id: UserId,
    pub email: &'a str,
    pub name: &'a str,
    pub status: &'a str,
    /// In any order; the user gets them ordered by id, without duplicates.
    pub roles: Vec<RoleId>,
    pub password_hash: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
}

/// `{table}.{column}` of user `id` is not valid (`users`, `user_roles`,
/// `sessions`, `personal_access_tokens`); also what a backend reports for a
/// column it converts itself.
pub fn invalid_user_column(id: UserId, table: &str, column: &str) -> StoreError {
    StoreError::Corrupt(format!("{table}.{column} of user {id} is invalid"))
}

/// One `users` row and its roles.
pub fn user(row: UserColumns<'_>) -> Result<User> {
    let invalid = |column| invalid_user_column(row.id, "users", column);
    let mut roles = row.roles;
    roles.sort_unstable();
    roles.dedup();
    Ok(User {
        id: row.id,
        email: Email::parse(row.email).map_err(|_| invalid("email"))?,
        name: UserName::parse(row.name).map_err(|_| invalid("name"))?,
        status: row.status.parse::<UserStatus>().map_err(|_| invalid("status"))?,
        roles,
        password_hash: row.password_hash.map(PasswordHash::from_phc),
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: u64::try_from(row.version).map_err(|_| invalid("version"))?,
    })
}

/// One `sessions` row. (The session is named by its user: the id hash is
/// the session's credential, even hashed.)
pub fn session(
    user_id: UserId,
    id_hash: &[u8],
    created_at: Timestamp,
    last_seen_at: Timestamp,
    expires_at: Timestamp,
) -> Result<Session> {
    let id_hash =
        SecretHash::from_slice(id_hash).ok_or_else(|| invalid_user_column(user_id, "sessions", "id_hash"))?;
    Ok(Session { id_hash, user_id, created_at, last_seen_at, expires_at })
}

/// One `personal_access_tokens` row.
pub fn personal_token(
    user_id: UserId,
    hash: &[u8],
    hint: String,
    created_at: Timestamp,
    last_used_at: Option<Timestamp>,
) -> Result<PersonalAccessToken> {
    let hash = SecretHash::from_slice(hash)
        .ok_or_else(|| invalid_user_column(user_id, "personal_access_tokens", "hash"))?;
    Ok(PersonalAccessToken { user_id, hash, hint, created_at, last_used_at })
}

/// One `events` row, its ids and timestamp already domain values.
/// (No `Debug`: it holds request and response bodies.)
pub struct EventColumns {
    pub id: EventId,
    pub occurred_at: Timestamp,
    pub kind: String,
    pub client_id: Option<ClientId>,
    pub user_id: Option<UserId>,
    pub actor: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    /// As stored; must fit a `u16`.
    pub status: Option<i64>,
    pub latency_micros: Option<i64>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    pub details: Option<String>,
}

/// `events.{column}` of event `id` is not valid; also what a backend
/// reports for a column it converts itself (a TEXT UUID, INTEGER micros).
pub fn invalid_event_column(id: EventId, column: &str) -> StoreError {
    StoreError::Corrupt(format!("events.{column} of event {id} is invalid"))
}

/// One `events` row.
pub fn event(row: EventColumns) -> Result<Event> {
    let id = row.id;
    let status = row.status.map(u16::try_from).transpose().map_err(|_| invalid_event_column(id, "status"))?;
    if row.kind.is_empty() {
        return Err(invalid_event_column(id, "kind"));
    }
    Ok(Event {
        id,
        occurred_at: row.occurred_at,
        kind: row.kind,
        client_id: row.client_id,
        user_id: row.user_id,
        actor: row.actor,
        method: row.method,
        path: row.path,
        status,
        latency_micros: row.latency_micros,
        source_ip: row.source_ip,
        user_agent: row.user_agent,
        request_body: row.request_body,
        response_body: row.response_body,
        details: row.details,
    })
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
            version: 1,
        }
    }

    fn corrupt_message(result: Result<impl std::fmt::Debug>) -> String {
        match result.unwrap_err() {
            StoreError::Corrupt(message) => message,
            other => panic!("not Corrupt: {other:?}"),
        }
    }

    #[test]
    fn joined_role_rows_fold_into_roles_with_their_permissions() {
        let (a, b) = (RoleId::generate(), RoleId::generate());
        let row = |id, name: &str, permission: Option<&str>| {
            Ok(RoleRowColumns {
                id,
                name: name.to_owned(),
                description: String::new(),
                builtin: false,
                version: 3,
                permission: permission.map(str::to_owned),
            })
        };
        let folded = roles([
            row(a, "billing", Some("invoices:read")),
            row(a, "billing", Some("invoices:write")),
            row(b, "empty", None),
        ])
        .unwrap();
        assert_eq!(folded.len(), 2);
        assert_eq!((folded[0].id, folded[0].name.as_str(), folded[0].version), (a, "billing", 3));
        let held: Vec<&str> = folded[0].permissions.iter().map(|p| p.as_str()).collect();
        assert_eq!(held, ["invoices:read", "invoices:write"]);
        assert_eq!((folded[1].id, folded[1].permissions.len()), (b, 0));
        assert!(roles(std::iter::empty()).unwrap().is_empty());
        // A bad row anywhere fails the whole read, naming the column.
        let bad = roles([row(a, "billing", Some(SECRET))]);
        assert_eq!(corrupt_message(bad), format!("role_permissions.permission of role {a} is invalid"));
        assert_eq!(corrupt_message(key_state("k1", SECRET)), "signing_keys.state of key k1 is invalid");
        assert_eq!(key_state("k1", "next").unwrap(), crate::KeyState::Next);
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
        let message = corrupt_message(role(id, SECRET, String::new(), false, 1));
        assert_eq!(message, format!("roles.name of role {id} is invalid"));
        let message = corrupt_message(role_permission(id, SECRET));
        assert_eq!(message, format!("role_permissions.permission of role {id} is invalid"));
        let message = corrupt_message(permission(SECRET, String::new(), true));
        assert_eq!(message, "permissions.name is invalid");
    }
    fn user_columns(id: UserId) -> UserColumns<'static> {
        let at = DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap();
        UserColumns {
            id,
            email: "ada@example.com",
            name: "Ada Lovelace",
            status: "enabled",
            roles: Vec::new(),
            password_hash: None,
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }

    #[test]
    fn a_valid_user_row_decodes_with_its_roles_by_id() {
        let id = UserId::generate();
        let (a, b) = (RoleId::generate(), RoleId::generate());
        let (low, high) = if a < b { (a, b) } else { (b, a) };
        let row = UserColumns {
            roles: vec![high, low, high],
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$x".to_owned()),
            ..user_columns(id)
        };
        let user = user(row).unwrap();
        assert_eq!(user.roles, [low, high]);
        assert_eq!(user.email.as_str(), "ada@example.com");
        assert_eq!(user.status, UserStatus::Enabled);
        assert_eq!(user.password_hash.unwrap().as_phc(), "$argon2id$v=19$m=19456,t=2,p=1$x");
    }

    #[test]
    fn invalid_user_session_and_token_values_are_named_without_the_value() {
        let id = UserId::generate();
        for (column, row) in [
            ("email", UserColumns { email: SECRET, ..user_columns(id) }),
            ("name", UserColumns { name: SECRET, ..user_columns(id) }),
            ("status", UserColumns { status: SECRET, ..user_columns(id) }),
        ] {
            assert_eq!(corrupt_message(user(row)), format!("users.{column} of user {id} is invalid"));
        }
        let at = DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap();
        let message = corrupt_message(session(id, SECRET.as_bytes(), at, at, at));
        assert_eq!(message, format!("sessions.id_hash of user {id} is invalid"));
        let message = corrupt_message(personal_token(id, SECRET.as_bytes(), String::new(), at, None));
        assert_eq!(message, format!("personal_access_tokens.hash of user {id} is invalid"));
    }

    #[test]
    fn an_invalid_event_column_is_named_without_its_value() {
        let id = EventId::generate();
        let at = DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap();
        let row = |status: Option<i64>, kind: &str| EventColumns {
            id,
            occurred_at: at,
            kind: kind.to_owned(),
            client_id: None,
            user_id: None,
            actor: None,
            method: None,
            path: None,
            status,
            latency_micros: None,
            source_ip: None,
            user_agent: None,
            request_body: Some(SECRET.to_owned()),
            response_body: None,
            details: None,
        };
        assert_eq!(event(row(Some(404), "token.request")).unwrap().status, Some(404));
        assert_eq!(event(row(None, "token.request")).unwrap().status, None);
        for status in [-1, 65_536, 4_000_000_000] {
            let message = corrupt_message(event(row(Some(status), "token.request")));
            assert_eq!(message, format!("events.status of event {id} is invalid"));
        }
        let message = corrupt_message(event(row(None, "")));
        assert_eq!(message, format!("events.kind of event {id} is invalid"));
    }
}
