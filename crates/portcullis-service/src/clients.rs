//! The API client lifecycle: create, read, list, update, enable, disable,
//! regenerate the secret, delete.

use portcullis_domain::{
    ApiClient, ClientId, ClientName, ClientSecret, ClientStatus, Description, RoleId, RoleName, TokenTtl, now,
};
use portcullis_store::{ClientCursor, ClientQuery};
use serde_json::{Value, json};

use crate::{
    Actor, Caller, Result, Service, ServiceError,
    audit::{ChangeKind, FieldChanges, Subject},
    paging,
};

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

/// A client as shown to operators: the stored record plus its role's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    pub client: ApiClient,
    pub role: Option<RoleName>,
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
        let role = match client.role_id {
            Some(id) => self.inner.stores.roles.get_role(id).await?.map(|r| r.name),
            None => None,
        };
        Ok(ClientView { client, role })
    }

    /// A role's name for an event's details: its id when the role cannot be
    /// read now, since the change it describes is already made.
    pub(crate) async fn role_label(&self, id: Option<RoleId>) -> Value {
        let Some(id) = id else { return Value::Null };
        match self.inner.stores.roles.get_role(id).await {
            Ok(Some(role)) => role.name.as_str().into(),
            _ => id.to_string().into(),
        }
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
        };
        self.inner.stores.clients.insert_client(&client).await?;
        let details = json!({
            "name": client.name.as_str(),
            "description": client.description.as_ref().map(|d| d.as_str()),
            "role": new.role.as_ref().map(|r| r.as_str()),
            "access_token_ttl_seconds": client.token_ttl.as_secs(),
        });
        self.audit(actor, ChangeKind::ClientCreated, Subject::Client(client.id), Some(details));
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
            name_contains: req.name_contains.filter(|q| !q.is_empty()),
        };
        let found = self.inner.stores.clients.list_clients(&query).await?;
        let (found, next_cursor) = paging::finish(found, limit, |c| (c.created_at, c.id));
        let roles = self.inner.stores.roles.list_roles().await?;
        let items = found
            .into_iter()
            .map(|client| {
                let role =
                    client.role_id.and_then(|id| roles.iter().find(|r| r.id == id)).map(|r| r.name.clone());
                ClientView { client, role }
            })
            .collect();
        Ok(ClientPage { items, next_cursor })
    }

    /// Applies `change` to the stored client and writes it, unless it changed
    /// nothing. Returns the client before and after.
    pub(crate) async fn modify(
        &self,
        id: ClientId,
        change: impl FnOnce(&mut ApiClient),
    ) -> Result<(ApiClient, ApiClient)> {
        let before = self.inner.stores.clients.get_client(id).await?.ok_or(ServiceError::ClientNotFound)?;
        let mut client = before.clone();
        change(&mut client);
        if client == before {
            return Ok((before, client));
        }
        client.updated_at = now();
        if !self.inner.stores.clients.update_client(&client).await? {
            return Err(ServiceError::ClientNotFound);
        }
        self.inner.cache.invalidate();
        Ok((before, client))
    }

    /// Records the change from `before` to `after`, if there is one:
    /// `client.enabled` / `client.disabled` when the status changed, else
    /// `client.updated`; the details list every field that changed.
    pub(crate) async fn audit_client_change(
        &self,
        actor: &Actor,
        before: &ApiClient,
        after: &ApiClient,
        new_role: Option<&RoleName>,
    ) {
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
                (id, _) => self.role_label(id).await,
            };
            changes.field("role", self.role_label(before.role_id).await, to);
        }
        changes.field("access_token_ttl_seconds", before.token_ttl.as_secs(), after.token_ttl.as_secs());
        changes.field("status", before.status.as_str(), after.status.as_str());
        if changes.is_empty() {
            return;
        }
        let kind = match (before.status == after.status, after.status) {
            (true, _) => ChangeKind::ClientUpdated,
            (false, ClientStatus::Enabled) => ChangeKind::ClientEnabled,
            (false, ClientStatus::Disabled) => ChangeKind::ClientDisabled,
        };
        self.audit(actor, kind, Subject::Client(after.id), Some(changes.into_details([])));
    }

    /// Changes what `update` names; a field set to its current value is no
    /// change, and an update that changes nothing writes and records nothing.
    /// A change of role needs every permission of the old and the new role;
    /// enabling, every permission of the role it acts with.
    pub async fn update_client(
        &self,
        caller: &Caller,
        id: ClientId,
        update: ClientUpdate,
    ) -> Result<ClientView> {
        caller.may(crate::Operation::UpdateClient)?;
        let role_id = match &update.role {
            Some(Some(name)) => Some(Some(self.resolve_role(name).await?)),
            Some(None) => Some(None),
            None => None,
        };
        let enables = update.status == Some(ClientStatus::Enabled);
        if role_id.is_some() || enables {
            let current =
                self.inner.stores.clients.get_client(id).await?.ok_or(ServiceError::ClientNotFound)?;
            let mut roles = Vec::new();
            if role_id.is_some_and(|new| new != current.role_id) {
                roles.extend(current.role_id);
                roles.extend(role_id.flatten());
            }
            if enables {
                roles.extend(role_id.unwrap_or(current.role_id));
            }
            caller.require_all(&self.roles_permissions(roles).await?)?;
        }
        let actor = &caller.actor;
        let new_role = update.role.clone().flatten();
        let (before, client) = self
            .modify(id, |c| {
                if let Some(name) = update.name {
                    c.name = name;
                }
                if let Some(description) = update.description {
                    c.description = description;
                }
                if let Some(role_id) = role_id {
                    c.role_id = role_id;
                }
                if let Some(ttl) = update.token_ttl {
                    c.token_ttl = ttl;
                }
                if let Some(status) = update.status {
                    c.status = status;
                }
            })
            .await?;
        if before != client {
            self.audit_client_change(actor, &before, &client, new_role.as_ref()).await;
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
        if status == ClientStatus::Enabled {
            self.require_client_role(caller, id).await?;
        }
        let actor = &caller.actor;
        let (before, client) = self.modify(id, |c| c.status = status).await?;
        if before.status != client.status {
            self.audit_client_change(actor, &before, &client, None).await;
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
        self.require_client_role(caller, id).await?;
        let actor = &caller.actor;
        let secret = ClientSecret::generate();
        let hash = self.inner.hasher.hash(&secret);
        let (_, client) = self.modify(id, |c| c.secret_hash = hash).await?;
        self.audit(actor, ChangeKind::ClientSecretRegenerated, Subject::Client(id), None);
        tracing::info!(client_id = %id, "client secret regenerated");
        Ok((self.view(client).await?, secret))
    }

    /// No escalation: the caller holds every permission of the client's
    /// role. `ClientNotFound` for no such client.
    pub(crate) async fn require_client_role(&self, caller: &Caller, id: ClientId) -> Result<()> {
        let client = self.inner.stores.clients.get_client(id).await?.ok_or(ServiceError::ClientNotFound)?;
        caller.require_all(&self.roles_permissions(client.role_id).await?)
    }

    pub(crate) fn audit_client_deleted(&self, actor: &Actor, client: &ApiClient) {
        let details = json!({ "name": client.name.as_str() });
        self.audit(actor, ChangeKind::ClientDeleted, Subject::Client(client.id), Some(details));
    }

    /// Taking a role's permissions away needs them too.
    pub async fn delete_client(&self, caller: &Caller, id: ClientId) -> Result<()> {
        caller.may(crate::Operation::DeleteClient)?;
        let client = self.inner.stores.clients.get_client(id).await?.ok_or(ServiceError::ClientNotFound)?;
        caller.require_all(&self.roles_permissions(client.role_id).await?)?;
        let actor = &caller.actor;
        if !self.inner.stores.clients.delete_client(id).await? {
            return Err(ServiceError::ClientNotFound);
        }
        self.inner.cache.invalidate();
        self.audit_client_deleted(actor, &client);
        tracing::info!(client_id = %id, "client deleted");
        Ok(())
    }
}
