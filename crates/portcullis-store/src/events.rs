//! The event list's filters, decided once for every SQL backend: which
//! conditions an [`EventQuery`] makes, in which form, and how many rows it
//! asks for. A backend only writes each [`EventCondition`] in its dialect
//! (placeholders, column types), ANDed, then `ORDER BY occurred_at DESC, id
//! DESC LIMIT` [`EventList::limit`].
//!
//! The forms are chosen for the indexes both backends have on `events`:
//! `(occurred_at, id)`, `(client_id, occurred_at, id)`, `(user_id, …)`,
//! `(kind, …)` and `events_status_class` on `(status / 100, occurred_at, id)`.

use portcullis_domain::{ClientId, Timestamp, UserId};

use crate::{EventCursor, EventQuery};

/// One condition of an event list; a row is listed when it meets them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventCondition<'a> {
    /// `(occurred_at, id) < (cursor.occurred_at, cursor.id)`: a row value
    /// comparison, so that the `(…, occurred_at, id)` indexes are used.
    Before(EventCursor),
    /// `client_id = …`
    Client(ClientId),
    /// `user_id = …`
    User(UserId),
    /// `kind = …`
    Kind(&'a str),
    /// `status / 100 = class`: a whole status class (e.g. 4 for 400–499)
    /// and nothing narrower, which the `events_status_class` index answers.
    StatusClass(u16),
    /// `status BETWEEN min AND max` (inclusive).
    StatusBetween { min: u16, max: u16 },
    /// `occurred_at >= …`
    Since(Timestamp),
    /// `occurred_at < …`
    Until(Timestamp),
}

/// What a backend asks of the database for one page of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventList<'a> {
    /// In this order (the cursor first); empty: every event.
    pub conditions: Vec<EventCondition<'a>>,
    /// The `LIMIT`.
    pub limit: i64,
}

/// The conditions and limit of `query`.
pub fn list(query: &EventQuery) -> EventList<'_> {
    let mut conditions = Vec::new();
    if let Some(after) = query.after {
        conditions.push(EventCondition::Before(after));
    }
    if let Some(client) = query.client_id {
        conditions.push(EventCondition::Client(client));
    }
    if let Some(user) = query.user_id {
        conditions.push(EventCondition::User(user));
    }
    if let Some(kind) = &query.kind {
        conditions.push(EventCondition::Kind(kind));
    }
    if let Some((min, max)) = query.status_between {
        let alone = query.client_id.is_none() && query.user_id.is_none() && query.kind.is_none();
        conditions.push(if alone && min % 100 == 0 && max == min + 99 {
            EventCondition::StatusClass(min / 100)
        } else {
            // With a client, user or kind, that index is the better way in
            // (and this form keeps the planner from choosing the class one).
            EventCondition::StatusBetween { min, max }
        });
    }
    if let Some(since) = query.since {
        conditions.push(EventCondition::Since(since));
    }
    if let Some(until) = query.until {
        conditions.push(EventCondition::Until(until));
    }
    EventList { conditions, limit: i64::from(query.limit) }
}

#[cfg(test)]
mod tests {
    use portcullis_domain::{EventId, now};

    use super::*;
    use EventCondition::*;

    #[test]
    fn no_filter_lists_everything_up_to_the_limit() {
        let query = EventQuery { limit: 50, ..Default::default() };
        assert_eq!(list(&query), EventList { conditions: Vec::new(), limit: 50 });
    }

    #[test]
    fn every_filter_becomes_its_condition_cursor_first() {
        let (client, user, at) = (ClientId::generate(), UserId::generate(), now());
        let cursor = EventCursor { occurred_at: at, id: EventId::generate() };
        let query = EventQuery {
            after: Some(cursor),
            limit: 20,
            client_id: Some(client),
            user_id: Some(user),
            kind: Some("token.request".to_owned()),
            status_between: Some((400, 499)),
            since: Some(at),
            until: Some(at),
        };
        assert_eq!(
            list(&query).conditions,
            [
                Before(cursor),
                Client(client),
                User(user),
                Kind("token.request"),
                StatusBetween { min: 400, max: 499 },
                Since(at),
                Until(at),
            ]
        );
    }

    #[test]
    fn a_whole_status_class_alone_uses_the_class_index() {
        let status = |min, max| EventQuery { status_between: Some((min, max)), ..Default::default() };
        assert_eq!(list(&status(400, 499)).conditions, [StatusClass(4)]);
        assert_eq!(list(&status(200, 299)).conditions, [StatusClass(2)]);
        // Narrower or across classes: a range.
        assert_eq!(list(&status(400, 498)).conditions, [StatusBetween { min: 400, max: 498 }]);
        assert_eq!(list(&status(401, 500)).conditions, [StatusBetween { min: 401, max: 500 }]);
        assert_eq!(list(&status(200, 200)).conditions, [StatusBetween { min: 200, max: 200 }]);
        // Time bounds and the cursor leave the class index the way in.
        let at = now();
        let cursor = EventCursor { occurred_at: at, id: EventId::generate() };
        let query = EventQuery { after: Some(cursor), since: Some(at), ..status(500, 599) };
        assert_eq!(list(&query).conditions, [Before(cursor), StatusClass(5), Since(at)]);
    }

    #[test]
    fn a_status_class_with_a_client_user_or_kind_is_a_range() {
        let class = EventQuery { status_between: Some((400, 499)), ..Default::default() };
        let range = StatusBetween { min: 400, max: 499 };
        let client = ClientId::generate();
        let query = EventQuery { client_id: Some(client), ..class.clone() };
        assert_eq!(list(&query).conditions, [Client(client), range]);
        let user = UserId::generate();
        let query = EventQuery { user_id: Some(user), ..class.clone() };
        assert_eq!(list(&query).conditions, [User(user), range]);
        let query = EventQuery { kind: Some("client.updated".to_owned()), ..class };
        assert_eq!(list(&query).conditions, [Kind("client.updated"), range]);
    }
}

/// Rows per INSERT of events, at most: 15 bind parameters each, well under
/// SQLite's limit of 32,766 per statement and PostgreSQL's 65,535.
pub const INSERT_CHUNK: usize = 256;

/// The row counts of the INSERTs that write `n` events: full chunks, then
/// the rest in powers of two. So only nine statement texts exist, each
/// prepared once per connection and then taken from sqlx's statement cache.
/// A text of its own for every batch size had the database parse (and on
/// PostgreSQL plan) a statement of up to 15,000 parameters on each flush:
/// on SQLite about a fifth of what writing an event cost (bench/profile).
pub fn insert_chunks(mut n: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let size = if n >= INSERT_CHUNK { INSERT_CHUNK } else { 1 << n.checked_ilog2()? };
        n -= size;
        Some(size)
    })
}

#[cfg(test)]
mod insert_tests {
    use super::{INSERT_CHUNK, insert_chunks};

    #[test]
    fn chunks_cover_every_event_in_few_statement_shapes() {
        let mut shapes = std::collections::BTreeSet::new();
        for n in 0..=2_000 {
            let sizes: Vec<usize> = insert_chunks(n).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n, "{n}");
            assert!(
                sizes.iter().all(|s| *s > 0 && *s <= INSERT_CHUNK && s.is_power_of_two()),
                "{n}: {sizes:?}"
            );
            shapes.extend(sizes);
        }
        assert_eq!(shapes.len(), 9, "{shapes:?}");
    }
}
