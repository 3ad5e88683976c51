//! Request and audit events. Requests never wait on an event write: a
//! bounded in-memory queue takes them, and a background task writes them
//! in batches (every 200 ms and on shutdown). When the queue is full the
//! request still succeeds; the event is counted as dropped, and a warning
//! is logged at most every ten seconds.

use std::{
    collections::VecDeque,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use portcullis_domain::{ClientId, Event, EventId, PermissionName, Scope, credential::scrub_text, now};

use crate::{Result, Service};

/// Events waiting to be written, at most.
pub const QUEUE_CAPACITY: usize = 10_000;
/// Events written in one transaction, at most: a whole flush interval's
/// worth at tens of thousands of requests a second, so that each flush
/// commits (and syncs) once.
pub const BATCH: usize = 5_000;

pub(crate) struct EventQueue {
    pending: Mutex<VecDeque<Event>>,
    capacity: std::sync::atomic::AtomicUsize,
    dropped: AtomicU64,
    written: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
}

impl EventQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            pending: Mutex::new(VecDeque::new()),
            capacity: capacity.into(),
            dropped: AtomicU64::new(0),
            written: AtomicU64::new(0),
            last_warning: Mutex::new(None),
        }
    }

    fn push(&self, event: Event) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.len() >= self.capacity.load(Ordering::Relaxed) {
            drop(pending);
            let total = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                *last = Some(Instant::now());
                tracing::warn!(dropped_total = total, "event queue full: events are being dropped");
            }
            return;
        }
        pending.push_back(event);
    }

    fn take(&self, max: usize) -> Vec<Event> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let n = pending.len().min(max);
        pending.drain(..n).collect()
    }

    fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The stored form of a change's details (built here, from what an
/// operator typed into a name or description): every credential-looking
/// word is replaced as in request bodies, which the web layer redacts
/// before it queues them.
pub(crate) fn scrub_details(details: &serde_json::Value) -> String {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                if let std::borrow::Cow::Owned(scrubbed) = scrub_text(s) {
                    *s = scrubbed;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            serde_json::Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    let mut details = details.clone();
    walk(&mut details);
    details.to_string()
}

impl Service {
    /// Queues an event; never waits and never fails.
    pub fn record(&self, event: Event) {
        self.inner.events.push(event);
    }

    /// Changes how many events may wait (for operators with bursty load,
    /// and for tests of the full-queue path).
    pub fn set_event_queue_capacity(&self, capacity: usize) {
        self.inner.events.capacity.store(capacity, Ordering::Relaxed);
    }

    /// How many events were dropped because the queue was full, since start.
    pub fn dropped_events(&self) -> u64 {
        self.inner.events.dropped.load(Ordering::Relaxed)
    }

    /// Whether a client with this id exists (from the cache when it can):
    /// what decides whether a failed authentication is stored.
    pub async fn client_exists(&self, id: ClientId) -> Result<bool> {
        let generation = self.inner.cache.generation()?;
        Ok(self.inner.cache.client(generation, self.inner.stores.clients.as_ref(), id).await?.is_some())
    }

    /// How many events were written to the database, since start.
    pub fn written_events(&self) -> u64 {
        self.inner.events.written.load(Ordering::Relaxed)
    }

    pub fn queued_events(&self) -> usize {
        self.inner.events.len()
    }

    /// How many events may wait to be written.
    pub fn event_queue_capacity(&self) -> usize {
        self.inner.events.capacity.load(Ordering::Relaxed)
    }

    /// Writes every queued event, in batches. A batch that fails to write is
    /// counted as dropped (the database is down; the queue must not grow
    /// without bound) and the error returned.
    ///
    /// Only what was queued when the flush began is written: under load new
    /// events keep arriving, and chasing them would turn one flush into a
    /// stream of tiny transactions, each with its own sync.
    pub async fn flush_events(&self) -> Result<usize> {
        let mut written = 0;
        let mut remaining = self.inner.events.len();
        loop {
            let batch = self.inner.events.take(remaining.min(BATCH));
            if batch.is_empty() {
                return Ok(written);
            }
            remaining -= batch.len();
            if let Err(e) = self.inner.stores.events.insert_events(&batch).await {
                self.inner.events.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
                return Err(e.into());
            }
            written += batch.len();
            self.inner.events.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
    }
}

impl Service {
    /// Deletes events older than `retention`, in bounded batches with a
    /// pause between them, so that purging millions of rows neither holds
    /// the database for long nor stalls requests.
    pub async fn purge_events(&self, retention: std::time::Duration) -> Result<u64> {
        let before = now() - chrono::TimeDelta::from_std(retention).unwrap_or(chrono::TimeDelta::days(7));
        let events = &self.inner.stores.events;
        // 1,000 rows a batch: on SQLite every other write waits for the batch
        // in progress, and 5,000 made that wait ~0.1 s (bench/events-pages).
        crate::batches::purge_in_batches(1_000, Duration::from_millis(20), |limit| {
            events.purge_events(before, limit)
        })
        .await
    }
}

/// The kind of the events recorded for admin API (REST and GraphQL) calls.
pub const ADMIN_REQUEST: &str = "admin.request";

/// The details an admin request's event is recorded with: the permissions
/// the call needed, which a reader must hold to see its bodies.
pub fn admin_request_details(required: &Scope) -> String {
    let names: Vec<String> = required.iter().map(ToString::to_string).collect();
    serde_json::json!({ "required_permissions": names }).to_string()
}

/// What a reader must hold, beyond `events:read`, to see what an event
/// shows of others: for an admin call, its request and response bodies,
/// which need the permissions that call needed (what its answer shows, a
/// reader could otherwise not read); for a change, its details, which need
/// the permission that reads the change's subject
/// ([`ChangeKind::read_permission`](crate::ChangeKind::read_permission));
/// nothing for the OAuth2 endpoints' events (their bodies hold nothing but
/// redacted credentials). An admin call recorded without them (before they
/// were recorded) needs every built-in permission.
pub fn permissions_for_bodies(event: &Event) -> Scope {
    if let Some(change) = crate::ChangeKind::parse(&event.kind) {
        return std::iter::once(PermissionName::from(change.read_permission())).collect();
    }
    if crate::SessionKind::parse(&event.kind).is_some() {
        return std::iter::once(PermissionName::from(portcullis_domain::BuiltinPermission::UsersRead))
            .collect();
    }
    if event.kind != ADMIN_REQUEST {
        return Scope::default();
    }
    let recorded =
        event.details.as_deref().and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok()).and_then(
            |d| {
                d.get("required_permissions")?
                    .as_array()?
                    .iter()
                    .map(|p| p.as_str().and_then(|p| PermissionName::parse(p).ok()))
                    .collect::<Option<Scope>>()
            },
        );
    recorded.unwrap_or_else(|| portcullis_domain::builtin_permissions().into_iter().map(|p| p.name).collect())
}

/// The permissions `reader` lacks to see `event`'s bodies; none when it may.
pub fn missing_for_bodies(event: &Event, reader: &Scope) -> Vec<PermissionName> {
    permissions_for_bodies(event).iter().filter(|p| !reader.contains(p)).cloned().collect()
}

/// A page of events, newest first.
#[derive(Debug, Clone)]
pub struct EventPage {
    pub items: Vec<Event>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ListEvents {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    pub client_id: Option<ClientId>,
    pub kind: Option<String>,
    /// `2`, `4` or `5`: the status class.
    pub status_class: Option<u8>,
    pub since: Option<portcullis_domain::Timestamp>,
    pub until: Option<portcullis_domain::Timestamp>,
}

impl Service {
    /// Needs `events:read`; whether a reader may see an admin call's bodies
    /// is [`missing_for_bodies`]'s to say.
    pub async fn list_events(&self, caller: &crate::Caller, req: ListEvents) -> Result<EventPage> {
        caller.may(crate::Operation::ReadEvents)?;
        let limit = crate::paging::page_size(req.limit);
        let status_between = match req.status_class {
            None => None,
            Some(class @ 1..=5) => Some((u16::from(class) * 100, u16::from(class) * 100 + 99)),
            Some(_) => {
                return Err(crate::ServiceError::Invalid {
                    field: "status",
                    source: portcullis_domain::DomainError::InvalidStatus,
                });
            }
        };
        let query = portcullis_store::EventQuery {
            after: req
                .cursor
                .as_deref()
                .map(crate::paging::decode_cursor)
                .transpose()?
                .map(|(occurred_at, id)| portcullis_store::EventCursor { occurred_at, id }),
            limit: limit + 1,
            client_id: req.client_id,
            user_id: None,
            kind: crate::paging::text_filter("kind", req.kind)?,
            status_between,
            since: req.since,
            until: req.until,
        };
        let items = self.inner.stores.events.list_events(&query).await?;
        let (items, next_cursor) = crate::paging::finish(items, limit, |e| (e.occurred_at, e.id));
        Ok(EventPage { items, next_cursor })
    }

    pub async fn get_event(&self, caller: &crate::Caller, id: EventId) -> Result<Event> {
        caller.may(crate::Operation::ReadEvents)?;
        self.inner.stores.events.get_event(id).await?.ok_or(crate::ServiceError::EventNotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, details: Option<String>) -> Event {
        Event {
            request_body: Some("{}".to_owned()),
            response_body: Some("{}".to_owned()),
            details,
            ..portcullis_store::conformance::bare_event(kind, now())
        }
    }

    #[test]
    fn admin_bodies_need_the_recorded_permissions_and_others_nothing() {
        let needed: Scope = Scope::parse("users:read clients:read").unwrap();
        let admin = event(ADMIN_REQUEST, Some(admin_request_details(&needed)));
        assert_eq!(permissions_for_bodies(&admin), needed);
        let reader = Scope::parse("events:read users:read").unwrap();
        let missing: Vec<String> =
            missing_for_bodies(&admin, &reader).iter().map(ToString::to_string).collect();
        assert_eq!(missing, ["clients:read"]);
        assert!(missing_for_bodies(&admin, &Scope::parse("users:read clients:read").unwrap()).is_empty());
        for kind in ["token.request", "introspection", "revocation"] {
            assert!(missing_for_bodies(&event(kind, None), &Scope::default()).is_empty(), "{kind}");
        }
        // A change: the permission that reads its subject.
        for (kind, needed) in [
            ("client.secret_regenerated", "clients:read"),
            ("user.created", "users:read"),
            ("permission.deleted", "roles:read"),
            ("key.revoked", "keys:write"),
            ("session.sign_in_failed", "users:read"),
        ] {
            let change = event(kind, Some("{}".to_owned()));
            assert_eq!(permissions_for_bodies(&change), Scope::parse(needed).unwrap(), "{kind}");
            assert!(missing_for_bodies(&change, &Scope::parse(needed).unwrap()).is_empty());
        }
        // Recorded without (or with garbled) permissions: every built-in one.
        for details in
            [None, Some("{}".to_owned()), Some(r#"{"required_permissions":["NOT A NAME"]}"#.to_owned())]
        {
            let legacy = event(ADMIN_REQUEST, details);
            assert_eq!(permissions_for_bodies(&legacy).len(), portcullis_domain::builtin_permissions().len());
        }
    }

    #[test]
    fn change_details_lose_credential_looking_words() {
        let secret = portcullis_domain::ClientSecret::generate();
        let details =
            serde_json::json!({"name": {"from": "a", "to": format!("oops {}", secret.expose())}, "n": 3});
        let stored = scrub_details(&details);
        assert!(!stored.contains(secret.expose()) && stored.contains(&secret.hint()), "{stored}");
        assert!(stored.contains("\"n\":3"));
    }
}
