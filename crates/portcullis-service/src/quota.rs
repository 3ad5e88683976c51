//! The optional quota on tokens issued per client
//! (`PORTCULLIS_TOKENS_PER_CLIENT_PER_HOUR`): a client that asks for a new
//! token for every call instead of caching one until it expires — the
//! commonest abuse of a token endpoint — is refused with 429 once it has had
//! its quota, until the quota refills.
//!
//! Counted after the client has authenticated, so that nobody can spend
//! another client's quota with its id and a wrong secret. A GCRA limiter
//! (governor) per client: `n` tokens at once, then one more every hour / `n`.
//! Per instance, in memory; one key per client that authenticated, so its
//! memory is bounded by the clients there are.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use governor::{DefaultKeyedRateLimiter, Quota};
use portcullis_domain::ClientId;

/// How often the moment a client runs out is recorded as an event, at most.
const REPORT_EVERY: Duration = Duration::from_secs(3600);

/// A refused token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverQuota {
    /// When the next token may be issued.
    pub retry_after: Duration,
    /// Whether this refusal is to be recorded as an event: the first of
    /// the client's in an hour, not every one.
    pub report: bool,
}

pub struct TokenQuota {
    per_hour: NonZeroU32,
    limiter: DefaultKeyedRateLimiter<ClientId>,
    /// When each client's running out was last recorded.
    reported: Mutex<HashMap<ClientId, Instant>>,
}

impl TokenQuota {
    /// `None` when `per_hour` is 0 (no quota).
    pub fn new(per_hour: u32) -> Option<Self> {
        let per_hour = NonZeroU32::new(per_hour)?;
        Some(Self {
            per_hour,
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_hour(per_hour)),
            reported: Mutex::new(HashMap::new()),
        })
    }

    pub fn per_hour(&self) -> u32 {
        self.per_hour.get()
    }

    /// Takes one token of `client`'s quota, or says when there is one.
    pub fn take(&self, client: ClientId) -> Result<(), OverQuota> {
        let Err(not_until) = self.limiter.check_key(&client) else { return Ok(()) };
        let retry_after = not_until.wait_time_from(governor::clock::Clock::now(self.limiter.clock()));
        let now = Instant::now();
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        let report = reported.get(&client).is_none_or(|last| now.duration_since(*last) >= REPORT_EVERY);
        if report {
            reported.insert(client, now);
        }
        Err(OverQuota { retry_after, report })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_quota_is_none() {
        assert!(TokenQuota::new(0).is_none());
    }

    #[test]
    fn a_client_gets_its_quota_then_waits_and_others_are_not_touched() {
        let quota = TokenQuota::new(3).unwrap();
        let (a, b) = (ClientId::generate(), ClientId::generate());
        for _ in 0..3 {
            assert_eq!(quota.take(a), Ok(()));
        }
        let first = quota.take(a).unwrap_err();
        assert!(first.report, "the first refusal is recorded");
        // One more every 20 minutes.
        assert!(
            first.retry_after > Duration::from_secs(19 * 60)
                && first.retry_after <= Duration::from_secs(20 * 60)
        );
        let second = quota.take(a).unwrap_err();
        assert!(!second.report, "later refusals within the hour are not");
        for _ in 0..3 {
            assert_eq!(quota.take(b), Ok(()));
        }
    }
}
