//! `GET /metrics`: Prometheus metrics in the OpenMetrics text format (or
//! the classic one, on request: `format.rs`), every family listed in
//! docs/metrics.md. Counts, gauges and histograms only:
//! no client name, e-mail, secret or token ever, and client ids only in
//! `portcullis_tokens_issued_total`, for a bounded number of clients. So it
//! is served without authentication like `/healthz`; restrict it at the
//! proxy if it must not be reachable from outside.
//!
//! What is counted on a request's path costs a few relaxed atomic
//! additions ([`http`], the service's counters); everything else is read
//! when Prometheus scrapes.

mod format;
pub mod http;
mod process;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use portcullis_service::{ServiceMetrics, stats::HistogramSnapshot};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// What the web layer counts: requests by route, and connections.
#[derive(Default)]
pub struct WebMetrics {
    pub http: std::sync::Arc<http::HttpMetrics>,
    pub connections: Connections,
}

/// The accept loop's connections.
#[derive(Debug, Default)]
pub struct Connections {
    open: AtomicUsize,
    max: AtomicUsize,
    accepted: AtomicU64,
    limit_reached: AtomicU64,
}

impl Connections {
    /// The cap on open connections (`PORTCULLIS_MAX_CONNECTIONS`).
    pub(crate) fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Relaxed);
    }

    /// A new connection had to wait for one to close.
    pub(crate) fn limit_reached(&self) {
        self.limit_reached.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection accepted: open until the guard is dropped.
    pub(crate) fn opened(&self) -> OpenConnection<'_> {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self)
    }
}

/// Counts a connection as open while it lives.
pub(crate) struct OpenConnection<'a>(&'a Connections);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Everything a scrape reads, gathered first, encoded after.
struct Scrape {
    service: ServiceMetrics,
    /// How far behind the change feed may be (`None`: not known).
    change_feed: Option<std::time::Duration>,
    events: Events,
    throttle: Throttle,
    web: std::sync::Arc<WebMetrics>,
    process: process::Process,
}

struct Events {
    written: u64,
    dropped: u64,
    queued: usize,
    capacity: usize,
}

struct Throttle {
    failures: u64,
    refused: u64,
    decisions: Vec<(crate::throttle::Limit, u64, u64)>,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scrape")
    }
}

fn describe<'a>(
    encoder: &'a mut DescriptorEncoder<'_>,
    name: &'a str,
    help: &str,
    kind: MetricType,
) -> Result<MetricEncoder<'a>, std::fmt::Error> {
    encoder.encode_descriptor(name, help, None, kind)
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> std::fmt::Result {
    ConstCounter::new(value).encode(describe(encoder, name, help, MetricType::Counter)?)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> std::fmt::Result {
    ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(describe(
        encoder,
        name,
        help,
        MetricType::Gauge,
    )?)
}

fn float_gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> std::fmt::Result {
    ConstGauge::new(value).encode(describe(encoder, name, help, MetricType::Gauge)?)
}

/// A counter family: one sample per label set.
fn counters<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> std::fmt::Result {
    let mut family = describe(encoder, name, help, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A gauge family: one sample per label set.
fn gauges<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> std::fmt::Result {
    let mut family = describe(encoder, name, help, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn histogram<L: EncodeLabelSet>(
    family: &mut MetricEncoder,
    labels: &L,
    h: &HistogramSnapshot,
) -> std::fmt::Result {
    // The last bucket is +Inf, which prometheus-client writes for f64::MAX.
    let buckets: Vec<(f64, u64)> =
        h.bounds_seconds.iter().copied().chain([f64::MAX]).zip(h.counts.iter().copied()).collect();
    family.encode_family(labels)?.encode_histogram::<NoLabelSet>(h.sum_seconds, h.count(), &buckets, None)
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let e = &mut encoder;
        let service = &self.service;

        gauges(
            e,
            "portcullis_build_info",
            "The running version of Portcullis (always 1).",
            [([("version", env!("CARGO_PKG_VERSION"))], 1)],
        )?;

        // Requests.
        let series = self.web.http.snapshot();
        {
            let mut family = describe(
                e,
                "portcullis_http_requests",
                "HTTP requests answered, by route template (`unmatched`: no route), method and status.",
                MetricType::Counter,
            )?;
            for s in &series {
                for (status, n) in &s.statuses {
                    let status = match status {
                        http::StatusLabel::Code(c) => c.to_string(),
                        http::StatusLabel::Other => "other".to_owned(),
                    };
                    let labels = [("route", s.route), ("method", s.method), ("status", status.as_str())];
                    ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut family = describe(
                e,
                "portcullis_http_request_duration_seconds",
                "Time from a request's arrival at the router to its answer's head, by route template and method.",
                MetricType::Histogram,
            )?;
            for s in &series {
                histogram(&mut family, &[("route", s.route), ("method", s.method)], &s.latency)?;
            }
        }

        // Authentication.
        counters(
            e,
            "portcullis_auth_failures",
            "Failed authentications (clients, bearer and personal access tokens, sessions, sign-ins), by reason.",
            service.auth_failures.iter().map(|(reason, n)| ([("reason", reason.as_str())], *n)),
        )?;
        counter(
            e,
            "portcullis_auth_failures_limited",
            "Failed authentications counted by the limits on failures (every 401 of an attempt to authenticate).",
            self.throttle.failures,
        )?;
        counter(
            e,
            "portcullis_auth_throttled",
            "Authentication attempts answered 429 because their address or account failed too often, or too many sign-ins ran at once.",
            self.throttle.refused,
        )?;

        // Tokens.
        let client_ids: Vec<String> = service.tokens_issued.iter().map(|(id, _)| id.to_string()).collect();
        counters(
            e,
            "portcullis_tokens_issued",
            "Access tokens issued, by client id for the first PORTCULLIS_METRICS_CLIENT_LABELS clients, `other` for the rest.",
            client_ids
                .iter()
                .zip(&service.tokens_issued)
                .map(|(id, (_, n))| ([("client_id", id.as_str())], *n))
                .chain([([("client_id", "other")], service.tokens_issued_other)]),
        )?;

        // Limits.
        let mut decisions: Vec<(&str, u64, u64)> =
            self.throttle.decisions.iter().map(|(limit, a, r)| (limit.as_str(), *a, *r)).collect();
        if let Some(quota) = service.token_quota {
            decisions.push(("token_quota", quota.allowed, quota.refused));
        }
        let work = service.password_work;
        decisions.push(("password_work", work.decisions.allowed, work.decisions.refused));
        counters(
            e,
            "portcullis_rate_limit_decisions",
            "What each limit that is on decided: attempts allowed, and refused (429, or 503 for password work).",
            decisions.iter().flat_map(|(limit, allowed, refused)| {
                [
                    ([("limit", *limit), ("decision", "allowed")], *allowed),
                    ([("limit", *limit), ("decision", "refused")], *refused),
                ]
            }),
        )?;
        gauge(
            e,
            "portcullis_password_work_running",
            "Password hashes (argon2id) being computed now.",
            work.running as u64,
        )?;
        gauge(
            e,
            "portcullis_password_work_waiting",
            "Password hashes waiting for a hashing thread now.",
            work.waiting as u64,
        )?;
        let connections = &self.web.connections;
        gauge(
            e,
            "portcullis_connections_open",
            "HTTP connections open now.",
            connections.open.load(Ordering::Relaxed) as u64,
        )?;
        gauge(
            e,
            "portcullis_connections_max",
            "HTTP connections open at once, at most (PORTCULLIS_MAX_CONNECTIONS).",
            connections.max.load(Ordering::Relaxed) as u64,
        )?;
        counter(
            e,
            "portcullis_connections_accepted",
            "HTTP connections accepted.",
            connections.accepted.load(Ordering::Relaxed),
        )?;
        counter(
            e,
            "portcullis_connection_limit_reached",
            "Times a new connection had to wait in the kernel's backlog because PORTCULLIS_MAX_CONNECTIONS were open.",
            connections.limit_reached.load(Ordering::Relaxed),
        )?;

        // Events (names as before this family grew).
        counter(
            e,
            "portcullis_events_dropped",
            "Events dropped because the queue was full or their batch could not be written.",
            self.events.dropped,
        )?;
        counter(e, "portcullis_events_written", "Events written to the database.", self.events.written)?;
        gauge(e, "portcullis_events_queued", "Events waiting to be written.", self.events.queued as u64)?;
        gauge(
            e,
            "portcullis_events_queue_capacity",
            "How many events may wait to be written.",
            self.events.capacity as u64,
        )?;

        // Caches.
        counters(
            e,
            "portcullis_cache_lookups",
            "Lookups of the in-memory caches, by cache and result (`hit`: answered from memory; `miss`: read from the database).",
            service.caches.iter().flat_map(|c| {
                [
                    ([("cache", c.cache), ("result", "hit")], c.hits),
                    ([("cache", c.cache), ("result", "miss")], c.misses),
                ]
            }),
        )?;

        // The database's pool.
        let pool = &service.pool;
        gauges(
            e,
            "portcullis_db_connections",
            "Database connections of the pool now, by state (`in_use`, `idle`).",
            [
                ([("pool", pool.name), ("state", "in_use")], u64::from(pool.in_use())),
                ([("pool", pool.name), ("state", "idle")], u64::from(pool.idle)),
            ],
        )?;
        gauges(
            e,
            "portcullis_db_connections_max",
            "Database connections the pool opens at most.",
            [([("pool", pool.name)], u64::from(pool.max))],
        )?;
        {
            let mut family = describe(
                e,
                "portcullis_db_acquire_duration_seconds",
                "Time each query or transaction waited to get a connection of the pool (including sqlx's check of an idle one).",
                MetricType::Histogram,
            )?;
            histogram(&mut family, &[("pool", pool.name)], &pool.acquire_wait)?;
        }
        counters(
            e,
            "portcullis_db_acquire_failures",
            "Attempts to get a connection of the pool that failed (timed out, or no connection could be opened).",
            [([("pool", pool.name)], pool.acquire_failures)],
        )?;

        // The change feed (PostgreSQL's LISTEN/NOTIFY; SQLite is asked on
        // every read, so always fresh).
        gauge(
            e,
            "portcullis_change_feed_up",
            "1 while the change feed is known to be delivering (its heartbeats come back); 0 while it is not, \
             when caches are bypassed.",
            u64::from(self.change_feed.is_some()),
        )?;
        if let Some(staleness) = self.change_feed {
            float_gauge(
                e,
                "portcullis_change_feed_staleness_seconds",
                "How far behind the change feed may be: every change committed longer ago than this is seen \
                 (past PORTCULLIS_MAX_STALENESS, caches are bypassed).",
                staleness.as_secs_f64(),
            )?;
        }

        // The process.
        let p = &self.process;
        if let Some(v) = p.cpu_seconds {
            let metric = ConstCounter::new(v);
            metric.encode(describe(
                e,
                "process_cpu_seconds",
                "User and system CPU time spent, in seconds.",
                MetricType::Counter,
            )?)?;
        }
        if let Some(v) = p.start_time_seconds {
            float_gauge(
                e,
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch, in seconds.",
                v,
            )?;
        }
        let gauges_u64 = [
            ("process_resident_memory_bytes", "Resident memory size, in bytes.", p.resident_memory_bytes),
            ("process_virtual_memory_bytes", "Virtual memory size, in bytes.", p.virtual_memory_bytes),
            ("process_open_fds", "Open file descriptors.", p.open_fds),
            ("process_max_fds", "The most file descriptors the process may open.", p.max_fds),
            ("process_threads", "Operating system threads of the process.", p.threads),
        ];
        for (name, help, value) in gauges_u64 {
            if let Some(v) = value {
                gauge(e, name, help, v)?;
            }
        }
        Ok(())
    }
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let service = &state.service;
    let scrape = Scrape {
        service: service.metrics(),
        change_feed: service.change_feed_staleness(),
        events: Events {
            written: service.written_events(),
            dropped: service.dropped_events(),
            queued: service.queued_events(),
            capacity: service.event_queue_capacity(),
        },
        throttle: Throttle {
            failures: state.throttle.failures(),
            refused: state.throttle.refused(),
            decisions: state.throttle.decisions(),
        },
        web: state.metrics.clone(),
        // A few small reads of /proc: off the runtime's threads.
        process: tokio::task::spawn_blocking(process::Process::read).await.unwrap_or_default(),
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => {
            let format = format::Format::negotiate(&headers);
            ([(header::CONTENT_TYPE, format.content_type())], format.render(text)).into_response()
        }
        Err(_) => {
            tracing::error!("could not encode the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
