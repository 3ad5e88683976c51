//! What can be read: each field needs the permission its REST twin needs.

use async_graphql::{Context, ID, InputObject, Object, Result, connection::Connection};
use portcullis_service::{ListClients, ListUsers, Operation};

use super::{
    errors::{NullOnError, OrGraphql},
    page_error, page_limit, page_size, parse_id, require, service,
    types::{
        CallerKind, Client, Event, EventFilter, PermissionCategory, PersonalAccessToken, Role, User,
        connection, events,
    },
};
use crate::api::{Caller, auth::Principal, clients::Status};

pub struct Query;

/// A signing key: public facts only, never its private half.
#[derive(Debug, async_graphql::SimpleObject)]
pub struct SigningKey {
    pub kid: String,
    pub algorithm: String,
    /// `next` (published, not signing yet), `current` (signs new tokens) or
    /// `previous` (replaced, published until its tokens expire).
    pub state: String,
    pub created_at: super::types::DateTime,
    pub activated_at: Option<super::types::DateTime>,
    pub replaced_at: Option<super::types::DateTime>,
}

/// Which clients: each filter narrows the list.
#[derive(Debug, Default, InputObject)]
pub struct ClientFilter {
    pub status: Option<Status>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
}

/// Which users: each filter narrows the list.
#[derive(Debug, Default, InputObject)]
pub struct UserFilter {
    pub status: Option<Status>,
    /// Case-insensitive substring of the e-mail or the name.
    pub search: Option<String>,
}

#[Object]
impl Query {
    /// API clients, newest first (`clients:read`). `first` is 1–200
    /// (default 50); pass a page's `pageInfo.endCursor` as `after`.
    #[graphql(complexity = "super::STORE_READ_COST + page_size(first) * child_complexity")]
    async fn clients(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ClientFilter>,
    ) -> Result<Option<Connection<String, Client>>> {
        let caller = require(ctx, Operation::ReadClients)?;
        let filter = filter.unwrap_or_default();
        let request = ListClients {
            cursor: after.clone(),
            limit: Some(page_limit(first)?),
            status: filter.status.map(Into::into),
            name_contains: filter.search,
        };
        let page = service(ctx)?.list_clients(&caller.service(), request).await.map_err(page_error)?;
        Ok(Some(connection(page.items, page.next_cursor, after.is_some(), Client::from)))
    }

    /// One client (`clients:read`).
    #[graphql(complexity = "super::STORE_READ_COST + child_complexity")]
    async fn client(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Client>> {
        let caller = require(ctx, Operation::ReadClients)?;
        Ok(Some(Client::from(service(ctx)?.get_client(&caller.service(), parse_id("id", &id)?).await.gql()?)))
    }

    /// The signing keys, newest first (`keys:write`).
    #[graphql(complexity = "super::STORE_READ_COST + child_complexity")]
    async fn signing_keys(&self, ctx: &Context<'_>) -> Result<Option<Vec<SigningKey>>> {
        let caller = require(ctx, Operation::ReadSigningKeys)?;
        let keys = service(ctx)?.signing_keys(&caller.service()).await.gql()?;
        Ok(Some(
            keys.into_iter()
                .map(|k| SigningKey {
                    kid: k.kid,
                    algorithm: k.algorithm,
                    state: k.state.as_str().to_owned(),
                    created_at: super::types::DateTime(k.created_at),
                    activated_at: k.activated_at.map(super::types::DateTime),
                    replaced_at: k.replaced_at.map(super::types::DateTime),
                })
                .collect(),
        ))
    }

    /// Every role, by name (`roles:read`).
    #[graphql(complexity = "super::STORE_READ_COST + child_complexity")]
    async fn roles(&self, ctx: &Context<'_>) -> Result<Option<Vec<Role>>> {
        let caller = require(ctx, Operation::ReadRoles)?;
        Ok(Some(service(ctx)?.roles(&caller.service()).await.gql()?.into_iter().map(Role).collect()))
    }

    /// One role (`roles:read`).
    #[graphql(complexity = "super::STORE_READ_COST + child_complexity")]
    async fn role(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Role>> {
        let caller = require(ctx, Operation::ReadRoles)?;
        Ok(Some(Role(service(ctx)?.get_role(&caller.service(), parse_id("id", &id)?).await.gql()?)))
    }

    /// Every permission, grouped by category (`roles:read`).
    #[graphql(complexity = "super::STORE_READ_COST + child_complexity")]
    async fn permissions(&self, ctx: &Context<'_>) -> Result<Option<Vec<PermissionCategory>>> {
        let caller = require(ctx, Operation::ReadRoles)?;
        Ok(Some(
            service(ctx)?
                .permissions_by_category(&caller.service())
                .await
                .gql()?
                .into_iter()
                .map(PermissionCategory)
                .collect(),
        ))
    }

    /// Console users, newest first (`users:read`).
    #[graphql(complexity = "super::STORE_READ_COST + page_size(first) * child_complexity")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<UserFilter>,
    ) -> Result<Option<Connection<String, User>>> {
        let caller = require(ctx, Operation::ReadUsers)?;
        let filter = filter.unwrap_or_default();
        let request = ListUsers {
            cursor: after.clone(),
            limit: Some(page_limit(first)?),
            status: filter.status.map(Into::into),
            text: filter.search,
        };
        let page = service(ctx)?.list_users(&caller.service(), request).await.map_err(page_error)?;
        Ok(Some(connection(page.items, page.next_cursor, after.is_some(), User)))
    }

    /// One console user (`users:read`).
    #[graphql(complexity = "super::STORE_READ_COST + child_complexity")]
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let caller = require(ctx, Operation::ReadUsers)?;
        Ok(Some(User(service(ctx)?.get_user(&caller.service(), parse_id("id", &id)?).await.gql()?)))
    }

    /// Request and change events, newest first (`events:read`).
    #[graphql(complexity = "super::STORE_READ_COST + page_size(first) * child_complexity")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<EventFilter>,
    ) -> Result<Option<Connection<String, Event>>> {
        events(ctx, None, first, after, filter).await.map(Some)
    }

    /// One event with its redacted bodies (`events:read`).
    #[graphql(complexity = "super::STORE_READ_COST + child_complexity")]
    async fn event(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Event>> {
        let caller = require(ctx, Operation::ReadEvents)?;
        let id = parse_id("id", &id)?;
        Ok(Some(Event(service(ctx)?.get_event(&caller.service(), id).await.gql()?)))
    }

    /// Who is calling, and with which permissions; any caller may ask.
    async fn me(&self, ctx: &Context<'_>) -> Result<NullOnError<Me>> {
        Ok(NullOnError(Me(super::caller(ctx)?.clone())))
    }
}

/// The caller: an API client or a user.
pub struct Me(Caller);

#[Object]
impl Me {
    async fn kind(&self) -> CallerKind {
        match self.0.principal {
            Principal::Client(_) => CallerKind::Client,
            Principal::User { .. } => CallerKind::User,
        }
    }
    /// The caller's effective permissions.
    async fn permissions(&self) -> Vec<String> {
        self.0.scope.iter().map(ToString::to_string).collect()
    }
    /// The calling client; null for a user.
    async fn client(&self, ctx: &Context<'_>) -> Result<Option<Client>> {
        match &self.0.principal {
            Principal::Client(_) => {
                Ok(Some(Client::from(service(ctx)?.caller_client(&self.0.service()).await.gql()?)))
            }
            Principal::User { .. } => Ok(None),
        }
    }
    /// The calling user; null for a client.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        match &self.0.principal {
            Principal::User { .. } => {
                Ok(Some(User(service(ctx)?.caller_user(&self.0.service()).await.gql()?)))
            }
            Principal::Client(_) => Ok(None),
        }
    }
    /// The calling user's personal access token, or null when it has none;
    /// refused (`NOT_A_USER`) for an API client.
    async fn personal_access_token(&self, ctx: &Context<'_>) -> Result<Option<PersonalAccessToken>> {
        let user = self.0.user().gql()?;
        Ok(service(ctx)?.personal_token(user.id).await.gql()?.map(Into::into))
    }
}
