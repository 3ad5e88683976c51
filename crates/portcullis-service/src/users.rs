//! Console users: create (with a one-time generated password when none is
//! given), read, list, update (name, roles, status, password), delete.
//! A user's effective permissions are the union of its roles'.

use portcullis_domain::{Email, Role, RoleId, RoleName, Scope, User, UserId, UserName, UserStatus, now};
use portcullis_store::{UserCursor, UserQuery};
use serde_json::json;

use crate::{
    Caller, Result, Service, ServiceError,
    audit::{ChangeKind, FieldChanges, Subject},
    passwords,
};

/// The names of the roles with these ids (an id no longer known, by itself).
fn role_names(ids: &[RoleId], roles: &[Role]) -> Vec<String> {
    let mut names: Vec<String> = ids
        .iter()
        .map(|id| roles.iter().find(|r| r.id == *id).map_or_else(|| id.to_string(), |r| r.name.to_string()))
        .collect();
    names.sort();
    names
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub name: UserName,
    pub roles: Vec<RoleName>,
    /// `None`: one is generated and returned once.
    pub password: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub name: Option<UserName>,
    pub roles: Option<Vec<RoleName>>,
    pub status: Option<UserStatus>,
    pub password: Option<String>,
}

/// A user as shown: the record and its roles' names. Never its password hash.
#[derive(Debug, Clone)]
pub struct UserView {
    pub user: User,
    pub roles: Vec<RoleName>,
}

#[derive(Debug, Clone)]
pub struct UserPage {
    pub items: Vec<UserView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ListUsers {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    pub status: Option<UserStatus>,
    pub text: Option<String>,
}

impl Service {
    async fn role_ids(&self, names: &[RoleName]) -> Result<Vec<RoleId>> {
        if names.is_empty() {
            return Err(ServiceError::NoRoles);
        }
        let roles = self.inner.stores.roles.list_roles().await?;
        let mut ids = names
            .iter()
            .map(|n| {
                roles
                    .iter()
                    .find(|r| &r.name == n)
                    .map(|r| r.id)
                    .ok_or_else(|| ServiceError::RoleNotFound(n.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    pub(crate) async fn user_view(&self, user: User) -> Result<UserView> {
        let all = self.inner.stores.roles.list_roles().await?;
        let roles = all.iter().filter(|r| user.roles.contains(&r.id)).map(|r| r.name.clone()).collect();
        Ok(UserView { user, roles })
    }

    /// The union of the user's roles' permissions.
    pub async fn user_scope(&self, user: &User) -> Result<Scope> {
        let generation = self.inner.cache.generation()?;
        let mut permissions = Vec::new();
        for id in &user.roles {
            if let Some(role) =
                self.inner.cache.role(generation, self.inner.stores.roles.as_ref(), *id).await?
            {
                permissions.extend(role.permissions.iter().cloned());
            }
        }
        Ok(permissions.into_iter().collect())
    }

    async fn checked_password_hash(
        &self,
        password: &str,
        email: &Email,
        name: &UserName,
    ) -> Result<portcullis_domain::PasswordHash> {
        passwords::check(password, &[email.as_str(), name.as_str()]).map_err(ServiceError::WeakPassword)?;
        passwords::hash(password).await
    }

    /// Creates a user; returns the generated password when none was given
    /// (shown once). The caller must hold every permission of its roles.
    pub async fn create_user(&self, caller: &Caller, new: NewUser) -> Result<(UserView, Option<String>)> {
        caller.may(crate::Operation::CreateUser)?;
        let roles = self.role_ids(&new.roles).await?;
        caller.require_all(&self.roles_permissions(roles.iter().copied()).await?)?;
        let actor = &caller.actor;
        let (password, generated) = match new.password {
            Some(p) => (p, None),
            None => {
                let p = passwords::generate();
                (p.clone(), Some(p))
            }
        };
        let password_hash = self.checked_password_hash(&password, &new.email, &new.name).await?;
        let at = now();
        let user = User {
            id: UserId::generate(),
            email: new.email,
            name: new.name,
            status: UserStatus::Enabled,
            roles,
            password_hash: Some(password_hash),
            created_at: at,
            updated_at: at,
        };
        self.inner.stores.users.insert_user(&user).await.map_err(|e| match e {
            portcullis_store::StoreError::Conflict("user_email_unique") => ServiceError::EmailTaken,
            other => other.into(),
        })?;
        self.inner.cache.invalidate();
        let mut roles: Vec<&str> = new.roles.iter().map(RoleName::as_str).collect();
        roles.sort_unstable();
        roles.dedup();
        let details = json!({ "email": user.email.as_str(), "name": user.name.as_str(), "roles": roles });
        self.audit(actor, ChangeKind::UserCreated, Subject::User(user.id), Some(details));
        tracing::info!(user_id = %user.id, "user created");
        Ok((self.user_view(user).await?, generated))
    }

    pub async fn get_user(&self, caller: &Caller, id: UserId) -> Result<UserView> {
        caller.may(crate::Operation::ReadUsers)?;
        self.user_by_id(id).await
    }

    /// The calling user itself (`me`): no permission needed. `UserNotFound`
    /// when the caller is not a user.
    pub async fn caller_user(&self, caller: &Caller) -> Result<UserView> {
        match caller.actor {
            crate::Actor::User(id) => self.user_by_id(id).await,
            _ => Err(ServiceError::UserNotFound),
        }
    }

    async fn user_by_id(&self, id: UserId) -> Result<UserView> {
        let user = self.inner.stores.users.get_user(id).await?.ok_or(ServiceError::UserNotFound)?;
        self.user_view(user).await
    }

    pub async fn list_users(&self, caller: &Caller, req: ListUsers) -> Result<UserPage> {
        caller.may(crate::Operation::ReadUsers)?;
        let limit = crate::paging::page_size(req.limit);
        let query = UserQuery {
            after: req
                .cursor
                .as_deref()
                .map(crate::paging::decode_cursor)
                .transpose()?
                .map(|(created_at, id)| UserCursor { created_at, id }),
            limit: limit + 1,
            status: req.status,
            text: req.text.filter(|t| !t.is_empty()),
        };
        let found = self.inner.stores.users.list_users(&query).await?;
        let (found, next_cursor) = crate::paging::finish(found, limit, |u| (u.created_at, u.id));
        let mut items = Vec::with_capacity(found.len());
        for user in found {
            items.push(self.user_view(user).await?);
        }
        Ok(UserPage { items, next_cursor })
    }

    /// Disabling signs the user out everywhere and stops its personal access
    /// token at once. An update that changes nothing writes and records
    /// nothing; a password given is always a change (it ends every session).
    ///
    /// Changing the roles needs every permission of the old and the new
    /// ones; setting the password or enabling, every permission of the
    /// user's roles (before and after). Renaming and disabling need none.
    pub async fn update_user(&self, caller: &Caller, id: UserId, update: UserUpdate) -> Result<UserView> {
        caller.may(crate::Operation::UpdateUser)?;
        let before = self.inner.stores.users.get_user(id).await?.ok_or(ServiceError::UserNotFound)?;
        self.check_user_update(caller, &before, &update).await?;
        let actor = &caller.actor;
        let mut user = before.clone();
        if let Some(name) = update.name {
            user.name = name;
        }
        let mut roles_changed = None;
        if let Some(roles) = &update.roles {
            let ids = self.role_ids(roles).await?;
            let mut current = before.roles.clone();
            current.sort();
            current.dedup();
            // The same set in another order is no change.
            if ids != current {
                let all = self.inner.stores.roles.list_roles().await?;
                roles_changed = Some((role_names(&before.roles, &all), role_names(&ids, &all)));
                user.roles = ids;
            }
        }
        if let Some(status) = update.status {
            user.status = status;
        }
        if let Some(password) = &update.password {
            user.password_hash = Some(self.checked_password_hash(password, &user.email, &user.name).await?);
        }
        if user == before {
            return self.user_view(user).await;
        }
        user.updated_at = now();
        if !self.inner.stores.users.update_user(&user).await? {
            return Err(ServiceError::UserNotFound);
        }
        self.inner.cache.invalidate();
        let mut changes = FieldChanges::default();
        changes.field("name", before.name.as_str(), user.name.as_str());
        if let Some((from, to)) = &roles_changed {
            changes.set("roles", from, to);
        }
        changes.field("status", before.status.as_str(), user.status.as_str());
        if update.password.is_some() {
            // Never the password nor its hash: only that it changed.
            changes.flag("password_changed");
        }
        let kind = match (changes.contains("status"), user.status) {
            (false, _) => ChangeKind::UserUpdated,
            (true, UserStatus::Enabled) => ChangeKind::UserEnabled,
            (true, UserStatus::Disabled) => ChangeKind::UserDisabled,
        };
        if !changes.is_empty() {
            self.audit(actor, kind, Subject::User(id), Some(changes.into_details([])));
        }
        if user.status == UserStatus::Disabled || update.password.is_some() {
            // A new password or a disabled account ends every session.
            self.inner.stores.users.delete_user_sessions(id).await?;
        }
        tracing::info!(user_id = %id, "user updated");
        self.user_view(user).await
    }

    /// The caller must hold every permission of the user's roles.
    pub async fn delete_user(&self, caller: &Caller, id: UserId) -> Result<()> {
        caller.may(crate::Operation::DeleteUser)?;
        let user = self.inner.stores.users.get_user(id).await?.ok_or(ServiceError::UserNotFound)?;
        caller.require_all(&self.roles_permissions(user.roles.iter().copied()).await?)?;
        let actor = &caller.actor;
        if !self.inner.stores.users.delete_user(id).await? {
            return Err(ServiceError::UserNotFound);
        }
        self.inner.cache.invalidate();
        let details = json!({ "email": user.email.as_str(), "name": user.name.as_str() });
        self.audit(actor, ChangeKind::UserDeleted, Subject::User(id), Some(details));
        tracing::info!(user_id = %id, "user deleted");
        Ok(())
    }

    /// No escalation in `update`: see [`Service::update_user`].
    async fn check_user_update(&self, caller: &Caller, before: &User, update: &UserUpdate) -> Result<()> {
        let new_roles = match &update.roles {
            Some(names) => Some(self.role_ids(names).await?),
            None => None,
        };
        let mut current = before.roles.clone();
        current.sort();
        current.dedup();
        let roles_change = new_roles.as_ref().is_some_and(|ids| *ids != current);
        let acts = update.password.is_some() || update.status == Some(UserStatus::Enabled);
        if !roles_change && !acts {
            return Ok(());
        }
        let involved = current.into_iter().chain(new_roles.into_iter().flatten());
        caller.require_all(&self.roles_permissions(involved).await?)
    }

    /// The first administrator: only while there are no users at all.
    /// Returns the generated password when none was given.
    pub async fn create_first_admin(
        &self,
        caller: &Caller,
        email: Email,
        password: Option<String>,
    ) -> Result<(UserView, Option<String>)> {
        if self.inner.stores.users.count_users().await? > 0 {
            return Err(ServiceError::UsersExist);
        }
        let name = UserName::parse(email.as_str().split('@').next().unwrap_or("admin"))
            .map_err(ServiceError::invalid("name"))?;
        let admin = RoleName::parse("admin").map_err(ServiceError::invalid("roles"))?;
        self.create_user(caller, NewUser { email, name, roles: vec![admin], password }).await
    }
}
