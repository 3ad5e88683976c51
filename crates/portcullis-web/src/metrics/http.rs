//! Requests by route, method and status, and their latency by route and
//! method: a tower layer around every route, cheap enough for the token
//! endpoint at tens of thousands of requests a second.
//!
//! The route is axum's matched template (`/api/v1/clients/{client_id}`),
//! never the path the caller sent, which anyone can make unique; requests
//! that no route matched are one route, `unmatched`. So the series are
//! bounded by the routes the code declares × 8 methods.
//!
//! Cost per request: a hash of the template (a dozen bytes) to find its
//! place in a fixed table read without a lock, two clock reads, a
//! reference count, and three relaxed atomic additions (the status, the
//! latency bucket, the latency sum). No allocation after a (route, method)
//! is first seen. prometheus-client's `Family` would take a lock and hash
//! the whole label set at every request, and its `Histogram` a lock at
//! every observation.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll, ready},
    time::Instant,
};

use axum::{
    extract::MatchedPath,
    http::{Method, Request, Response, StatusCode},
};
use portcullis_service::stats::{Histogram, HistogramSnapshot};

/// Latency bucket bounds, in nanoseconds: 0.5 ms to 2.5 s. The token
/// endpoint answers in 0.1 to 20 ms; the admin API's lists and GraphQL in
/// tens of milliseconds; a sign-in's argon2 in about 15 ms more.
pub const LATENCY_BOUNDS: &[u64] = &[
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
];

/// The `method` label's values; any other method is `other`.
const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"];

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// Statuses 100 to 599 have a counter each; anything else (a handler
/// could build one, none does) is counted as `other`.
const FIRST_STATUS: u16 = 100;
const STATUSES: usize = 500;

/// Places for route templates: well above the routes the code declares.
const TABLE: usize = 256;

/// The requests of one (route, method).
pub struct Series {
    statuses: Box<[AtomicU64]>,
    latency: Histogram,
}

impl Series {
    fn new() -> Self {
        Self {
            statuses: (0..=STATUSES).map(|_| AtomicU64::new(0)).collect(),
            latency: Histogram::new(LATENCY_BOUNDS),
        }
    }

    fn record(&self, status: StatusCode, elapsed: std::time::Duration) {
        let index = usize::from(status.as_u16().wrapping_sub(FIRST_STATUS)).min(STATUSES);
        if let Some(n) = self.statuses.get(index) {
            n.fetch_add(1, Ordering::Relaxed);
        }
        self.latency.observe(elapsed);
    }
}

struct Route {
    template: Box<str>,
    methods: [OnceLock<Arc<Series>>; METHODS.len()],
}

impl Route {
    fn new(template: &str) -> Self {
        Self { template: template.into(), methods: std::array::from_fn(|_| OnceLock::new()) }
    }

    fn series(&self, method: usize) -> Arc<Series> {
        self.methods[method.min(METHODS.len() - 1)].get_or_init(|| Arc::new(Series::new())).clone()
    }
}

/// Every route's series.
pub struct HttpMetrics {
    /// Open addressing by a hash of the template; a place, once taken,
    /// keeps its route for the life of the process.
    routes: Box<[OnceLock<Route>]>,
    unmatched: Route,
    /// Routes past the table's places (none while the code declares fewer).
    other: Route,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            routes: (0..TABLE).map(|_| OnceLock::new()).collect(),
            unmatched: Route::new("unmatched"),
            other: Route::new("other"),
        }
    }
}

/// FNV-1a: a few cycles for a route template, and well spread.
fn hash(text: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h as usize
}

/// One (route, method) as read at a scrape.
pub struct SeriesSnapshot<'a> {
    pub route: &'a str,
    pub method: &'static str,
    /// Requests by status code (`other` beyond 100–599), those counted only.
    pub statuses: Vec<(StatusLabel, u64)>,
    pub latency: HistogramSnapshot,
}

/// A `status` label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusLabel {
    Code(u16),
    Other,
}

impl HttpMetrics {
    fn route(&self, template: Option<&str>) -> &Route {
        let Some(template) = template else { return &self.unmatched };
        let start = hash(template);
        for probe in 0..TABLE {
            let place = &self.routes[(start.wrapping_add(probe)) % TABLE];
            let route = match place.get() {
                Some(route) => route,
                None => place.get_or_init(|| Route::new(template)),
            };
            if &*route.template == template {
                return route;
            }
        }
        &self.other
    }

    /// The series a request of this route template (`None`: no route
    /// matched) and method counts in.
    pub fn series(&self, template: Option<&str>, method: &Method) -> Arc<Series> {
        self.route(template).series(method_index(method))
    }

    /// Every series with a request answered, by route then method.
    pub fn snapshot(&self) -> Vec<SeriesSnapshot<'_>> {
        let routes = self.routes.iter().filter_map(OnceLock::get).chain([&self.unmatched, &self.other]);
        let mut all: Vec<SeriesSnapshot<'_>> = routes
            .flat_map(|route| {
                route.methods.iter().zip(METHODS).filter_map(move |(series, method)| {
                    let series = series.get()?;
                    let statuses = series
                        .statuses
                        .iter()
                        .enumerate()
                        .filter_map(|(i, n)| {
                            let n = n.load(Ordering::Relaxed);
                            let label = u16::try_from(i)
                                .ok()
                                .filter(|&i| usize::from(i) < STATUSES)
                                .map_or(StatusLabel::Other, |i| StatusLabel::Code(i + FIRST_STATUS));
                            (n > 0).then_some((label, n))
                        })
                        .collect();
                    let latency = series.latency.snapshot();
                    // A series is made as its first request starts: one
                    // whose requests are all still running is left out.
                    (latency.count() > 0).then_some(SeriesSnapshot {
                        route: &route.template,
                        method,
                        statuses,
                        latency,
                    })
                })
            })
            .collect();
        all.sort_by(|a, b| (a.route, a.method).cmp(&(b.route, b.method)));
        all
    }
}

/// The layer: put around the whole router with `Router::layer`, which
/// wraps each route (and the fallback) after routing, where axum has set
/// [`MatchedPath`].
#[derive(Clone)]
pub struct CountRequests(pub Arc<HttpMetrics>);

impl<S> tower::Layer<S> for CountRequests {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Counted { inner, metrics: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    metrics: Arc<HttpMetrics>,
}

impl<S, B, R> tower::Service<Request<B>> for Counted<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = CountedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let template = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
        let series = self.metrics.series(template, request.method());
        CountedFuture { inner: self.inner.call(request), series: Some(series), started: Instant::now() }
    }
}

pin_project_lite::pin_project! {
    /// The route's answer, counted when it is ready (a request whose
    /// caller went away before is not counted).
    pub struct CountedFuture<F> {
        #[pin]
        inner: F,
        series: Option<Arc<Series>>,
        started: Instant,
    }
}

impl<F, R, E> Future for CountedFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = ready!(this.inner.poll(cx));
        if let (Ok(response), Some(series)) = (&answer, this.series.take()) {
            series.record(response.status(), this.started.elapsed());
        }
        Poll::Ready(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_finds_the_same_series_every_time_and_others_their_own() {
        let metrics = HttpMetrics::default();
        let a = metrics.series(Some("/oauth2/token"), &Method::POST);
        assert!(Arc::ptr_eq(&a, &metrics.series(Some("/oauth2/token"), &Method::POST)));
        assert!(!Arc::ptr_eq(&a, &metrics.series(Some("/oauth2/token"), &Method::GET)));
        assert!(!Arc::ptr_eq(&a, &metrics.series(Some("/oauth2/revoke"), &Method::POST)));
        assert!(!Arc::ptr_eq(&a, &metrics.series(None, &Method::POST)));
        let custom = Method::from_bytes(b"BREW").unwrap();
        assert!(Arc::ptr_eq(&metrics.series(None, &custom), &metrics.series(None, &Method::TRACE)));
    }

    #[test]
    fn statuses_and_latencies_are_read_back_by_route_and_method() {
        let metrics = HttpMetrics::default();
        let ms = std::time::Duration::from_millis;
        metrics.series(Some("/b"), &Method::GET).record(StatusCode::OK, ms(1));
        metrics.series(Some("/a"), &Method::POST).record(StatusCode::UNAUTHORIZED, ms(3));
        metrics.series(Some("/a"), &Method::POST).record(StatusCode::OK, ms(30));
        metrics.series(Some("/a"), &Method::POST).record(StatusCode::OK, ms(3000));
        metrics.series(None, &Method::GET).record(StatusCode::NOT_FOUND, ms(0));
        let odd = StatusCode::from_u16(999).unwrap();
        metrics.series(None, &Method::GET).record(odd, ms(0));
        let all = metrics.snapshot();
        let seen: Vec<_> = all.iter().map(|s| (s.route, s.method, s.statuses.clone())).collect();
        assert_eq!(
            seen,
            [
                ("/a", "POST", vec![(StatusLabel::Code(200), 2), (StatusLabel::Code(401), 1)]),
                ("/b", "GET", vec![(StatusLabel::Code(200), 1)]),
                ("unmatched", "GET", vec![(StatusLabel::Code(404), 1), (StatusLabel::Other, 1)]),
            ]
        );
        let a = &all[0].latency;
        assert_eq!(a.count(), 3);
        assert_eq!(*a.counts.last().unwrap(), 1, "3 s is past the last bound");
        assert!((a.sum_seconds - 3.033).abs() < 1e-9, "{}", a.sum_seconds);
    }

    #[test]
    fn a_series_whose_requests_are_all_running_is_left_out() {
        let metrics = HttpMetrics::default();
        let _running = metrics.series(Some("/metrics"), &Method::GET);
        assert!(metrics.snapshot().is_empty());
    }

    #[test]
    fn more_templates_than_places_are_counted_as_other() {
        let metrics = HttpMetrics::default();
        for n in 0..TABLE + 3 {
            metrics.series(Some(&format!("/r{n}")), &Method::GET).record(StatusCode::OK, Default::default());
        }
        let all = metrics.snapshot();
        assert_eq!(all.len(), TABLE + 1);
        let other = all.iter().find(|s| s.route == "other").unwrap();
        assert_eq!(other.statuses, [(StatusLabel::Code(200), 3)]);
    }
}
