//! What the service counts for `/metrics` (docs/metrics.md): failed
//! authentications by reason, tokens issued per client (a bounded number of
//! clients by id, the rest together), the decisions of the limits the
//! service holds (the token quota, the password work queue), and the
//! caches' hits and misses. Read at each scrape through
//! [`Service::metrics`]; counting costs a relaxed atomic addition, and a
//! token issued also a read lock and a hash of its client id.

use std::{
    collections::HashMap,
    sync::{
        RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use portcullis_domain::ClientId;
use portcullis_store::stats::PoolStats;

use crate::Service;

/// Clients counted under their own id in `portcullis_tokens_issued_total`
/// unless `PORTCULLIS_METRICS_CLIENT_LABELS` says otherwise.
pub const DEFAULT_CLIENT_LABELS: u16 = 100;

/// Why an authentication failed, as `portcullis_auth_failures_total`
/// counts it. The caller is told less (RFC 6749 §5.2 `invalid_client` for
/// every client failure); an operator needs to tell a misconfigured
/// integration from a guesser.
///
/// A failed sign-in is one reason whatever its cause: counters that told
/// an unknown e-mail from a wrong password would let whoever reads
/// `/metrics` learn which e-mails have accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthFailure {
    /// Credentials that cannot be anyone's: a client id that is not a
    /// UUID, a secret not of the `pcs_…` shape or with a wrong checksum,
    /// Basic credentials that do not decode, an `Authorization` header of
    /// another scheme.
    MalformedCredentials,
    /// A well-formed client id that no client has.
    UnknownClient,
    /// A client's id with a secret that is not its own.
    WrongSecret,
    /// The right secret of a disabled client.
    DisabledClient,
    /// A bearer token that is not one of this server's access tokens: bad
    /// signature or shape, another issuer.
    InvalidToken,
    /// An access token past its `exp` (or before its `nbf`).
    ExpiredToken,
    /// A revoked access token (RFC 7009, or its client's tokens revoked).
    RevokedToken,
    /// An access token whose client is now disabled or deleted.
    InactiveClientToken,
    /// A `pat_…` bearer token that is no user's active personal access
    /// token, or whose user is disabled.
    InvalidPersonalToken,
    /// A console sign-in refused: unknown e-mail, wrong password or
    /// disabled user, alike.
    FailedSignIn,
    /// A session cookie whose session has ended (idle, absolute timeout,
    /// signed out) or whose user is disabled.
    EndedSession,
}

impl AuthFailure {
    pub const ALL: [AuthFailure; 11] = [
        Self::MalformedCredentials,
        Self::UnknownClient,
        Self::WrongSecret,
        Self::DisabledClient,
        Self::InvalidToken,
        Self::ExpiredToken,
        Self::RevokedToken,
        Self::InactiveClientToken,
        Self::InvalidPersonalToken,
        Self::FailedSignIn,
        Self::EndedSession,
    ];

    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedCredentials => "malformed_credentials",
            Self::UnknownClient => "unknown_client",
            Self::WrongSecret => "wrong_secret",
            Self::DisabledClient => "disabled_client",
            Self::InvalidToken => "invalid_token",
            Self::ExpiredToken => "expired_token",
            Self::RevokedToken => "revoked_token",
            Self::InactiveClientToken => "inactive_client_token",
            Self::InvalidPersonalToken => "invalid_personal_token",
            Self::FailedSignIn => "failed_sign_in",
            Self::EndedSession => "ended_session",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Allowed and refused, of one limit.
#[derive(Debug, Default)]
pub(crate) struct Decisions {
    allowed: AtomicU64,
    refused: AtomicU64,
}

impl Decisions {
    pub(crate) fn allowed(&self) {
        self.allowed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(&self) -> DecisionCounts {
        DecisionCounts {
            allowed: self.allowed.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// What a limit decided, since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecisionCounts {
    pub allowed: u64,
    pub refused: u64,
}

/// Tokens issued, per client for the first `labelled` clients that get
/// one (since start), the rest together: the label's values stay bounded
/// however many clients there are. A client keeps its own series once it
/// has one (a counter must not move between series), also if it is
/// deleted.
pub(crate) struct TokensIssued {
    labelled: usize,
    per_client: RwLock<HashMap<ClientId, AtomicU64>>,
    other: AtomicU64,
}

impl TokensIssued {
    pub(crate) fn new(labelled: usize) -> Self {
        Self { labelled, per_client: RwLock::new(HashMap::new()), other: AtomicU64::new(0) }
    }

    pub(crate) fn count(&self, client: ClientId) {
        if self.labelled == 0 {
            self.other.fetch_add(1, Ordering::Relaxed);
            return;
        }
        {
            let per_client = self.per_client.read().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = per_client.get(&client) {
                n.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if per_client.len() >= self.labelled {
                self.other.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut per_client = self.per_client.write().unwrap_or_else(|e| e.into_inner());
        // Another request may have taken the last place meanwhile.
        if per_client.len() < self.labelled || per_client.contains_key(&client) {
            per_client.entry(client).or_default().fetch_add(1, Ordering::Relaxed);
        } else {
            self.other.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn read(&self) -> (Vec<(ClientId, u64)>, u64) {
        let per_client = self.per_client.read().unwrap_or_else(|e| e.into_inner());
        let mut counts: Vec<_> = per_client.iter().map(|(id, n)| (*id, n.load(Ordering::Relaxed))).collect();
        counts.sort_unstable_by_key(|(id, _)| *id);
        (counts, self.other.load(Ordering::Relaxed))
    }
}

/// Everything the service counts, in one place of its [`Service`].
pub(crate) struct Counters {
    auth_failures: [AtomicU64; AuthFailure::ALL.len()],
    pub(crate) tokens_issued: TokensIssued,
    pub(crate) token_quota: Decisions,
}

impl Counters {
    pub(crate) fn new(client_labels: usize) -> Self {
        Self {
            auth_failures: std::array::from_fn(|_| AtomicU64::new(0)),
            tokens_issued: TokensIssued::new(client_labels),
            token_quota: Decisions::default(),
        }
    }
}

/// One cache's lookups, since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheCounts {
    /// The `cache` label: `clients`, `roles`, `revoked_tokens`, `role_book`.
    pub cache: &'static str,
    pub hits: u64,
    pub misses: u64,
}

/// The argon2 work queue now, and what it decided since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordWorkCounts {
    pub running: usize,
    pub waiting: usize,
    pub decisions: DecisionCounts,
}

/// The service's counters as read at one scrape.
#[derive(Debug, Clone)]
pub struct ServiceMetrics {
    pub auth_failures: Vec<(AuthFailure, u64)>,
    /// Tokens issued per client with a series of its own, by id.
    pub tokens_issued: Vec<(ClientId, u64)>,
    /// Tokens issued to every other client.
    pub tokens_issued_other: u64,
    /// The token endpoint's quota, when one is set.
    pub token_quota: Option<DecisionCounts>,
    pub password_work: PasswordWorkCounts,
    pub caches: Vec<CacheCounts>,
    pub pool: PoolStats,
}

impl Service {
    /// Counts a failed authentication. The web layer calls it for what it
    /// refuses before the service sees the credentials (malformed ones).
    pub fn count_auth_failure(&self, reason: AuthFailure) {
        if let Some(n) = self.inner.counters.auth_failures.get(reason.index()) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every counter of the service, read now.
    pub fn metrics(&self) -> ServiceMetrics {
        let counters = &self.inner.counters;
        let (tokens_issued, tokens_issued_other) = counters.tokens_issued.read();
        let stats = &self.inner.cache.stats;
        let cache = |cache, lookups: &crate::cache::Lookups| {
            let (hits, misses) = lookups.read();
            CacheCounts { cache, hits, misses }
        };
        ServiceMetrics {
            auth_failures: AuthFailure::ALL
                .iter()
                .map(|&r| (r, counters.auth_failures[r.index()].load(Ordering::Relaxed)))
                .collect(),
            tokens_issued,
            tokens_issued_other,
            token_quota: self.inner.token_quota.as_ref().map(|_| counters.token_quota.read()),
            password_work: self.inner.passwords.counts(),
            caches: vec![
                cache("clients", &stats.clients),
                cache("roles", &stats.roles),
                cache("revoked_tokens", &stats.revoked),
                cache("role_book", &stats.role_book),
            ],
            pool: self.inner.stores.health.pool(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_clients_get_their_own_series_and_the_rest_share_one() {
        let t = TokensIssued::new(2);
        let (a, b, c) = (ClientId::generate(), ClientId::generate(), ClientId::generate());
        t.count(a);
        t.count(b);
        t.count(c);
        t.count(a);
        t.count(c);
        let (own, other) = t.read();
        assert_eq!(own.into_iter().collect::<HashMap<_, _>>(), HashMap::from([(a, 2), (b, 1)]));
        assert_eq!(other, 2, "c is past the bound");
    }

    #[test]
    fn no_client_labels_counts_every_token_together() {
        let t = TokensIssued::new(0);
        t.count(ClientId::generate());
        t.count(ClientId::generate());
        assert_eq!(t.read(), (vec![], 2));
    }

    #[test]
    fn every_reason_has_its_own_label_and_place() {
        let labels: std::collections::HashSet<_> = AuthFailure::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), AuthFailure::ALL.len());
        for (i, r) in AuthFailure::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?}");
        }
    }
}
