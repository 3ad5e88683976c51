//! Pages of events with millions of rows, and purging millions of them.
//!
//! Seeds `--rows` events spread over seven days through `insert_events`
//! (batches of 5,000, as the pipeline writes them), times the listings the
//! API serves through the service layer (its cursor code included), then
//! purges the older half with the service's bounded batches while page
//! reads and one-event writes keep running beside it, and measures those
//! too. `bench/events-pages` runs it for both backends and prints a table.
//!
//! ```sh
//! cargo run --release -p portcullis --example events_bench -- --backend sqlite --rows 2000000
//! ```
//!
//! SQLite goes into a temp dir (or `--dir`); PostgreSQL into a database
//! created on `--pg-url`'s server and dropped afterwards, also on error and
//! on Ctrl-C.
#![allow(clippy::print_stdout)] // a benchmark's output is its point

mod backend;
mod measure;
mod pages;
mod purge;
mod seed;

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, anyhow};
use clap::Parser;
use portcullis_service::{MasterKey, Service, ServiceConfig};
use portcullis_store::Stores;

use crate::{
    backend::{Backend, Scratch},
    measure::{Budget, Report},
};

#[derive(Debug, Parser)]
#[command(about = "Times pages of events and a purge with millions of rows")]
struct Args {
    #[arg(long, value_enum)]
    backend: Backend,
    /// Events to seed, spread evenly over seven days ending now.
    #[arg(long, default_value_t = 2_000_000)]
    rows: u64,
    /// Clients the events belong to: one hot (about 5 % of the rows), the
    /// rest by a long tail.
    #[arg(long, default_value_t = 1_000)]
    clients: usize,
    /// Timed repetitions of each query, at most.
    #[arg(long, default_value_t = 300)]
    reps: usize,
    /// Seconds one query may take in all before its repetitions stop (after 10).
    #[arg(long, default_value_t = 20)]
    budget: u64,
    /// Seconds of reads and writes measured without a purge, to compare with.
    #[arg(long, default_value_t = 10)]
    baseline: u64,
    /// SQLite: the directory for the database (default: a temp dir, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// PostgreSQL: the server; the benchmark creates a database of its own there.
    #[arg(
        long,
        env = "PORTCULLIS_TEST_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pg_url: String,
    /// PostgreSQL: the name of that database (it must not exist).
    #[arg(long, default_value_t = format!("portcullis_bench_{}", std::process::id()))]
    pg_database: String,
    /// Also append each result as a JSON line to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Seed of the generated data (the same seed, the same rows, ids aside).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            std::env::var("PORTCULLIS_LOG").unwrap_or_else(|_| "warn,sqlx::query=error".to_owned()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let scratch = Scratch::create(&args).await?;
    let outcome = tokio::select! {
        outcome = run(&args, &scratch) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    let removed = scratch.remove().await;
    outcome?;
    removed
}

async fn run(args: &Args, scratch: &Scratch) -> anyhow::Result<()> {
    let stores = scratch.open().await?;
    // Every purge batch is timed where the service calls the store.
    let timer = Arc::new(purge::PurgeTimer::new(stores.events.clone()));
    let stores = Stores { events: timer.clone(), ..stores };
    let config = ServiceConfig::new("http://bench", "http://bench");
    let service = Service::start(stores.clone(), config, &MasterKey::generate())
        .await
        .context("starting the service")?;
    let mut report = Report::new(args.backend, args.rows, args.json.as_deref())?;
    println!("== {} ({}), {} rows, {} clients", args.backend, scratch.describe(), args.rows, args.clients);

    let population = seed::seed(stores.events.as_ref(), args, &mut report).await?;
    scratch.settle().await?;
    report.figure("size", "events table with its indexes", scratch.size_bytes().await? as f64 / 1e6, "MB")?;

    let budget = Budget::new(args.reps, Duration::from_secs(args.budget));
    pages::measure(&service, &population, &budget, &mut report).await?;
    let baseline = Duration::from_secs(args.baseline);
    purge::measure(&service, &stores, &timer, &population, baseline, &mut report).await?;
    Ok(())
}
