//! Every change the REST API makes, with the same permission and through
//! the same service function; the REST request types check the input, so
//! a field is refused for the same reason in both.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use portcullis_domain::{ClientSecret, Password, PersonalTokenSecret};
use portcullis_service::{BulkAction, BulkSummary, Operation};

use super::{
    errors::OrGraphql,
    issued, parse_id, service, shown,
    types::{Client, PersonalAccessToken, Role, User},
};
use crate::api::{
    clients::{
        CreateClientRequest, Status, UpdateClientRequest,
        bulk::{Action, Outcome, Summary, client_ids},
    },
    roles::{CreatePermissionRequest, CreateRoleRequest, UpdateRoleRequest, permission_name},
    users::{CreateUserRequest, UpdateUserRequest},
};

pub struct Mutation;

/// Absent leaves a field as it is; `null` clears `description` and `role`.
#[derive(InputObject)]
pub struct UpdateClientInput {
    pub name: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    pub role: MaybeUndefined<String>,
    pub access_token_ttl_seconds: MaybeUndefined<i64>,
    /// `DISABLED` stops its tokens and token requests at once.
    pub status: MaybeUndefined<Status>,
}

pub struct CreateClientPayload {
    pub client: Client,
    pub client_secret: ClientSecret,
}

/// The new client and its secret: shown this once.
#[Object]
impl CreateClientPayload {
    async fn client(&self) -> &Client {
        &self.client
    }
    async fn client_secret(&self, ctx: &Context<'_>) -> &str {
        shown(ctx, &self.client_secret)
    }
}

pub struct RegenerateClientSecretPayload {
    pub client: Client,
    pub client_secret: ClientSecret,
}

/// The client and its new secret, shown this once; the old one stopped working.
#[Object]
impl RegenerateClientSecretPayload {
    async fn client(&self) -> &Client {
        &self.client
    }
    async fn client_secret(&self, ctx: &Context<'_>) -> &str {
        shown(ctx, &self.client_secret)
    }
}

/// An access token, as `/oauth2/token` answers.
#[derive(SimpleObject)]
pub struct AccessToken {
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    pub expires_in: u32,
    /// Space-separated permissions; null when none.
    pub scope: Option<String>,
}

#[derive(SimpleObject)]
pub struct BulkResultItem {
    pub client_id: ID,
    pub result: Outcome,
}

#[derive(SimpleObject)]
pub struct BulkPayload {
    pub action: Action,
    /// One per distinct listed id, in the order given.
    pub results: Vec<BulkResultItem>,
    pub summary: Summary,
}

#[derive(SimpleObject)]
pub struct RotatedKey {
    /// The key that signs new tokens from now on (it was published, as the
    /// next key, before the rotation).
    pub kid: String,
}

#[derive(SimpleObject)]
pub struct RevokedKey {
    pub kid: String,
    /// The state the key had: `next`, `current` or `previous`.
    pub state: String,
}

pub struct CreateUserPayload {
    pub user: User,
    pub password: Option<Password>,
}

#[Object]
impl CreateUserPayload {
    async fn user(&self) -> &User {
        &self.user
    }
    /// Only when the server generated it: shown this once.
    async fn password(&self, ctx: &Context<'_>) -> Option<&str> {
        self.password.as_ref().map(|password| shown(ctx, password))
    }
}

pub struct RotatePersonalAccessTokenPayload {
    pub token: PersonalTokenSecret,
    pub personal_access_token: PersonalAccessToken,
}

#[Object]
impl RotatePersonalAccessTokenPayload {
    /// Shown this once. The previous token, if any, stopped working.
    async fn token(&self, ctx: &Context<'_>) -> &str {
        shown(ctx, &self.token)
    }
    async fn personal_access_token(&self) -> &PersonalAccessToken {
        &self.personal_access_token
    }
}

async fn bulk(ctx: &Context<'_>, action: Action, ids: &[ID]) -> Result<BulkPayload> {
    let caller = super::caller(ctx)?;
    caller.may(Operation::BulkClients)?;
    let ids = client_ids(ids).gql()?;
    let items = service(ctx)?.bulk_clients(&caller.service(), BulkAction::from(action), &ids).await.gql()?;
    Ok(BulkPayload {
        action,
        results: items
            .iter()
            .map(|item| BulkResultItem {
                client_id: ID(item.client_id.to_string()),
                result: item.result.into(),
            })
            .collect(),
        summary: BulkSummary::of(&items).into(),
    })
}

#[Object]
impl Mutation {
    /// Create a client (`clients:write`, and every permission of its role:
    /// else `ESCALATION`); the payload holds its secret, shown this once.
    async fn create_client(
        &self,
        ctx: &Context<'_>,
        input: CreateClientRequest,
    ) -> Result<Option<CreateClientPayload>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::CreateClient)?;
        let new = input.into_new().gql()?;
        let (view, secret) = service(ctx)?.create_client(&caller.service(), new).await.gql()?;
        Ok(Some(CreateClientPayload { client: Client::from(view), client_secret: secret }))
    }

    /// Change a client's name, description, role, token lifetime or status
    /// (`clients:write`; anything but disabling also needs every permission
    /// of the client's role, and a new role every one of it: else
    /// `ESCALATION`).
    async fn update_client(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateClientInput,
    ) -> Result<Option<Client>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::UpdateClient)?;
        let id = parse_id("id", &id)?;
        let update = UpdateClientRequest {
            name: input.name.into(),
            description: input.description.into(),
            role: input.role.into(),
            access_token_ttl_seconds: input.access_token_ttl_seconds.into(),
            status: input.status.into(),
        }
        .into_update()
        .gql()?;
        Ok(Some(Client::from(service(ctx)?.update_client(&caller.service(), id, update).await.gql()?)))
    }

    /// Delete a client for good (`clients:write`, and every permission of its
    /// role); answers its id.
    async fn delete_client(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ID>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::DeleteClient)?;
        service(ctx)?.delete_client(&caller.service(), parse_id("id", &id)?).await.gql()?;
        Ok(Some(id))
    }

    /// Delete up to 1,000 clients in one transaction (`clients:write`, and
    /// every permission of every listed client's role: else nothing changes).
    async fn delete_clients(&self, ctx: &Context<'_>, client_ids: Vec<ID>) -> Result<Option<BulkPayload>> {
        bulk(ctx, Action::Delete, &client_ids).await.map(Some)
    }

    /// Enable or disable up to 1,000 clients in one transaction
    /// (`clients:write`; enabling also needs every permission of every listed
    /// client's role: else nothing changes).
    async fn set_clients_enabled(
        &self,
        ctx: &Context<'_>,
        client_ids: Vec<ID>,
        enabled: bool,
    ) -> Result<Option<BulkPayload>> {
        let action = if enabled { Action::Enable } else { Action::Disable };
        bulk(ctx, action, &client_ids).await.map(Some)
    }

    /// Replace a client's secret (`clients:secrets`, and every permission of
    /// its role): the old one stops
    /// working at once; tokens already issued stay valid until they expire.
    async fn regenerate_client_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<RegenerateClientSecretPayload>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::RegenerateClientSecret)?;
        let id = parse_id("id", &id)?;
        let (view, secret) = service(ctx)?.regenerate_client_secret(&caller.service(), id).await.gql()?;
        Ok(Some(RegenerateClientSecretPayload { client: Client::from(view), client_secret: secret }))
    }

    /// Issue an access token for a client (`tokens:issue`, and every
    /// permission of its role), as the console's
    /// "Generate access token" button does. `scope`: space-separated
    /// permissions, a subset of the client's role; all of them when absent.
    async fn issue_access_token(
        &self,
        ctx: &Context<'_>,
        client_id: ID,
        scope: Option<String>,
    ) -> Result<Option<AccessToken>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::IssueClientToken)?;
        let id = parse_id("clientId", &client_id)?;
        let token =
            service(ctx)?.issue_token_for_client(&caller.service(), id, scope.as_deref()).await.gql()?;
        issued(ctx, &token.access_token);
        Ok(Some(AccessToken {
            access_token: token.access_token,
            token_type: "Bearer".to_owned(),
            expires_in: token.expires_in,
            scope: (!token.scope.is_empty()).then(|| token.scope.to_string()),
        }))
    }

    /// Revoke every token the client holds now, keeping its secret (`clients:write`).
    async fn revoke_client_tokens(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Client>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::RevokeClientTokens)?;
        let id = parse_id("id", &id)?;
        Ok(Some(Client::from(service(ctx)?.revoke_client_tokens(&caller.service(), id).await.gql()?)))
    }

    /// Rotate the signing keys: the pre-published next key signs from now on
    /// and a new next key is published (`keys:write`).
    async fn rotate_signing_key(&self, ctx: &Context<'_>) -> Result<Option<RotatedKey>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::RotateSigningKey)?;
        Ok(Some(RotatedKey { kid: service(ctx)?.rotate_signing_key(&caller.service()).await.gql()? }))
    }

    /// Withdraw a signing key at once: it leaves the JWKS and the tokens it
    /// signed stop validating; a revoked current key is replaced by the next
    /// one (`keys:write`).
    async fn revoke_signing_key(&self, ctx: &Context<'_>, kid: String) -> Result<Option<RevokedKey>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::RevokeSigningKey)?;
        let state = service(ctx)?.revoke_signing_key(&caller.service(), &kid).await.gql()?;
        Ok(Some(RevokedKey { kid, state: state.as_str().to_owned() }))
    }

    /// Define a permission for an API you protect (`roles:write`).
    async fn create_permission(
        &self,
        ctx: &Context<'_>,
        input: CreatePermissionRequest,
    ) -> Result<Option<super::types::Permission>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::CreatePermission)?;
        let name = permission_name("name", &input.name).gql()?;
        let created =
            service(ctx)?.create_permission(&caller.service(), name, &input.description).await.gql()?;
        Ok(Some(super::types::Permission(created)))
    }

    /// Change a permission's description (`roles:write`, and the permission
    /// itself: else `ESCALATION`; built-ins cannot be changed).
    async fn update_permission(
        &self,
        ctx: &Context<'_>,
        name: String,
        description: String,
    ) -> Result<Option<super::types::Permission>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::UpdatePermission)?;
        let name = permission_name("name", &name).gql()?;
        let updated = service(ctx)?.update_permission(&caller.service(), &name, &description).await.gql()?;
        Ok(Some(super::types::Permission(updated)))
    }

    /// Delete a permission (`roles:write`, and the permission itself):
    /// refused while roles use it (`IN_USE`, listing them), unless `cascade`
    /// removes it from them too (then every permission of those roles is
    /// needed as well).
    /// Answers its name.
    async fn delete_permission(
        &self,
        ctx: &Context<'_>,
        name: String,
        #[graphql(default)] cascade: bool,
    ) -> Result<Option<String>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::DeletePermission)?;
        let parsed = permission_name("name", &name).gql()?;
        service(ctx)?.delete_permission(&caller.service(), &parsed, cascade).await.gql()?;
        Ok(Some(name))
    }

    /// Create a role from existing permissions (`roles:write`, and every one
    /// of them: else `ESCALATION`).
    async fn create_role(&self, ctx: &Context<'_>, input: CreateRoleRequest) -> Result<Option<Role>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::CreateRole)?;
        let new = input.into_new().gql()?;
        Ok(Some(Role(service(ctx)?.create_role(&caller.service(), new).await.gql()?)))
    }

    /// Rename a role, change its description or replace its permissions
    /// (`roles:write`, and every permission of the role; replacing them,
    /// every one of the new set too: else `ESCALATION`).
    async fn update_role(&self, ctx: &Context<'_>, id: ID, input: UpdateRoleRequest) -> Result<Option<Role>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::UpdateRole)?;
        let id = parse_id("id", &id)?;
        let update = input.into_update().gql()?;
        Ok(Some(Role(service(ctx)?.update_role(&caller.service(), id, update).await.gql()?)))
    }

    /// Delete a role (`roles:write`, and every permission of it): refused
    /// for built-ins and while clients or users hold it. Answers its id.
    async fn delete_role(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ID>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::DeleteRole)?;
        service(ctx)?.delete_role(&caller.service(), parse_id("id", &id)?).await.gql()?;
        Ok(Some(id))
    }

    /// Create a console user (`users:write`, and every permission of its roles).
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        input: CreateUserRequest,
    ) -> Result<Option<CreateUserPayload>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::CreateUser)?;
        let new = input.into_new().gql()?;
        let (view, password) = service(ctx)?.create_user(&caller.service(), new).await.gql()?;
        Ok(Some(CreateUserPayload { user: User(view), password }))
    }

    /// Change a user's name, roles, status or password (`users:write`, and
    /// every permission of the user's roles, new roles' too, for any change,
    /// disabling included: else `ESCALATION`).
    async fn update_user(&self, ctx: &Context<'_>, id: ID, input: UpdateUserRequest) -> Result<Option<User>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::UpdateUser)?;
        let id = parse_id("id", &id)?;
        let update = input.into_update().gql()?;
        Ok(Some(User(service(ctx)?.update_user(&caller.service(), id, update).await.gql()?)))
    }

    /// Delete a console user (`users:write`, and every permission of its
    /// roles). Answers its id.
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ID>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::DeleteUser)?;
        service(ctx)?.delete_user(&caller.service(), parse_id("id", &id)?).await.gql()?;
        Ok(Some(id))
    }

    /// Revoke a user's personal access token without a replacement
    /// (`users:write`, and every permission of the user's roles); `NOT_FOUND`
    /// when the user does not exist or has none.
    /// Answers the user's id.
    async fn revoke_user_personal_access_token(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ID>> {
        let caller = super::caller(ctx)?;
        caller.may(Operation::RevokeUserPersonalToken)?;
        service(ctx)?.revoke_user_personal_token(&caller.service(), parse_id("id", &id)?).await.gql()?;
        Ok(Some(id))
    }

    /// Create the calling user's personal access token, revoking the
    /// current one in the same step: exactly one is valid afterwards.
    async fn rotate_personal_access_token(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<RotatePersonalAccessTokenPayload>> {
        let caller = super::caller(ctx)?;
        let user = caller.user().gql()?;
        let (info, secret) = service(ctx)?.rotate_personal_token(&caller.actor(), user.id).await.gql()?;
        Ok(Some(RotatePersonalAccessTokenPayload { token: secret, personal_access_token: info.into() }))
    }

    /// Revoke the calling user's personal access token without a
    /// replacement; `NOT_FOUND` when there is none.
    async fn revoke_personal_access_token(&self, ctx: &Context<'_>) -> Result<Option<bool>> {
        let caller = super::caller(ctx)?;
        let user = caller.user().gql()?;
        service(ctx)?.revoke_personal_token(&caller.actor(), user.id).await.gql()?;
        Ok(Some(true))
    }
}
