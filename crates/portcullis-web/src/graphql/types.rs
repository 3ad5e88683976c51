//! The objects GraphQL answers with, over the service's views. None of them
//! has a field for a secret's hash or a password; the one-time secrets
//! appear only in the payloads of the mutations that make them.

use async_graphql::{
    Context, Enum, ID, InputObject, InputValueError, InputValueResult, Json, Object, Result, Scalar,
    ScalarType, SimpleObject, Value,
    connection::{Connection, Edge},
};
use chrono::{SecondsFormat, Utc};
use portcullis_domain::{Permission as DomainPermission, Role as DomainRole};
use portcullis_service::{
    ClientView, Operation, PageItem, PermissionGroup, PersonalTokenInfo, UserView, events::ListEvents,
};

use super::{
    errors::{NullOnError, OrGraphql},
    page_size, require, service,
};
use crate::api::{Problem, clients::Status, events::status_class};

/// An instant, RFC 3339 in UTC as REST writes it: `2026-11-23T15:50:20Z`,
/// with a fraction of a second only where one was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// An instant: RFC 3339 in UTC, e.g. `2026-11-23T15:50:20Z`; any offset is
/// accepted as input.
#[Scalar(name = "DateTime", specified_by_url = "https://www.rfc-editor.org/rfc/rfc3339")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| DateTime(t.with_timezone(&Utc)))
                .map_err(|_| InputValueError::custom("an RFC 3339 date and time, e.g. 2026-11-23T15:50:20Z")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(t: chrono::DateTime<Utc>) -> Self {
        Self(t)
    }
}

/// A page of `T`, as Relay's connections spec has it: forward only
/// (`first`/`after`), newest first.
pub(crate) fn connection<I: PageItem, T: async_graphql::OutputType>(
    items: Vec<I>,
    next_cursor: Option<String>,
    after: bool,
    node: impl Fn(I) -> T,
) -> Connection<String, T> {
    let mut page = Connection::new(after, next_cursor.is_some());
    page.edges.extend(items.into_iter().map(|item| Edge::new(item.cursor(), node(item))));
    page
}

/// An API client. Its secret is never readable: only `createClient` and
/// `regenerateClientSecret` return one, once. Its `permissions` and
/// `events` answer `null` for an error.
pub type Client = NullOnError<ClientFields>;

/// A [`Client`]'s fields.
pub struct ClientFields(pub ClientView);

impl From<ClientView> for Client {
    fn from(view: ClientView) -> Self {
        NullOnError(ClientFields(view))
    }
}

#[Object(name = "Client")]
impl ClientFields {
    /// The client id (a UUID), as sent to `/oauth2/token`.
    async fn id(&self) -> ID {
        ID(self.0.client.id.to_string())
    }
    async fn name(&self) -> &str {
        self.0.client.name.as_str()
    }
    #[graphql(complexity = "super::DESCRIPTION_COST")]
    async fn description(&self) -> Option<&str> {
        self.0.client.description.as_ref().map(|d| d.as_str())
    }
    async fn status(&self) -> Status {
        self.0.client.status.into()
    }
    /// The role's name; null for none.
    async fn role(&self) -> Option<&str> {
        self.0.role.as_ref().map(|r| r.as_str())
    }
    /// 60–86,400.
    async fn access_token_ttl_seconds(&self) -> u32 {
        self.0.client.token_ttl.as_secs()
    }
    async fn created_at(&self) -> DateTime {
        self.0.client.created_at.into()
    }
    /// The last successful authentication, or null.
    async fn last_used_at(&self) -> Option<DateTime> {
        self.0.client.last_used_at.map(Into::into)
    }
    /// The permissions its tokens may carry now, by category (`clients:read`).
    async fn permissions(&self, ctx: &Context<'_>) -> Result<Option<Vec<PermissionCategory>>> {
        let caller = require(ctx, Operation::ReadClients)?;
        // The client as this answer shows it, its role's permissions from the
        // service's role book: a page of clients asking costs no read each.
        let groups = service(ctx)?.permissions_of(&caller.service(), &self.0.client).await.gql()?;
        Ok(Some(groups.into_iter().map(PermissionCategory).collect()))
    }
    /// Its request and change events, newest first (`events:read`).
    #[graphql(complexity = "super::STORE_READ_COST + page_size(first) * child_complexity")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<EventFilter>,
    ) -> Result<Option<Connection<String, Event>>> {
        events(ctx, Some(self.0.client.id), first, after, filter).await.map(Some)
    }
}

/// One page of events, of one client or of all.
pub(crate) async fn events(
    ctx: &Context<'_>,
    client_id: Option<portcullis_domain::ClientId>,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<EventFilter>,
) -> Result<Connection<String, Event>> {
    let caller = require(ctx, Operation::ReadEvents)?;
    let filter = filter.unwrap_or_default();
    let request = ListEvents {
        limit: Some(super::page_limit(first)?),
        cursor: after.clone(),
        client_id,
        kind: filter.kind,
        status_class: status_class(filter.status.as_deref())
            .map_err(|_| Problem::invalid_field("filter.status", "status must be 2xx, 3xx, 4xx or 5xx"))
            .gql()?,
        since: filter.since.map(|t| t.0),
        until: filter.until.map(|t| t.0),
    };
    let page = service(ctx)?.list_events(&caller.service(), request).await.map_err(super::page_error)?;
    Ok(connection(page.items, page.next_cursor, after.is_some(), Event))
}

/// Which events: each filter narrows the list.
#[derive(Debug, Default, InputObject)]
pub struct EventFilter {
    /// A request kind (`token.request`, `introspection`, `revocation`,
    /// `admin.request`) or a change kind (`client.created`, …).
    pub kind: Option<String>,
    /// Status class: `2xx`, `3xx`, `4xx` or `5xx`.
    pub status: Option<String>,
    /// Events at or after.
    pub since: Option<DateTime>,
    /// Events before.
    pub until: Option<DateTime>,
}

/// A request or change event. Bodies are stored redacted: no secret,
/// token or password is ever in them.
pub struct Event(pub portcullis_domain::Event);

#[Object]
impl Event {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn occurred_at(&self) -> DateTime {
        self.0.occurred_at.into()
    }
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    async fn client_id(&self) -> Option<ID> {
        self.0.client_id.map(|c| ID(c.to_string()))
    }
    async fn user_id(&self) -> Option<ID> {
        self.0.user_id.map(|u| ID(u.to_string()))
    }
    /// Who made a change: `client:<uuid>`, `user:<uuid>`, `cli` or `system`;
    /// null for request events.
    async fn actor(&self) -> Option<&str> {
        self.0.actor.as_deref()
    }
    async fn method(&self) -> Option<&str> {
        self.0.method.as_deref()
    }
    #[graphql(complexity = "super::PATH_COST")]
    async fn path(&self) -> Option<&str> {
        self.0.path.as_deref()
    }
    async fn status(&self) -> Option<u16> {
        self.0.status
    }
    async fn latency_ms(&self) -> Option<f64> {
        self.0.latency_micros.map(|m| m as f64 / 1000.0)
    }
    async fn source_ip(&self) -> Option<&str> {
        self.0.source_ip.as_deref()
    }
    #[graphql(complexity = "super::USER_AGENT_COST")]
    async fn user_agent(&self) -> Option<&str> {
        self.0.user_agent.as_deref()
    }
    /// The request body, redacted and capped at 16 KiB; null when hidden
    /// (see `bodiesHidden`).
    #[graphql(complexity = "super::BODY_COST")]
    async fn request_body(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        Ok(if self.bodies_hidden(ctx).await?.is_none() { self.0.request_body.as_deref() } else { None })
    }
    /// The response body, redacted and capped at 16 KiB; null when hidden
    /// (see `bodiesHidden`).
    #[graphql(complexity = "super::BODY_COST")]
    async fn response_body(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        Ok(if self.bodies_hidden(ctx).await?.is_none() { self.0.response_body.as_deref() } else { None })
    }
    /// What a reader must hold, beyond `events:read`, to see the bodies (or
    /// a change's details): for an admin call, the permissions it needed and
    /// those that read what it answered (a GraphQL call or an event read: its
    /// caller's permissions); for a change, the
    /// permission that reads its subject (`users:read` for `user.*`,
    /// `clients:read`, `roles:read`, `keys:write`); empty for OAuth2
    /// requests.
    async fn required_permissions(&self) -> Vec<String> {
        crate::api::events::required_permissions(&self.0)
    }
    /// Why the bodies (or a change's details) are omitted (`requires
    /// users:read`: the permissions the reader lacks); null when they are
    /// shown.
    async fn bodies_hidden(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(crate::api::events::bodies_hidden(&self.0, &super::caller(ctx)?.scope))
    }
    /// For changes: what changed; null when hidden (see `bodiesHidden`).
    #[graphql(complexity = "super::BODY_COST")]
    async fn details(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        Ok(crate::api::events::shown_details(&self.0, &super::caller(ctx)?.scope).map(Json))
    }
}

/// A permission: `category:action`.
pub struct Permission(pub DomainPermission);

#[Object]
impl Permission {
    async fn name(&self) -> String {
        self.0.name.to_string()
    }
    #[graphql(complexity = "super::DESCRIPTION_COST")]
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// Built-in permissions cannot be changed or deleted.
    async fn builtin(&self) -> bool {
        self.0.builtin
    }
}

/// The permissions of one category (the part before `:`).
pub struct PermissionCategory(pub PermissionGroup);

#[Object]
impl PermissionCategory {
    async fn category(&self) -> &str {
        &self.0.category
    }
    async fn permissions(&self) -> Vec<Permission> {
        self.0.permissions.iter().cloned().map(Permission).collect()
    }
}

/// A named set of permissions, held by clients and users.
pub struct Role(pub DomainRole);

#[Object]
impl Role {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        self.0.name.as_str()
    }
    #[graphql(complexity = "super::DESCRIPTION_COST")]
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn permissions(&self) -> Vec<String> {
        self.0.permissions.iter().map(ToString::to_string).collect()
    }
    /// Built-in roles cannot be changed or deleted.
    async fn builtin(&self) -> bool {
        self.0.builtin
    }
}

/// A console user. Never its password or the password's hash.
pub struct User(pub UserView);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.user.id.to_string())
    }
    async fn email(&self) -> String {
        self.0.user.email.to_string()
    }
    async fn name(&self) -> &str {
        self.0.user.name.as_str()
    }
    async fn status(&self) -> Status {
        self.0.user.status.into()
    }
    /// Role names; the user's permissions are their union.
    async fn roles(&self) -> Vec<String> {
        self.0.roles.iter().map(ToString::to_string).collect()
    }
    async fn created_at(&self) -> DateTime {
        self.0.user.created_at.into()
    }
    async fn updated_at(&self) -> DateTime {
        self.0.user.updated_at.into()
    }
}

/// A user's personal access token: what is known of it, never the token.
#[derive(SimpleObject)]
pub struct PersonalAccessToken {
    /// `pat_…x7Kq`.
    pub hint: String,
    pub created_at: DateTime,
    pub last_used_at: Option<DateTime>,
}

impl From<PersonalTokenInfo> for PersonalAccessToken {
    fn from(t: PersonalTokenInfo) -> Self {
        Self { hint: t.hint, created_at: t.created_at.into(), last_used_at: t.last_used_at.map(Into::into) }
    }
}

/// What kind of caller `me` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum CallerKind {
    Client,
    User,
}
