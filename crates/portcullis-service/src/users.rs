//! Console users: create (with a one-time generated password when none is
//! given), read, list, update (name, roles, status, password), delete.
//! A user's effective permissions are the union of its roles'.

use portcullis_domain::{
    Email, Event, Password, Role, RoleId, RoleName, Scope, User, UserId, UserName, UserStatus, now,
};
use portcullis_store::{Deletion, Update, UserCursor, UserPatch, UserQuery};
use serde_json::json;

use crate::{
    Actor, Caller, Result, RoleBook, Service, ServiceError,
    audit::{ChangeKind, FieldChanges, Subject, change_event},
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

/// The event of a user's change from `before` to `after` (roles as sorted
/// sets), if there is one: `user.enabled` / `user.disabled` when the status
/// changed, else `user.updated`; `password_set` adds the
/// `password_changed` flag (never the password nor its hash).
fn user_change_events(
    actor: &Actor,
    before: &User,
    after: &User,
    password_set: bool,
    roles: &[Role],
) -> Vec<Event> {
    let mut changes = FieldChanges::default();
    changes.field("name", before.name.as_str(), after.name.as_str());
    if before.roles != after.roles {
        changes.set("roles", &role_names(&before.roles, roles), &role_names(&after.roles, roles));
    }
    changes.field("status", before.status.as_str(), after.status.as_str());
    if password_set {
        changes.flag("password_changed");
    }
    if changes.is_empty() {
        return Vec::new();
    }
    let kind = match (changes.contains("status"), after.status) {
        (false, _) => ChangeKind::UserUpdated,
        (true, UserStatus::Enabled) => ChangeKind::UserEnabled,
        (true, UserStatus::Disabled) => ChangeKind::UserDisabled,
    };
    vec![change_event(actor, kind, Subject::User(after.id), Some(changes.into_details([])))]
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub name: UserName,
    pub roles: Vec<RoleName>,
    /// `None`: one is generated and returned once.
    pub password: Option<Password>,
}

#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub name: Option<UserName>,
    pub roles: Option<Vec<RoleName>>,
    pub status: Option<UserStatus>,
    pub password: Option<Password>,
}

/// A user as shown: the record and its roles' names. Never its password hash.
#[derive(Debug, Clone)]
pub struct UserView {
    pub user: User,
    pub roles: Vec<RoleName>,
}

fn user_view(book: &RoleBook, user: User) -> UserView {
    let roles = book.role_names(&user.roles);
    UserView { user, roles }
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
        Ok(user_view(&*self.role_book().await?, user))
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
        password: &Password,
        email: &Email,
        name: &UserName,
    ) -> Result<portcullis_domain::PasswordHash> {
        passwords::check(password.expose(), &[email.as_str(), name.as_str()])
            .map_err(ServiceError::WeakPassword)?;
        self.inner.passwords.hash(password).await
    }

    /// Creates a user; returns the generated password when none was given
    /// (shown once). The caller must hold every permission of its roles.
    pub async fn create_user(&self, caller: &Caller, new: NewUser) -> Result<(UserView, Option<Password>)> {
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
            version: 1,
        };
        let mut roles: Vec<&str> = new.roles.iter().map(RoleName::as_str).collect();
        roles.sort_unstable();
        roles.dedup();
        let details = json!({ "email": user.email.as_str(), "name": user.name.as_str(), "roles": roles });
        let event = change_event(actor, ChangeKind::UserCreated, Subject::User(user.id), Some(details));
        self.inner.stores.users.insert_user(&user, &[event]).await.map_err(|e| match e {
            portcullis_store::StoreError::Conflict("user_email_unique") => ServiceError::EmailTaken,
            other => other.into(),
        })?;
        self.inner.cache.invalidate();
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
            text: crate::paging::text_filter("q", req.text)?,
        };
        let found = self.inner.stores.users.list_users(&query).await?;
        let (found, next_cursor) = crate::paging::finish(found, limit, |u| (u.created_at, u.id));
        // The roles of the whole page from one read, never one per user.
        let book = self.role_book().await?;
        let items = found.into_iter().map(|user| user_view(&book, user)).collect();
        Ok(UserPage { items, next_cursor })
    }

    /// Disabling signs the user out everywhere and stops its personal access
    /// token at once. An update that changes nothing writes and records
    /// nothing; a password given is always a change (it ends every session).
    ///
    /// No escalation: any change needs every permission of the user's roles
    /// (and of the new ones, when it names them). Disabling included: users
    /// are how administrators get in, so a caller holding less than an
    /// admin must not be able to lock every admin out.
    pub async fn update_user(&self, caller: &Caller, id: UserId, update: UserUpdate) -> Result<UserView> {
        self.update_user_if(caller, id, update, None).await
    }

    /// [`update_user`](Self::update_user), refused with
    /// [`ServiceError::Stale`] (and nothing changed) unless the user is at
    /// `if_version`, when given (REST `If-Match`). Only what differs is
    /// written (the role rows added or removed, the password hash only when
    /// one is given), with the event, in one transaction.
    pub async fn update_user_if(
        &self,
        caller: &Caller,
        id: UserId,
        update: UserUpdate,
        if_version: Option<u64>,
    ) -> Result<UserView> {
        caller.may(crate::Operation::UpdateUser)?;
        let current = self.inner.stores.users.get_user(id).await?.ok_or(ServiceError::UserNotFound)?;
        self.check_user_update(caller, &current, &update).await?;
        // The escalation check read the user's roles: the write is pinned to
        // that version, so a change in between cannot slip past the check
        // (it answers as a stale edit).
        let if_version = caller.pin(if_version, current.version)?;
        let actor = &caller.actor;
        let roles = match &update.roles {
            Some(names) => Some(self.role_ids(names).await?),
            None => None,
        };
        let password_hash = match &update.password {
            Some(password) => {
                let name = update.name.as_ref().unwrap_or(&current.name);
                Some(self.checked_password_hash(password, &current.email, name).await?)
            }
            None => None,
        };
        let password_set = password_hash.is_some();
        let patch = UserPatch { name: update.name, status: update.status, roles, password_hash };
        let all_roles = self.inner.stores.roles.list_roles().await?;
        let events =
            |before: &User, after: &User| user_change_events(actor, before, after, password_set, &all_roles);
        let user = match self.inner.stores.users.update_user(id, &patch, if_version, now(), &events).await? {
            Update::Changed { after, .. } => after,
            Update::Unchanged(user) => return self.user_view(user).await,
            Update::NotFound => return Err(ServiceError::UserNotFound),
            Update::Stale(current) => {
                return Err(ServiceError::Stale {
                    expected: if_version.unwrap_or_default(),
                    current: current.version,
                });
            }
        };
        self.inner.cache.invalidate();
        if user.status == UserStatus::Disabled || password_set {
            // A new password or a disabled account ends every session.
            self.inner.stores.users.delete_user_sessions(id).await?;
        }
        tracing::info!(user_id = %id, "user updated");
        self.user_view(user).await
    }

    /// The caller must hold every permission of the user's roles.
    pub async fn delete_user(&self, caller: &Caller, id: UserId) -> Result<()> {
        self.delete_user_if(caller, id, None).await
    }

    /// [`delete_user`](Self::delete_user), refused with
    /// [`ServiceError::Stale`] (and nothing deleted) unless the user is at
    /// `if_version`, when given (REST `If-Match`).
    pub async fn delete_user_if(&self, caller: &Caller, id: UserId, if_version: Option<u64>) -> Result<()> {
        caller.may(crate::Operation::DeleteUser)?;
        let user = self.inner.stores.users.get_user(id).await?.ok_or(ServiceError::UserNotFound)?;
        caller.require_all(&self.roles_permissions(user.roles.iter().copied()).await?)?;
        let if_version = caller.pin(if_version, user.version)?;
        let actor = &caller.actor;
        let events = |user: &User| {
            let details = json!({ "email": user.email.as_str(), "name": user.name.as_str() });
            vec![change_event(actor, ChangeKind::UserDeleted, Subject::User(user.id), Some(details))]
        };
        match self.inner.stores.users.delete_user(id, if_version, &events).await? {
            Deletion::Deleted(_) => {}
            Deletion::NotFound => return Err(ServiceError::UserNotFound),
            Deletion::Stale(current) => {
                return Err(ServiceError::Stale {
                    expected: if_version.unwrap_or_default(),
                    current: current.version,
                });
            }
        }
        self.inner.cache.invalidate();
        tracing::info!(user_id = %id, "user deleted");
        Ok(())
    }

    /// No escalation in `update`: see [`Service::update_user`].
    async fn check_user_update(&self, caller: &Caller, before: &User, update: &UserUpdate) -> Result<()> {
        let new_roles = match &update.roles {
            Some(names) => Some(self.role_ids(names).await?),
            None => None,
        };
        let involved = before.roles.iter().copied().chain(new_roles.into_iter().flatten());
        caller.require_all(&self.roles_permissions(involved).await?)
    }

    /// The first administrator: only while there are no users at all.
    /// Returns the generated password when none was given.
    pub async fn create_first_admin(
        &self,
        caller: &Caller,
        email: Email,
        password: Option<Password>,
    ) -> Result<(UserView, Option<Password>)> {
        if self.inner.stores.users.count_users().await? > 0 {
            return Err(ServiceError::UsersExist);
        }
        let name = UserName::parse(email.as_str().split('@').next().unwrap_or("admin"))
            .map_err(ServiceError::invalid("name"))?;
        let admin = RoleName::parse("admin").map_err(ServiceError::invalid("roles"))?;
        self.create_user(caller, NewUser { email, name, roles: vec![admin], password }).await
    }
}
