//! The API client lifecycle: create, read, list, update, enable, disable,
//! regenerate the secret, delete.

use portcullis_domain::{
    ApiClient, ClientId, ClientName, ClientSecret, ClientStatus, Description, RoleId, RoleName, TokenTtl, now,
};
use portcullis_store::{ClientCursor, ClientQuery};

use crate::{Result, Service, ServiceError, paging};

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

    /// Creates a client and returns it with its secret: the only time the
    /// secret exists outside the caller's hands.
    pub async fn create_client(&self, new: NewClient) -> Result<(ClientView, ClientSecret)> {
        let role_id = match &new.role {
            Some(name) => Some(self.resolve_role(name).await?),
            None => None,
        };
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
        tracing::info!(client_id = %client.id, "client created");
        Ok((ClientView { client, role: new.role }, secret))
    }

    pub async fn get_client(&self, id: ClientId) -> Result<ClientView> {
        let client = self.inner.stores.clients.get_client(id).await?.ok_or(ServiceError::ClientNotFound)?;
        self.view(client).await
    }

    pub async fn list_clients(&self, req: ListClients) -> Result<ClientPage> {
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

    pub(crate) async fn modify(
        &self,
        id: ClientId,
        change: impl FnOnce(&mut ApiClient),
    ) -> Result<ApiClient> {
        let mut client =
            self.inner.stores.clients.get_client(id).await?.ok_or(ServiceError::ClientNotFound)?;
        change(&mut client);
        client.updated_at = now();
        if !self.inner.stores.clients.update_client(&client).await? {
            return Err(ServiceError::ClientNotFound);
        }
        self.inner.cache.invalidate();
        Ok(client)
    }

    pub async fn update_client(&self, id: ClientId, update: ClientUpdate) -> Result<ClientView> {
        let role_id = match &update.role {
            Some(Some(name)) => Some(Some(self.resolve_role(name).await?)),
            Some(None) => Some(None),
            None => None,
        };
        let client = self
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
        tracing::info!(client_id = %id, "client updated");
        self.view(client).await
    }

    /// Disabled clients fail every authentication; their secret is kept.
    pub async fn set_client_status(&self, id: ClientId, status: ClientStatus) -> Result<ClientView> {
        let client = self.modify(id, |c| c.status = status).await?;
        tracing::info!(client_id = %id, %status, "client status set");
        self.view(client).await
    }

    /// Replaces the secret at once: the old one stops working on the next
    /// request; tokens already issued stay valid until they expire.
    pub async fn regenerate_client_secret(&self, id: ClientId) -> Result<(ClientView, ClientSecret)> {
        let secret = ClientSecret::generate();
        let hash = self.inner.hasher.hash(&secret);
        let client = self.modify(id, |c| c.secret_hash = hash).await?;
        tracing::info!(client_id = %id, "client secret regenerated");
        Ok((self.view(client).await?, secret))
    }

    pub async fn delete_client(&self, id: ClientId) -> Result<()> {
        if !self.inner.stores.clients.delete_client(id).await? {
            return Err(ServiceError::ClientNotFound);
        }
        self.inner.cache.invalidate();
        tracing::info!(client_id = %id, "client deleted");
        Ok(())
    }
}
