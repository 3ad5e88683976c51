//! Targeted changes: what a change sets, what it did, and the plan both SQL
//! backends follow inside their one transaction (read the row locked, check
//! the version, write only the columns that differ, insert the change
//! events, commit).

use portcullis_domain::{
    ApiClient, ClientName, ClientStatus, Description, Event, PasswordHash, Permission, PermissionName, Role,
    RoleId, RoleName, SecretHash, Timestamp, TokenTtl, User, UserName, UserStatus,
};

/// Builds the change events of a change from the record before and after
/// it; the store inserts them in the transaction of the change, so an
/// acknowledged change always has its events and a failed insert undoes
/// the change.
pub type ChangeEvents<'a, T> = &'a (dyn Fn(&T, &T) -> Vec<Event> + Send + Sync);

/// Builds the events of a deletion from the record deleted.
pub type DeleteEvents<'a, T> = &'a (dyn Fn(&T) -> Vec<Event> + Send + Sync);

/// Builds the events of a permission's deletion from the roles it was
/// removed from (read in the transaction of the deletion).
pub type PermissionDeleteEvents<'a> = &'a (dyn Fn(&[RoleName]) -> Vec<Event> + Send + Sync);

/// What a targeted update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update<T> {
    /// Written (with its events), version one more than before.
    Changed { before: T, after: T },
    /// The patch matched what is stored: nothing written, no events.
    Unchanged(T),
    /// No such record.
    NotFound,
    /// The version precondition failed: nothing written. The record as stored.
    Stale(T),
}

impl<T> Update<T> {
    /// The record is stored (changed or not), whatever its version was.
    pub fn found(&self) -> bool {
        matches!(self, Self::Changed { .. } | Self::Unchanged(_))
    }
}

/// What a deletion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion<T> {
    /// Deleted (with its events); the record as it was.
    Deleted(T),
    NotFound,
    /// The version precondition failed: nothing deleted. The record as stored.
    Stale(T),
}

impl<T> Deletion<T> {
    pub fn is_deleted(&self) -> bool {
        matches!(self, Self::Deleted(_))
    }
}

/// The fields of a client a change sets; `None` leaves one as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientPatch {
    pub name: Option<ClientName>,
    /// `Some(None)` clears it.
    pub description: Option<Option<Description>>,
    pub status: Option<ClientStatus>,
    /// `Some(None)` clears it.
    pub role_id: Option<Option<RoleId>>,
    pub token_ttl: Option<TokenTtl>,
    pub secret_hash: Option<SecretHash>,
    /// Moves the stored instant forward, never back: of two racing
    /// revocations the later instant stays, whichever commits last.
    pub tokens_valid_after: Option<Timestamp>,
}

/// A column of `api_clients` a change may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientField {
    /// `name` and `name_lower`.
    Name,
    Description,
    Status,
    Role,
    TokenTtl,
    SecretHash,
    TokensValidAfter,
}

impl ClientPatch {
    /// `client` with the patch applied; `updated_at` and `version` untouched.
    pub fn apply(&self, client: &ApiClient) -> ApiClient {
        let mut c = client.clone();
        if let Some(name) = &self.name {
            c.name = name.clone();
        }
        if let Some(description) = &self.description {
            c.description = description.clone();
        }
        if let Some(status) = self.status {
            c.status = status;
        }
        if let Some(role_id) = self.role_id {
            c.role_id = role_id;
        }
        if let Some(ttl) = self.token_ttl {
            c.token_ttl = ttl;
        }
        if let Some(hash) = &self.secret_hash {
            c.secret_hash = *hash;
        }
        if let Some(at) = self.tokens_valid_after {
            c.tokens_valid_after = Some(c.tokens_valid_after.map_or(at, |stored| stored.max(at)));
        }
        c
    }
}

/// The columns in which `after` differs from `before`.
pub fn client_fields(before: &ApiClient, after: &ApiClient) -> Vec<ClientField> {
    let mut fields = Vec::new();
    let mut note = |differs: bool, field| {
        if differs {
            fields.push(field);
        }
    };
    note(before.name != after.name, ClientField::Name);
    note(before.description != after.description, ClientField::Description);
    note(before.status != after.status, ClientField::Status);
    note(before.role_id != after.role_id, ClientField::Role);
    note(before.token_ttl != after.token_ttl, ClientField::TokenTtl);
    note(before.secret_hash != after.secret_hash, ClientField::SecretHash);
    note(before.tokens_valid_after != after.tokens_valid_after, ClientField::TokensValidAfter);
    fields
}

/// What a backend does with the row it read (locked) for an update.
#[derive(Debug)]
pub enum Plan<T, F> {
    /// Nothing to write: answer this.
    Answer(Update<T>),
    /// Write `fields` of `after` (plus `updated_at` and `version`), insert the
    /// events of `before` → `after`, commit, answer `Changed`.
    Write { before: T, after: T, fields: Vec<F> },
}

/// The plan for a client update of the row `stored` (as read, locked).
pub fn plan_client_update(
    stored: Option<ApiClient>,
    patch: &ClientPatch,
    if_version: Option<u64>,
    at: Timestamp,
) -> Plan<ApiClient, ClientField> {
    let Some(before) = stored else { return Plan::Answer(Update::NotFound) };
    if if_version.is_some_and(|v| v != before.version) {
        return Plan::Answer(Update::Stale(before));
    }
    let mut after = patch.apply(&before);
    let fields = client_fields(&before, &after);
    if fields.is_empty() {
        return Plan::Answer(Update::Unchanged(before));
    }
    after.updated_at = at;
    after.version = before.version + 1;
    Plan::Write { before, after, fields }
}

/// What a backend does with the row it read (locked) for a deletion.
#[derive(Debug)]
pub enum DeletionPlan<T> {
    /// Nothing to delete: answer this.
    Answer(Deletion<T>),
    /// Delete this record, insert its events, commit, answer `Deleted`.
    Delete(T),
}

/// The plan for a deletion of the row `stored` (as read, locked), checking
/// `if_version` (when given) against `version` of it.
pub fn plan_deletion<T>(
    stored: Option<T>,
    version: impl Fn(&T) -> u64,
    if_version: Option<u64>,
) -> DeletionPlan<T> {
    match stored {
        None => DeletionPlan::Answer(Deletion::NotFound),
        Some(t) if if_version.is_some_and(|v| v != version(&t)) => DeletionPlan::Answer(Deletion::Stale(t)),
        Some(t) => DeletionPlan::Delete(t),
    }
}

/// The plan for setting the description of the permission `stored` (as
/// read, locked). Permissions have no version: never `Stale`.
pub fn plan_permission_update(
    stored: Option<Permission>,
    description: &str,
) -> Plan<Permission, PermissionField> {
    let Some(before) = stored else { return Plan::Answer(Update::NotFound) };
    if before.description == description {
        return Plan::Answer(Update::Unchanged(before));
    }
    let after = Permission { description: description.to_owned(), ..before.clone() };
    Plan::Write { before, after, fields: vec![PermissionField::Description] }
}

/// A column of `permissions` a change may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionField {
    Description,
}

/// The fields of a role a change sets; `None` leaves one as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolePatch {
    pub name: Option<RoleName>,
    pub description: Option<String>,
    /// The whole new set (any order, duplicates ignored); the store
    /// inserts and deletes only the rows that differ.
    pub permissions: Option<Vec<PermissionName>>,
}

impl RolePatch {
    /// `role` with the patch applied (permissions sorted, without
    /// duplicates); `version` untouched.
    pub fn apply(&self, role: &Role) -> Role {
        let mut r = role.clone();
        r.permissions = sorted_set(&r.permissions);
        if let Some(name) = &self.name {
            r.name = name.clone();
        }
        if let Some(description) = &self.description {
            r.description = description.clone();
        }
        if let Some(permissions) = &self.permissions {
            r.permissions = sorted_set(permissions);
        }
        r
    }
}

/// A column (or the permission set) of a role a change may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleField {
    Name,
    Description,
    /// Rows of `role_permissions` to insert and to delete.
    Permissions {
        added: Vec<PermissionName>,
        removed: Vec<PermissionName>,
    },
}

/// The fields of a user a change sets; `None` leaves one as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    pub name: Option<UserName>,
    pub status: Option<UserStatus>,
    /// The whole new set (any order, duplicates ignored); the store
    /// inserts and deletes only the rows of `user_roles` that differ.
    pub roles: Option<Vec<RoleId>>,
    /// Written only when set (a new hash is always a change).
    pub password_hash: Option<PasswordHash>,
}

impl UserPatch {
    /// `user` with the patch applied (roles sorted, without duplicates);
    /// `updated_at` and `version` untouched.
    pub fn apply(&self, user: &User) -> User {
        let mut u = user.clone();
        u.roles = sorted_set(&u.roles);
        if let Some(name) = &self.name {
            u.name = name.clone();
        }
        if let Some(status) = self.status {
            u.status = status;
        }
        if let Some(roles) = &self.roles {
            u.roles = sorted_set(roles);
        }
        if let Some(hash) = &self.password_hash {
            u.password_hash = Some(hash.clone());
        }
        u
    }
}

/// A column (or the role set) of a user a change may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserField {
    /// `name` and `name_lower`.
    Name,
    Status,
    PasswordHash,
    /// Rows of `user_roles` to insert and to delete.
    Roles {
        added: Vec<RoleId>,
        removed: Vec<RoleId>,
    },
}

pub(crate) fn sorted_set<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    let mut items = items.to_vec();
    items.sort();
    items.dedup();
    items
}

/// What is in `after` and not in `before`, and the reverse (both sorted sets).
pub(crate) fn set_changes<T: Ord + Clone>(before: &[T], after: &[T]) -> (Vec<T>, Vec<T>) {
    let added = after.iter().filter(|x| before.binary_search(x).is_err()).cloned().collect();
    let removed = before.iter().filter(|x| after.binary_search(x).is_err()).cloned().collect();
    (added, removed)
}

/// The plan for a role update of the row `stored` (as read, locked).
pub fn plan_role_update(
    stored: Option<Role>,
    patch: &RolePatch,
    if_version: Option<u64>,
) -> Plan<Role, RoleField> {
    let Some(mut before) = stored else { return Plan::Answer(Update::NotFound) };
    if if_version.is_some_and(|v| v != before.version) {
        return Plan::Answer(Update::Stale(before));
    }
    before.permissions = sorted_set(&before.permissions);
    let mut after = patch.apply(&before);
    let mut fields = Vec::new();
    if before.name != after.name {
        fields.push(RoleField::Name);
    }
    if before.description != after.description {
        fields.push(RoleField::Description);
    }
    let (added, removed) = set_changes(&before.permissions, &after.permissions);
    if !added.is_empty() || !removed.is_empty() {
        fields.push(RoleField::Permissions { added, removed });
    }
    if fields.is_empty() {
        return Plan::Answer(Update::Unchanged(before));
    }
    after.version = before.version + 1;
    Plan::Write { before, after, fields }
}

/// The plan for a user update of the row `stored` (as read, locked).
pub fn plan_user_update(
    stored: Option<User>,
    patch: &UserPatch,
    if_version: Option<u64>,
    at: Timestamp,
) -> Plan<User, UserField> {
    let Some(mut before) = stored else { return Plan::Answer(Update::NotFound) };
    if if_version.is_some_and(|v| v != before.version) {
        return Plan::Answer(Update::Stale(before));
    }
    before.roles = sorted_set(&before.roles);
    let mut after = patch.apply(&before);
    let mut fields = Vec::new();
    if before.name != after.name {
        fields.push(UserField::Name);
    }
    if before.status != after.status {
        fields.push(UserField::Status);
    }
    if before.password_hash != after.password_hash {
        fields.push(UserField::PasswordHash);
    }
    let (added, removed) = set_changes(&before.roles, &after.roles);
    if !added.is_empty() || !removed.is_empty() {
        fields.push(UserField::Roles { added, removed });
    }
    if fields.is_empty() {
        return Plan::Answer(Update::Unchanged(before));
    }
    after.updated_at = at;
    after.version = before.version + 1;
    Plan::Write { before, after, fields }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::conformance::sample_client;
    use chrono::TimeDelta;

    #[test]
    fn tokens_valid_after_never_moves_back() {
        let mut client = sample_client("a");
        let later = portcullis_domain::now();
        client.tokens_valid_after = Some(later);
        let earlier = later - TimeDelta::seconds(5);
        let patch = ClientPatch { tokens_valid_after: Some(earlier), ..Default::default() };
        assert_eq!(patch.apply(&client).tokens_valid_after, Some(later));
        assert!(matches!(
            plan_client_update(Some(client), &patch, None, later),
            Plan::Answer(Update::Unchanged(_))
        ));
    }

    #[test]
    fn a_deletion_checks_the_version_of_the_row_it_read() {
        let client = sample_client("a");
        let version = |c: &ApiClient| c.version;
        assert!(matches!(
            plan_deletion(None, version, None),
            DeletionPlan::<ApiClient>::Answer(Deletion::NotFound)
        ));
        assert!(matches!(
            plan_deletion(Some(client.clone()), version, Some(2)),
            DeletionPlan::Answer(Deletion::Stale(c)) if c == client
        ));
        assert!(
            matches!(plan_deletion(Some(client.clone()), version, Some(1)), DeletionPlan::Delete(c) if c == client)
        );
        assert!(
            matches!(plan_deletion(Some(client.clone()), version, None), DeletionPlan::Delete(c) if c == client)
        );
    }

    #[test]
    fn a_permission_description_is_written_only_when_it_differs() {
        let stored = Permission {
            name: PermissionName::parse("invoices:read").unwrap(),
            description: "Read invoices".to_owned(),
            builtin: false,
        };
        assert!(matches!(plan_permission_update(None, "x"), Plan::Answer(Update::NotFound)));
        assert!(matches!(
            plan_permission_update(Some(stored.clone()), "Read invoices"),
            Plan::Answer(Update::Unchanged(p)) if p == stored
        ));
        match plan_permission_update(Some(stored.clone()), "Read all invoices") {
            Plan::Write { before, after, fields } => {
                assert_eq!(before, stored);
                assert_eq!(after, Permission { description: "Read all invoices".to_owned(), ..stored });
                assert_eq!(fields, [PermissionField::Description]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stale_version_writes_nothing() {
        let client = sample_client("a");
        let patch = ClientPatch { status: Some(ClientStatus::Disabled), ..Default::default() };
        let at = portcullis_domain::now();
        assert!(matches!(
            plan_client_update(Some(client.clone()), &patch, Some(2), at),
            Plan::Answer(Update::Stale(_))
        ));
        match plan_client_update(Some(client), &patch, Some(1), at) {
            Plan::Write { after, fields, .. } => {
                assert_eq!((after.version, after.updated_at), (2, at));
                assert_eq!(fields, [ClientField::Status]);
            }
            other => panic!("{other:?}"),
        }
    }
}
