//! Storage behind small role traits, one implementation per backend crate.
//!
//! Each backend implements every trait on one type and hands out a
//! [`Stores`] bundle; the service layer only ever sees the traits. The
//! [`conformance`] module is the one suite every backend must pass, and
//! [`counting`] the decorator tests count a path's store calls with;
//! [`builtins`], [`bulk`], [`change`], [`decode`], [`events`] and [`search`]
//! are what the SQL backends do alike, decided once here; [`stats`] is what
//! they report about their connection pools.

use std::sync::Arc;

use async_trait::async_trait;
use portcullis_domain::{
    ApiClient, ClientId, ClientStatus, Email, Event, EventId, Permission, PermissionName,
    PersonalAccessToken, Role, RoleId, RoleName, SecretHash, Session, Timestamp, User, UserId, UserStatus,
};
use uuid::Uuid;

pub use change::{
    ChangeEvents, ClientPatch, DeleteEvents, Deletion, PermissionDeleteEvents, RolePatch, Update, UserPatch,
};

pub mod builtins;
pub mod bulk;
pub mod change;
pub mod conformance;
pub mod counting;
pub mod decode;
pub mod events;
pub mod search;
pub mod stats;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness or reference rule of the schema refused the write; the
    /// string names the rule (e.g. `role_name_unique`), never the data.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A stored row could not be turned back into a domain value.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The database could not be reached or answered with an error.
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn database(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Database(Box::new(e))
    }
}

/// Where a page of clients starts: after this `(created_at, id)`, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientCursor {
    pub created_at: Timestamp,
    pub id: ClientId,
}

#[derive(Debug, Clone, Default)]
pub struct ClientQuery {
    pub after: Option<ClientCursor>,
    /// At most this many clients; the service caps it.
    pub limit: u32,
    pub status: Option<ClientStatus>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Inserts the client and `events`, in one transaction. Fails with
    /// `Conflict("client_id_unique")` if the id exists.
    async fn insert_client(&self, client: &ApiClient, events: &[Event]) -> Result<()>;
    async fn get_client(&self, id: ClientId) -> Result<Option<ApiClient>>;
    /// The stored clients among `ids` (an unknown id is skipped, an id
    /// listed twice is answered once), in no particular order: the clients
    /// of a bulk action read at once, never one call per id. Up to
    /// [`MAX_BULK_CLIENTS`](portcullis_domain::MAX_BULK_CLIENTS) ids.
    async fn get_clients(&self, ids: &[ClientId]) -> Result<Vec<ApiClient>>;
    /// Newest first (`created_at` descending, then `id` descending).
    async fn list_clients(&self, query: &ClientQuery) -> Result<Vec<ApiClient>>;
    /// In one transaction that holds the row (SQLite: `BEGIN IMMEDIATE`;
    /// PostgreSQL: `FOR UPDATE`): reads the client, checks `if_version`
    /// (when given) against its version, applies `patch`, and when that
    /// changes something writes only the columns that differ plus
    /// `updated_at = at` and `version + 1`, and inserts
    /// `events(before, after)`. Never touches `last_used_at`. On error
    /// nothing changed. `Conflict("client_role_missing")` for an unknown role.
    async fn update_client(
        &self,
        id: ClientId,
        patch: &ClientPatch,
        if_version: Option<u64>,
        at: Timestamp,
        events: ChangeEvents<'_, ApiClient>,
    ) -> Result<Update<ApiClient>>;
    /// Deletes the client (checking `if_version` when given) and inserts
    /// `events(deleted)`, in one transaction.
    async fn delete_client(
        &self,
        id: ClientId,
        if_version: Option<u64>,
        events: DeleteEvents<'_, ApiClient>,
    ) -> Result<Deletion<ApiClient>>;
    /// Sets `last_used_at` of each listed client to the given instant unless
    /// it already holds a later one; unknown ids are skipped. One
    /// transaction. Writes no other column (not `version`): a flush never
    /// undoes a change made since the instants were taken. It must not
    /// count as a change for [`ChangeWatch`] on backends that can tell
    /// (PostgreSQL): it alters nothing a cache holds for authentication.
    async fn record_last_used(&self, used: &[(ClientId, Timestamp)]) -> Result<()>;
    /// Gives each listed client `status` (and `updated_at = at`, `version +
    /// 1`) unless it has it already, and inserts `events(before, after)` of
    /// each one changed, in one transaction: on error nothing changed.
    /// Returns one [`BulkChange`] per distinct id, in the order of first
    /// appearance (an id listed twice is reported, and changed, once).
    /// Counts as a change for [`ChangeWatch`] like
    /// [`update_client`](Self::update_client).
    async fn set_clients_status(
        &self,
        ids: &[ClientId],
        status: ClientStatus,
        at: Timestamp,
        events: ChangeEvents<'_, ApiClient>,
    ) -> Result<Vec<BulkChange>> {
        self.set_clients_status_guarded(ids, status, at, &|_| true, events).await
    }
    /// [`set_clients_status`](Self::set_clients_status), refused with
    /// `Conflict("bulk_guard")` (nothing changed) unless `guard` holds for
    /// every client it would change, as read and locked in the transaction:
    /// the service's escalation check, on the rows the change writes.
    async fn set_clients_status_guarded(
        &self,
        ids: &[ClientId],
        status: ClientStatus,
        at: Timestamp,
        guard: BulkGuard<'_>,
        events: ChangeEvents<'_, ApiClient>,
    ) -> Result<Vec<BulkChange>>;
    /// Deletes each listed client and inserts `events(deleted)` of each, in
    /// one transaction: on error nothing changed. Returns one
    /// [`BulkChange`] per distinct id, in the order of first appearance;
    /// never [`BulkOutcome::AlreadyInState`].
    async fn delete_clients(
        &self,
        ids: &[ClientId],
        events: DeleteEvents<'_, ApiClient>,
    ) -> Result<Vec<BulkChange>> {
        self.delete_clients_guarded(ids, &|_| true, events).await
    }
    /// [`delete_clients`](Self::delete_clients), refused with
    /// `Conflict("bulk_guard")` (nothing deleted) unless `guard` holds for
    /// every client found, as read and locked in the transaction.
    async fn delete_clients_guarded(
        &self,
        ids: &[ClientId],
        guard: BulkGuard<'_>,
        events: DeleteEvents<'_, ApiClient>,
    ) -> Result<Vec<BulkChange>>;
}

/// A condition every client a bulk change would change must meet, judged on
/// the row as locked in the change's transaction.
pub type BulkGuard<'a> = &'a (dyn Fn(&ApiClient) -> bool + Send + Sync);

/// What a bulk change did to one listed client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkChange {
    pub id: ClientId,
    pub outcome: BulkOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkOutcome {
    /// Changed; the client as it was before the change.
    Done(ApiClient),
    /// No client with this id: nothing to change.
    NotFound,
    /// The client has the status already, as stored here: nothing written.
    AlreadyInState(ApiClient),
}

/// Access tokens revoked before they expired (RFC 7009), kept until their
/// `exp`, then purged.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Idempotent: revoking a revoked `jti` again changes nothing.
    async fn revoke_token(&self, jti: Uuid, client_id: ClientId, expires_at: Timestamp) -> Result<()>;
    async fn is_token_revoked(&self, jti: Uuid) -> Result<bool>;
    /// Deletes at most `limit` revocations whose token expired at or before
    /// `now`; returns how many. Called in a loop by the purge task.
    async fn purge_revoked_tokens(&self, now: Timestamp, limit: u32) -> Result<u64>;
}

#[async_trait]
pub trait RoleStore: Send + Sync {
    /// Makes the stored built-in permissions and roles exactly these
    /// (inserting, updating descriptions and permission sets); leaves
    /// operator-defined ones alone. Idempotent; run at every start. One
    /// transaction: on error nothing changed. A built-in permission or role
    /// missing from the arguments is kept as an ordinary (`builtin: false`)
    /// one, since operators' roles or clients may hold it. A role naming a
    /// permission that is not stored fails with
    /// `Conflict("role_permission_missing")`.
    async fn sync_builtins(&self, permissions: &[Permission], roles: &[Role]) -> Result<()>;
    /// Ordered by name.
    async fn list_permissions(&self) -> Result<Vec<Permission>>;
    /// Ordered by name; each role's permissions ordered by name.
    async fn list_roles(&self) -> Result<Vec<Role>>;
    async fn get_role(&self, id: RoleId) -> Result<Option<Role>>;
    async fn get_role_by_name(&self, name: &RoleName) -> Result<Option<Role>>;

    /// An operator's permission, stored with `builtin: false` whatever the
    /// argument says, with `events`, in one transaction.
    /// `Conflict("permission_name_unique")` if the name exists.
    async fn insert_permission(&self, permission: &Permission, events: &[Event]) -> Result<()>;
    /// Sets the description, unless it is the stored one, and inserts
    /// `events(before, after)`, in one transaction that holds the row.
    /// Never `Update::Stale` (permissions have no version).
    async fn update_permission_description(
        &self,
        name: &PermissionName,
        description: &str,
        events: ChangeEvents<'_, Permission>,
    ) -> Result<Update<Permission>>;
    /// The roles whose permission sets hold `name`, ordered by name.
    async fn roles_using_permission(&self, name: &PermissionName) -> Result<Vec<RoleName>>;
    /// Deletes a permission and inserts `events(roles it was removed from)`,
    /// in one transaction. Without `cascade`, fails with
    /// `Conflict("permission_in_use")` while a role holds it; with it, first
    /// removes it from every role (each such role's version + 1). `Ok(false)`
    /// (and no events) when no such permission.
    async fn delete_permission(
        &self,
        name: &PermissionName,
        cascade: bool,
        events: PermissionDeleteEvents<'_>,
    ) -> Result<bool>;
    /// An operator's role (stored with `builtin: false`, version 1) with its
    /// permission set and `events`, in one transaction.
    /// `Conflict("role_name_unique")`, `Conflict("role_id_unique")`, or
    /// `Conflict("role_permission_missing")` for an unknown permission. A
    /// permission listed twice is stored once.
    async fn insert_role(&self, role: &Role, events: &[Event]) -> Result<()>;
    /// Like [`ClientStore::update_client`]: in one transaction that holds
    /// the row, reads the role, checks `if_version`, applies `patch`, and
    /// when that changes something writes only what differs (the name, the
    /// description, and the `role_permissions` rows to insert or delete),
    /// `version + 1`, and inserts `events(before, after)`. Does not look at
    /// `builtin` (the service refuses built-ins). Conflicts as for insert.
    async fn update_role(
        &self,
        id: RoleId,
        patch: &RolePatch,
        if_version: Option<u64>,
        events: ChangeEvents<'_, Role>,
    ) -> Result<Update<Role>>;
    /// Who holds the role now: clients and users, each ordered by id.
    async fn role_holders(&self, id: RoleId) -> Result<RoleHolders>;
    /// Deletes the role (checking `if_version` when given) and inserts
    /// `events(deleted)`, in one transaction. Fails with
    /// `Conflict("role_in_use")` while a client or user holds it.
    async fn delete_role(
        &self,
        id: RoleId,
        if_version: Option<u64>,
        events: DeleteEvents<'_, Role>,
    ) -> Result<Deletion<Role>>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleHolders {
    pub clients: Vec<ClientId>,
    pub users: Vec<UserId>,
}

/// Where a page of events starts: after this `(occurred_at, id)`, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCursor {
    pub occurred_at: Timestamp,
    pub id: EventId,
}

#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub after: Option<EventCursor>,
    pub limit: u32,
    pub client_id: Option<ClientId>,
    pub user_id: Option<UserId>,
    /// Exact kind.
    pub kind: Option<String>,
    /// Status in `[min, max]`, e.g. 400..=499 for 4xx; events without a
    /// status never match a status filter.
    pub status_between: Option<(u16, u16)>,
    /// `occurred_at >= since`.
    pub since: Option<Timestamp>,
    /// `occurred_at < until`.
    pub until: Option<Timestamp>,
}

/// Request and audit events, kept for the retention period.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// All in one transaction (a batch from the pipeline).
    async fn insert_events(&self, events: &[Event]) -> Result<()>;
    async fn get_event(&self, id: EventId) -> Result<Option<Event>>;
    /// Newest first (`occurred_at` descending, then `id` descending), with
    /// every filter of the query; indexed so that a page of a client's
    /// events, or of all events, comes back in milliseconds with millions
    /// of rows.
    async fn list_events(&self, query: &EventQuery) -> Result<Vec<Event>>;
    /// Deletes at most `limit` events older than `before` (oldest first);
    /// returns how many. Safe to run from several instances at once
    /// (PostgreSQL: `FOR UPDATE SKIP LOCKED`). Must not count as a change
    /// for [`ChangeWatch`] where the backend can tell; inserts neither.
    async fn purge_events(&self, before: Timestamp, limit: u32) -> Result<u64>;
}

/// Where a page of users starts: after this `(created_at, id)`, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserCursor {
    pub created_at: Timestamp,
    pub id: UserId,
}

#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub after: Option<UserCursor>,
    pub limit: u32,
    pub status: Option<UserStatus>,
    /// Case-insensitive substring of the e-mail or the name.
    pub text: Option<String>,
}

/// Console users, their roles (`user_roles`), sessions and personal access
/// tokens. Deleting a user deletes its sessions and token.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// With its roles and `events`, in one transaction.
    /// `Conflict("user_email_unique")`, `Conflict("user_id_unique")`,
    /// `Conflict("user_role_missing")` for an unknown role. A role listed
    /// twice is stored once.
    async fn insert_user(&self, user: &User, events: &[Event]) -> Result<()>;
    /// Users are read back with their roles ordered by id.
    async fn get_user(&self, id: UserId) -> Result<Option<User>>;
    /// By the normalised (lowercase) e-mail.
    async fn get_user_by_email(&self, email: &Email) -> Result<Option<User>>;
    /// Newest first, like clients.
    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>>;
    /// Like [`ClientStore::update_client`]: in one transaction that holds
    /// the row, reads the user, checks `if_version`, applies `patch`, and
    /// when that changes something writes only what differs (name, status,
    /// the password hash when set, the `user_roles` rows to insert or
    /// delete) plus `updated_at = at` and `version + 1`, and inserts
    /// `events(before, after)`. `Conflict("user_role_missing")` for an
    /// unknown role.
    async fn update_user(
        &self,
        id: UserId,
        patch: &UserPatch,
        if_version: Option<u64>,
        at: Timestamp,
        events: ChangeEvents<'_, User>,
    ) -> Result<Update<User>>;
    /// Deletes the user (checking `if_version` when given) and inserts
    /// `events(deleted)`, in one transaction.
    async fn delete_user(
        &self,
        id: UserId,
        if_version: Option<u64>,
        events: DeleteEvents<'_, User>,
    ) -> Result<Deletion<User>>;
    async fn count_users(&self) -> Result<u64>;

    /// `Conflict("session_user_missing")` for an unknown user,
    /// `Conflict("session_id_unique")` if the id hash exists.
    async fn insert_session(&self, session: &Session) -> Result<()>;
    async fn get_session(&self, id_hash: &SecretHash) -> Result<Option<Session>>;
    /// Moves `last_seen_at` forward (idle timeout), never back; an unknown
    /// session is skipped. Must not count as a change for [`ChangeWatch`]
    /// where the backend can tell; nor do the other session writes there, so
    /// whoever caches sessions cannot rely on [`ChangeWatch`] for them.
    async fn touch_session(&self, id_hash: &SecretHash, last_seen_at: Timestamp) -> Result<()>;
    /// `Ok(false)` when no such session.
    async fn delete_session(&self, id_hash: &SecretHash) -> Result<bool>;
    async fn delete_user_sessions(&self, user_id: UserId) -> Result<u64>;
    /// Deletes at most `limit` sessions whose absolute end is at or before
    /// `now`, or that were last seen at or before `idle_before`.
    async fn purge_sessions(&self, now: Timestamp, idle_before: Timestamp, limit: u32) -> Result<u64>;

    /// The user's one personal access token: replaces the current one (if
    /// any) and inserts `events`, in one transaction, so exactly one is
    /// valid afterwards. `Conflict("personal_token_user_missing")` for an
    /// unknown user, `Conflict("personal_token_hash_unique")` if another
    /// user's token has this hash.
    async fn replace_personal_token(&self, token: &PersonalAccessToken, events: &[Event]) -> Result<()>;
    async fn get_personal_token_by_hash(&self, hash: &SecretHash) -> Result<Option<PersonalAccessToken>>;
    async fn get_user_personal_token(&self, user_id: UserId) -> Result<Option<PersonalAccessToken>>;
    /// Deletes the user's token and inserts `events`, in one transaction;
    /// `Ok(false)` (and no events) when the user had none.
    async fn delete_user_personal_token(&self, user_id: UserId, events: &[Event]) -> Result<bool>;
    /// Like [`ClientStore::record_last_used`], for personal access tokens
    /// (by user): never moves backwards, skips users without a token; must
    /// not count as a change.
    async fn record_personal_token_used(&self, used: &[(UserId, Timestamp)]) -> Result<()>;
}

/// Where a signing key is in its life. Every state is published in the
/// JWKS; only `Current` signs. There is at most one `Next` and at most one
/// `Current` (a unique index says so, so racing rotations cannot break it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published, not yet signing: the key the next rotation makes current,
    /// so resource servers caching the JWKS know it before any token has it.
    Next,
    /// Signs new tokens.
    Current,
    /// Replaced; published until every token it signed has expired.
    Previous,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Previous => "previous",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "next" => Some(Self::Next),
            "current" => Some(Self::Current),
            "previous" => Some(Self::Previous),
            _ => None,
        }
    }

    /// What revoking a key in this state does beside deleting it.
    pub fn revoking(self) -> KeyRevocation {
        KeyRevocation { promote_next: self == Self::Current, store_new_next: self != Self::Previous }
    }
}

/// A signing key as stored: the public half in the clear, the private half
/// sealed by the service under the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    pub algorithm: String,
    pub public_key: Vec<u8>,
    pub sealed_private_key: Vec<u8>,
    pub created_at: Timestamp,
    pub state: KeyState,
    /// When it started signing; `None` while `Next`.
    pub activated_at: Option<Timestamp>,
    /// When it stopped signing; `Some` only for `Previous`.
    pub replaced_at: Option<Timestamp>,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Fails with `Conflict("signing_key_kid_unique")` if the kid exists.
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<()>;
    /// Newest first.
    async fn list_signing_keys(&self) -> Result<Vec<StoredSigningKey>>;
    /// `Ok(false)` when no such key.
    async fn delete_signing_key(&self, kid: &str) -> Result<bool>;
    /// One transaction: `current_kid`, if it is still current, becomes
    /// `Previous` (replaced at `at`), the `Next` key becomes `Current`
    /// (activated at `at`), `new_next` (state `Next`) is stored, and
    /// `events(kid made current)` are inserted. Returns the kid made
    /// current; `None`, changing nothing and inserting no event, when
    /// `current_kid` is no longer current (another rotation won) or there
    /// is no next key.
    async fn rotate_signing_keys(
        &self,
        current_kid: &str,
        new_next: &StoredSigningKey,
        at: Timestamp,
        events: RotationEvents<'_>,
    ) -> Result<Option<String>>;
    /// One transaction: deletes `kid`; if it was `Current`, the `Next` key
    /// becomes current (activated at `at`); if it was `Current` or `Next`,
    /// `new_next` is stored as the next key (see [`KeyState::revoking`]);
    /// and `events(state it had)` are inserted. Returns that state; `None`
    /// (changing nothing, no event) when there is no such key.
    async fn revoke_signing_key(
        &self,
        kid: &str,
        new_next: &StoredSigningKey,
        at: Timestamp,
        events: RevocationEvents<'_>,
    ) -> Result<Option<KeyState>>;
}

/// Builds the events of a rotation from the kid of the key it made current.
pub type RotationEvents<'a> = &'a (dyn Fn(&str) -> Vec<Event> + Send + Sync);

/// Builds the events of a key's revocation from the state the key had.
pub type RevocationEvents<'a> = &'a (dyn Fn(KeyState) -> Vec<Event> + Send + Sync);

/// What revoking a key does beside deleting it, by the state it had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRevocation {
    /// The `Next` key becomes `Current`: the revoked key was signing.
    pub promote_next: bool,
    /// A fresh `Next` key is stored: the revoked one was current or next,
    /// and a next key must be published before the following rotation.
    pub store_new_next: bool,
}

/// Small server-wide secrets (e.g. the key that hashes client secrets),
/// sealed by the service before they get here.
#[async_trait]
pub trait ServerSecretStore: Send + Sync {
    async fn get_server_secret(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Stores `value` unless a value exists already; returns whichever value
    /// is stored afterwards, so that racing first starts agree.
    async fn insert_server_secret_if_absent(&self, name: &str, value: &[u8]) -> Result<Vec<u8>>;
}

/// Tells caches when the stored data may have changed, including by another
/// process (the CLI on the same SQLite file) or another instance (PostgreSQL).
#[async_trait]
pub trait ChangeWatch: Send + Sync {
    /// A number that differs from any earlier answer whenever a change may
    /// have been committed since. Cheap enough for every request.
    fn generation(&self) -> Result<u64>;

    /// How far behind the generation may be: every change committed longer
    /// ago than this is reflected in it. `None` while that is not known
    /// (then every [`generation`](Self::generation) is new: no cache trusts
    /// itself). A store that checks the database on every call is never
    /// behind.
    fn staleness(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::ZERO)
    }

    /// This instance has stopped answering requests (a clean stop): other
    /// instances' writes need no longer wait for it to see them. Nothing to
    /// do for a store no other instance shares.
    async fn leave(&self) {}
}

#[async_trait]
pub trait Health: Send + Sync {
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> Result<()>;

    /// The connection pool now: connections open, idle and at most, and
    /// how long every acquisition of a connection by this store waited.
    /// Cheap (no query): read at each scrape of `/metrics`.
    fn pool(&self) -> stats::PoolStats;
}

/// Every role trait of one backend, as the service layer receives them.
#[derive(Clone)]
pub struct Stores {
    pub clients: Arc<dyn ClientStore>,
    pub roles: Arc<dyn RoleStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub users: Arc<dyn UserStore>,
    pub events: Arc<dyn EventStore>,
    pub keys: Arc<dyn KeyStore>,
    pub secrets: Arc<dyn ServerSecretStore>,
    pub changes: Arc<dyn ChangeWatch>,
    pub health: Arc<dyn Health>,
}

impl Stores {
    pub fn from_backend<B>(backend: Arc<B>) -> Self
    where
        B: ClientStore
            + RoleStore
            + TokenStore
            + UserStore
            + EventStore
            + KeyStore
            + ServerSecretStore
            + ChangeWatch
            + Health
            + 'static,
    {
        Self {
            clients: backend.clone(),
            roles: backend.clone(),
            tokens: backend.clone(),
            users: backend.clone(),
            events: backend.clone(),
            keys: backend.clone(),
            secrets: backend.clone(),
            changes: backend.clone(),
            health: backend,
        }
    }
}
