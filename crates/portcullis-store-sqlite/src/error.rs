//! Database errors translated at the store boundary: constraint violations
//! become `StoreError::Conflict` naming the rule, undecodable values
//! `StoreError::Corrupt`. Messages name tables and columns, never values.

use portcullis_store::{StoreError, decode};
use sqlx::error::ErrorKind;

/// SQLite names the columns of a violated uniqueness rule
/// (`UNIQUE constraint failed: api_clients.id`); these are ours.
const UNIQUE_RULES: &[(&str, &str)] = &[
    ("api_clients.id", "client_id_unique"),
    ("roles.id", "role_id_unique"),
    ("roles.name", "role_name_unique"),
    ("permissions.name", "permission_name_unique"),
    ("role_permissions.role_id, role_permissions.permission", "role_permission_unique"),
    ("signing_keys.kid", "signing_key_kid_unique"),
    ("signing_keys.state", "signing_key_state_unique"),
    ("server_secrets.name", "server_secret_name_unique"),
    ("users.id", "user_id_unique"),
    ("users.email", "user_email_unique"),
    ("user_roles.user_id, user_roles.role_id", "user_role_unique"),
    ("sessions.id_hash", "session_id_unique"),
    ("personal_access_tokens.user_id", "personal_token_user_unique"),
    ("personal_access_tokens.hash", "personal_token_hash_unique"),
    ("events.id", "event_id_unique"),
];

/// The named CHECK constraints of the schema
/// (`CHECK constraint failed: client_status_valid`).
const CHECK_RULES: &[&str] = &[
    "client_name_length",
    "client_status_valid",
    "client_token_ttl_range",
    "client_secret_hash_length",
    "permission_builtin_bool",
    "role_builtin_bool",
    "user_name_length",
    "user_status_valid",
    "session_id_hash_length",
    "personal_token_hash_length",
    "signing_key_state_valid",
];

/// For statements that cannot break a foreign key.
pub(crate) fn db_error(e: sqlx::Error) -> StoreError {
    translate(e, "foreign_key")
}

/// SQLite does not say which foreign key failed, so the statement that can
/// break one names the rule (e.g. `client_role_missing`).
pub(crate) fn db_error_fk(foreign_key_rule: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| translate(e, foreign_key_rule)
}

fn translate(e: sqlx::Error, foreign_key_rule: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            let detail = db.message().split_once(": ").map_or("", |(_, d)| d);
            // `ON DELETE RESTRICT` fails as SQLITE_CONSTRAINT_TRIGGER (1811),
            // which sqlx does not count as a foreign key violation.
            if db.code().as_deref() == Some("1811") && db.message() == "FOREIGN KEY constraint failed" {
                return StoreError::Conflict(foreign_key_rule);
            }
            match db.kind() {
                ErrorKind::UniqueViolation => {
                    let rule = UNIQUE_RULES.iter().find(|(cols, _)| *cols == detail);
                    return StoreError::Conflict(rule.map_or("unique", |(_, r)| r));
                }
                ErrorKind::ForeignKeyViolation => return StoreError::Conflict(foreign_key_rule),
                ErrorKind::CheckViolation => {
                    let rule = CHECK_RULES.iter().find(|r| **r == detail);
                    return StoreError::Conflict(rule.copied().unwrap_or("check"));
                }
                _ => {}
            }
        }
        sqlx::Error::ColumnDecode { index, .. } => return decode::undecodable_column(index),
        sqlx::Error::Decode(_) => return decode::undecodable_value(),
        _ => {}
    }
    StoreError::database(e)
}
