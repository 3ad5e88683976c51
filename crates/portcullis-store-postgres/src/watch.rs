//! The change feed: listening for `pg_notify('portcullis_changes', …)` from
//! the triggers, so that this instance's caches see commits made by any
//! other one, and knowing how far behind the feed may be.
//!
//! A notification says only that something changed; every one bumps the
//! store's generation, and caches drop what they hold when it moves.
//!
//! **How stale can a cache be?** Notifications can be lost (the listening
//! connection is killed, the server fails over) or held up (a network
//! pause: TCP reports nothing for minutes). So each instance sends itself
//! a heartbeat on the same channel every quarter of the staleness bound,
//! on a connection of its own: `hb <instance> <sent-at>`. PostgreSQL delivers a
//! channel's notifications in commit order, so when the listener receives
//! its own heartbeat sent at `t`, it has received every change committed
//! before `t`. The feed is *fresh* while the newest heartbeat received was
//! sent within the bound (default 2 s); otherwise every read of the
//! generation answers a new number, so no cache trusts itself, until
//! heartbeats arrive again. A listener that receives no heartbeat for the
//! bound is taken for stalled, dropped and reconnected.
//!
//! Other instances' heartbeats are not changes. A write waits, besides, for
//! the other serving instances to acknowledge it (see `peers`).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgListener, PgPoolOptions},
};
use tokio::sync::{Notify, oneshot};
use uuid::Uuid;

use crate::peers::{self, Peers};

/// The channel the migrations' triggers notify.
pub(crate) const CHANNEL: &str = "portcullis_changes";

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const HEARTBEAT_PREFIX: &str = "hb ";

/// The store's change counter, and how fresh the feed behind it is.
#[derive(Debug)]
pub(crate) struct Generation {
    counter: AtomicU64,
    /// While the listener is not connected, notifications are being missed.
    listening: AtomicBool,
    /// This instance's name in its heartbeats.
    instance: Uuid,
    /// The clock heartbeats are stamped with: milliseconds since `epoch`.
    epoch: Instant,
    /// When the newest heartbeat received was sent (ms since `epoch`); 0: none yet.
    confirmed_ms: AtomicU64,
    /// Signalled whenever `confirmed_ms` moves.
    confirmed: Notify,
    /// Asks the heartbeat task for a heartbeat now (the listener connected).
    beat_now: Notify,
    max_staleness: Duration,
    /// The other instances, and their acknowledgements of our writes.
    pub(crate) peers: Peers,
}

impl Generation {
    /// One that acknowledges no other instance's writes.
    #[cfg(test)]
    pub(crate) fn new(max_staleness: Duration) -> Self {
        Self::with_peers(max_staleness, false)
    }

    /// `acknowledges`: this store serves requests from its caches, and
    /// acknowledges every other instance's writes (see `peers`).
    pub(crate) fn with_peers(max_staleness: Duration, acknowledges: bool) -> Self {
        let instance = Uuid::new_v4();
        Self {
            counter: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            instance,
            epoch: Instant::now(),
            confirmed_ms: AtomicU64::new(0),
            confirmed: Notify::new(),
            beat_now: Notify::new(),
            max_staleness,
            peers: Peers::new(instance.simple().to_string(), acknowledges),
        }
    }

    pub(crate) fn bump(&self) {
        self.counter.fetch_add(1, Ordering::AcqRel);
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// How long ago the newest heartbeat received was sent: everything
    /// committed before then has been seen. `None` while the listener is
    /// not connected or no heartbeat has come back yet.
    pub(crate) fn staleness(&self) -> Option<Duration> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let confirmed = self.confirmed_ms.load(Ordering::Acquire);
        (confirmed > 0).then(|| Duration::from_millis(self.now_ms().saturating_sub(confirmed)))
    }

    fn fresh(&self) -> bool {
        self.staleness().is_some_and(|s| s <= self.max_staleness)
    }

    pub(crate) fn current(&self) -> u64 {
        if self.fresh() {
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

    #[cfg(test)]
    fn heartbeat_payload(&self, sent_ms: u64) -> String {
        self.heartbeat_payload_of(sent_ms, false)
    }

    /// A periodic heartbeat, or (`settle`) a write's, which asks the other
    /// instances to acknowledge it.
    fn heartbeat_payload_of(&self, sent_ms: u64, settle: bool) -> String {
        let suffix = self.peers.heartbeat_suffix(settle, self.listening.load(Ordering::Acquire));
        let space = if suffix.is_empty() { "" } else { " " };
        format!("{HEARTBEAT_PREFIX}{} {sent_ms}{space}{suffix}", self.instance.simple())
    }

    /// A notification arrived: a change, a heartbeat (ours or a peer's), or a
    /// peer's acknowledgement of a write.
    fn received(&self, payload: &str) {
        if let Some(peer) = payload.strip_prefix(peers::BYE_PREFIX) {
            if self.peers.gone(peer) {
                self.confirmed.notify_waiters();
            }
            return;
        }
        if let Some(ack) = payload.strip_prefix(peers::ACK_PREFIX) {
            if self.peers.acknowledged(ack, self.now_ms()) {
                self.confirmed.notify_waiters();
            }
            return;
        }
        let Some(heartbeat) = payload.strip_prefix(HEARTBEAT_PREFIX) else {
            self.bump();
            return;
        };
        let mut parts = heartbeat.split(' ');
        let (Some(instance), Some(sent)) = (parts.next(), parts.next()) else { return };
        if instance != self.instance.simple().to_string() {
            self.peers.heartbeat(instance, sent, parts.next());
            return;
        }
        // A stamp from the future was not sent by us (our clock only moves
        // forward): counting it would keep the feed "fresh" past any stall.
        if let Ok(sent_ms) = sent.parse::<u64>()
            && sent_ms <= self.now_ms()
        {
            self.confirmed_ms.fetch_max(sent_ms, Ordering::AcqRel);
            self.confirmed.notify_waiters();
        }
    }

    /// How long until the listener, silent since the newest heartbeat (or
    /// since it connected, at `connected_ms`), counts as stalled; zero once it does.
    fn silent_for(&self, connected_ms: u64) -> Duration {
        let newest = self.confirmed_ms.load(Ordering::Acquire).max(connected_ms);
        let deadline =
            newest.saturating_add(u64::try_from(self.max_staleness.as_millis()).unwrap_or(u64::MAX));
        Duration::from_millis(deadline.saturating_sub(self.now_ms()))
    }

    fn heard_since(&self, sent_ms: u64) -> bool {
        self.confirmed_ms.load(Ordering::Acquire) >= sent_ms
    }
}

/// Sends one heartbeat through `pool` (a write's, asking to be
/// acknowledged, when `settle`); returns when it was stamped.
async fn heartbeat(pool: &PgPool, generation: &Generation, settle: bool) -> Result<u64, sqlx::Error> {
    let sent_ms = generation.now_ms();
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(generation.heartbeat_payload_of(sent_ms, settle))
        .execute(pool)
        .await?;
    Ok(sent_ms)
}

/// Waits until the listener has received everything committed before this
/// call, and every other serving instance has acknowledged receiving it
/// too (see `peers`), at most the staleness bound: a write's answer then
/// reaches its caller after every instance has the write's notification.
/// Errors and timeouts end the wait (the write is committed either way;
/// the bound still holds for every other instance).
pub(crate) async fn settle(pool: &PgPool, generation: &Generation) {
    if !generation.listening.load(Ordering::Acquire) {
        return;
    }
    let wait = async {
        let sent_ms = heartbeat(pool, generation, true).await?;
        loop {
            // Acknowledgements signal `confirmed` too.
            let heard = generation.confirmed.notified();
            if generation.heard_since(sent_ms)
                && generation.peers.all_acknowledged(sent_ms, generation.max_staleness)
            {
                return Ok::<_, sqlx::Error>(());
            }
            heard.await;
        }
    };
    match tokio::time::timeout(generation.max_staleness, wait).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "could not confirm a write on the change feed"),
        Err(_) => tracing::debug!("the change feed did not confirm a write within the staleness bound"),
    }
}

/// This instance stopped serving: tells the others not to wait for its
/// acknowledgements (see `peers`), at most the staleness bound. Without it
/// they would wait up to the bound on every write until they stopped
/// hearing its heartbeats.
pub(crate) async fn leave(pool: &PgPool, generation: &Generation) {
    let bye = generation.peers.leave();
    let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(bye).execute(pool);
    match tokio::time::timeout(generation.max_staleness, sent).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "could not tell the other instances that this one stopped"),
        Err(_) => tracing::debug!("telling the other instances that this one stopped took too long"),
    }
}

/// Starts the listener task and the heartbeat task, each on a connection of
/// its own to `direct` (never through a pooler, never waiting behind
/// queries for a pool slot); both stop when `stop`'s sender is dropped.
/// Returns the heartbeats' pool, for [`settle`].
pub(crate) fn spawn(
    direct: PgConnectOptions,
    generation: Arc<Generation>,
    stop: oneshot::Receiver<()>,
) -> PgPool {
    let one = |name: &str| {
        PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(MAX_BACKOFF)
            .connect_lazy_with(direct.clone().application_name(name))
    };
    // The listener reconnects through its pool.
    let listener = one("portcullis-watch");
    let heartbeats = one("portcullis-heartbeat");
    let (stop_heartbeats, heartbeats_stopped) = oneshot::channel::<()>();
    tokio::spawn(beat(heartbeats.clone(), generation.clone(), heartbeats_stopped));
    tokio::spawn(async move {
        run(listener, generation, stop).await;
        drop(stop_heartbeats);
    });
    heartbeats
}

async fn beat(pool: PgPool, generation: Arc<Generation>, mut stop: oneshot::Receiver<()>) {
    let mut tick = tokio::time::interval(generation.max_staleness / 4);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let beat = tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => true,
            () = generation.beat_now.notified() => true,
            () = generation.peers.owe.notified() => false,
        };
        let acks = generation.peers.take_owed();
        if !acks.is_empty() {
            let sent = tokio::select! {
                _ = &mut stop => return,
                sent = tokio::time::timeout(generation.max_staleness, acknowledge(&pool, &acks)) => sent,
            };
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "could not acknowledge other instances' writes"),
                Err(_) => tracing::debug!(
                    "acknowledging other instances' writes took longer than the staleness bound"
                ),
            }
        }
        if !beat {
            continue;
        }
        // A heartbeat that hangs (a paused network) must not hold up the
        // next one: each has the bound to arrive.
        let sent = tokio::select! {
            _ = &mut stop => return,
            sent = tokio::time::timeout(generation.max_staleness, heartbeat(&pool, &generation, false)) => sent,
        };
        match sent {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "could not send a change-feed heartbeat"),
            Err(_) => tracing::debug!("a change-feed heartbeat took longer than the staleness bound"),
        }
    }
}

/// Sends the acknowledgements `acks` (see `peers`) in one statement.
async fn acknowledge(pool: &PgPool, acks: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, ack) FROM unnest($2::text[]) AS ack")
        .bind(CHANNEL)
        .bind(acks)
        .execute(pool)
        .await?;
    Ok(())
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
            listened = tokio::time::timeout(MAX_BACKOFF, listen(&pool)) => listened,
        };
        match listened {
            Ok(Ok(mut listener)) => {
                generation.set_listening(true);
                backoff = MIN_BACKOFF;
                generation.beat_now.notify_one();
                let connected_ms = generation.now_ms();
                loop {
                    // No heartbeat of ours for the bound since we connected
                    // or since the newest one: the connection is stalled or
                    // delivers nothing. Drop it and connect again.
                    let stalled_in = generation.silent_for(connected_ms);
                    let received = tokio::select! {
                        _ = &mut stop => return,
                        received = listener.try_recv() => Some(received),
                        () = tokio::time::sleep(stalled_in) => None,
                    };
                    match received {
                        Some(Ok(Some(notification))) => generation.received(notification.payload()),
                        // The connection was lost and has been re-established:
                        // notifications sent in between are lost.
                        Some(Ok(None)) => {
                            generation.bump();
                            tracing::warn!(
                                "lost the PostgreSQL change listener's connection and made a new one; \
                                 caches start over"
                            );
                        }
                        Some(Err(e)) => {
                            generation.set_listening(false);
                            tracing::warn!(error = %e, "lost the PostgreSQL change listener; reconnecting");
                            break;
                        }
                        None if generation.silent_for(connected_ms).is_zero() => {
                            generation.set_listening(false);
                            tracing::warn!(
                                bound_ms = generation.max_staleness.as_millis(),
                                "the PostgreSQL change listener received no heartbeat within the staleness \
                                 bound; caches are bypassed until it has reconnected"
                            );
                            break;
                        }
                        None => {}
                    }
                }
            }
            Ok(Err(e)) => {
                generation.set_listening(false);
                tracing::warn!(error = %e, "cannot listen for PostgreSQL changes; retrying");
            }
            Err(_) => {
                generation.set_listening(false);
                tracing::warn!("connecting the PostgreSQL change listener timed out; retrying");
            }
        }
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_confirm_only_our_own_and_are_not_changes() {
        let generation = Generation::new(Duration::from_secs(2));
        generation.set_listening(true);
        let before = generation.counter.load(Ordering::Acquire);
        assert!(!generation.fresh(), "no heartbeat yet: not fresh");

        let peer = Generation::new(Duration::from_secs(2));
        generation.received(&peer.heartbeat_payload(5));
        assert_eq!(generation.counter.load(Ordering::Acquire), before, "a peer's heartbeat is not a change");
        assert!(!generation.fresh(), "a peer's heartbeat confirms nothing of ours");

        let sent = generation.now_ms();
        generation.received(&generation.heartbeat_payload(sent));
        assert!(generation.fresh());
        assert_eq!(generation.current(), before, "fresh: the generation holds");
        assert_eq!(generation.current(), before);

        generation.received("api_clients");
        assert_eq!(generation.current(), before + 1, "a table's notification is a change");

        // Malformed heartbeats are ignored.
        for odd in ["hb ", "hb x", "hb x y z", &format!("hb {} nope", generation.instance.simple())] {
            generation.received(odd);
        }
        assert_eq!(generation.current(), before + 1);
    }

    #[test]
    fn a_heartbeat_stamped_in_the_future_confirms_nothing() {
        // Anyone who may NOTIFY could send our id with a stamp far ahead;
        // counted, it would hold the feed fresh through any stall.
        let generation = Generation::new(Duration::from_millis(50));
        generation.set_listening(true);
        let ahead = generation.now_ms() + 60_000;
        for stamp in [u64::MAX, ahead] {
            generation.received(&generation.heartbeat_payload(stamp));
            assert!(!generation.fresh(), "a stamp from the future ({stamp}) is not ours");
        }
        generation.received(&generation.heartbeat_payload(generation.now_ms()));
        assert!(generation.fresh());
        std::thread::sleep(Duration::from_millis(60));
        generation.received(&generation.heartbeat_payload(u64::MAX));
        assert!(!generation.fresh(), "past the bound, a forged stamp does not revive the feed");
        assert!(generation.silent_for(0).is_zero(), "the listener counts as stalled and is reconnected");
    }

    #[test]
    fn past_the_bound_every_read_is_a_new_generation() {
        let generation = Generation::new(Duration::from_millis(1));
        generation.set_listening(true);
        generation.received(&generation.heartbeat_payload(generation.now_ms()));
        std::thread::sleep(Duration::from_millis(5));
        assert!(!generation.fresh());
        let a = generation.current();
        assert_ne!(generation.current(), a, "stale: no cache may trust itself");
        assert!(generation.staleness().is_some_and(|s| s >= Duration::from_millis(4)));

        generation.set_listening(false);
        assert_eq!(generation.staleness(), None);
    }
}
