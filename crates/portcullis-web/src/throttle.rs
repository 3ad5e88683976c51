//! Failed authentication is limited, success is not.
//!
//! Every place a caller proves who it is (the token, introspection and
//! revocation endpoints' client authentication, the admin API's and
//! GraphQL's bearer or session, console sign-in) counts its failures (a
//! 401) per source address and per account (the client id, or the e-mail
//! signed in as), with [`governor`]'s rate limiters (GCRA, a burst of N
//! refilled over a minute). Once a key is past its limit, attempts are
//! answered **429** with `Retry-After` before any secret or password is
//! looked at:
//!
//! * an address past its limit is refused whatever it sends;
//! * an account past its limit is refused only to addresses that have
//!   failed for that account within the last minute themselves, so that a
//!   client or user whose secret is being guessed from elsewhere keeps
//!   working from its own address, while the guessers are held back;
//! * with a limit per address, at most [`SIGN_INS_AT_ONCE`] sign-ins per
//!   address are checked at once
//!   (a password check takes a while: without this, a burst of concurrent
//!   guesses would all be checked before the first failure is counted).
//!
//! A 401 counts only when the request tried to authenticate (it carried
//! an `Authorization` header, a cookie, client credentials or a sign-in):
//! a call without credentials is no guess.
//!
//! Successful authentications are never counted. Limits are per instance
//! (`PORTCULLIS_AUTH_FAILURES_PER_IP`, `PORTCULLIS_AUTH_FAILURES_PER_ACCOUNT`
//! per minute; 0 turns a limit off).

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    body::{Body, to_bytes},
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock, middleware::StateInformationMiddleware};

use crate::{AppState, api::Problem, error::OAuthError, guard::Shape};

/// Failed authentications allowed per minute (also the burst); 0: no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureLimits {
    pub per_ip: u32,
    pub per_account: u32,
}

impl Default for FailureLimits {
    fn default() -> Self {
        Self { per_ip: 30, per_account: 10 }
    }
}

/// Sign-ins per address checked at once; more answer 429 at once.
pub const SIGN_INS_AT_ONCE: usize = 2;

/// How long an address counts as failing after its last failure.
const FAILING_FOR: Duration = Duration::from_secs(60);
/// Past this many remembered keys, expired ones are swept on the next failure.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Ip(IpAddr),
    Account(String),
}

type Limiter<K> = DefaultKeyedRateLimiter<K, StateInformationMiddleware>;

pub struct Throttle {
    per_ip: Option<Limiter<IpAddr>>,
    per_account: Option<Limiter<String>>,
    /// Keys past their limit, and until when.
    blocked: Mutex<HashMap<Key, Instant>>,
    /// Address and account pairs, with their last failure.
    failing: Mutex<HashMap<(IpAddr, String), Instant>>,
    /// Sign-ins being checked now, per address.
    signing_in: Mutex<HashMap<IpAddr, usize>>,
    failures: AtomicU64,
    /// Each limit's decisions, for `/metrics`.
    decisions: [Decisions; 3],
}

/// One of the limits, as `/metrics` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Failed authentications per source address.
    PerIp,
    /// Failed authentications per account (client id or e-mail).
    PerAccount,
    /// Sign-ins checked at once per address ([`SIGN_INS_AT_ONCE`]).
    SignInsPerIp,
}

impl Limit {
    /// The `limit` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerIp => "auth_failures_per_ip",
            Self::PerAccount => "auth_failures_per_account",
            Self::SignInsPerIp => "sign_ins_per_ip",
        }
    }
}

/// Attempts a limit let through, and those it refused with 429.
#[derive(Debug, Default)]
struct Decisions {
    allowed: AtomicU64,
    refused: AtomicU64,
}

impl Decisions {
    fn count(&self, refused: bool) {
        let n = if refused { &self.refused } else { &self.allowed };
        n.fetch_add(1, Ordering::Relaxed);
    }
}

fn limiter<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Option<Limiter<K>> {
    NonZeroU32::new(per_minute).map(|n| {
        DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)).with_middleware::<StateInformationMiddleware>()
    })
}

/// Counts one failure of `key`: how long the key is blocked now, if this
/// failure used its last allowance (or came when there was none).
fn count<K: std::hash::Hash + Eq + Clone>(limiter: &Limiter<K>, key: &K) -> Option<Duration> {
    match limiter.check_key(key) {
        Ok(state) if state.remaining_burst_capacity() == 0 => Some(state.quota().replenish_interval()),
        Ok(_) => None,
        Err(not_until) => Some(not_until.wait_time_from(limiter.clock().now())),
    }
}

impl Throttle {
    pub fn new(limits: FailureLimits) -> Self {
        Self {
            per_ip: limiter(limits.per_ip),
            per_account: limiter(limits.per_account),
            blocked: Mutex::new(HashMap::new()),
            failing: Mutex::new(HashMap::new()),
            signing_in: Mutex::new(HashMap::new()),
            failures: AtomicU64::new(0),
            decisions: Default::default(),
        }
    }

    /// Each limit that is on, with the attempts it allowed and refused
    /// since start. A limit that is off decides nothing and is left out.
    pub fn decisions(&self) -> Vec<(Limit, u64, u64)> {
        let per_ip = self.per_ip.is_some();
        [
            (Limit::PerIp, per_ip),
            (Limit::PerAccount, self.per_account.is_some()),
            (Limit::SignInsPerIp, per_ip),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(limit, _)| {
            let d = &self.decisions[limit as usize];
            (limit, d.allowed.load(Ordering::Relaxed), d.refused.load(Ordering::Relaxed))
        })
        .collect()
    }

    /// Counts what the limits that looked at an attempt decided: the
    /// address's, and the account's when there is one and the address's
    /// let it through.
    fn decided(&self, refused_by: Option<Limit>, account: bool) {
        if self.per_ip.is_some() {
            self.decisions[Limit::PerIp as usize].count(refused_by == Some(Limit::PerIp));
        }
        if self.per_account.is_some() && account && refused_by != Some(Limit::PerIp) {
            self.decisions[Limit::PerAccount as usize].count(refused_by == Some(Limit::PerAccount));
        }
    }

    /// Attempts refused with 429 so far: what the limits refused, each
    /// attempt by the one limit that refused it.
    pub fn refused(&self) -> u64 {
        self.decisions.iter().map(|d| d.refused.load(Ordering::Relaxed)).sum()
    }

    /// Failed authentications counted so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// How long this attempt must wait, and which limit says so, if it is refused.
    fn wait(&self, ip: IpAddr, account: Option<&str>) -> Option<(Duration, Limit)> {
        let now = Instant::now();
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        let until = |key: &Key| blocked.get(key).and_then(|until| until.checked_duration_since(now));
        if let Some(wait) = until(&Key::Ip(ip)) {
            return Some((wait, Limit::PerIp));
        }
        let account = account?;
        let failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        let failed_recently =
            failing.get(&(ip, account.to_owned())).is_some_and(|at| now.duration_since(*at) < FAILING_FOR);
        let wait = if failed_recently { until(&Key::Account(account.to_owned())) } else { None };
        wait.map(|wait| (wait, Limit::PerAccount))
    }

    /// A slot for a sign-in from `ip`, if fewer than [`SIGN_INS_AT_ONCE`]
    /// are being checked.
    fn sign_in_slot(&self, ip: IpAddr) -> Option<SignInSlot<'_>> {
        if self.per_ip.is_none() {
            // No limit per address: no cap on its sign-ins either.
            return Some(SignInSlot(self, None));
        }
        let mut signing_in = self.signing_in.lock().unwrap_or_else(|e| e.into_inner());
        let now = signing_in.entry(ip).or_default();
        let full = *now >= SIGN_INS_AT_ONCE;
        self.decisions[Limit::SignInsPerIp as usize].count(full);
        if full {
            return None;
        }
        *now += 1;
        Some(SignInSlot(self, Some(ip)))
    }

    /// Counts a failure; returns the keys it put past their limit.
    fn failed(&self, ip: IpAddr, account: Option<&str>) -> Vec<&'static str> {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        if let Some(account) = account {
            let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
            if failing.len() > SWEEP_ABOVE {
                failing.retain(|_, at| now.duration_since(*at) < FAILING_FOR);
            }
            failing.insert((ip, account.to_owned()), now);
        }
        let mut newly = Vec::new();
        let mut block = |key: Key, wait: Duration, what: &'static str| {
            let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
            if blocked.len() > SWEEP_ABOVE {
                blocked.retain(|_, until| *until > now);
            }
            let until = now + wait;
            if blocked.insert(key, until).is_none_or(|before| before <= now) {
                newly.push(what);
            }
        };
        if let Some(wait) = self.per_ip.as_ref().and_then(|limiter| count(limiter, &ip)) {
            block(Key::Ip(ip), wait, "source_ip");
        }
        if let (Some(limiter), Some(account)) = (&self.per_account, account)
            && let Some(wait) = count(limiter, &account.to_owned())
        {
            block(Key::Account(account.to_owned()), wait, "account");
        }
        if self.failures() % 1024 == 0 {
            if let Some(limiter) = &self.per_ip {
                limiter.retain_recent();
            }
            if let Some(limiter) = &self.per_account {
                limiter.retain_recent();
            }
        }
        newly
    }
}

/// A sign-in being checked; its place is given back when it ends.
struct SignInSlot<'a>(&'a Throttle, Option<IpAddr>);

impl Drop for SignInSlot<'_> {
    fn drop(&mut self) {
        let Some(ip) = self.1 else { return };
        let mut signing_in = self.0.signing_in.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(now) = signing_in.get_mut(&ip) {
            *now -= 1;
            if *now == 0 {
                signing_in.remove(&ip);
            }
        }
    }
}

/// Whose authentication a request attempts, beside its address.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Account {
    /// The client id of Basic credentials or of the form's `client_id`.
    Client,
    /// The e-mail of a sign-in (`POST /api/v1/session`).
    SignIn,
    /// A bearer token or session: the address alone.
    None,
}

/// The middleware: inside the body guard (the body is read already), before
/// authentication and recording.
pub(crate) async fn limit(
    State(state): State<AppState>,
    shape: Shape,
    account: Account,
    request: Request,
    next: Next,
) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let Some(ip) = crate::recording::source_addr(peer, request.headers(), &state.trusted_proxies) else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    // The guard has read the body already: this is a copy of a buffer.
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let account = match account {
        Account::Client => client_id(&parts, &bytes),
        Account::SignIn => sign_in_email(&parts, &bytes),
        Account::None => None,
    };
    let throttle = &state.throttle;
    let refusal = throttle.wait(ip, account.as_deref());
    throttle.decided(refusal.map(|(_, limit)| limit), account.is_some());
    if let Some((wait, _)) = refusal {
        tracing::debug!(%ip, path = %parts.uri.path(), "authentication attempt refused: too many failures");
        return too_many(shape, wait);
    }
    let signing_in = is_sign_in(&parts);
    let _slot = if signing_in {
        match throttle.sign_in_slot(ip) {
            Some(slot) => Some(slot),
            None => return too_many(shape, Duration::ZERO),
        }
    } else {
        None
    };
    let attempted = signing_in
        || account.is_some()
        || parts.headers.contains_key(header::AUTHORIZATION)
        || parts.headers.contains_key(header::COOKIE);
    let path = parts.uri.path().to_owned();
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    if attempted && response.status() == StatusCode::UNAUTHORIZED {
        for what in throttle.failed(ip, account.as_deref()) {
            tracing::warn!(%ip, %path, limited = what, "too many failed authentications: throttled");
            state.service.record(throttled_event(ip, &path, what, account.as_deref()));
        }
    }
    response
}

/// The event of a key put past its limit (not of every refusal).
fn throttled_event(ip: IpAddr, path: &str, what: &str, account: Option<&str>) -> portcullis_domain::Event {
    let client_id = account.and_then(|a| a.parse().ok());
    portcullis_domain::Event {
        client_id,
        path: Some(path.to_owned()),
        status: Some(429),
        source_ip: Some(ip.to_string()),
        details: Some(serde_json::json!({ "limited": what }).to_string()),
        ..portcullis_domain::Event::new(THROTTLED, portcullis_domain::now())
    }
}

/// The kind of the event recorded when an address or account is throttled.
pub const THROTTLED: &str = "auth.throttled";

fn too_many(shape: Shape, wait: Duration) -> Response {
    let seconds = u32::try_from(wait.as_secs().saturating_add(1)).unwrap_or(u32::MAX);
    let mut response = match shape {
        Shape::OAuth => OAuthError::Throttled.into_response(),
        Shape::Problem => Problem::throttled(seconds).into_response(),
        Shape::Graphql => crate::graphql::errors::http_error(Problem::throttled(seconds)),
    };
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The client id a token, introspection or revocation request
/// authenticates as: Basic's user name, else the form's `client_id`; only
/// when it is a client id at all (no key is kept for junk).
fn client_id(parts: &Parts, body: &[u8]) -> Option<String> {
    let from_basic = crate::public::basic_credentials(&parts.headers).ok().flatten().map(|(id, _)| id);
    let id = from_basic.or_else(|| {
        form_urlencoded::parse(body).find(|(k, _)| k == "client_id").map(|(_, v)| v.into_owned())
    })?;
    id.parse::<portcullis_domain::ClientId>().ok().map(|id| id.to_string())
}

fn is_sign_in(parts: &Parts) -> bool {
    parts.method == axum::http::Method::POST && parts.uri.path() == "/api/v1/session"
}

/// The e-mail a sign-in is for, lower-cased; only a well-formed one.
fn sign_in_email(parts: &Parts, body: &[u8]) -> Option<String> {
    if !is_sign_in(parts) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let email = portcullis_domain::Email::parse(value.get("email")?.as_str()?).ok()?;
    Some(email.as_str().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[test]
    fn an_address_is_refused_once_its_failures_reach_the_limit() {
        let throttle = Throttle::new(FailureLimits { per_ip: 3, per_account: 0 });
        for n in 0..3 {
            assert!(throttle.wait(ip(1), None).is_none(), "failure {n} may be tried");
            let newly = throttle.failed(ip(1), None);
            assert_eq!(newly.is_empty(), n < 2, "the third failure blocks");
        }
        let (wait, limit) = throttle.wait(ip(1), Some("acct")).unwrap();
        assert_eq!(limit, Limit::PerIp);
        assert!(wait > Duration::from_secs(15) && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(throttle.wait(ip(2), None).is_none(), "another address is not touched");
        assert_eq!(throttle.failures(), 3);
    }

    #[test]
    fn an_account_is_refused_only_to_addresses_that_failed() {
        let throttle = Throttle::new(FailureLimits { per_ip: 0, per_account: 2 });
        throttle.failed(ip(1), Some("a@example.com"));
        assert_eq!(throttle.failed(ip(2), Some("a@example.com")), ["account"]);
        assert_eq!(throttle.wait(ip(1), Some("a@example.com")).map(|w| w.1), Some(Limit::PerAccount));
        assert!(throttle.wait(ip(2), Some("a@example.com")).is_some());
        assert!(throttle.wait(ip(3), Some("a@example.com")).is_none(), "a clean address");
        assert!(throttle.wait(ip(1), Some("b@example.com")).is_none(), "another account");
        assert!(throttle.wait(ip(1), None).is_none(), "no limit per address");
    }

    #[test]
    fn no_limit_counts_nothing_against_anyone() {
        let throttle = Throttle::new(FailureLimits { per_ip: 0, per_account: 0 });
        for _ in 0..100 {
            assert!(throttle.failed(ip(1), Some("a")).is_empty());
        }
        assert!(throttle.wait(ip(1), Some("a")).is_none());
    }

    #[test]
    fn decisions_are_counted_per_limit_that_is_on() {
        let throttle = Throttle::new(FailureLimits { per_ip: 5, per_account: 0 });
        throttle.decided(None, true);
        throttle.decided(Some(Limit::PerIp), true);
        assert!(throttle.sign_in_slot(ip(1)).is_some());
        assert_eq!(
            throttle.decisions(),
            [(Limit::PerIp, 1, 1), (Limit::SignInsPerIp, 1, 0)],
            "no limit per account: not counted"
        );
        let throttle = Throttle::new(FailureLimits { per_ip: 5, per_account: 5 });
        throttle.decided(None, false);
        throttle.decided(None, true);
        throttle.decided(Some(Limit::PerAccount), true);
        throttle.decided(Some(Limit::PerIp), true);
        let _held = [throttle.sign_in_slot(ip(1)), throttle.sign_in_slot(ip(1))];
        assert!(throttle.sign_in_slot(ip(1)).is_none());
        assert_eq!(
            throttle.decisions(),
            [(Limit::PerIp, 3, 1), (Limit::PerAccount, 1, 1), (Limit::SignInsPerIp, 2, 1)],
            "an attempt the address's limit refused is not the account's to decide"
        );
        assert!(Throttle::new(FailureLimits { per_ip: 0, per_account: 0 }).decisions().is_empty());
    }
}
