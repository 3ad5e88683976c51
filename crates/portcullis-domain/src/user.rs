use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{DomainError, RoleId, SecretHash, Timestamp};

/// A console user's id: a UUID v4 chosen by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(Uuid);

impl UserId {
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }

    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl FromStr for UserId {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 36 {
            return Err(DomainError::InvalidUserId);
        }
        Uuid::parse_str(s).map(Self).map_err(|_| DomainError::InvalidUserId)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// An e-mail address, trimmed and lowercased: one spelling per user.
/// Checked for shape only (one `@`, a dot in the domain, no spaces); the
/// console does not send mail.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim().to_lowercase();
        let ok = s.len() <= 254
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && local.len() <= 64
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if ok { Ok(Self(s)) } else { Err(DomainError::InvalidEmail) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user's display name: 1–200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct UserName(String);

impl UserName {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        let len = s.chars().count();
        if len == 0 || len > 200 || s.chars().any(char::is_control) {
            return Err(DomainError::InvalidUserName);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Enabled,
    Disabled,
}

impl UserStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        }
    }
}

impl FromStr for UserStatus {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "enabled" => Ok(Self::Enabled),
            "disabled" => Ok(Self::Disabled),
            _ => Err(DomainError::InvalidStatus),
        }
    }
}

/// A console user. The password is kept only as an argon2id PHC string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: UserName,
    pub status: UserStatus,
    /// One or more roles; effective permissions are their union.
    pub roles: Vec<RoleId>,
    /// `$argon2id$v=19$m=19456,t=2,p=1$…`; `None` until one is set.
    pub password_hash: Option<PasswordHash>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// 1 when created, one more after every change (name, status, roles,
    /// password): the REST `ETag`.
    pub version: u64,
}

/// An argon2id hash in PHC string form. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_phc(s: String) -> Self {
        Self(s)
    }

    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// A console password in the clear: one a caller gave (to be checked and
/// hashed) or one the server generated for a new user (shown once, in the
/// response that creates it). `Debug` never shows it; the memory is wiped
/// on drop. No `Serialize`: it cannot end up in an event or a log by being
/// serialised along with something else.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// The password itself: only for checking, hashing or showing it once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Password {
    fn from(text: String) -> Self {
        Self(Zeroizing::new(text))
    }
}

impl From<&str> for Password {
    fn from(text: &str) -> Self {
        Self(Zeroizing::new(text.to_owned()))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// A signed-in console session. Only the hash of its id is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: SecretHash,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// The absolute end, whatever the activity.
    pub expires_at: Timestamp,
}

/// A user's personal access token, as stored: its keyed hash and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalAccessToken {
    pub user_id: UserId,
    pub hash: SecretHash,
    /// `pat_…x7Kq`: enough for a person to tell tokens apart.
    pub hint: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked_for_shape() {
        assert_eq!(Email::parse("  Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_names_and_ids() {
        assert!(UserName::parse("Ada Lovelace").is_ok());
        assert!(UserName::parse(" ").is_err());
        assert!(UserName::parse(&"x".repeat(201)).is_err());
        let id = UserId::generate();
        assert_eq!(id.to_string().parse::<UserId>(), Ok(id));
        assert!("nope".parse::<UserId>().is_err());
        assert_eq!(format!("{:?}", PasswordHash::from_phc("$argon2id$secret".into())), "PasswordHash(..)");
        let password = Password::from("correct horse battery staple");
        assert_eq!(format!("{password:?}"), "Password(..)");
        assert_eq!(format!("{:?}", Some(password.clone())), "Some(Password(..))");
        assert_eq!(password.expose(), "correct horse battery staple");
    }
}
