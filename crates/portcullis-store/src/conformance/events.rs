//! Request and audit events: storing batches, listing newest first with
//! filters, purging old ones in bounded batches.

use chrono::TimeDelta;
use portcullis_domain::{ClientId, Event, EventId, Timestamp, UserId};

use super::seconds_from_now;
use crate::{EventCursor, EventQuery, Stores};

/// An event of this kind at this instant with only its required fields.
pub fn bare_event(kind: &str, at: Timestamp) -> Event {
    Event::new(kind, at)
}

/// A token request by `client` at this instant, answered with `status`.
pub fn request_event(client: ClientId, status: u16, at: Timestamp) -> Event {
    Event {
        client_id: Some(client),
        actor: Some(format!("client:{client}")),
        method: Some("POST".to_owned()),
        path: Some("/oauth/token".to_owned()),
        status: Some(status),
        latency_micros: Some(1_234),
        source_ip: Some("192.0.2.7".to_owned()),
        user_agent: Some("curl/8.5.0".to_owned()),
        request_body: Some("grant_type=client_credentials&client_secret=[redacted]".to_owned()),
        response_body: Some(r#"{"token_type":"Bearer","access_token":"[redacted]"}"#.to_owned()),
        ..bare_event("token.request", at)
    }
}

fn all(limit: u32) -> EventQuery {
    EventQuery { limit, ..Default::default() }
}

/// Newest first, ties by id: the order `list_events` promises.
fn newest_first(mut events: Vec<Event>) -> Vec<Event> {
    events.sort_by_key(|e| std::cmp::Reverse((e.occurred_at, e.id)));
    events
}

/// Every page of `query`, following the cursor, until a short page.
async fn every_page(stores: &Stores, query: EventQuery) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    let mut query = query;
    loop {
        let page = stores.events.list_events(&query).await.unwrap();
        assert!(page.len() <= query.limit as usize);
        let done = page.len() < query.limit as usize;
        if let Some(last) = page.last() {
            query.after = Some(EventCursor { occurred_at: last.occurred_at, id: last.id });
        }
        out.extend(page);
        if done {
            return out;
        }
    }
}

pub async fn event_with_every_field_round_trips(stores: &Stores) {
    let mut event = request_event(ClientId::generate(), 401, seconds_from_now(-5));
    event.user_id = Some(UserId::generate());
    event.details = Some(r#"{"name": ["Öl-Import ✓", "new"]}"#.to_owned());
    event.request_body = Some("ü".repeat(4000));
    event.latency_micros = Some(i64::MAX);
    event.status = Some(u16::MAX);
    stores.events.insert_events(std::slice::from_ref(&event)).await.unwrap();
    assert_eq!(stores.events.get_event(event.id).await.unwrap(), Some(event));
}

pub async fn event_without_optional_fields_round_trips(stores: &Stores) {
    let event = bare_event("client.created", seconds_from_now(-5));
    stores.events.insert_events(std::slice::from_ref(&event)).await.unwrap();
    assert_eq!(stores.events.get_event(event.id).await.unwrap(), Some(event.clone()));
    assert_eq!(stores.events.list_events(&all(10)).await.unwrap(), [event]);
}

pub async fn get_unknown_event_is_none(stores: &Stores) {
    stores.events.insert_events(&[bare_event("cli", seconds_from_now(0))]).await.unwrap();
    assert_eq!(stores.events.get_event(EventId::generate()).await.unwrap(), None);
}

pub async fn insert_events_stores_a_whole_batch(stores: &Stores) {
    stores.events.insert_events(&[]).await.unwrap();
    assert!(stores.events.list_events(&all(10)).await.unwrap().is_empty());
    // More than one multi-row INSERT's worth on any backend.
    let client = ClientId::generate();
    let start = seconds_from_now(-3600);
    let batch: Vec<Event> =
        (0..1_234).map(|i| request_event(client, 200, start + TimeDelta::milliseconds(i))).collect();
    stores.events.insert_events(&batch).await.unwrap();
    let stored = stores.events.list_events(&all(5_000)).await.unwrap();
    assert_eq!(stored, newest_first(batch.clone()));
    for e in [&batch[0], &batch[617], &batch[1_233]] {
        assert_eq!(stores.events.get_event(e.id).await.unwrap().as_ref(), Some(e));
    }
}

pub async fn insert_events_is_all_or_nothing(stores: &Stores) {
    let stored = bare_event("client.created", seconds_from_now(-10));
    stores.events.insert_events(std::slice::from_ref(&stored)).await.unwrap();
    // The last of a batch breaks a rule: none of the batch is stored.
    let mut batch: Vec<Event> = (0..700).map(|i| bare_event("introspection", seconds_from_now(-i))).collect();
    batch.push(Event { kind: "revocation".to_owned(), ..stored.clone() });
    assert!(stores.events.insert_events(&batch).await.is_err());
    assert_eq!(stores.events.list_events(&all(1_000)).await.unwrap(), std::slice::from_ref(&stored));
    assert_eq!(stores.events.get_event(stored.id).await.unwrap(), Some(stored));
}

pub async fn list_events_pages_newest_first_without_gaps_or_duplicates(stores: &Stores) {
    assert!(stores.events.list_events(&all(10)).await.unwrap().is_empty());
    // Several events share an instant: the id breaks the tie.
    let same = seconds_from_now(-30);
    let mut events: Vec<Event> = (0..5).map(|_| bare_event("token.request", same)).collect();
    events.extend((1..=6).map(|i| bare_event("token.request", same + TimeDelta::microseconds(i))));
    events.extend((0..4).map(|_| bare_event("token.request", seconds_from_now(-60))));
    // Inserted in an order unlike the listing's, over two batches.
    events.reverse();
    stores.events.insert_events(&events[..7]).await.unwrap();
    stores.events.insert_events(&events[7..]).await.unwrap();
    let expected = newest_first(events);
    for limit in [1, 2, 3, 4, 15, 100] {
        assert_eq!(every_page(stores, all(limit)).await, expected, "pages of {limit}");
    }
    assert_eq!(stores.events.list_events(&all(4)).await.unwrap(), expected[..4]);
    assert!(stores.events.list_events(&all(0)).await.unwrap().is_empty());
}

/// Ten events over clients a and b, users u and v and three kinds, one
/// second apart (`base` + 0 s … + 9 s), statuses 200, 401, 404, 500 or none.
struct Fixture {
    a: ClientId,
    b: ClientId,
    u: UserId,
    v: UserId,
    base: Timestamp,
    events: Vec<Event>,
}

async fn fixture(stores: &Stores) -> Fixture {
    let (a, b) = (ClientId::generate(), ClientId::generate());
    let (u, v) = (UserId::generate(), UserId::generate());
    let base = seconds_from_now(-100);
    let at = |s: i64| base + TimeDelta::seconds(s);
    let mut events = vec![
        request_event(a, 200, at(0)),
        request_event(a, 401, at(1)),
        request_event(b, 404, at(2)),
        request_event(b, 200, at(3)),
        Event { kind: "introspection".to_owned(), ..request_event(a, 500, at(4)) },
        Event { user_id: Some(u), actor: Some(format!("user:{u}")), ..bare_event("client.created", at(5)) },
        Event { user_id: Some(u), client_id: Some(a), ..bare_event("client.secret_regenerated", at(6)) },
        Event { user_id: Some(v), status: Some(403), ..request_event(b, 403, at(7)) },
        Event { user_id: Some(u), ..request_event(a, 404, at(8)) },
        bare_event("role.deleted", at(9)),
    ];
    events.reverse();
    stores.events.insert_events(&events).await.unwrap();
    Fixture { a, b, u, v, base, events }
}

impl Fixture {
    fn at(&self, s: i64) -> Timestamp {
        self.base + TimeDelta::seconds(s)
    }

    fn matching(&self, keep: impl Fn(&Event) -> bool) -> Vec<Event> {
        newest_first(self.events.iter().filter(|e| keep(e)).cloned().collect())
    }
}

pub async fn list_events_filters_each_alone(stores: &Stores) {
    let f = fixture(stores).await;
    let q = |query: EventQuery| EventQuery { limit: 100, ..query };
    let cases: Vec<(&str, EventQuery, Vec<Event>)> = vec![
        (
            "client a",
            q(EventQuery { client_id: Some(f.a), ..Default::default() }),
            f.matching(|e| e.client_id == Some(f.a)),
        ),
        (
            "client b",
            q(EventQuery { client_id: Some(f.b), ..Default::default() }),
            f.matching(|e| e.client_id == Some(f.b)),
        ),
        (
            "user u",
            q(EventQuery { user_id: Some(f.u), ..Default::default() }),
            f.matching(|e| e.user_id == Some(f.u)),
        ),
        (
            "user v",
            q(EventQuery { user_id: Some(f.v), ..Default::default() }),
            f.matching(|e| e.user_id == Some(f.v)),
        ),
        (
            "kind",
            q(EventQuery { kind: Some("token.request".to_owned()), ..Default::default() }),
            f.matching(|e| e.kind == "token.request"),
        ),
        (
            "4xx",
            q(EventQuery { status_between: Some((400, 499)), ..Default::default() }),
            f.matching(|e| e.status.is_some_and(|s| (400..=499).contains(&s))),
        ),
        (
            "exactly 200",
            q(EventQuery { status_between: Some((200, 200)), ..Default::default() }),
            f.matching(|e| e.status == Some(200)),
        ),
        (
            "since",
            q(EventQuery { since: Some(f.at(6)), ..Default::default() }),
            f.matching(|e| e.occurred_at >= f.at(6)),
        ),
        (
            "until",
            q(EventQuery { until: Some(f.at(3)), ..Default::default() }),
            f.matching(|e| e.occurred_at < f.at(3)),
        ),
        (
            "unknown client",
            q(EventQuery { client_id: Some(ClientId::generate()), ..Default::default() }),
            Vec::new(),
        ),
        ("unknown kind", q(EventQuery { kind: Some("token".to_owned()), ..Default::default() }), Vec::new()),
    ];
    for (name, query, expected) in cases {
        assert!(!expected.is_empty() || name.starts_with("unknown"), "{name}: the fixture covers it");
        assert_eq!(stores.events.list_events(&query).await.unwrap(), expected, "{name}");
    }
    // Sanity of the fixture itself.
    assert_eq!(f.matching(|e| e.status.is_some_and(|s| (400..=499).contains(&s))).len(), 4);
    assert_eq!(stores.events.list_events(&q(EventQuery::default())).await.unwrap(), f.matching(|_| true));
}

pub async fn list_events_filters_combine_with_each_other_and_the_cursor(stores: &Stores) {
    let f = fixture(stores).await;
    let query = EventQuery {
        client_id: Some(f.a),
        kind: Some("token.request".to_owned()),
        status_between: Some((400, 499)),
        since: Some(f.at(1)),
        until: Some(f.at(9)),
        ..all(100)
    };
    let expected = f.matching(|e| {
        e.client_id == Some(f.a)
            && e.kind == "token.request"
            && e.status.is_some_and(|s| (400..=499).contains(&s))
            && e.occurred_at >= f.at(1)
            && e.occurred_at < f.at(9)
    });
    assert_eq!(expected.len(), 2);
    assert_eq!(stores.events.list_events(&query).await.unwrap(), expected);
    assert_eq!(every_page(stores, EventQuery { limit: 1, ..query.clone() }).await, expected);

    let query = EventQuery { user_id: Some(f.u), client_id: Some(f.a), ..all(100) };
    let expected = f.matching(|e| e.user_id == Some(f.u) && e.client_id == Some(f.a));
    assert_eq!(expected.len(), 2);
    assert_eq!(stores.events.list_events(&query).await.unwrap(), expected);

    // since and until bound a window; the bounds are [since, until).
    let query = EventQuery { since: Some(f.at(2)), until: Some(f.at(5)), ..all(100) };
    let expected = f.matching(|e| e.occurred_at >= f.at(2) && e.occurred_at < f.at(5));
    assert_eq!(expected.len(), 3);
    assert_eq!(stores.events.list_events(&query).await.unwrap(), expected);
    assert_eq!(every_page(stores, EventQuery { limit: 2, ..query }).await, expected);

    // A filter with the cursor: the page after a client's second newest.
    let client_b = f.matching(|e| e.client_id == Some(f.b));
    let after = EventCursor { occurred_at: client_b[1].occurred_at, id: client_b[1].id };
    let query = EventQuery { client_id: Some(f.b), after: Some(after), ..all(100) };
    assert_eq!(stores.events.list_events(&query).await.unwrap(), client_b[2..]);

    // Filters that exclude each other.
    let query = EventQuery { user_id: Some(f.v), client_id: Some(f.a), ..all(100) };
    assert!(stores.events.list_events(&query).await.unwrap().is_empty());
}

pub async fn purge_events_deletes_only_older_ones_oldest_first(stores: &Stores) {
    let cut = seconds_from_now(-1_000);
    let older: Vec<Event> =
        (1..=5).map(|i| bare_event("token.request", cut - TimeDelta::seconds(i * 10))).collect();
    let at_cut = bare_event("token.request", cut);
    let newer: Vec<Event> =
        (1..=3).map(|i| bare_event("token.request", cut + TimeDelta::seconds(i))).collect();
    let mut all_events = older.clone();
    all_events.push(at_cut.clone());
    all_events.extend(newer.clone());
    stores.events.insert_events(&all_events).await.unwrap();

    // Bounded by the limit, the oldest go first: older[4] is the oldest.
    assert_eq!(stores.events.purge_events(cut, 2).await.unwrap(), 2);
    for gone in [&older[4], &older[3]] {
        assert_eq!(stores.events.get_event(gone.id).await.unwrap(), None);
    }
    for kept in [&older[0], &older[1], &older[2]] {
        assert!(stores.events.get_event(kept.id).await.unwrap().is_some(), "not the oldest");
    }
    assert_eq!(stores.events.purge_events(cut, 0).await.unwrap(), 0);
    assert_eq!(stores.events.purge_events(cut, 100).await.unwrap(), 3);
    assert_eq!(stores.events.purge_events(cut, 100).await.unwrap(), 0, "nothing left before the cut");
    let mut kept = newer;
    kept.push(at_cut);
    assert_eq!(stores.events.list_events(&all(100)).await.unwrap(), newest_first(kept));
}

pub async fn purge_events_in_batches_deletes_each_once(stores: &Stores) {
    let client = ClientId::generate();
    let start = seconds_from_now(-86_400);
    let batch: Vec<Event> =
        (0..250).map(|i| request_event(client, 200, start + TimeDelta::seconds(i))).collect();
    stores.events.insert_events(&batch).await.unwrap();
    let recent = request_event(client, 200, seconds_from_now(0));
    stores.events.insert_events(std::slice::from_ref(&recent)).await.unwrap();
    let mut counts = Vec::new();
    loop {
        let n = stores.events.purge_events(seconds_from_now(-60), 100).await.unwrap();
        counts.push(n);
        if n < 100 {
            break;
        }
    }
    assert_eq!(counts, [100, 100, 50]);
    assert_eq!(stores.events.list_events(&all(1_000)).await.unwrap(), [recent]);
}
