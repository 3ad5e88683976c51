//! Audit events: one per change to a client, role, permission, user or
//! signing key, naming who made it, and always on (`PORTCULLIS_EVENTS`
//! gates request events only). Every change hands its events to the store,
//! which writes them in the transaction of the change ([`change_event`]): an
//! acknowledged change always has its event, a failed one has none, and
//! none goes through the request events' lossy queue.
//!
//! `details` holds what changed, never a secret, hash, token or password:
//! updates list only the fields that changed (`{"name": {"from": "a", "to":
//! "b"}}`, sets as `{"added": […], "removed": […]}`), and an update that
//! changes nothing records nothing.

use std::fmt;

use portcullis_domain::{BuiltinPermission, ClientId, Event, UserId, now};
use serde_json::{Map, Value, json};

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// An API client, with an access token of this server.
    Client(ClientId),
    /// A console user, by session or personal access token.
    User(UserId),
    /// Someone at a shell on the server, through `portcullis …`.
    Cli,
    /// The server itself, e.g. the first administrator from
    /// `PORTCULLIS_ADMIN_EMAIL`.
    System,
}

impl fmt::Display for Actor {
    /// `client:<uuid>`, `user:<uuid>`, `cli`, `system`: the events'
    /// `actor` column.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Client(id) => write!(f, "client:{id}"),
            Self::User(id) => write!(f, "user:{id}"),
            Self::Cli => f.write_str("cli"),
            Self::System => f.write_str("system"),
        }
    }
}

/// Every kind of change event, as stored in the events' `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    ClientCreated,
    ClientUpdated,
    ClientEnabled,
    ClientDisabled,
    ClientSecretRegenerated,
    ClientTokensRevoked,
    ClientDeleted,
    RoleCreated,
    RoleUpdated,
    RoleDeleted,
    PermissionCreated,
    PermissionUpdated,
    PermissionDeleted,
    UserCreated,
    UserUpdated,
    UserEnabled,
    UserDisabled,
    UserDeleted,
    UserPersonalTokenRotated,
    UserPersonalTokenRevoked,
    KeyRotated,
    KeyRevoked,
}

impl ChangeKind {
    pub const ALL: [Self; 22] = [
        Self::ClientCreated,
        Self::ClientUpdated,
        Self::ClientEnabled,
        Self::ClientDisabled,
        Self::ClientSecretRegenerated,
        Self::ClientTokensRevoked,
        Self::ClientDeleted,
        Self::RoleCreated,
        Self::RoleUpdated,
        Self::RoleDeleted,
        Self::PermissionCreated,
        Self::PermissionUpdated,
        Self::PermissionDeleted,
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserEnabled,
        Self::UserDisabled,
        Self::UserDeleted,
        Self::UserPersonalTokenRotated,
        Self::UserPersonalTokenRevoked,
        Self::KeyRotated,
        Self::KeyRevoked,
    ];

    /// The kind stored as `kind`, if it is a change's.
    pub fn parse(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// The permission that reads the change's subject (its client, user,
    /// role or permission, or the signing keys): what its details show
    /// (a user's e-mail and roles, a client's name and role, a role's
    /// permissions), a reader of events must be able to read directly.
    pub fn read_permission(self) -> BuiltinPermission {
        match self {
            Self::ClientCreated
            | Self::ClientUpdated
            | Self::ClientEnabled
            | Self::ClientDisabled
            | Self::ClientSecretRegenerated
            | Self::ClientTokensRevoked
            | Self::ClientDeleted => BuiltinPermission::ClientsRead,
            Self::RoleCreated
            | Self::RoleUpdated
            | Self::RoleDeleted
            | Self::PermissionCreated
            | Self::PermissionUpdated
            | Self::PermissionDeleted => BuiltinPermission::RolesRead,
            Self::UserCreated
            | Self::UserUpdated
            | Self::UserEnabled
            | Self::UserDisabled
            | Self::UserDeleted
            | Self::UserPersonalTokenRotated
            | Self::UserPersonalTokenRevoked => BuiltinPermission::UsersRead,
            Self::KeyRotated | Self::KeyRevoked => BuiltinPermission::KeysWrite,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCreated => "client.created",
            Self::ClientUpdated => "client.updated",
            Self::ClientEnabled => "client.enabled",
            Self::ClientDisabled => "client.disabled",
            Self::ClientSecretRegenerated => "client.secret_regenerated",
            Self::ClientTokensRevoked => "client.tokens_revoked",
            Self::ClientDeleted => "client.deleted",
            Self::RoleCreated => "role.created",
            Self::RoleUpdated => "role.updated",
            Self::RoleDeleted => "role.deleted",
            Self::PermissionCreated => "permission.created",
            Self::PermissionUpdated => "permission.updated",
            Self::PermissionDeleted => "permission.deleted",
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserEnabled => "user.enabled",
            Self::UserDisabled => "user.disabled",
            Self::UserDeleted => "user.deleted",
            Self::UserPersonalTokenRotated => "user.personal_token_rotated",
            Self::UserPersonalTokenRevoked => "user.personal_token_revoked",
            Self::KeyRotated => "key.rotated",
            Self::KeyRevoked => "key.revoked",
        }
    }
}

/// Console sessions' events: not changes of a record, but the sign-in
/// audit trail. Recorded through the request events' queue (a crash in the
/// 200 ms before a flush can lose one); their details name an e-mail, so
/// reading them needs `users:read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionKind {
    SignedIn,
    /// With the e-mail tried (when it is one), the address and user agent.
    SignInFailed,
    SignedOut,
    /// A request came with a session past its idle or absolute timeout.
    Expired,
}

impl SessionKind {
    pub const ALL: [Self; 4] = [Self::SignedIn, Self::SignInFailed, Self::SignedOut, Self::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignedIn => "session.signed_in",
            Self::SignInFailed => "session.sign_in_failed",
            Self::SignedOut => "session.signed_out",
            Self::Expired => "session.expired",
        }
    }

    pub fn parse(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a change event is about, beside its details: a client or a user
/// (stored in the event's `client_id` / `user_id`), or neither (roles,
/// permissions and keys name theirs in the details).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subject {
    Client(ClientId),
    User(UserId),
    None,
}

/// The fields an update changed.
#[derive(Debug, Default)]
pub(crate) struct FieldChanges(Map<String, Value>);

impl FieldChanges {
    /// Notes `field` when `from` and `to` differ: `{"from": …, "to": …}`.
    pub(crate) fn field(&mut self, field: &str, from: impl Into<Value>, to: impl Into<Value>) {
        let (from, to) = (from.into(), to.into());
        if from != to {
            self.0.insert(field.to_owned(), json!({ "from": from, "to": to }));
        }
    }

    /// Notes a set-valued `field` when it changed: `{"added": […],
    /// "removed": […]}`, each sorted.
    pub(crate) fn set(&mut self, field: &str, from: &[String], to: &[String]) {
        let mut added: Vec<&String> = to.iter().filter(|n| !from.contains(n)).collect();
        let mut removed: Vec<&String> = from.iter().filter(|n| !to.contains(n)).collect();
        if added.is_empty() && removed.is_empty() {
            return;
        }
        added.sort();
        added.dedup();
        removed.sort();
        removed.dedup();
        self.0.insert(field.to_owned(), json!({ "added": added, "removed": removed }));
    }

    /// Notes that `field` changed without saying how (a password).
    pub(crate) fn flag(&mut self, field: &str) {
        self.0.insert(field.to_owned(), Value::Bool(true));
    }

    pub(crate) fn contains(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The details object: the changed fields beside `identity` entries
    /// (e.g. `"role": {"id": …, "name": …}` for a role, which has no column).
    pub(crate) fn into_details(self, identity: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
        let mut details: Map<String, Value> =
            identity.into_iter().map(|(key, value)| (key.to_owned(), value)).collect();
        details.extend(self.0);
        Value::Object(details)
    }
}

/// The stored form of an event's details: whatever an operator typed into
/// a name or description that looks like a secret or token is replaced by
/// a marker, as in request bodies.
pub(crate) fn storable(details: &Value) -> Option<String> {
    Some(crate::events::scrub_details(details))
}

/// The change event of a change, for the store to write with it.
pub(crate) fn change_event(
    actor: &Actor,
    kind: ChangeKind,
    subject: Subject,
    details: Option<Value>,
) -> Event {
    let (client_id, user_id) = match subject {
        Subject::Client(id) => (Some(id), None),
        Subject::User(id) => (None, Some(id)),
        Subject::None => (None, None),
    };
    Event {
        client_id,
        user_id,
        actor: Some(actor.to_string()),
        details: details.as_ref().and_then(storable),
        ..Event::new(kind.as_str(), now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_display_as_stored() {
        let client = ClientId::generate();
        let user = UserId::generate();
        assert_eq!(Actor::Client(client).to_string(), format!("client:{client}"));
        assert_eq!(Actor::User(user).to_string(), format!("user:{user}"));
        assert_eq!(Actor::Cli.to_string(), "cli");
        assert_eq!(Actor::System.to_string(), "system");
    }

    #[test]
    fn kinds_are_distinct_and_dotted() {
        let names: std::collections::BTreeSet<&str> = ChangeKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), ChangeKind::ALL.len());
        assert!(names.iter().all(|n| n.split_once('.').is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())));
    }

    #[test]
    fn only_changed_fields_are_noted() {
        let mut changes = FieldChanges::default();
        changes.field("name", "a", "b");
        changes.field("description", Value::Null, Value::Null);
        changes.field("access_token_ttl_seconds", 3600, 3600);
        changes.set(
            "permissions",
            &["x:read".into(), "x:write".into()],
            &["x:write".into(), "y:read".into()],
        );
        changes.set("roles", &["admin".into()], &["admin".into()]);
        let details = changes.into_details([("role", json!({"name": "ops"}))]);
        assert_eq!(
            details,
            json!({
                "role": {"name": "ops"},
                "name": {"from": "a", "to": "b"},
                "permissions": {"added": ["y:read"], "removed": ["x:read"]},
            })
        );
        assert!(FieldChanges::default().is_empty());
    }

    #[test]
    fn secret_looking_text_is_not_stored() {
        let secret = format!("pcs_{}_abcd", "A".repeat(43));
        let stored = storable(&json!({"name": {"from": "ok", "to": format!("oops {secret}")}})).unwrap();
        assert!(!stored.contains(&secret), "{stored}");
        assert!(serde_json::from_str::<Value>(&stored).is_ok(), "still JSON: {stored}");
    }
}
