//! Bulk actions on clients: enable, disable or delete up to
//! [`MAX_BULK_CLIENTS`] at once, in one transaction, with one outcome per
//! listed client and one change event per client actually changed.

use std::{collections::HashSet, fmt};

use portcullis_domain::{
    ApiClient, ClientId, ClientName, ClientStatus, DomainError, MAX_BULK_CLIENTS, RoleId, now,
};
use portcullis_store::{BulkChange, BulkOutcome};

use crate::{
    Caller, Result, Service, ServiceError,
    clients::{RoleLabels, client_change_events, client_deleted_event},
};

/// What a bulk action does to every listed client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    Enable,
    Disable,
    Delete,
}

impl BulkAction {
    /// The status it gives; `None` for a delete.
    pub fn status(self) -> Option<ClientStatus> {
        match self {
            Self::Enable => Some(ClientStatus::Enabled),
            Self::Disable => Some(ClientStatus::Disabled),
            Self::Delete => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enable => "enable",
            Self::Disable => "disable",
            Self::Delete => "delete",
        }
    }
}

impl fmt::Display for BulkAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a bulk action did to one listed client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkResult {
    /// Enabled, disabled or deleted now.
    Done,
    /// No client with this id.
    NotFound,
    /// Enabled or disabled already: nothing written, nothing recorded.
    AlreadyInState,
}

/// One listed client and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkItem {
    pub client_id: ClientId,
    pub result: BulkResult,
    /// The client's name, when it existed.
    pub name: Option<ClientName>,
}

/// How many listed clients got each result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkSummary {
    pub done: usize,
    pub not_found: usize,
    pub already_in_state: usize,
}

impl BulkSummary {
    pub fn of(items: &[BulkItem]) -> Self {
        let mut summary = Self::default();
        for item in items {
            match item.result {
                BulkResult::Done => summary.done += 1,
                BulkResult::NotFound => summary.not_found += 1,
                BulkResult::AlreadyInState => summary.already_in_state += 1,
            }
        }
        summary
    }
}

impl Service {
    /// Applies `action` to every client in `ids` (1 to [`MAX_BULK_CLIENTS`]
    /// entries), in one transaction: on error nothing changed. Answers one
    /// item per distinct id, in the order of first appearance (an id listed
    /// twice is acted on and reported once). Writes one change event per
    /// client changed, in the transaction of the change (`client.enabled`, `client.disabled`,
    /// `client.deleted`, as a single change would), none for the others.
    ///
    /// Enabling and deleting need every permission of every listed client's
    /// role: else the whole action is refused, nothing changed, naming the
    /// permissions the caller lacks. Disabling needs none.
    pub async fn bulk_clients(
        &self,
        caller: &Caller,
        action: BulkAction,
        ids: &[ClientId],
    ) -> Result<Vec<BulkItem>> {
        caller.may(crate::Operation::BulkClients)?;
        if ids.is_empty() || ids.len() > MAX_BULK_CLIENTS {
            return Err(ServiceError::Invalid { field: "client_ids", source: DomainError::InvalidBulkSize });
        }
        let checked = action != BulkAction::Disable && !caller.is_admin();
        if checked {
            self.require_listed_roles(caller, ids).await?;
        }
        // The same rule again inside the store's transaction, on the rows it
        // locks: a role given to a listed client after the check above is
        // refused there, never written (the check-then-write race).
        let held: HashSet<RoleId> = if checked {
            let all = self.inner.stores.roles.list_roles().await?;
            all.into_iter().filter(|r| caller.missing(&r.permissions).is_empty()).map(|r| r.id).collect()
        } else {
            HashSet::new()
        };
        let guard = |c: &ApiClient| !checked || c.role_id.is_none_or(|r| held.contains(&r));
        let actor = &caller.actor;
        let clients = &self.inner.stores.clients;
        // Status changes name no role: the labels are never read.
        let roles = RoleLabels::default();
        let changed =
            |before: &ApiClient, after: &ApiClient| client_change_events(actor, before, after, None, &roles);
        let deleted = |client: &ApiClient| vec![client_deleted_event(actor, client)];
        let done = match action.status() {
            Some(status) => clients.set_clients_status_guarded(ids, status, now(), &guard, &changed).await,
            None => clients.delete_clients_guarded(ids, &guard, &deleted).await,
        };
        let changes = match done {
            Ok(changes) => changes,
            Err(portcullis_store::StoreError::Conflict("bulk_guard")) => {
                // Name what is missing now, as the check would have.
                self.require_listed_roles(caller, ids).await?;
                return Err(ServiceError::Conflict("bulk_guard"));
            }
            Err(e) => return Err(e.into()),
        };
        let items: Vec<BulkItem> = changes.into_iter().map(item).collect();
        let summary = BulkSummary::of(&items);
        if summary.done > 0 {
            self.inner.cache.invalidate();
        }
        tracing::info!(
            %action,
            done = summary.done,
            not_found = summary.not_found,
            already_in_state = summary.already_in_state,
            "bulk action on clients"
        );
        Ok(items)
    }
}

impl Service {
    /// No escalation: the caller holds every permission of every listed
    /// client's role (as stored now).
    async fn require_listed_roles(&self, caller: &Caller, ids: &[ClientId]) -> Result<()> {
        // One read for every listed client, never one per id.
        let listed = self.inner.stores.clients.get_clients(ids).await?;
        caller.require_all(&self.roles_permissions(listed.iter().filter_map(|c| c.role_id)).await?)
    }
}

/// The item for one outcome (the events were written with the change).
fn item(change: BulkChange) -> BulkItem {
    let (result, name) = match change.outcome {
        BulkOutcome::NotFound => (BulkResult::NotFound, None),
        BulkOutcome::AlreadyInState(client) => (BulkResult::AlreadyInState, Some(client.name)),
        BulkOutcome::Done(before) => (BulkResult::Done, Some(before.name)),
    };
    BulkItem { client_id: change.id, result, name }
}
