//! The service's background work: flushing last-used times, purging
//! expired revocations and ended sessions, and retiring signing keys whose tokens have all
//! expired. Started by `portcullis serve`; stopped (with a last flush) on
//! shutdown.

use std::time::Duration;

use tokio::{sync::watch, task::JoinHandle};

use crate::Service;

#[derive(Debug, Clone, Copy)]
pub struct BackgroundSettings {
    /// How often last-used times are written (their precision).
    pub last_used_interval: Duration,
    /// How often expired revocations and retired keys are cleaned up.
    pub purge_interval: Duration,
    /// How often queued events are written.
    pub event_flush_interval: Duration,
    /// How long events are kept (`PORTCULLIS_EVENT_RETENTION`).
    pub event_retention: Duration,
}

impl Default for BackgroundSettings {
    fn default() -> Self {
        Self {
            last_used_interval: Duration::from_secs(5),
            purge_interval: Duration::from_secs(600),
            event_flush_interval: Duration::from_millis(200),
            event_retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    service: Service,
}

/// Runs `work` every `period` until `stopped` changes.
fn every<F, Fut>(
    period: Duration,
    mut stopped: watch::Receiver<bool>,
    service: Service,
    work: F,
) -> JoinHandle<()>
where
    F: Fn(Service) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => return,
            }
            work(service.clone()).await;
        }
    })
}

impl Service {
    pub fn spawn_background(&self, settings: BackgroundSettings) -> Background {
        let (stop, stopped) = watch::channel(false);
        let flusher =
            every(settings.last_used_interval, stopped.clone(), self.clone(), |service| async move {
                if let Err(e) = service.flush_last_used().await {
                    tracing::warn!(error = %e, "could not write last-used times; will retry");
                }
            });
        let event_writer =
            every(settings.event_flush_interval, stopped.clone(), self.clone(), |service| async move {
                if let Err(e) = service.flush_events().await {
                    tracing::warn!(error = %e, "could not write events; that batch is counted as dropped");
                }
            });
        let purger = every(settings.purge_interval, stopped, self.clone(), move |service| async move {
            match service.purge_revocations().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "purged expired revocations"),
                Err(e) => tracing::warn!(error = %e, "could not purge expired revocations"),
            }
            match service.purge_events(settings.event_retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "purged events past their retention"),
                Err(e) => tracing::warn!(error = %e, "could not purge old events"),
            }
            if let Err(e) = service.purge_sessions().await {
                tracing::warn!(error = %e, "could not purge ended sessions");
            }
            if let Err(e) = service.retire_signing_keys().await {
                tracing::warn!(error = %e, "could not retire old signing keys");
            }
        });
        Background { stop, tasks: vec![flusher, event_writer, purger], service: self.clone() }
    }
}

impl Background {
    /// Stops the tasks and writes what is still pending.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        // Both at once: with the database gone, each waits out the pool's
        // acquire timeout, and one after the other they doubled the stop.
        let (last_used, events) = tokio::join!(self.service.flush_last_used(), self.service.flush_events());
        match last_used {
            Ok(n) => tracing::debug!(clients = n, "last-used times flushed at shutdown"),
            Err(e) => tracing::warn!(error = %e, "could not flush last-used times at shutdown"),
        }
        match events {
            Ok(n) => tracing::debug!(events = n, "events flushed at shutdown"),
            Err(e) => tracing::warn!(error = %e, "could not flush events at shutdown"),
        }
    }
}
