//! Console passwords: argon2id with the OWASP parameters (m=19456 KiB, t=2,
//! p=1), a length floor and a check against common and guessable passwords
//! (zxcvbn's dictionaries of leaked passwords, names and patterns).

use std::sync::{
    Arc, LazyLock,
    atomic::{AtomicUsize, Ordering},
};

use tokio::sync::Semaphore;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{self, Output, PasswordHash as PhcHash, Salt, SaltString, rand_core::OsRng as HashRng},
};
use portcullis_domain::{Password, PasswordHash};
use rand::{Rng, rngs::OsRng};
use zeroize::Zeroizing;

use crate::{Result, ServiceError};

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Why a password is refused; the message never repeats it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejected {
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password must be at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("the password is too common or too easy to guess: {0}")]
    Guessable(String),
}

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the policy. `context` holds words a guesser would try first (the
/// user's e-mail and name).
pub fn check(password: &str, context: &[&str]) -> Result<(), PasswordRejected> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordRejected::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordRejected::TooLong);
    }
    let estimate = zxcvbn::zxcvbn(password, context);
    if u8::from(estimate.score()) < 3 {
        let hint = estimate
            .feedback()
            .and_then(|f| f.warning().map(|w| w.to_string()))
            .unwrap_or_else(|| "add more words or characters".to_owned());
        return Err(PasswordRejected::Guessable(hint));
    }
    Ok(())
}

/// How much argon2 work may run and wait at once
/// (`PORTCULLIS_PASSWORD_CONCURRENCY`, `PORTCULLIS_PASSWORD_QUEUE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordLimits {
    /// Hashes computed at once: each holds 19 MiB and a core for ~15 ms.
    /// Default: the cores available.
    pub concurrency: usize,
    /// Hashes waiting for one of those; a request beyond them is refused at
    /// once as busy ([`ServiceError::Busy`]). Default: 4 per running one.
    pub queue: usize,
}

impl Default for PasswordLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self { concurrency: cores, queue: 4 * cores }
    }
}

/// The argon2 work of sign-ins and password changes, bounded: at most
/// `concurrency` hashes run, at most `queue` more wait, and anything beyond
/// is refused at once, so a flood of sign-ins costs a fixed amount of
/// memory and cores instead of growing the process without limit.
///
/// The hashes run on `concurrency` threads of their own, not on tokio's
/// blocking pool: each argon2 run allocates its 19 MiB, and the allocator
/// keeps what a thread freed for that thread's next use, so hashes spread
/// over the pool's many threads would leave 19 MiB on each of them.
pub struct PasswordWork {
    running: Arc<Semaphore>,
    /// Hashes that may run at once (the semaphore's permits).
    threads: usize,
    waiting: AtomicUsize,
    queue: usize,
    jobs: std::sync::mpsc::Sender<Job>,
    /// Work taken and refused as busy, for `/metrics`.
    decisions: crate::metrics::Decisions,
}

type Job = Box<dyn FnOnce() + Send>;

/// Counts a request among the waiting until it runs or gives up (its
/// caller went away).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PasswordWork {
    pub fn new(limits: PasswordLimits) -> Self {
        let threads = limits.concurrency.max(1);
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("argon2-{n}")).spawn(move || {
                loop {
                    // The sender goes with the service: then the thread ends.
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Self {
            running: Arc::new(Semaphore::new(threads)),
            threads,
            waiting: AtomicUsize::new(0),
            queue: limits.queue,
            jobs,
            decisions: crate::metrics::Decisions::default(),
        }
    }

    /// Hashes running and waiting now, and what was taken and refused.
    pub(crate) fn counts(&self) -> crate::metrics::PasswordWorkCounts {
        crate::metrics::PasswordWorkCounts {
            running: self.threads.saturating_sub(self.running.available_permits()),
            waiting: self.waiting.load(Ordering::SeqCst),
            decisions: self.decisions.read(),
        }
    }

    /// Runs `work` on a hashing thread once a slot is free; busy when as
    /// many wait already as the queue holds.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let permit = match self.running.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    self.decisions.refused();
                    tracing::debug!("password work refused: every slot and the queue are taken");
                    return Err(ServiceError::Busy);
                }
                let _waiting = Waiting(&self.waiting);
                self.running
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| ServiceError::Corrupt("the password work is closed".into()))?
            }
        };
        self.decisions.allowed();
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _permit = permit;
            let _ = done.send(work());
        });
        self.jobs.send(job).map_err(|_| ServiceError::Corrupt("no password hashing thread runs".into()))?;
        result.await.map_err(|_| ServiceError::Corrupt("the password hashing task failed".into()))
    }

    /// Hashes on a hashing thread: argon2id takes ~15 ms of one core.
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash> {
        let password = password.clone();
        self.run(move || {
            new_phc(password.expose().as_bytes())
                .map(PasswordHash::from_phc)
                .map_err(|_| ServiceError::Corrupt("argon2 could not hash a password".into()))
        })
        .await?
    }

    /// Verifies on a hashing thread; `None` checks against a dummy hash,
    /// so that an unknown e-mail and a wrong password take the same time.
    pub async fn verify(&self, hash: Option<&PasswordHash>, password: &str) -> Result<bool> {
        let phc = hash.map(|h| h.as_phc().to_owned());
        let password = Zeroizing::new(password.to_owned());
        self.run(move || {
            let real = phc.is_some();
            let Some(phc) = phc.or_else(|| DUMMY.clone()) else { return false };
            matches_phc(&phc, password.as_bytes()) && real
        })
        .await
    }
}

thread_local! {
    /// The argon2 memory of this hashing thread (19 MiB), kept from one
    /// hash to the next: allocated once per thread, never per hash.
    static MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `argon`'s hash of `password` with `salt` (base64, as a PHC string holds
/// it), computed in this thread's memory: the same output as
/// [`argon2::PasswordHasher::hash_password`], which allocates its memory
/// anew each time.
fn compute(argon: &Argon2<'_>, password: &[u8], salt: Salt<'_>) -> password_hash::Result<Output> {
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let params = argon.params();
    MEMORY.with_borrow_mut(|blocks| {
        blocks.resize(params.block_count(), argon2::Block::new());
        Output::init_with(params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN), |out| {
            argon
                .hash_password_into_with_memory(password, salt_bytes, out, &mut blocks[..])
                .map_err(Into::into)
        })
    })
}

/// A new PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) of
/// `password`, with a fresh salt.
fn new_phc(password: &[u8]) -> password_hash::Result<String> {
    let salt = SaltString::generate(&mut HashRng);
    let argon = argon2();
    let hash = compute(&argon, password, salt.as_salt())?;
    let phc = PhcHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: argon.params().try_into()?,
        salt: Some(salt.as_salt()),
        hash: Some(hash),
    };
    Ok(phc.to_string())
}

/// Whether `password` hashes to the PHC string `phc` (with the algorithm,
/// version and parameters it names), compared in constant time.
fn matches_phc(phc: &str, password: &[u8]) -> bool {
    let Ok(stored) = PhcHash::new(phc) else { return false };
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(stored.algorithm), Params::try_from(&stored))
    else {
        return false;
    };
    let version = stored.version.map_or(Ok(Version::V0x13), Version::try_from);
    let Ok(version) = version else { return false };
    let argon = Argon2::new(algorithm, version, params);
    compute(&argon, password, salt).is_ok_and(|computed| computed == expected)
}

/// A hash of a random password, checked when the e-mail is unknown.
static DUMMY: LazyLock<Option<String>> = LazyLock::new(|| new_phc(generate().expose().as_bytes()).ok());

/// A password for a user created without one: 24 base62 characters
/// (~143 bits), shown once.
pub fn generate() -> Password {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = OsRng;
    let text: String = (0..24).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect();
    Password::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert_eq!(check("short", &[]), Err(PasswordRejected::TooShort));
        assert_eq!(check(&"a".repeat(257), &[]), Err(PasswordRejected::TooLong));
        for common in ["password1234", "123456789012", "qwertyuiopasdf", "iloveyou1234"] {
            assert!(matches!(check(common, &[]), Err(PasswordRejected::Guessable(_))), "{common}");
        }
        assert!(
            check("ada.lovelace@example.com", &["ada.lovelace@example.com"]).is_err(),
            "the e-mail itself"
        );
        assert!(check("correct horse battery staple orbit", &[]).is_ok());
        assert!(check(generate().expose(), &[]).is_ok());
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let work = PasswordWork::new(PasswordLimits::default());
        let h = work.hash(&"correct horse battery staple".into()).await.unwrap();
        assert!(h.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(work.verify(Some(&h), "correct horse battery staple").await.unwrap());
        assert!(!work.verify(Some(&h), "correct horse battery stapler").await.unwrap());
        assert!(!work.verify(None, "correct horse battery staple").await.unwrap());
        assert!(!work.verify(Some(&PasswordHash::from_phc("garbage".into())), "x").await.unwrap());
    }

    /// The hashes made in the kept memory are argon2's own: the crate's
    /// hasher verifies ours, and ours verifies the crate's (stored hashes).
    #[test]
    fn hashes_in_kept_memory_are_the_crates_own() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let ours = new_phc(b"correct horse battery staple").unwrap();
        let parsed = PhcHash::new(&ours).unwrap();
        assert!(argon2().verify_password(b"correct horse battery staple", &parsed).is_ok());
        assert!(argon2().verify_password(b"correct horse battery stapler", &parsed).is_err());
        let salt = SaltString::generate(&mut HashRng);
        let theirs = argon2().hash_password(b"another staple", &salt).unwrap().to_string();
        assert!(matches_phc(&theirs, b"another staple"));
        assert!(!matches_phc(&theirs, b"another stapler"));
        // Other parameters, as a hash stored by an older version might name.
        let light = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8, 1, 1, None).unwrap());
        let light = light.hash_password(b"light", &salt).unwrap().to_string();
        assert!(matches_phc(&light, b"light") && !matches_phc(&light, b"heavy"));
        assert!(!matches_phc("$argon2id$garbage", b"light"));
    }

    /// One running, two waiting: of eight at once, three are computed and
    /// five refused at once as busy; a waiter that gives up leaves its place.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_beyond_the_slots_and_the_queue_is_refused_as_busy() {
        let work = Arc::new(PasswordWork::new(PasswordLimits { concurrency: 1, queue: 2 }));
        let tries: Vec<_> = (0..8)
            .map(|_| {
                let work = work.clone();
                tokio::spawn(async move { work.verify(None, "a wrong password here").await })
            })
            .collect();
        let mut busy = 0;
        let mut done = 0;
        for t in tries {
            match t.await.unwrap() {
                Ok(false) => done += 1,
                Err(ServiceError::Busy) => busy += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((done, busy), (3, 5));
        assert_eq!(work.waiting.load(Ordering::SeqCst), 0);

        // A waiter dropped before its turn frees its place in the queue.
        let slow = {
            let work = work.clone();
            tokio::spawn(async move { work.verify(None, "x").await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(1), work.verify(None, "y")).await;
        assert!(gave_up.is_err(), "it waited behind the running one");
        assert_eq!(work.waiting.load(Ordering::SeqCst), 0, "and left the queue");
        slow.await.unwrap().unwrap();
        assert_eq!(work.waiting.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn generated_passwords_differ() {
        assert_ne!(generate().expose(), generate().expose());
        assert_eq!(generate().expose().len(), 24);
    }
}
