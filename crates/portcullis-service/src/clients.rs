//! The API client lifecycle: create, read, list, update, enable, disable,
//! regenerate the secret, delete.

use portcullis_domain::{
    ApiClient, ClientId, ClientName, ClientSecret, ClientStatus, Description, Event, Role, RoleId, RoleName,
    TokenTtl, now,
};
use portcullis_store::{ChangeEvents, ClientCursor, ClientPatch, ClientQuery, Deletion, Update};
use serde_json::{Value, json};

use crate::{
    Actor, Caller, Result, RoleBook, Service, ServiceError,
    audit::{ChangeKind, FieldChanges, Subject, change_event},
    paging,
};

/// Roles' names by id, read before a change for its event's details; a
/// role that is gone by then is named by its id.
#[derive(Debug, Default)]
pub(crate) struct RoleLabels(Vec<Role>);

impl RoleLabels {
    fn label(&self, id: Option<RoleId>) -> Value {
        let Some(id) = id else { return Value::Null };
        match self.0.iter().find(|r| r.id == id) {
            Some(role) => role.name.as_str().into(),
            None => id.to_string().into(),
        }
    }
}

/// The event of a change from `before` to `after`, if there is one:
/// `client.enabled` / `client.disabled` when the status changed, else
/// `client.updated`; the details list every field that changed.
pub(crate) fn client_change_events(
    actor: &Actor,
    before: &ApiClient,
    after: &ApiClient,
    new_role: Option<&RoleName>,
    roles: &RoleLabels,
) -> Vec<Event> {
    let mut changes = FieldChanges::default();
    changes.field("name", before.name.as_str(), after.name.as_str());
    changes.field(
        "description",
        before.description.as_ref().map(|d| d.as_str()),
        after.description.as_ref().map(|d| d.as_str()),
    );
    if before.role_id != after.role_id {
        let to = match (after.role_id, new_role) {
            (Some(_), Some(name)) => name.as_str().into(),
            (id, _) => roles.label(id),
        };
        changes.field("role", roles.label(before.role_id), to);
    }
    changes.field("access_token_ttl_seconds", before.token_ttl.as_secs(), after.token_ttl.as_secs());
    changes.field("status", before.status.as_str(), after.status.as_str());
    if changes.is_empty() {
        return Vec::new();
    }
    let kind = match (before.status == after.status, after.status) {
        (true, _) => ChangeKind::ClientUpdated,
        (false, ClientStatus::Enabled) => ChangeKind::ClientEnabled,
        (false, ClientStatus::Disabled) => ChangeKind::ClientDisabled,
    };
    vec![change_event(actor, kind, Subject::Client(after.id), Some(changes.into_details([])))]
}

/// The event of a client's deletion.
/// How often a checked write is tried again when the client changed
/// between its check and its write.
const CHECKED_WRITE_ATTEMPTS: u32 = 5;

pub(crate) fn client_deleted_event(actor: &Actor, client: &ApiClient) -> Event {
    let details = json!({ "name": client.name.as_str() });
    change_event(actor, ChangeKind::ClientDeleted, Subject::Client(client.id), Some(details))
}

/// What a caller supplies to create a client; the id, secret and times are
/// the server's to choose.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: ClientName,
    pub description: Option<Description>,
    pub role: Option<RoleName>,
    pub token_ttl: TokenTtl,
}

/// A partial update: `None` leaves a field as it is; `Some(None)` clears an
/// optional one.
#[derive(Debug, Clone, Default)]
pub struct ClientUpdate {
    pub name: Option<ClientName>,
    pub description: Option<Option<Description>>,
    pub role: Option<Option<RoleName>>,
    pub token_ttl: Option<TokenTtl>,
    pub status: Option<ClientStatus>,
}

impl ClientUpdate {
    /// Disables the client and changes nothing else: an emergency stop.
    pub fn only_disables(&self) -> bool {
        matches!(
            self,
            Self {
                name: None,
                description: None,
                role: None,
                token_ttl: None,
                status: Some(ClientStatus::Disabled)
            }
        )
    }
}

/// A client as shown to operators: the stored record plus its role's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    pub client: ApiClient,
    pub role: Option<RoleName>,
}

impl ClientView {
    fn new(book: &RoleBook, client: ApiClient) -> Self {
        let role = book.role_name(client.role_id);
        Self { client, role }
    }
}

/// A page of clients, newest first.
#[derive(Debug, Clone)]
pub struct ClientPage {
    pub items: Vec<ClientView>,
    /// Present when more clients follow; opaque to callers.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ListClients {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    pub status: Option<ClientStatus>,
    pub name_contains: Option<String>,
}

impl Service {
    async fn resolve_role(&self, name: &RoleName) -> Result<RoleId> {
        self.inner
            .stores
            .roles
            .get_role_by_name(name)
            .await?
            .map(|r| r.id)
            .ok_or_else(|| ServiceError::RoleNotFound(name.to_string()))
    }

    pub(crate) async fn view(&self, client: ApiClient) -> Result<ClientView> {
        Ok(ClientView::new(&*self.role_book().await?, client))
    }

    pub(crate) async fn role_labels(&self) -> Result<RoleLabels> {
        Ok(RoleLabels(self.inner.stores.roles.list_roles().await?))
    }

    /// Creates a client and returns it with its secret: the only time the
    /// secret exists outside the caller's hands.
    /// The caller must hold every permission of the client's role.
    pub async fn create_client(&self, caller: &Caller, new: NewClient) -> Result<(ClientView, ClientSecret)> {
        caller.may(crate::Operation::CreateClient)?;
        let role_id = match &new.role {
            Some(name) => Some(self.resolve_role(name).await?),
            None => None,
        };
        caller.require_all(&self.roles_permissions(role_id).await?)?;
        let actor = &caller.actor;
        let secret = ClientSecret::generate();
        let at = now();
        let client = ApiClient {
            id: ClientId::generate(),
            name: new.name,
            description: new.description,
            status: ClientStatus::Enabled,
            role_id,
            token_ttl: new.token_ttl,
            secret_hash: self.inner.hasher.hash(&secret),
            created_at: at,
            updated_at: at,
            last_used_at: None,
            tokens_valid_after: None,
            version: 1,
        };
        let details = json!({
            "name": client.name.as_str(),
            "description": client.description.as_ref().map(|d| d.as_str()),
            "role": new.role.as_ref().map(|r| r.as_str()),
            "access_token_ttl_seconds": client.token_ttl.as_secs(),
        });
        let event = change_event(actor, ChangeKind::ClientCreated, Subject::Client(client.id), Some(details));
        self.inner.stores.clients.insert_client(&client, &[event]).await?;
        self.inner.cache.invalidate();
        tracing::info!(client_id = %client.id, "client created");
        Ok((ClientView { client, role: new.role }, secret))
    }

    pub async fn get_client(&self, caller: &Caller, id: ClientId) -> Result<ClientView> {
        caller.may(crate::Operation::ReadClients)?;
        self.client_view(id).await
    }

    /// The calling client itself (`/me`): no permission needed.
    /// `ClientNotFound` when the caller is not a client.
    pub async fn caller_client(&self, caller: &Caller) -> Result<ClientView> {
        match caller.actor {
            Actor::Client(id) => self.client_view(id).await,
            _ => Err(ServiceError::ClientNotFound),
        }
    }

    async fn client_view(&self, id: ClientId) -> Result<ClientView> {
        let client = self.inner.stores.clients.get_client(id).await?.ok_or(ServiceError::ClientNotFound)?;
        self.view(client).await
    }

    pub async fn list_clients(&self, caller: &Caller, req: ListClients) -> Result<ClientPage> {
        caller.may(crate::Operation::ReadClients)?;
        let limit = paging::page_size(req.limit);
        let after = req.cursor.as_deref().map(paging::decode_cursor).transpose()?;
        let query = ClientQuery {
            after: after.map(|(created_at, id)| ClientCursor { created_at, id }),
            // One more than asked tells whether another page follows.
            limit: limit + 1,
            status: req.status,
            name_contains: crate::paging::text_filter("q", req.name_contains)?,
        };
        let found = self.inner.stores.clients.list_clients(&query).await?;
        let (found, next_cursor) = paging::finish(found, limit, |c| (c.created_at, c.id));
        // The roles of the whole page from one read, never one per client.
        let book = self.role_book().await?;
        let items = found.into_iter().map(|client| ClientView::new(&book, client)).collect();
        Ok(ClientPage { items, next_cursor })
    }

    /// Writes `patch` to the stored client (only what it changes, with the
    /// events `events` builds, in one transaction), unless it changes
    /// nothing; refused when `if_version` is given and not the stored
    /// version. Returns the client before and after.
    pub(crate) async fn change_client(
        &self,
        id: ClientId,
        patch: &ClientPatch,
        if_version: Option<u64>,
        events: ChangeEvents<'_, ApiClient>,
    ) -> Result<(ApiClient, ApiClient)> {
        match self.inner.stores.clients.update_client(id, patch, if_version, now(), events).await? {
            Update::Changed { before, after } => {
                self.inner.cache.invalidate();
                Ok((before, after))
            }
            Update::Unchanged(client) => Ok((client.clone(), client)),
            Update::NotFound => Err(ServiceError::ClientNotFound),
            Update::Stale(current) => Err(ServiceError::Stale {
                expected: if_version.unwrap_or_default(),
                current: current.version,
            }),
        }
    }

    /// Changes what `update` names; a field set to its current value is no
    /// change, and an update that changes nothing writes and records nothing.
    /// No escalation: the caller must hold every permission of the client's
    /// role (and of the new role, when it names one) for anything but
    /// disabling it, an emergency stop that takes permissions away and so
    /// needs only `clients:write`.
    pub async fn update_client(
        &self,
        caller: &Caller,
        id: ClientId,
        update: ClientUpdate,
    ) -> Result<ClientView> {
        self.update_client_if(caller, id, update, None).await
    }

    /// [`update_client`](Self::update_client), refused with
    /// [`ServiceError::Stale`] (and nothing changed) unless the client is at
    /// `if_version`, when given (REST `If-Match`).
    pub async fn update_client_if(
        &self,
        caller: &Caller,
        id: ClientId,
        update: ClientUpdate,
        if_version: Option<u64>,
    ) -> Result<ClientView> {
        caller.may(crate::Operation::UpdateClient)?;
        let role_id = match &update.role {
            Some(Some(name)) => Some(Some(self.resolve_role(name).await?)),
            Some(None) => Some(None),
            None => None,
        };
        // An admin holds every permission: nothing to check, nothing to pin.
        let checks = !update.only_disables() && !caller.is_admin();
        let actor = &caller.actor;
        let new_role = update.role.clone().flatten();
        let roles = self.role_labels().await?;
        let patch = ClientPatch {
            name: update.name,
            description: update.description,
            status: update.status,
            role_id,
            token_ttl: update.token_ttl,
            ..ClientPatch::default()
        };
        let events = |before: &ApiClient, after: &ApiClient| {
            client_change_events(actor, before, after, new_role.as_ref(), &roles)
        };
        let mut attempts = 0;
        let (before, client) = loop {
            // The write is pinned to the version the escalation check saw:
            // a role given in between makes the check run again.
            let pinned = if checks {
                let current =
                    self.inner.stores.clients.get_client(id).await?.ok_or(ServiceError::ClientNotFound)?;
                let roles = current.role_id.into_iter().chain(role_id.flatten());
                caller.require_all(&self.roles_permissions(roles).await?)?;
                caller.pin(if_version, current.version)?
            } else {
                if_version
            };
            match self.change_client(id, &patch, pinned, &events).await {
                Err(ServiceError::Stale { .. })
                    if if_version.is_none() && checks && attempts < CHECKED_WRITE_ATTEMPTS =>
                {
                    attempts += 1;
                }
                other => break other?,
            }
        };
        if before != client {
            tracing::info!(client_id = %id, "client updated");
        }
        self.view(client).await
    }

    /// Disabled clients fail every authentication; their secret is kept.
    /// Setting the status a client already has changes and records nothing.
    /// Enabling needs every permission of the client's role.
    pub async fn set_client_status(
        &self,
        caller: &Caller,
        id: ClientId,
        status: ClientStatus,
    ) -> Result<ClientView> {
        caller.may(crate::Operation::UpdateClient)?;
        let actor = &caller.actor;
        let patch = ClientPatch { status: Some(status), ..ClientPatch::default() };
        let roles = RoleLabels::default();
        let events =
            |before: &ApiClient, after: &ApiClient| client_change_events(actor, before, after, None, &roles);
        let (before, client) = if status == ClientStatus::Enabled {
            self.change_client_as_checked(caller, id, &patch, &events).await?
        } else {
            self.change_client(id, &patch, None, &events).await?
        };
        if before.status != client.status {
            tracing::info!(client_id = %id, %status, "client status set");
        }
        self.view(client).await
    }

    /// Replaces the secret at once: the old one stops working on the next
    /// request; tokens already issued stay valid until they expire.
    /// The new secret acts with the client's role: the caller must hold it.
    pub async fn regenerate_client_secret(
        &self,
        caller: &Caller,
        id: ClientId,
    ) -> Result<(ClientView, ClientSecret)> {
        caller.may(crate::Operation::RegenerateClientSecret)?;
        let actor = &caller.actor;
        let secret = ClientSecret::generate();
        let hash = self.inner.hasher.hash(&secret);
        let patch = ClientPatch { secret_hash: Some(hash), ..ClientPatch::default() };
        let events = |_: &ApiClient, _: &ApiClient| {
            vec![change_event(actor, ChangeKind::ClientSecretRegenerated, Subject::Client(id), None)]
        };
        let (_, client) = self.change_client_as_checked(caller, id, &patch, &events).await?;
        tracing::info!(client_id = %id, "client secret regenerated");
        Ok((self.view(client).await?, secret))
    }

    /// No escalation: the caller holds every permission of the client's
    /// role. `ClientNotFound` for no such client.
    pub(crate) async fn require_client_role(&self, caller: &Caller, id: ClientId) -> Result<ApiClient> {
        let client = self.inner.stores.clients.get_client(id).await?.ok_or(ServiceError::ClientNotFound)?;
        caller.require_all(&self.roles_permissions(client.role_id).await?)?;
        Ok(client)
    }

    /// Writes `patch` to the client exactly as the escalation check saw it:
    /// the write is pinned to the checked version, so a concurrent change
    /// (an admin giving the client another role between the check and the
    /// write) makes the check run again on what is now stored, instead of
    /// the write landing on a role the caller was never checked against.
    async fn change_client_as_checked(
        &self,
        caller: &Caller,
        id: ClientId,
        patch: &ClientPatch,
        events: ChangeEvents<'_, ApiClient>,
    ) -> Result<(ApiClient, ApiClient)> {
        if caller.is_admin() {
            return self.change_client(id, patch, None, events).await;
        }
        let mut attempts = 0;
        loop {
            let checked = self.require_client_role(caller, id).await?;
            match self.change_client(id, patch, Some(checked.version), events).await {
                Err(ServiceError::Stale { .. }) if attempts < CHECKED_WRITE_ATTEMPTS => attempts += 1,
                other => return other,
            }
        }
    }

    /// Taking a role's permissions away needs them too.
    pub async fn delete_client(&self, caller: &Caller, id: ClientId) -> Result<()> {
        self.delete_client_if(caller, id, None).await
    }

    /// [`delete_client`](Self::delete_client), refused with
    /// [`ServiceError::Stale`] (and nothing deleted) unless the client is at
    /// `if_version`, when given (REST `If-Match`).
    pub async fn delete_client_if(
        &self,
        caller: &Caller,
        id: ClientId,
        if_version: Option<u64>,
    ) -> Result<()> {
        caller.may(crate::Operation::DeleteClient)?;
        let actor = &caller.actor;
        let events = |client: &ApiClient| vec![client_deleted_event(actor, client)];
        let mut attempts = 0;
        loop {
            // Pinned to the version the escalation check saw.
            let pinned = if caller.is_admin() {
                if_version
            } else {
                let checked = self.require_client_role(caller, id).await?;
                caller.pin(if_version, checked.version)?
            };
            match self.inner.stores.clients.delete_client(id, pinned, &events).await? {
                Deletion::Deleted(_) => break,
                Deletion::NotFound => return Err(ServiceError::ClientNotFound),
                Deletion::Stale(_) if if_version.is_none() && attempts < CHECKED_WRITE_ATTEMPTS => {
                    attempts += 1;
                }
                Deletion::Stale(current) => {
                    return Err(ServiceError::Stale {
                        expected: pinned.unwrap_or_default(),
                        current: current.version,
                    });
                }
            }
        }
        self.inner.cache.invalidate();
        tracing::info!(client_id = %id, "client deleted");
        Ok(())
    }
}
