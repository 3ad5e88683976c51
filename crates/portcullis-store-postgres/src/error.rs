//! Database errors translated at the store boundary: constraint violations
//! become `StoreError::Conflict` naming the rule, undecodable values
//! `StoreError::Corrupt`. Messages name tables and columns, never values
//! (PostgreSQL's DETAIL, which quotes the offending key, is never used).

use portcullis_store::{StoreError, decode};
use sqlx::error::ErrorKind;

/// The schema's constraint names (see migrations/) and the rule each enforces.
const RULES: &[(&str, &str)] = &[
    ("api_clients_pkey", "client_id_unique"),
    ("roles_pkey", "role_id_unique"),
    ("role_name_unique", "role_name_unique"),
    ("permissions_pkey", "permission_name_unique"),
    ("role_permissions_pkey", "role_permission_unique"),
    ("signing_keys_pkey", "signing_key_kid_unique"),
    ("signing_keys_one_state", "signing_key_state_unique"),
    ("signing_key_state_valid", "signing_key_state_valid"),
    ("server_secrets_pkey", "server_secret_name_unique"),
    ("client_name_length", "client_name_length"),
    ("client_status_valid", "client_status_valid"),
    ("client_token_ttl_range", "client_token_ttl_range"),
    ("client_secret_hash_length", "client_secret_hash_length"),
    ("users_pkey", "user_id_unique"),
    ("user_email_unique", "user_email_unique"),
    ("user_name_length", "user_name_length"),
    ("user_status_valid", "user_status_valid"),
    ("user_roles_pkey", "user_role_unique"),
    ("sessions_pkey", "session_id_unique"),
    ("session_id_hash_length", "session_id_hash_length"),
    ("personal_access_tokens_pkey", "personal_token_user_unique"),
    ("personal_token_hash_unique", "personal_token_hash_unique"),
    ("personal_token_hash_length", "personal_token_hash_length"),
    ("events_pkey", "event_id_unique"),
];

/// For statements that cannot break a foreign key.
pub(crate) fn db_error(e: sqlx::Error) -> StoreError {
    translate(e, "foreign_key")
}

/// A foreign key means different things from either end (a client's role is
/// missing, or a role is still in use), so the statement names the rule.
pub(crate) fn db_error_fk(foreign_key_rule: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| translate(e, foreign_key_rule)
}

fn translate(e: sqlx::Error, foreign_key_rule: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            let rule = || {
                let name = db.constraint().unwrap_or_default();
                RULES.iter().find(|(constraint, _)| *constraint == name).map(|(_, rule)| *rule)
            };
            match db.kind() {
                ErrorKind::UniqueViolation => return StoreError::Conflict(rule().unwrap_or("unique")),
                ErrorKind::ForeignKeyViolation => return StoreError::Conflict(foreign_key_rule),
                ErrorKind::CheckViolation => return StoreError::Conflict(rule().unwrap_or("check")),
                _ => {}
            }
        }
        sqlx::Error::ColumnDecode { index, .. } => return decode::undecodable_column(index),
        sqlx::Error::Decode(_) => return decode::undecodable_value(),
        _ => {}
    }
    match e {
        // The Debug form of PostgreSQL's error carries its DETAIL, which
        // may quote a failing row: keep the code and the message only.
        sqlx::Error::Database(db) => StoreError::database(ServerError {
            code: db.code().map(|c| c.into_owned()).unwrap_or_default(),
            message: db.message().to_owned(),
        }),
        e => StoreError::database(e),
    }
}

#[derive(Debug)]
struct ServerError {
    code: String,
    message: String,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgreSQL error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for ServerError {}
