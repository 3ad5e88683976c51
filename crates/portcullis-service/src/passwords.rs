//! Console passwords: argon2id with the OWASP parameters (m=19456 KiB, t=2,
//! p=1), a length floor and a check against common and guessable passwords
//! (zxcvbn's dictionaries of leaked passwords, names and patterns).

use std::sync::LazyLock;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng as HashRng},
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

/// Hashes on a blocking thread: argon2id takes ~15 ms of one core.
pub async fn hash(password: &Password) -> Result<PasswordHash> {
    let password = password.clone();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut HashRng);
        argon2()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| PasswordHash::from_phc(h.to_string()))
            .map_err(|_| ServiceError::Corrupt("argon2 could not hash a password".into()))
    })
    .await
    .map_err(|_| ServiceError::Corrupt("the password hashing task failed".into()))?
}

/// A hash of a random password, checked when the e-mail is unknown so that
/// an unknown e-mail and a wrong password take the same time.
static DUMMY: LazyLock<Option<String>> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut HashRng);
    argon2().hash_password(generate().expose().as_bytes(), &salt).ok().map(|h| h.to_string())
});

/// Verifies on a blocking thread; `None` checks against a dummy hash.
pub async fn verify(hash: Option<&PasswordHash>, password: &str) -> bool {
    let phc = hash.map(|h| h.as_phc().to_owned());
    let password = Zeroizing::new(password.to_owned());
    tokio::task::spawn_blocking(move || {
        let real = phc.is_some();
        let Some(phc) = phc.or_else(|| DUMMY.clone()) else { return false };
        let Ok(parsed) = argon2::PasswordHash::new(&phc) else { return false };
        argon2().verify_password(password.as_bytes(), &parsed).is_ok() && real
    })
    .await
    .unwrap_or(false)
}

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
        let h = hash(&"correct horse battery staple".into()).await.unwrap();
        assert!(h.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(Some(&h), "correct horse battery staple").await);
        assert!(!verify(Some(&h), "correct horse battery stapler").await);
        assert!(!verify(None, "correct horse battery staple").await);
        assert!(!verify(Some(&PasswordHash::from_phc("garbage".into())), "x").await);
    }

    #[test]
    fn generated_passwords_differ() {
        assert_ne!(generate().expose(), generate().expose());
        assert_eq!(generate().expose().len(), 24);
    }
}
