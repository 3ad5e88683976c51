//! Bulk changes of clients: what each listed id gets, decided from the
//! stored clients the backend read (and locked) inside its transaction.

use std::collections::{HashMap, HashSet};

use portcullis_domain::{ApiClient, ClientId, ClientStatus, Event, Timestamp};

use crate::{BulkChange, BulkOutcome, ChangeEvents, DeleteEvents};

/// Each distinct id of `ids` once, in the order of first appearance.
pub fn distinct(ids: &[ClientId]) -> Vec<ClientId> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

/// One [`BulkChange`] per distinct id of `ids`, in order: `NotFound` when
/// `found` lacks it, `Done` when `changes` says the found client is to be
/// changed, else `AlreadyInState`.
pub fn plan(
    ids: &[ClientId],
    mut found: HashMap<ClientId, ApiClient>,
    changes: impl Fn(&ApiClient) -> bool,
) -> Vec<BulkChange> {
    distinct(ids)
        .into_iter()
        .map(|id| {
            let outcome = match found.remove(&id) {
                None => BulkOutcome::NotFound,
                Some(client) if changes(&client) => BulkOutcome::Done(client),
                Some(client) => BulkOutcome::AlreadyInState(client),
            };
            BulkChange { id, outcome }
        })
        .collect()
}

/// `Conflict("bulk_guard")` unless `guard` holds for every client `plan`
/// changes.
pub fn check_guard(plan: &[BulkChange], guard: crate::BulkGuard<'_>) -> crate::Result<()> {
    if done(plan).all(guard) { Ok(()) } else { Err(crate::StoreError::Conflict("bulk_guard")) }
}

/// The ids a plan changes, in its order.
pub fn done_ids(plan: &[BulkChange]) -> Vec<ClientId> {
    plan.iter().filter(|c| matches!(c.outcome, BulkOutcome::Done(_))).map(|c| c.id).collect()
}

/// The events of a status change by `plan`: of each client changed, from
/// before to after (`status`, `updated_at = at`, `version + 1`).
pub fn status_events(
    plan: &[BulkChange],
    status: ClientStatus,
    at: Timestamp,
    events: ChangeEvents<'_, ApiClient>,
) -> Vec<Event> {
    done(plan)
        .flat_map(|before| {
            let after = ApiClient { status, updated_at: at, version: before.version + 1, ..before.clone() };
            events(before, &after)
        })
        .collect()
}

/// The events of a deletion by `plan`, of each client deleted.
pub fn delete_events(plan: &[BulkChange], events: DeleteEvents<'_, ApiClient>) -> Vec<Event> {
    done(plan).flat_map(events).collect()
}

fn done(plan: &[BulkChange]) -> impl Iterator<Item = &ApiClient> {
    plan.iter().filter_map(|c| match &c.outcome {
        BulkOutcome::Done(before) => Some(before),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::conformance::sample_client;

    #[test]
    fn each_id_once_in_order_of_first_appearance() {
        let (a, b, c) = (ClientId::generate(), ClientId::generate(), ClientId::generate());
        assert_eq!(distinct(&[b, a, b, c, a, a]), [b, a, c]);
        assert!(distinct(&[]).is_empty());
    }

    #[test]
    fn plan_tells_done_from_not_found_and_already_in_state() {
        let (change, keep) = (sample_client("change"), sample_client("keep"));
        let missing = ClientId::generate();
        let found: HashMap<_, _> = [(change.id, change.clone()), (keep.id, keep.clone())].into();
        let ids = [missing, change.id, keep.id, change.id, missing];
        let plan = plan(&ids, found, |c| c.id == change.id);
        assert_eq!(
            plan,
            [
                BulkChange { id: missing, outcome: BulkOutcome::NotFound },
                BulkChange { id: change.id, outcome: BulkOutcome::Done(change.clone()) },
                BulkChange { id: keep.id, outcome: BulkOutcome::AlreadyInState(keep) },
            ]
        );
        assert_eq!(done_ids(&plan), [change.id]);
    }
}
