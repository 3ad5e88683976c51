//! The seeded events: what a week of a busy installation looks like.
//!
//! Time-ordered, as the pipeline writes them: evenly spread over seven
//! days ending now, ids UUIDv7 of their own instant. Kinds: 88 % token
//! requests, 7 % introspection, 1 % revocation, about 4 % admin API calls
//! (half of them by console users), 0.05 % audit events of changes.
//! Statuses of requests: 94.95 % 200, 3.5 % 401, 1.5 % 400, 0.05 % 500.
//! Clients: one hot with about 5 % of the rows, the others by a long tail
//! (weight 1/√rank). Bodies as stored, i.e. already redacted: a 29-byte
//! form and a ~220-byte JSON answer for a token request.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use anyhow::ensure;
use chrono::TimeDelta;
use portcullis_domain::{ClientId, Event, EventId, Timestamp, UserId, now};
use portcullis_store::{EventStore, conformance::bare_event};
use rand::{
    Rng, SeedableRng,
    distributions::{Distribution, WeightedIndex},
    rngs::StdRng,
};

use crate::{Args, measure::Report};

/// Events per `insert_events` call: the pipeline's batch.
pub const BATCH: usize = portcullis_service::events::BATCH;
pub const DAYS: i64 = 7;
/// The kind the rare-kind query asks for.
pub const RARE_KIND: &str = "client.secret_regenerated";
/// Of the rows with a client, the hot client's share.
const HOT_SHARE: f64 = 0.051;
/// How many of the clients with the fewest events the cold-client query
/// takes turns with.
const COLD_CLIENTS: usize = 10;

const AUDIT_KINDS: [(&str, f64); 5] = [
    ("client.updated", 0.4),
    ("client.created", 0.2),
    (RARE_KIND, 0.2),
    ("client.disabled", 0.1),
    ("role.updated", 0.1),
];
const USER_AGENTS: [&str; 4] = [
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "okhttp/4.12.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
];
const TOKEN_FORM: &str = "grant_type=client_credentials";
const TOKEN_ANSWER: &str = r#"{"access_token":"eyJh…x9Qk","token_type":"Bearer","expires_in":3600,"scope":"clients:read clients:write events:read roles:read users:read keys:read tokens:introspect tokens:revoke reports:read reports:write"}"#;
const INTROSPECT_FORM: &str = "token=eyJh…Q2sw";
const INTROSPECT_ANSWER: &str = r#"{"active":true,"client_id":"7f1c0f4e-3a4b-4a8e-9c55-0c1b2e6f9d21","scope":"events:read","token_type":"Bearer","exp":1764000000,"iat":1763996400,"sub":"7f1c0f4e-3a4b-4a8e-9c55-0c1b2e6f9d21","aud":"https://auth.example.com","iss":"https://auth.example.com","jti":"0190f5c2-7b9e-7c3d-8f21-4b6a9d0e1c55"}"#;
const REVOKE_FORM: &str = "token=eyJh…Zt0M&token_type_hint=access_token";
const ADMIN_ANSWER: &str = r#"{"items":[{"id":"7f1c0f4e-3a4b-4a8e-9c55-0c1b2e6f9d21","name":"billing-worker","status":"active","role":"service","token_ttl":3600,"created_at":"2026-10-02T08:14:09Z","last_used_at":"2026-11-23T13:58:01Z"},{"id":"0b9d6a55-94c7-4f07-8a4e-2f3c1d5b7e90","name":"reports","status":"active","role":"viewer","token_ttl":900,"created_at":"2026-09-18T16:40:51Z","last_used_at":"2026-11-23T13:57:44Z"}],"next_cursor":"1758213651000000.0b9d6a55-94c7-4f07-8a4e-2f3c1d5b7e90"}"#;
const ERROR_401: &str = r#"{"error":"invalid_client","error_description":"client authentication failed"}"#;
const ERROR_400: &str =
    r#"{"error":"invalid_scope","error_description":"the client may not ask for scope \"users:write\""}"#;
const ERROR_500: &str = r#"{"error":"server_error"}"#;

/// What was seeded, for the queries to ask about.
pub struct Population {
    pub rows: u64,
    pub start: Timestamp,
    pub end: Timestamp,
    pub hot: ClientId,
    /// The clients with the fewest events.
    pub cold: Vec<ClientId>,
    /// Ids to fetch one by one, from all over the week.
    pub sample: Vec<EventId>,
}

pub async fn seed(store: &dyn EventStore, args: &Args, report: &mut Report) -> anyhow::Result<Population> {
    ensure!(args.rows >= 100_000, "--rows: at least 100,000 (the deep-page query walks 10,000 rows)");
    ensure!(args.clients > COLD_CLIENTS, "--clients: more than {COLD_CLIENTS}");
    let end = now();
    let start = end - TimeDelta::days(DAYS);
    let span = (end - start).num_microseconds().unwrap_or(i64::MAX) as u128;
    let mut mix = Mix::new(args.seed, args.clients)?;
    let mut per_client: HashMap<ClientId, u64> = HashMap::with_capacity(args.clients);
    let (mut rare, mut errors) = (0u64, 0u64);
    let mut sample = Vec::new();

    let began = Instant::now();
    let mut inserting = Duration::ZERO;
    let mut batch = Vec::with_capacity(BATCH);
    let mut shown = 0;
    for i in 0..args.rows {
        let offset = (u128::from(i) * span / u128::from(args.rows)) as i64;
        let event = mix.event(start + TimeDelta::microseconds(offset));
        if let Some(client) = event.client_id {
            *per_client.entry(client).or_default() += 1;
        }
        rare += u64::from(event.kind == RARE_KIND);
        errors += u64::from(event.status.is_some_and(|s| s >= 500));
        if i % 4_999 == 0 {
            sample.push(event.id);
        }
        batch.push(event);
        if batch.len() == BATCH || i + 1 == args.rows {
            let t = Instant::now();
            store.insert_events(&batch).await?;
            inserting += t.elapsed();
            batch.clear();
            let done = (i + 1) * 10 / args.rows;
            if done > shown {
                shown = done;
                eprintln!("  seeded {}0 % ({:.0} s)", done, began.elapsed().as_secs_f64());
            }
        }
    }
    report.figure(
        "insert_rate",
        "insert_events, 5,000 a call",
        args.rows as f64 / inserting.as_secs_f64(),
        "events/s",
    )?;
    report.figure("seed_time", "seeding in all (generating included)", began.elapsed().as_secs_f64(), "s")?;

    let rows_of = |client: &ClientId| per_client.get(client).copied().unwrap_or_default();
    let hot = mix.clients[0];
    let mut cold = mix.clients[1..].to_vec();
    cold.sort_by_key(rows_of);
    cold.truncate(COLD_CLIENTS);
    report.figure("hot_rows", "rows of the hot client", rows_of(&hot) as f64, "rows")?;
    report.figure("cold_rows", "rows of the coldest client", rows_of(&cold[0]) as f64, "rows")?;
    report.figure("rare_rows", &format!("rows of kind {RARE_KIND}"), rare as f64, "rows")?;
    report.figure("5xx_rows", "rows with a 5xx status", errors as f64, "rows")?;
    Ok(Population { rows: args.rows, start, end, hot, cold, sample })
}

/// One request event as the pipeline writes it now, for the writes
/// measured beside the purge.
pub fn live_event(client: ClientId) -> Event {
    let mut event = Mix::request(
        bare_event("token.request", now()),
        Some(client),
        "/oauth2/token",
        200,
        "POST",
        TOKEN_FORM,
        TOKEN_ANSWER,
    );
    event.source_ip = Some("192.0.2.10".to_owned());
    event.user_agent = Some(USER_AGENTS[0].to_owned());
    event
}

struct Mix {
    rng: StdRng,
    /// The hot client first.
    clients: Vec<ClientId>,
    /// Over `clients[1..]`.
    tail: WeightedIndex<f64>,
    users: Vec<UserId>,
}

impl Mix {
    fn new(seed: u64, clients: usize) -> anyhow::Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut random_id = || uuid::Builder::from_random_bytes(rng.r#gen()).into_uuid();
        let clients: Vec<ClientId> = (0..clients).map(|_| ClientId::from_uuid(random_id())).collect();
        let users = (0..20).map(|_| UserId::from_uuid(random_id())).collect();
        let tail = WeightedIndex::new((1..clients.len()).map(|rank| 1.0 / (rank as f64).sqrt()))?;
        Ok(Self { rng, clients, tail, users })
    }

    fn client(&mut self) -> ClientId {
        if self.rng.gen_bool(HOT_SHARE) {
            self.clients[0]
        } else {
            self.clients[1 + self.tail.sample(&mut self.rng)]
        }
    }

    fn event(&mut self, at: Timestamp) -> Event {
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or_default();
        let id = EventId::from_uuid(
            uuid::Builder::from_unix_timestamp_millis(millis, &self.rng.r#gen()).into_uuid(),
        );
        let base = Event { id, ..bare_event("token.request", at) };
        let roll: f64 = self.rng.r#gen();
        let mut event = if roll < 0.0005 {
            self.audit(base)
        } else if roll < 0.04 {
            self.admin(base)
        } else {
            let client = Some(self.client());
            let status = self.status();
            let (kind, path, form, answer) = if roll < 0.05 {
                ("revocation", "/oauth2/revoke", REVOKE_FORM, "")
            } else if roll < 0.12 {
                ("introspection", "/oauth2/introspect", INTROSPECT_FORM, INTROSPECT_ANSWER)
            } else {
                ("token.request", "/oauth2/token", TOKEN_FORM, TOKEN_ANSWER)
            };
            let base = Event { kind: kind.to_owned(), ..base };
            Self::request(base, client, path, status, "POST", form, answer)
        };
        if event.status.is_some() {
            event.latency_micros = Some(self.rng.gen_range(300..3_000));
            event.source_ip = Some(format!("198.51.100.{}", self.rng.gen_range(1..=254)));
            event.user_agent = Some(USER_AGENTS[self.rng.gen_range(0..USER_AGENTS.len())].to_owned());
        }
        event
    }

    fn status(&mut self) -> u16 {
        match self.rng.r#gen::<f64>() {
            r if r < 0.0005 => 500,
            r if r < 0.0355 => 401,
            r if r < 0.0505 => 400,
            _ => 200,
        }
    }

    /// A request with its stored bodies; an error status gets an error body.
    fn request(
        base: Event,
        client: Option<ClientId>,
        path: &str,
        status: u16,
        method: &str,
        form: &str,
        answer: &str,
    ) -> Event {
        let answer = match status {
            500 => ERROR_500,
            401 => ERROR_401,
            400 => ERROR_400,
            _ => answer,
        };
        Event {
            client_id: client,
            method: Some(method.to_owned()),
            path: Some(path.to_owned()),
            status: Some(status),
            request_body: (!form.is_empty()).then(|| form.to_owned()),
            response_body: (!answer.is_empty()).then(|| answer.to_owned()),
            ..base
        }
    }

    /// An admin API call, by a console user half of the time.
    fn admin(&mut self, base: Event) -> Event {
        let status = self.status();
        let by_user = self.rng.gen_bool(0.5);
        let client = (!by_user).then(|| self.client());
        let mut event = Self::request(
            Event { kind: "admin.request".to_owned(), ..base },
            client,
            "/api/v1/clients",
            status,
            "GET",
            "",
            ADMIN_ANSWER,
        );
        if by_user {
            event.user_id = Some(self.users[self.rng.gen_range(0..self.users.len())]);
        }
        event
    }

    /// A change: which client, by whom, what changed.
    fn audit(&mut self, base: Event) -> Event {
        let mut roll: f64 = self.rng.r#gen();
        let kind = AUDIT_KINDS
            .iter()
            .find(|(_, share)| {
                roll -= share;
                roll < 0.0
            })
            .map_or(AUDIT_KINDS[0].0, |(kind, _)| kind);
        let user = self.users[self.rng.gen_range(0..self.users.len())];
        Event {
            kind: kind.to_owned(),
            client_id: Some(self.client()),
            user_id: Some(user),
            actor: Some(format!("user:{user}")),
            details: Some(r#"{"name":["billing-worker","billing-worker-eu"]}"#.to_owned()),
            ..base
        }
    }
}
