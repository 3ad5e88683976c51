//! A decorator that counts the calls a backend receives, per method, and
//! passes every call on unchanged to the real store it wraps. Tests put it
//! between the service and a real database to prove that what a page costs
//! does not grow with the page (no read per row, the "N+1" shape).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use portcullis_domain::{
    ApiClient, ClientId, ClientStatus, Email, Event, EventId, Permission, PermissionName,
    PersonalAccessToken, Role, RoleId, RoleName, SecretHash, Session, Timestamp, User, UserId,
};

use crate::{
    BulkChange, BulkGuard, ChangeEvents, ClientQuery, ClientStore, DeleteEvents, Deletion, EventQuery,
    EventStore, PermissionDeleteEvents, Result, RoleHolders, RolePatch, RoleStore, Stores, Update, UserPatch,
    UserQuery, UserStore,
};

/// Counts the calls to the client, role, user and event stores of a
/// [`Stores`] bundle, by `"<store>.<method>"` (e.g. `"roles.list_roles"`).
pub struct Counting {
    inner: Stores,
    calls: Mutex<BTreeMap<&'static str, usize>>,
}

impl Counting {
    /// `stores` with its client, role, user and event stores counted; the
    /// others (keys, secrets, change watch, health) are passed through as
    /// they are.
    pub fn wrap(stores: Stores) -> (Stores, Arc<Self>) {
        let counting = Arc::new(Self { inner: stores.clone(), calls: Mutex::default() });
        let counted = Stores {
            clients: counting.clone(),
            roles: counting.clone(),
            users: counting.clone(),
            events: counting.clone(),
            ..stores
        };
        (counted, counting)
    }

    fn count(&self, method: &'static str) {
        *self.calls.lock().unwrap_or_else(|e| e.into_inner()).entry(method).or_default() += 1;
    }

    /// Calls to `method` (`"roles.list_roles"`) since the last reset.
    pub fn calls(&self, method: &str) -> usize {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).get(method).copied().unwrap_or_default()
    }

    /// Calls to every method whose name starts with `prefix` (`"roles."`).
    pub fn calls_to(&self, prefix: &str) -> usize {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.iter().filter(|(method, _)| method.starts_with(prefix)).map(|(_, n)| n).sum()
    }

    /// Every count since the last reset, by method.
    pub fn snapshot(&self) -> BTreeMap<&'static str, usize> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn reset(&self) {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[async_trait]
impl ClientStore for Counting {
    async fn insert_client(&self, client: &ApiClient, events: &[Event]) -> Result<()> {
        self.count("clients.insert_client");
        self.inner.clients.insert_client(client, events).await
    }
    async fn get_client(&self, id: ClientId) -> Result<Option<ApiClient>> {
        self.count("clients.get_client");
        self.inner.clients.get_client(id).await
    }
    async fn get_clients(&self, ids: &[ClientId]) -> Result<Vec<ApiClient>> {
        self.count("clients.get_clients");
        self.inner.clients.get_clients(ids).await
    }
    async fn list_clients(&self, query: &ClientQuery) -> Result<Vec<ApiClient>> {
        self.count("clients.list_clients");
        self.inner.clients.list_clients(query).await
    }
    async fn update_client(
        &self,
        id: ClientId,
        patch: &crate::ClientPatch,
        if_version: Option<u64>,
        at: Timestamp,
        events: ChangeEvents<'_, ApiClient>,
    ) -> Result<Update<ApiClient>> {
        self.count("clients.update_client");
        self.inner.clients.update_client(id, patch, if_version, at, events).await
    }
    async fn delete_client(
        &self,
        id: ClientId,
        if_version: Option<u64>,
        events: DeleteEvents<'_, ApiClient>,
    ) -> Result<Deletion<ApiClient>> {
        self.count("clients.delete_client");
        self.inner.clients.delete_client(id, if_version, events).await
    }
    async fn record_last_used(&self, used: &[(ClientId, Timestamp)]) -> Result<()> {
        self.count("clients.record_last_used");
        self.inner.clients.record_last_used(used).await
    }
    async fn set_clients_status_guarded(
        &self,
        ids: &[ClientId],
        status: ClientStatus,
        at: Timestamp,
        guard: BulkGuard<'_>,
        events: ChangeEvents<'_, ApiClient>,
    ) -> Result<Vec<BulkChange>> {
        self.count("clients.set_clients_status_guarded");
        self.inner.clients.set_clients_status_guarded(ids, status, at, guard, events).await
    }
    async fn delete_clients_guarded(
        &self,
        ids: &[ClientId],
        guard: BulkGuard<'_>,
        events: DeleteEvents<'_, ApiClient>,
    ) -> Result<Vec<BulkChange>> {
        self.count("clients.delete_clients_guarded");
        self.inner.clients.delete_clients_guarded(ids, guard, events).await
    }
}

#[async_trait]
impl RoleStore for Counting {
    async fn sync_builtins(&self, permissions: &[Permission], roles: &[Role]) -> Result<()> {
        self.count("roles.sync_builtins");
        self.inner.roles.sync_builtins(permissions, roles).await
    }
    async fn list_permissions(&self) -> Result<Vec<Permission>> {
        self.count("roles.list_permissions");
        self.inner.roles.list_permissions().await
    }
    async fn list_roles(&self) -> Result<Vec<Role>> {
        self.count("roles.list_roles");
        self.inner.roles.list_roles().await
    }
    async fn get_role(&self, id: RoleId) -> Result<Option<Role>> {
        self.count("roles.get_role");
        self.inner.roles.get_role(id).await
    }
    async fn get_role_by_name(&self, name: &RoleName) -> Result<Option<Role>> {
        self.count("roles.get_role_by_name");
        self.inner.roles.get_role_by_name(name).await
    }
    async fn insert_permission(&self, permission: &Permission, events: &[Event]) -> Result<()> {
        self.count("roles.insert_permission");
        self.inner.roles.insert_permission(permission, events).await
    }
    async fn update_permission_description(
        &self,
        name: &PermissionName,
        description: &str,
        events: ChangeEvents<'_, Permission>,
    ) -> Result<Update<Permission>> {
        self.count("roles.update_permission_description");
        self.inner.roles.update_permission_description(name, description, events).await
    }
    async fn roles_using_permission(&self, name: &PermissionName) -> Result<Vec<RoleName>> {
        self.count("roles.roles_using_permission");
        self.inner.roles.roles_using_permission(name).await
    }
    async fn delete_permission(
        &self,
        name: &PermissionName,
        cascade: bool,
        events: PermissionDeleteEvents<'_>,
    ) -> Result<bool> {
        self.count("roles.delete_permission");
        self.inner.roles.delete_permission(name, cascade, events).await
    }
    async fn insert_role(&self, role: &Role, events: &[Event]) -> Result<()> {
        self.count("roles.insert_role");
        self.inner.roles.insert_role(role, events).await
    }
    async fn update_role(
        &self,
        id: RoleId,
        patch: &RolePatch,
        if_version: Option<u64>,
        events: ChangeEvents<'_, Role>,
    ) -> Result<Update<Role>> {
        self.count("roles.update_role");
        self.inner.roles.update_role(id, patch, if_version, events).await
    }
    async fn role_holders(&self, id: RoleId) -> Result<RoleHolders> {
        self.count("roles.role_holders");
        self.inner.roles.role_holders(id).await
    }
    async fn delete_role(
        &self,
        id: RoleId,
        if_version: Option<u64>,
        events: DeleteEvents<'_, Role>,
    ) -> Result<Deletion<Role>> {
        self.count("roles.delete_role");
        self.inner.roles.delete_role(id, if_version, events).await
    }
}

#[async_trait]
impl UserStore for Counting {
    async fn insert_user(&self, user: &User, events: &[Event]) -> Result<()> {
        self.count("users.insert_user");
        self.inner.users.insert_user(user, events).await
    }
    async fn get_user(&self, id: UserId) -> Result<Option<User>> {
        self.count("users.get_user");
        self.inner.users.get_user(id).await
    }
    async fn get_user_by_email(&self, email: &Email) -> Result<Option<User>> {
        self.count("users.get_user_by_email");
        self.inner.users.get_user_by_email(email).await
    }
    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>> {
        self.count("users.list_users");
        self.inner.users.list_users(query).await
    }
    async fn update_user(
        &self,
        id: UserId,
        patch: &UserPatch,
        if_version: Option<u64>,
        at: Timestamp,
        events: ChangeEvents<'_, User>,
    ) -> Result<Update<User>> {
        self.count("users.update_user");
        self.inner.users.update_user(id, patch, if_version, at, events).await
    }
    async fn delete_user(
        &self,
        id: UserId,
        if_version: Option<u64>,
        events: DeleteEvents<'_, User>,
    ) -> Result<Deletion<User>> {
        self.count("users.delete_user");
        self.inner.users.delete_user(id, if_version, events).await
    }
    async fn count_users(&self) -> Result<u64> {
        self.count("users.count_users");
        self.inner.users.count_users().await
    }
    async fn insert_session(&self, session: &Session) -> Result<()> {
        self.count("users.insert_session");
        self.inner.users.insert_session(session).await
    }
    async fn get_session(&self, id_hash: &SecretHash) -> Result<Option<Session>> {
        self.count("users.get_session");
        self.inner.users.get_session(id_hash).await
    }
    async fn touch_session(&self, id_hash: &SecretHash, last_seen_at: Timestamp) -> Result<()> {
        self.count("users.touch_session");
        self.inner.users.touch_session(id_hash, last_seen_at).await
    }
    async fn delete_session(&self, id_hash: &SecretHash) -> Result<bool> {
        self.count("users.delete_session");
        self.inner.users.delete_session(id_hash).await
    }
    async fn delete_user_sessions(&self, user_id: UserId) -> Result<u64> {
        self.count("users.delete_user_sessions");
        self.inner.users.delete_user_sessions(user_id).await
    }
    async fn purge_sessions(&self, now: Timestamp, idle_before: Timestamp, limit: u32) -> Result<u64> {
        self.count("users.purge_sessions");
        self.inner.users.purge_sessions(now, idle_before, limit).await
    }
    async fn replace_personal_token(&self, token: &PersonalAccessToken, events: &[Event]) -> Result<()> {
        self.count("users.replace_personal_token");
        self.inner.users.replace_personal_token(token, events).await
    }
    async fn get_personal_token_by_hash(&self, hash: &SecretHash) -> Result<Option<PersonalAccessToken>> {
        self.count("users.get_personal_token_by_hash");
        self.inner.users.get_personal_token_by_hash(hash).await
    }
    async fn get_user_personal_token(&self, user_id: UserId) -> Result<Option<PersonalAccessToken>> {
        self.count("users.get_user_personal_token");
        self.inner.users.get_user_personal_token(user_id).await
    }
    async fn delete_user_personal_token(&self, user_id: UserId, events: &[Event]) -> Result<bool> {
        self.count("users.delete_user_personal_token");
        self.inner.users.delete_user_personal_token(user_id, events).await
    }
    async fn record_personal_token_used(&self, used: &[(UserId, Timestamp)]) -> Result<()> {
        self.count("users.record_personal_token_used");
        self.inner.users.record_personal_token_used(used).await
    }
}

#[async_trait]
impl EventStore for Counting {
    async fn insert_events(&self, events: &[Event]) -> Result<()> {
        self.count("events.insert_events");
        self.inner.events.insert_events(events).await
    }
    async fn get_event(&self, id: EventId) -> Result<Option<Event>> {
        self.count("events.get_event");
        self.inner.events.get_event(id).await
    }
    async fn list_events(&self, query: &EventQuery) -> Result<Vec<Event>> {
        self.count("events.list_events");
        self.inner.events.list_events(query).await
    }
    async fn purge_events(&self, before: Timestamp, limit: u32) -> Result<u64> {
        self.count("events.purge_events");
        self.inner.events.purge_events(before, limit).await
    }
}
