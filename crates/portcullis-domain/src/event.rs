use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{ClientId, Timestamp, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(Uuid);

impl EventId {
    /// A UUIDv7: time-ordered, so that new events append to the end of the
    /// primary-key index instead of landing on a random page of it.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl std::str::FromStr for EventId {
    type Err = crate::DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 36 {
            return Err(crate::DomainError::InvalidEventId);
        }
        Uuid::parse_str(s).map(Self).map_err(|_| crate::DomainError::InvalidEventId)
    }
}

/// One recorded request or change. Bodies are stored already redacted and
/// capped; nothing secret ever gets here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub occurred_at: Timestamp,
    /// e.g. `token.request`, `introspection`, `revocation`, `admin.request`,
    /// `client.created`, `client.secret_regenerated`, `role.deleted`.
    pub kind: String,
    /// The client the event is about or was made by, if any.
    pub client_id: Option<ClientId>,
    /// The user the event is about or was made by, if any.
    pub user_id: Option<UserId>,
    /// Who made a change: `client:<id>`, `user:<id>`, `cli`, `system`.
    pub actor: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<u16>,
    pub latency_micros: Option<i64>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    /// For changes: what changed (JSON text), e.g. `{"name": {"from": "old", "to": "new"}}`.
    pub details: Option<String>,
}

impl Event {
    /// An event of `kind` at `occurred_at`, with a fresh id and nothing
    /// else: the fields it has are set on top of it.
    pub fn new(kind: impl Into<String>, occurred_at: Timestamp) -> Self {
        Self {
            id: EventId::generate(),
            occurred_at,
            kind: kind.into(),
            client_id: None,
            user_id: None,
            actor: None,
            method: None,
            path: None,
            status: None,
            latency_micros: None,
            source_ip: None,
            user_agent: None,
            request_body: None,
            response_body: None,
            details: None,
        }
    }
}
