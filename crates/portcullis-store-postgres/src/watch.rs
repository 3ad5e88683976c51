//! Listening for `pg_notify('portcullis_changes', …)` from the triggers, so
//! that this instance's caches see commits made by any other one.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgListener, PgPoolOptions},
};
use tokio::sync::oneshot;

/// The channel the migrations' triggers notify.
pub(crate) const CHANNEL: &str = "portcullis_changes";

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The store's change counter.
#[derive(Debug, Default)]
pub(crate) struct Generation {
    counter: AtomicU64,
    /// While the listener is not connected, notifications are being missed:
    /// every read then answers a new number, so that no cache trusts itself.
    listening: AtomicBool,
}

impl Generation {
    pub(crate) fn bump(&self) {
        self.counter.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn current(&self) -> u64 {
        if self.listening.load(Ordering::Acquire) {
            self.counter.load(Ordering::Acquire)
        } else {
            self.counter.fetch_add(1, Ordering::AcqRel) + 1
        }
    }

    fn set_listening(&self, on: bool) {
        self.listening.store(on, Ordering::Release);
        // Anything committed before listening started (or while it was
        // down) may have been missed.
        self.bump();
    }
}

/// Starts the listener task; it stops when `stop`'s sender is dropped.
pub(crate) fn spawn(options: PgConnectOptions, generation: Arc<Generation>, stop: oneshot::Receiver<()>) {
    // A pool of its own, so that the listening connection never takes a
    // slot from queries; the listener reconnects through it.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(MAX_BACKOFF)
        .connect_lazy_with(options);
    tokio::spawn(run(pool, generation, stop));
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn run(pool: PgPool, generation: Arc<Generation>, mut stop: oneshot::Receiver<()>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let listened = tokio::select! {
            _ = &mut stop => return,
            listened = listen(&pool) => listened,
        };
        match listened {
            Ok(mut listener) => {
                generation.set_listening(true);
                backoff = MIN_BACKOFF;
                loop {
                    let received = tokio::select! {
                        _ = &mut stop => return,
                        received = listener.try_recv() => received,
                    };
                    match received {
                        Ok(Some(_)) => generation.bump(),
                        // The connection was lost and has been re-established:
                        // notifications sent in between are lost.
                        Ok(None) => generation.bump(),
                        Err(e) => {
                            generation.set_listening(false);
                            tracing::warn!(error = %e, "lost the PostgreSQL change listener; reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                generation.set_listening(false);
                tracing::warn!(error = %e, "cannot listen for PostgreSQL changes; retrying");
            }
        }
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
