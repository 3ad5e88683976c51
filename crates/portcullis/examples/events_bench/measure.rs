//! Timings, their summary (median, p99, max) and the report: a line per
//! result on stdout as it comes, and optionally a JSON line per result.

use std::{
    fs::File,
    future::Future,
    io::Write,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Context;

use crate::backend::Backend;

/// How many timed repetitions a query gets: `reps`, or fewer when they
/// take longer than `time` in all (but never fewer than [`Budget::MIN`]).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    reps: usize,
    time: Duration,
}

impl Budget {
    pub const MIN: usize = 10;

    pub fn new(reps: usize, time: Duration) -> Self {
        Self { reps: reps.max(1), time }
    }

    pub fn more(&self, samples: &Samples) -> bool {
        let done = samples.len();
        done < self.reps && (done < Self::MIN || samples.started.elapsed() < self.time)
    }
}

#[derive(Debug)]
pub struct Samples {
    durations: Vec<Duration>,
    started: Instant,
}

impl Samples {
    pub fn new() -> Self {
        Self { durations: Vec::new(), started: Instant::now() }
    }

    /// Awaits `work` and keeps how long it took.
    pub async fn time<T>(&mut self, work: impl Future<Output = T>) -> T {
        let start = Instant::now();
        let out = work.await;
        self.durations.push(start.elapsed());
        out
    }

    pub fn push(&mut self, took: Duration) {
        self.durations.push(took);
    }

    pub fn len(&self) -> usize {
        self.durations.len()
    }

    pub fn stats(&self) -> Stats {
        let mut sorted = self.durations.clone();
        sorted.sort_unstable();
        // Nearest rank: the smallest sample with at least q of them at or below it.
        let rank = |q: f64| {
            let i = (q * sorted.len() as f64).ceil() as usize;
            sorted.get(i.saturating_sub(1)).copied().unwrap_or_default()
        };
        Stats {
            n: sorted.len(),
            median: rank(0.5),
            p99: rank(0.99),
            max: sorted.last().copied().unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub n: usize,
    pub median: Duration,
    pub p99: Duration,
    pub max: Duration,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub struct Report {
    backend: Backend,
    rows: u64,
    json: Option<File>,
}

impl Report {
    pub fn new(backend: Backend, rows: u64, json: Option<&Path>) -> anyhow::Result<Self> {
        let json = json
            .map(|path| {
                File::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("could not open {}", path.display()))
            })
            .transpose()?;
        Ok(Self { backend, rows, json })
    }

    pub fn latency(&mut self, key: &str, label: &str, stats: &Stats) -> anyhow::Result<()> {
        println!(
            "  {label:<52} median {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms   (n={})",
            ms(stats.median),
            ms(stats.p99),
            ms(stats.max),
            stats.n
        );
        self.write(serde_json::json!({
            "key": key,
            "label": label,
            "n": stats.n,
            "median_ms": ms(stats.median),
            "p99_ms": ms(stats.p99),
            "max_ms": ms(stats.max),
        }))
    }

    pub fn figure(&mut self, key: &str, label: &str, value: f64, unit: &str) -> anyhow::Result<()> {
        println!("  {label:<52} {value:.1} {unit}");
        self.write(serde_json::json!({ "key": key, "label": label, "value": value, "unit": unit }))
    }

    fn write(&mut self, mut line: serde_json::Value) -> anyhow::Result<()> {
        let Some(file) = &mut self.json else { return Ok(()) };
        line["backend"] = self.backend.to_string().into();
        line["rows"] = self.rows.into();
        writeln!(file, "{line}")?;
        Ok(())
    }
}
