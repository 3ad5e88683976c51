//! The memory of verified access tokens: what checking a token's signature
//! established, kept so that a token presented again (a resource server
//! introspects the same token on every call it serves) is not verified
//! again. An Ed25519 verification costs twice a signature; a lookup here
//! costs a SHA-256 of the token and a map read.
//!
//! Only what never changes is remembered: the claims the signature covers
//! and the `kid` of the key that made it. Everything that can change is
//! checked on every use, through the same generation-checked [`Cache`]
//! lookups as before (see [`Service::validate_access_token`]): that the key
//! is still published (a withdrawn key's tokens are refused at once), the
//! token's time, its client (disabled, deleted, its tokens revoked through
//! `tokens_valid_after`) and the revocation of its `jti`. So nothing here
//! needs to be dropped when something changes: a change is seen on the very
//! request after it, by the generation, as it was without this memory.
//!
//! Bounds and abuse:
//!
//! * Entries are keyed by the SHA-256 of the token; the token itself is
//!   never kept (its claims are, as every event and log line shows them).
//! * Only tokens whose signature verified with one of our keys, issued by
//!   us, and active when first seen are remembered: a flood of junk or
//!   forged tokens is refused before it reaches this memory and adds
//!   nothing to it.
//! * At most [`Limits::entries`] entries and [`Limits::bytes`] bytes. When
//!   full, a sweep (at most one a second) drops expired entries and those
//!   not used since the last sweep (a second chance: the tokens resource
//!   servers keep presenting stay); if that frees nothing, the newcomer is
//!   simply not remembered and is verified each time. So a client minting
//!   many tokens of its own cannot push out the tokens in daily use, and
//!   cannot make each request pay for a sweep.
//!
//! [`Cache`]: crate::cache::Cache
//! [`Service::validate_access_token`]: crate::Service::validate_access_token

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use portcullis_domain::{ClientId, Scope};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::jwt::AccessTokenClaims;

/// The key of a remembered token: the SHA-256 of its text.
pub(crate) type TokenDigest = [u8; 32];

pub(crate) fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// What one verification of a token established; none of it can change.
#[derive(Debug)]
pub(crate) struct Verified {
    pub claims: Arc<AccessTokenClaims>,
    /// The key whose signature verified: it must still be published.
    pub kid: String,
    pub client_id: ClientId,
    pub jti: Uuid,
    pub scope: Scope,
}

impl Verified {
    /// What an entry holds in memory, roughly: the fixed parts and every
    /// string's bytes, the scope counted twice (the claim and the parsed
    /// set), and the map's key and slot.
    fn bytes(&self) -> usize {
        let c = &self.claims;
        let text = c.iss.len()
            + c.sub.len()
            + c.client_id.len()
            + c.aud.len()
            + c.jti.len()
            + 2 * c.scope.as_ref().map_or(0, String::len)
            + self.kid.len();
        std::mem::size_of::<Self>()
            + std::mem::size_of::<AccessTokenClaims>()
            + std::mem::size_of::<TokenDigest>()
            + std::mem::size_of::<Slot>()
            + text
            // Allocation headers: eight strings and the scope's nodes.
            + 16 * (8 + self.scope.len())
    }
}

/// How much the memory may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub entries: usize,
    pub bytes: usize,
}

impl Limits {
    /// 10,000 tokens in at most 8 MiB (an entry of a token with a few
    /// permissions is about 600 bytes).
    pub const DEFAULT: Self = Self { entries: 10_000, bytes: 8 * 1024 * 1024 };
}

/// A full memory sweeps at most this often.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

struct Slot {
    entry: Arc<Verified>,
    bytes: usize,
    /// Used since the last sweep.
    used: AtomicBool,
}

#[derive(Default)]
struct Entries {
    map: HashMap<TokenDigest, Slot>,
    bytes: usize,
}

/// What the memory holds and has done, since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifiedTokenStats {
    pub entries: usize,
    pub bytes: usize,
    /// Lookups answered from memory.
    pub hits: u64,
    /// Lookups that had to verify the token.
    pub misses: u64,
    /// Verified tokens not remembered because the memory was full.
    pub refused: u64,
}

pub(crate) struct VerifiedTokens {
    limits: Limits,
    entries: RwLock<Entries>,
    last_sweep: Mutex<Option<Instant>>,
    hits: AtomicU64,
    misses: AtomicU64,
    refused: AtomicU64,
}

impl VerifiedTokens {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            entries: RwLock::new(Entries::default()),
            last_sweep: Mutex::new(None),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The remembered verification of a token, if any.
    pub(crate) fn get(&self, digest: &TokenDigest) -> Option<Arc<Verified>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let Some(slot) = entries.map.get(digest) else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        // Written only when it changes: most hits only read the flag.
        if !slot.used.load(Ordering::Relaxed) {
            slot.used.store(true, Ordering::Relaxed);
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(slot.entry.clone())
    }

    /// Forgets a token (its key is no longer published).
    pub(crate) fn remove(&self, digest: &TokenDigest) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = entries.map.remove(digest) {
            entries.bytes -= slot.bytes;
        }
    }

    /// Remembers a token that verified and was active at `now` (seconds
    /// since the epoch), unless the memory is full of tokens in use.
    pub(crate) fn insert(&self, digest: TokenDigest, entry: Arc<Verified>, now: i64) {
        let bytes = entry.bytes();
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.map.contains_key(&digest) {
            return;
        }
        let fits = |e: &Entries| e.map.len() < self.limits.entries && e.bytes + bytes <= self.limits.bytes;
        if !fits(&entries) && self.sweep_due() {
            sweep(&mut entries, now);
        }
        if !fits(&entries) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        entries.bytes += bytes;
        entries.map.insert(digest, Slot { entry, bytes, used: AtomicBool::new(false) });
    }

    fn sweep_due(&self) -> bool {
        let mut last = self.last_sweep.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < SWEEP_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    pub(crate) fn stats(&self) -> VerifiedTokenStats {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        VerifiedTokenStats {
            entries: entries.map.len(),
            bytes: entries.bytes,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// Drops expired entries and those unused since the last sweep, and marks
/// the rest unused.
fn sweep(entries: &mut Entries, now: i64) {
    let mut freed = 0;
    entries.map.retain(|_, slot| {
        let keep = slot.entry.claims.exp > now && slot.used.swap(false, Ordering::Relaxed);
        if !keep {
            freed += slot.bytes;
        }
        keep
    });
    entries.bytes -= freed;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(n: u32, exp: i64) -> Arc<Verified> {
        let client_id = ClientId::generate();
        let jti = Uuid::new_v4();
        Arc::new(Verified {
            claims: Arc::new(AccessTokenClaims {
                iss: "https://auth.example".into(),
                sub: client_id.to_string(),
                client_id: client_id.to_string(),
                aud: "https://api.example".into(),
                iat: 0,
                nbf: 0,
                exp,
                jti: jti.to_string(),
                scope: Some(format!("clients:read p{n}:read")),
            }),
            kid: "kid".into(),
            client_id,
            jti,
            scope: Scope::parse(&format!("clients:read p{n}:read")).unwrap(),
        })
    }

    fn key(n: u32) -> TokenDigest {
        digest(&format!("token {n}"))
    }

    /// Lets the next full insert sweep.
    fn let_sweep(memory: &VerifiedTokens) {
        *memory.last_sweep.lock().unwrap() = None;
    }

    #[test]
    fn a_remembered_token_is_found_by_its_digest_only() {
        let memory = VerifiedTokens::new(Limits::DEFAULT);
        let entry = verified(1, 100);
        memory.insert(key(1), entry.clone(), 0);
        assert!(Arc::ptr_eq(&memory.get(&key(1)).unwrap(), &entry));
        assert!(memory.get(&key(2)).is_none());
        assert_eq!(digest("token 1"), key(1));
        assert_ne!(digest("token 1"), digest("token 1 "));
        let stats = memory.stats();
        assert_eq!((stats.entries, stats.hits, stats.misses), (1, 1, 1));
        assert_eq!(stats.bytes, entry.bytes());
        memory.remove(&key(1));
        assert!(memory.get(&key(1)).is_none());
        assert_eq!((memory.stats().entries, memory.stats().bytes), (0, 0));
    }

    #[test]
    fn entries_are_bounded_and_tokens_in_use_outlive_a_flood() {
        let memory = VerifiedTokens::new(Limits { entries: 10, bytes: usize::MAX });
        for n in 0..10 {
            memory.insert(key(n), verified(n, 100), 0);
        }
        // Two tokens in use; a flood of new ones while the memory is full.
        memory.get(&key(3));
        memory.get(&key(7));
        let_sweep(&memory);
        for n in 100..1_000 {
            memory.insert(key(n), verified(n, 100), 0);
        }
        let stats = memory.stats();
        assert_eq!(stats.entries, 10);
        assert!(memory.get(&key(3)).is_some() && memory.get(&key(7)).is_some(), "tokens in use stay");
        assert!(memory.get(&key(0)).is_none(), "unused ones made room");
        // One sweep only (they are a second apart): the newcomers after the
        // eight places it freed were refused, not swept in one by one.
        assert_eq!(stats.refused, 900 - 8);
        assert!((100..108).all(|n| memory.get(&key(n)).is_some()));
    }

    #[test]
    fn bytes_are_bounded() {
        let one = verified(0, 100).bytes();
        let memory = VerifiedTokens::new(Limits { entries: usize::MAX, bytes: 5 * one + one / 2 });
        for n in 0..50 {
            memory.insert(key(n), verified(n, 100), 0);
        }
        let stats = memory.stats();
        assert_eq!(stats.entries, 5);
        assert!(stats.bytes <= 5 * one + one / 2);
    }

    #[test]
    fn a_sweep_drops_expired_tokens_even_in_use() {
        let memory = VerifiedTokens::new(Limits { entries: 4, bytes: usize::MAX });
        for n in 0..4 {
            memory.insert(key(n), verified(n, if n < 2 { 50 } else { 100 }), 0);
            memory.get(&key(n));
        }
        let_sweep(&memory);
        memory.insert(key(9), verified(9, 100), 60);
        assert!(memory.get(&key(0)).is_none() && memory.get(&key(1)).is_none(), "expired at 60");
        assert!(
            memory.get(&key(2)).is_some() && memory.get(&key(3)).is_some() && memory.get(&key(9)).is_some()
        );
        assert_eq!(memory.stats().entries, 3);
    }
}
