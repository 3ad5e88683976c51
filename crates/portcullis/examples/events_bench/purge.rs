//! The retention purge of the older half of the rows, as the background
//! task runs it (`Service::purge_events`: bounded batches, a pause between
//! them), with page reads and one-event writes going on beside it; and the
//! same reads and writes without a purge, to compare with.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use async_trait::async_trait;
use portcullis_domain::{ClientId, Event, EventId, Timestamp, now};
use portcullis_service::{Service, events::ListEvents};
use portcullis_store::{EventQuery, EventStore, Stores};
use tokio::{sync::watch, task::JoinHandle, time::MissedTickBehavior};

use crate::{
    measure::{Report, Samples},
    seed::{Population, live_event},
};

/// A page read every this often, beside the purge.
const READ_EVERY: Duration = Duration::from_millis(10);
/// A one-event write every this often.
const WRITE_EVERY: Duration = Duration::from_millis(20);

/// The store as the service sees it, timing each `purge_events` call: one
/// batch, one statement, i.e. how long it holds the write lock at most
/// (SQLite) or its rows' locks (PostgreSQL).
pub struct PurgeTimer {
    inner: Arc<dyn EventStore>,
    batches: Mutex<Samples>,
}

impl PurgeTimer {
    pub fn new(inner: Arc<dyn EventStore>) -> Self {
        Self { inner, batches: Mutex::new(Samples::new()) }
    }

    fn take(&self) -> Samples {
        std::mem::replace(&mut self.batches.lock().unwrap_or_else(|e| e.into_inner()), Samples::new())
    }
}

#[async_trait]
impl EventStore for PurgeTimer {
    async fn insert_events(&self, events: &[Event]) -> portcullis_store::Result<()> {
        self.inner.insert_events(events).await
    }

    async fn get_event(&self, id: EventId) -> portcullis_store::Result<Option<Event>> {
        self.inner.get_event(id).await
    }

    async fn list_events(&self, query: &EventQuery) -> portcullis_store::Result<Vec<Event>> {
        self.inner.list_events(query).await
    }

    async fn purge_events(&self, before: Timestamp, limit: u32) -> portcullis_store::Result<u64> {
        let start = Instant::now();
        let purged = self.inner.purge_events(before, limit).await;
        self.batches.lock().unwrap_or_else(|e| e.into_inner()).push(start.elapsed());
        purged
    }
}

pub async fn measure(
    service: &Service,
    stores: &Stores,
    timer: &PurgeTimer,
    pop: &Population,
    baseline: Duration,
    report: &mut Report,
) -> anyhow::Result<()> {
    let load = Load::start(service, stores, pop.hot);
    tokio::time::sleep(baseline).await;
    let (reads, writes) = load.stop().await?;
    report.latency("reads_alone", "page reads, no purge running", &reads.stats())?;
    report.latency("writes_alone", "one-event writes, no purge running", &writes.stats())?;

    // The retention that puts the older half of the week past it.
    let middle = pop.start + (pop.end - pop.start) / 2;
    let retention = (now() - middle).to_std().context("the seeded week lies in the future")?;
    timer.take();
    let load = Load::start(service, stores, pop.hot);
    let start = Instant::now();
    let purged = service.purge_events(retention).await?;
    let took = start.elapsed();
    let (reads, writes) = load.stop().await?;
    let batches = timer.take();

    report.figure("purged", "rows purged", purged as f64, "rows")?;
    report.figure("purge_time", "purge in all (service batches and pauses)", took.as_secs_f64(), "s")?;
    report.figure("purge_rate", "purge rate", purged as f64 / took.as_secs_f64(), "rows/s")?;
    report.latency("purge_batch", "one purge batch (one DELETE)", &batches.stats())?;
    report.latency("reads_purging", "page reads while purging", &reads.stats())?;
    report.latency("writes_purging", "one-event writes while purging", &writes.stats())?;
    // The rows seeded before the middle of the week, and perhaps the one
    // at it: the cut-off moves on by the time the service computes it.
    let expected = pop.rows.div_ceil(2);
    ensure!(
        (expected..=expected + 1).contains(&purged),
        "the purge deleted {purged} rows, not the {expected} past the retention"
    );
    Ok(())
}

/// Reads (the first page of all events and of the hot client, in turn)
/// and one-event writes at a steady pace, each timed, until stopped.
struct Load {
    stop: watch::Sender<bool>,
    reader: JoinHandle<anyhow::Result<Samples>>,
    writer: JoinHandle<anyhow::Result<Samples>>,
}

impl Load {
    fn start(service: &Service, stores: &Stores, hot: ClientId) -> Self {
        let (stop, stopped) = watch::channel(false);
        let service = service.clone();
        let reader = every(READ_EVERY, stopped.clone(), move |i| {
            let service = service.clone();
            let request =
                ListEvents { limit: Some(50), client_id: (i % 2 == 1).then_some(hot), ..Default::default() };
            async move {
                let page = service.list_events(&portcullis_service::Caller::cli(), request).await?;
                ensure!(!page.items.is_empty(), "an empty first page");
                Ok(())
            }
        });
        let events = stores.events.clone();
        let writer = every(WRITE_EVERY, stopped, move |_| {
            let events = events.clone();
            async move { Ok(events.insert_events(&[live_event(hot)]).await?) }
        });
        Self { stop, reader, writer }
    }

    async fn stop(self) -> anyhow::Result<(Samples, Samples)> {
        let _ = self.stop.send(true);
        Ok((self.reader.await??, self.writer.await??))
    }
}

/// Runs `work(i)` every `period` (later if one runs long: a stalled call
/// delays the next, it does not pile them up), timing each.
fn every<F, Fut>(
    period: Duration,
    mut stopped: watch::Receiver<bool>,
    work: F,
) -> JoinHandle<anyhow::Result<Samples>>
where
    F: Fn(usize) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    tokio::spawn(async move {
        let mut samples = Samples::new();
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => return Ok(samples),
            }
            let i = samples.len();
            samples.time(work(i)).await?;
        }
    })
}
