//! What a backend reports about its connection pool (`/metrics`), and the
//! lock-free latency histogram it and the web layer count with.
//!
//! The histogram costs two relaxed atomic additions per observation (its
//! bucket and the sum) and no lock, so that it can sit on the hottest path;
//! its count is the sum of its buckets, read at a scrape, so `_count` and
//! the `+Inf` bucket always agree.

use std::{
    future::Future,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// Counts durations into fixed buckets.
pub struct Histogram {
    /// Upper bounds in nanoseconds, ascending; one more bucket holds the rest.
    bounds: &'static [u64],
    buckets: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram").field("count", &self.snapshot().count()).finish_non_exhaustive()
    }
}

/// A histogram as read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// The finite upper bounds, in seconds, ascending.
    pub bounds_seconds: Vec<f64>,
    /// Observations per bucket (not cumulative): one per bound, then the
    /// ones above the last bound.
    pub counts: Vec<u64>,
    /// The sum of every observation, in seconds.
    pub sum_seconds: f64,
}

impl HistogramSnapshot {
    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl Histogram {
    /// `bounds`: the buckets' upper bounds in nanoseconds, ascending.
    pub fn new(bounds: &'static [u64]) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bounds must ascend");
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        // Most observations fall in the first buckets: a scan from the start
        // beats a binary search over a dozen bounds.
        let bucket = self.bounds.iter().position(|&bound| nanos <= bound).unwrap_or(self.bounds.len());
        if let Some(slot) = self.buckets.get(bucket) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds_seconds: self.bounds.iter().map(|&b| b as f64 / 1e9).collect(),
            counts: self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect(),
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

/// Bucket bounds for waits on a pool connection, in nanoseconds: 10 µs
/// (an idle connection handed out at once) to 10 s (the acquire timeout).
pub const ACQUIRE_WAIT_BOUNDS: &[u64] = &[
    10_000,
    50_000,
    100_000,
    250_000,
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
    5_000_000_000,
    10_000_000_000,
];

/// A backend's connection pool, as `/metrics` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolStats {
    /// What the pool is called in `/metrics` (`sqlite`, `postgres`).
    pub name: &'static str,
    /// The most connections the pool opens.
    pub max: u32,
    /// Connections open now, in use or idle.
    pub open: u32,
    /// Of those, the idle ones.
    pub idle: u32,
    /// How long each successful acquisition of a connection took.
    pub acquire_wait: HistogramSnapshot,
    /// Acquisitions that failed (timed out, or no connection could be opened).
    pub acquire_failures: u64,
}

impl PoolStats {
    /// Connections handed out now.
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

/// How long a backend's acquisitions of pool connections took: the backend
/// routes every acquisition through [`AcquireWaits::time`].
pub struct AcquireWaits {
    waits: Histogram,
    failures: AtomicU64,
}

impl Default for AcquireWaits {
    fn default() -> Self {
        Self { waits: Histogram::new(ACQUIRE_WAIT_BOUNDS), failures: AtomicU64::new(0) }
    }
}

impl std::fmt::Debug for AcquireWaits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcquireWaits").finish_non_exhaustive()
    }
}

impl AcquireWaits {
    /// Runs `acquire` and counts how long it took, or that it failed.
    pub async fn time<T, E>(&self, acquire: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        let started = Instant::now();
        let acquired = acquire.await;
        match &acquired {
            Ok(_) => self.waits.observe(started.elapsed()),
            Err(_) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        acquired
    }

    pub fn waits(&self) -> HistogramSnapshot {
        self.waits.snapshot()
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: &[u64] = &[1_000, 1_000_000];

    #[test]
    fn observations_fall_in_the_first_bucket_whose_bound_holds_them() {
        let h = Histogram::new(BOUNDS);
        h.observe(Duration::from_nanos(1_000)); // on the bound: `le` is inclusive
        h.observe(Duration::from_nanos(1_001));
        h.observe(Duration::from_millis(1));
        h.observe(Duration::from_secs(3));
        h.observe(Duration::MAX);
        let s = h.snapshot();
        assert_eq!(s.bounds_seconds, [1e-6, 1e-3]);
        assert_eq!(s.counts, [1, 2, 2]);
        assert_eq!(s.count(), 5);
        assert!(s.sum_seconds >= 3.0, "{}", s.sum_seconds);
    }

    #[tokio::test]
    async fn acquisitions_are_timed_and_failures_counted() {
        let waits = AcquireWaits::default();
        assert_eq!(waits.time(async { Ok::<_, ()>(1) }).await, Ok(1));
        assert_eq!(waits.time(async { Err::<(), _>("timed out") }).await, Err("timed out"));
        assert_eq!((waits.waits().count(), waits.failures()), (1, 1));
    }

    #[test]
    fn in_use_is_open_minus_idle() {
        let stats = PoolStats {
            name: "x",
            max: 4,
            open: 3,
            idle: 1,
            acquire_wait: Histogram::new(BOUNDS).snapshot(),
            acquire_failures: 0,
        };
        assert_eq!(stats.in_use(), 2);
    }
}
