//! The other instances on the change feed, and their acknowledgements of
//! this instance's writes.
//!
//! Our listener having a write's notification says nothing of another
//! instance's: its listener may be behind (a slow network, a busy machine)
//! while its own heartbeats still come back within the bound, so that it
//! counts itself fresh and answers from a cache older than the write. So a
//! write's heartbeat asks to be acknowledged (`hb <writer> <sent> settle`),
//! and every serving instance whose listener receives it answers
//! `ack <writer> <sent> <instance>`: having received the heartbeat, it has
//! received the write's notification before it (commit order) and dropped
//! its caches. The write is answered once every peer heard from within the
//! bound has acknowledged it, or once the bound has passed (by then every
//! instance has either received the write or counts itself stale: see
//! `watch`).
//!
//! Serving instances say that they acknowledge in their periodic heartbeats
//! (`hb <instance> <sent> acks`), and only they are waited for: a CLI
//! command, or an instance of an earlier release, answers no request from a
//! cache and is not waited for.

use std::{
    collections::HashMap,
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::Notify;

/// Notifications that acknowledge a write (not a change).
pub(crate) const ACK_PREFIX: &str = "ack ";
/// `bye <instance>`: an instance stopped serving (a clean stop); nobody
/// waits for it any more.
pub(crate) const BYE_PREFIX: &str = "bye ";
/// After a heartbeat's stamp: a write asks to be acknowledged.
pub(crate) const SETTLE: &str = "settle";
/// After a periodic heartbeat's stamp: the sender acknowledges writes.
pub(crate) const ACKS: &str = "acks";
/// At most this many peers (and writers owed an acknowledgement) are kept:
/// whoever may `NOTIFY` cannot grow them without bound.
const MAX_PEERS: usize = 256;

#[derive(Debug)]
pub(crate) struct Peers {
    /// This instance's name in heartbeats.
    me: String,
    /// Whether this instance acknowledges others' writes (it serves).
    pub(crate) acknowledges: bool,
    /// This instance has stopped serving (see [`Peers::leave`]).
    left: AtomicBool,
    /// Peers that acknowledge, and when each was last heard.
    seen: Mutex<HashMap<String, Instant>>,
    /// By peer: the newest of our stamps it has acknowledged.
    acked: Mutex<HashMap<String, u64>>,
    /// By writer: the newest of its stamps we owe an acknowledgement.
    owed: Mutex<HashMap<String, u64>>,
    /// Signalled when an acknowledgement is owed.
    pub(crate) owe: Notify,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An instance's name as heartbeats carry it (a UUID's 32 hex digits).
fn is_instance(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Inserts or raises `key`, forgetting the first entry when full.
fn remember<V: Ord + Copy>(map: &mut HashMap<String, V>, key: &str, value: V) {
    if let Some(v) = map.get_mut(key) {
        *v = (*v).max(value);
        return;
    }
    if map.len() >= MAX_PEERS
        && let Some(oldest) = map.iter().min_by_key(|(_, v)| **v).map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
    map.insert(key.to_owned(), value);
}

impl Peers {
    pub(crate) fn new(me: String, acknowledges: bool) -> Self {
        Self {
            me,
            acknowledges,
            left: AtomicBool::new(false),
            seen: Mutex::default(),
            acked: Mutex::default(),
            owed: Mutex::default(),
            owe: Notify::new(),
        }
    }

    /// What follows the stamp of our heartbeats: a write's, or a periodic
    /// one. Only while our listener is `listening` can we acknowledge (and
    /// while it is not, our caches are bypassed: nobody need wait for us).
    pub(crate) fn heartbeat_suffix(&self, settle: bool, listening: bool) -> &'static str {
        let serving = self.acknowledges && !self.left.load(Ordering::Acquire);
        match (settle, serving && listening) {
            (true, _) => SETTLE,
            (false, true) => ACKS,
            (false, false) => "",
        }
    }

    /// This instance stops serving: its heartbeats no longer say that it
    /// acknowledges, and it owes nobody an acknowledgement. Returns the
    /// notification that tells the others (`bye <instance>`).
    pub(crate) fn leave(&self) -> String {
        self.left.store(true, Ordering::Release);
        locked(&self.owed).clear();
        format!("{BYE_PREFIX}{}", self.me)
    }

    /// A peer's `bye` (what follows [`BYE_PREFIX`]): it is waited for no
    /// more, until it says again that it acknowledges. True when it was.
    pub(crate) fn gone(&self, peer: &str) -> bool {
        peer != self.me && locked(&self.seen).remove(peer).is_some()
    }

    /// A peer's heartbeat `hb <peer> <sent> <kind>`.
    pub(crate) fn heartbeat(&self, peer: &str, sent: &str, kind: Option<&str>) {
        if !is_instance(peer) || peer == self.me {
            return;
        }
        match kind {
            Some(ACKS) => remember(&mut locked(&self.seen), peer, Instant::now()),
            Some(SETTLE) if self.acknowledges && !self.left.load(Ordering::Acquire) => {
                if let Ok(sent) = sent.parse::<u64>() {
                    remember(&mut locked(&self.owed), peer, sent);
                    self.owe.notify_one();
                }
            }
            _ => {}
        }
    }

    /// An acknowledgement `<writer> <sent> <peer>` (after [`ACK_PREFIX`]);
    /// true when it acknowledges a write of ours. `now_ms` is our clock: a
    /// stamp after it was never ours (counted, it would acknowledge every
    /// write to come).
    pub(crate) fn acknowledged(&self, ack: &str, now_ms: u64) -> bool {
        let mut parts = ack.split(' ');
        let (Some(writer), Some(sent), Some(peer)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        if writer != self.me || !is_instance(peer) {
            return false;
        }
        let Ok(sent) = sent.parse::<u64>() else { return false };
        if sent > now_ms {
            return false;
        }
        remember(&mut locked(&self.acked), peer, sent);
        true
    }

    /// Whether every peer heard from within `bound` has acknowledged our
    /// write stamped `sent`.
    pub(crate) fn all_acknowledged(&self, sent: u64, bound: Duration) -> bool {
        let acked = locked(&self.acked);
        locked(&self.seen)
            .iter()
            .filter(|(_, heard)| heard.elapsed() <= bound)
            .all(|(peer, _)| acked.get(peer).is_some_and(|&a| a >= sent))
    }

    /// The acknowledgements owed now, as notification payloads.
    pub(crate) fn take_owed(&self) -> Vec<String> {
        locked(&self.owed)
            .drain()
            .map(|(writer, sent)| format!("{ACK_PREFIX}{writer} {sent} {}", self.me))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "0123456789abcdef0123456789abcdef";
    const PEER: &str = "fedcba9876543210fedcba9876543210";
    const BOUND: Duration = Duration::from_secs(2);
    const NOW: u64 = 100;

    #[test]
    fn a_write_waits_for_every_acknowledging_peer_heard_within_the_bound() {
        let peers = Peers::new(ME.to_owned(), true);
        assert!(peers.all_acknowledged(10, BOUND), "alone: nobody to wait for");
        peers.heartbeat(PEER, "1", None);
        peers.heartbeat(PEER, "2", Some(SETTLE));
        assert!(peers.all_acknowledged(10, BOUND), "neither says it acknowledges (a CLI, an older release)");
        peers.heartbeat(PEER, "3", Some(ACKS));
        assert!(!peers.all_acknowledged(10, BOUND));
        assert!(!peers.acknowledged(&format!("{PEER} 10 {PEER}"), NOW), "another writer's");
        assert!(peers.acknowledged(&format!("{ME} 9 {PEER}"), NOW));
        assert!(!peers.all_acknowledged(10, BOUND), "an older write's acknowledgement");
        assert!(peers.acknowledged(&format!("{ME} 10 {PEER}"), NOW));
        assert!(peers.all_acknowledged(10, BOUND));
        assert!(peers.acknowledged(&format!("{ME} 4 {PEER}"), NOW));
        assert!(peers.all_acknowledged(10, BOUND), "acknowledgements never move back");
        assert!(!peers.all_acknowledged(11, BOUND));
        assert!(
            peers.all_acknowledged(11, Duration::ZERO),
            "a peer not heard within the bound is not waited for"
        );
        for stamp in [NOW + 1, u64::MAX] {
            assert!(!peers.acknowledged(&format!("{ME} {stamp} {PEER}"), NOW), "a stamp from the future");
        }
        assert!(!peers.all_acknowledged(11, BOUND));
    }

    #[test]
    fn a_peers_write_is_acknowledged_once_with_its_newest_stamp() {
        let peers = Peers::new(ME.to_owned(), true);
        for sent in ["7", "9", "8"] {
            peers.heartbeat(PEER, sent, Some(SETTLE));
        }
        peers.heartbeat(ME, "11", Some(SETTLE));
        assert_eq!(peers.take_owed(), vec![format!("ack {PEER} 9 {ME}")]);
        assert!(peers.take_owed().is_empty());

        assert_eq!(peers.heartbeat_suffix(false, true), ACKS);
        assert_eq!(peers.heartbeat_suffix(false, false), "", "not listening: cannot acknowledge");
        assert_eq!(peers.heartbeat_suffix(true, false), SETTLE);

        let silent = Peers::new(ME.to_owned(), false);
        assert_eq!(silent.heartbeat_suffix(false, true), "");
        silent.heartbeat(PEER, "7", Some(SETTLE));
        assert!(silent.take_owed().is_empty(), "a store that serves nothing acknowledges nothing");
    }

    #[test]
    fn a_peer_that_left_is_not_waited_for_and_one_that_leaves_acknowledges_nothing() {
        let peers = Peers::new(ME.to_owned(), true);
        peers.heartbeat(PEER, "3", Some(ACKS));
        assert!(!peers.all_acknowledged(10, BOUND));
        assert!(!peers.gone(ME), "our own name is not a peer's");
        assert!(peers.gone(PEER));
        assert!(peers.all_acknowledged(10, BOUND), "it left: nobody to wait for");
        assert!(!peers.gone(PEER), "already gone");
        peers.heartbeat(PEER, "4", Some(ACKS));
        assert!(!peers.all_acknowledged(10, BOUND), "back: waited for again");

        peers.heartbeat(PEER, "5", Some(SETTLE));
        assert_eq!(peers.leave(), format!("bye {ME}"));
        assert!(peers.take_owed().is_empty(), "leaving: owes nothing");
        peers.heartbeat(PEER, "6", Some(SETTLE));
        assert!(peers.take_owed().is_empty());
        assert_eq!(peers.heartbeat_suffix(false, true), "", "no longer says it acknowledges");
        assert_eq!(peers.heartbeat_suffix(true, true), SETTLE, "its own writes still ask");
    }

    #[test]
    fn odd_names_and_stamps_are_ignored_and_a_flood_stays_bounded() {
        let peers = Peers::new(ME.to_owned(), true);
        for odd in ["", "x", &PEER.to_uppercase(), &format!("{PEER}0"), "é".repeat(16).as_str()] {
            peers.heartbeat(odd, "1", Some(ACKS));
            peers.heartbeat(odd, "1", Some(SETTLE));
            assert!(!peers.acknowledged(&format!("{ME} 1 {odd}"), NOW));
        }
        for odd in ["", "1", &format!("{ME} -1 {PEER}"), &format!("{ME} x {PEER}"), &format!("{ME} 1")] {
            assert!(!peers.acknowledged(odd, NOW), "{odd:?}");
        }
        peers.heartbeat(PEER, "-1", Some(SETTLE));
        assert!(peers.take_owed().is_empty());
        assert!(peers.all_acknowledged(1, BOUND));

        for n in 0..(MAX_PEERS as u128 * 4) {
            let name = format!("{n:032x}");
            peers.heartbeat(&name, "1", Some(ACKS));
            peers.heartbeat(&name, "1", Some(SETTLE));
            peers.acknowledged(&format!("{ME} 1 {name}"), NOW);
        }
        assert!(locked(&peers.seen).len() <= MAX_PEERS);
        assert!(locked(&peers.acked).len() <= MAX_PEERS);
        assert_eq!(peers.take_owed().len(), MAX_PEERS);
    }
}
