use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{DomainError, RoleId, SecretHash, Timestamp};

/// The most clients one bulk action (enable, disable, delete) may list.
pub const MAX_BULK_CLIENTS: usize = 1_000;

/// The public identifier of an API client: a UUID v4 chosen by the server,
/// never by the caller (RFC 9700 §4.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(Uuid);

impl ClientId {
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

impl FromStr for ClientId {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only the canonical hyphenated form: one spelling per client.
        if s.len() != 36 {
            return Err(DomainError::InvalidClientId);
        }
        Uuid::parse_str(s).map(Self).map_err(|_| DomainError::InvalidClientId)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

fn has_forbidden_control(s: &str, allow_newlines: bool) -> bool {
    s.chars().any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')))
}

/// A client's display name: 1–200 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ClientName(String);

impl ClientName {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        let len = s.chars().count();
        if len == 0 || len > 200 || has_forbidden_control(s, false) {
            return Err(DomainError::InvalidClientName);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An optional free-text description, at most 2,000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Description(String);

impl Description {
    pub const MAX_CHARS: usize = 2000;

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if s.chars().count() > Self::MAX_CHARS || has_forbidden_control(s, true) {
            return Err(DomainError::InvalidDescription);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The lifetime of the access tokens a client receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TokenTtl(u32);

impl TokenTtl {
    pub const MIN: u32 = 60;
    pub const MAX: u32 = 86_400;
    pub const DEFAULT: TokenTtl = TokenTtl(3600);

    pub fn from_secs(secs: i64) -> Result<Self, DomainError> {
        if (i64::from(Self::MIN)..=i64::from(Self::MAX)).contains(&secs) {
            Ok(Self(secs as u32))
        } else {
            Err(DomainError::InvalidTokenTtl)
        }
    }

    pub fn as_secs(&self) -> u32 {
        self.0
    }
}

impl Default for TokenTtl {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientStatus {
    Enabled,
    Disabled,
}

impl ClientStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        }
    }
}

impl FromStr for ClientStatus {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "enabled" => Ok(Self::Enabled),
            "disabled" => Ok(Self::Disabled),
            _ => Err(DomainError::InvalidStatus),
        }
    }
}

impl fmt::Display for ClientStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API client as stored. The secret itself is never kept, only its keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub id: ClientId,
    pub name: ClientName,
    pub description: Option<Description>,
    pub status: ClientStatus,
    pub role_id: Option<RoleId>,
    pub token_ttl: TokenTtl,
    pub secret_hash: SecretHash,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    /// Tokens issued at or before this instant (to the second) are revoked:
    /// the "revoke every token of this client" button.
    pub tokens_valid_after: Option<Timestamp>,
    /// 1 when created, one more after every change of a field above (not
    /// `last_used_at`): what an `ETag` / `If-Match` compares.
    pub version: u64,
}

impl ApiClient {
    pub fn is_enabled(&self) -> bool {
        self.status == ClientStatus::Enabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn client_id_accepts_only_the_canonical_form() {
        let id = ClientId::generate();
        assert_eq!(id.to_string().parse::<ClientId>(), Ok(id));
        let simple = id.as_uuid().simple().to_string();
        assert_eq!(simple.parse::<ClientId>(), Err(DomainError::InvalidClientId));
        assert!("not-a-uuid".parse::<ClientId>().is_err());
        assert!("".parse::<ClientId>().is_err());
    }

    #[test]
    fn client_name_is_trimmed_and_bounded() {
        assert_eq!(ClientName::parse("  CRM sync ").map(|n| n.0), Ok("CRM sync".into()));
        assert!(ClientName::parse("   ").is_err());
        assert!(ClientName::parse(&"x".repeat(200)).is_ok());
        assert!(ClientName::parse(&"é".repeat(200)).is_ok(), "the limit counts characters");
        assert!(ClientName::parse(&"x".repeat(201)).is_err());
        assert!(ClientName::parse("bad\u{0}name").is_err());
        assert!(ClientName::parse("two\nlines").is_err());
    }

    #[test]
    fn description_allows_newlines_but_not_other_controls() {
        assert!(Description::parse("line one\nline two\ttab").is_ok());
        assert!(Description::parse("bell\u{7}").is_err());
        assert!(Description::parse(&"d".repeat(2000)).is_ok());
        assert!(Description::parse(&"d".repeat(2001)).is_err());
    }

    #[test]
    fn token_ttl_bounds() {
        assert!(TokenTtl::from_secs(59).is_err());
        assert_eq!(TokenTtl::from_secs(60).map(|t| t.as_secs()), Ok(60));
        assert_eq!(TokenTtl::from_secs(86_400).map(|t| t.as_secs()), Ok(86_400));
        assert!(TokenTtl::from_secs(86_401).is_err());
        assert!(TokenTtl::from_secs(-1).is_err());
        assert!(TokenTtl::from_secs(i64::MAX).is_err());
        assert_eq!(TokenTtl::default().as_secs(), 3600);
    }

    #[test]
    fn status_round_trips() {
        for s in [ClientStatus::Enabled, ClientStatus::Disabled] {
            assert_eq!(s.as_str().parse::<ClientStatus>(), Ok(s));
        }
        assert!("Enabled".parse::<ClientStatus>().is_err());
    }

    proptest! {
        #[test]
        fn client_name_parse_never_panics_and_respects_bounds(s in "\\PC{0,250}") {
            if let Ok(n) = ClientName::parse(&s) {
                let len = n.as_str().chars().count();
                prop_assert!((1..=200).contains(&len));
            }
        }

        #[test]
        fn client_id_parse_never_panics(s in ".{0,40}") {
            let _ = s.parse::<ClientId>();
        }
    }
}
