use std::{fmt, marker::PhantomData};

use rand::{RngCore, rngs::OsRng};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::DomainError;

const BASE62: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 62^43 > 2^256, so 32 random bytes always fit in 43 base62 digits.
const BODY_LEN: usize = 43;
/// 62^6 > 2^32: a CRC-32 fits in six digits.
const CHECKSUM_LEN: usize = 6;
/// Every prefix is four characters (`pcs_`, `pat_`).
const SECRET_LEN: usize = 4 + BODY_LEN + 1 + CHECKSUM_LEN;

/// What a kind of secret is called and how it starts.
pub trait SecretKind: Clone + PartialEq + Eq {
    /// Four characters, ending in `_`.
    const PREFIX: &'static str;
}

/// API client secrets: `pcs_…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSecretKind {}

impl SecretKind for ClientSecretKind {
    const PREFIX: &'static str = "pcs_";
}

/// Personal access tokens of console users: `pat_…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonalTokenKind {}

impl SecretKind for PersonalTokenKind {
    const PREFIX: &'static str = "pat_";
}

pub type ClientSecret = Secret<ClientSecretKind>;
pub type PersonalTokenSecret = Secret<PersonalTokenKind>;

fn base62_fixed(bytes: &[u8], width: usize) -> String {
    let digits = base_x::encode(BASE62, bytes);
    format!("{digits:0>width$}")
}

fn checksum(prefix_and_body: &str) -> String {
    base62_fixed(&crc32fast::hash(prefix_and_body.as_bytes()).to_be_bytes(), CHECKSUM_LEN)
}

/// A secret in the clear: `<prefix><43 base62 digits>_<6 digit checksum>`.
///
/// It exists only between generation and the one response that shows it, or
/// between parsing a request and hashing it. `Debug` prints a hint, never the
/// secret; the memory is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<K: SecretKind>(Zeroizing<String>, PhantomData<K>);

impl<K: SecretKind> Secret<K> {
    /// 256 bits from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        Self::from_random_bytes(&bytes)
    }

    /// The secret whose body is `bytes`; only [`Self::generate`] (with the
    /// CSPRNG's bytes) and the fuzz targets (with chosen ones) call it.
    pub(crate) fn from_random_bytes(bytes: &[u8; 32]) -> Self {
        let mut s = Zeroizing::new(String::with_capacity(SECRET_LEN));
        s.push_str(K::PREFIX);
        s.push_str(&base62_fixed(bytes, BODY_LEN));
        let sum = checksum(&s);
        s.push('_');
        s.push_str(&sum);
        Self(s, PhantomData)
    }

    /// Checks the shape and the checksum, so that a typo or a truncated
    /// paste is refused before any lookup.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        // Every valid secret is ASCII; refusing anything else first means the
        // byte offsets below always fall on character boundaries (a multi-byte
        // character of the right byte length must not reach `split_at`).
        if s.len() != SECRET_LEN || !s.is_ascii() || !s.starts_with(K::PREFIX) {
            return Err(DomainError::MalformedSecret);
        }
        let (head, sum) = s.split_at(K::PREFIX.len() + BODY_LEN);
        let body = &head[K::PREFIX.len()..];
        let Some(sum) = sum.strip_prefix('_') else {
            return Err(DomainError::MalformedSecret);
        };
        if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(DomainError::MalformedSecret);
        }
        if checksum(head).as_bytes().ct_eq(sum.as_bytes()).unwrap_u8() != 1 {
            return Err(DomainError::MalformedSecret);
        }
        Ok(Self(Zeroizing::new(s.to_owned()), PhantomData))
    }

    /// The secret itself: only for hashing it or showing it once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `pcs_…AbCd`: enough to tell secrets apart, useless to an attacker.
    pub fn hint(&self) -> String {
        let tail = &self.0[self.0.len() - 4..];
        format!("{}…{tail}", K::PREFIX)
    }
}

impl<K: SecretKind> fmt::Debug for Secret<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.hint())
    }
}

/// The keyed hash (HMAC-SHA256 under a server key) of a client secret: the
/// only form in which a secret is stored.
#[derive(Clone, Copy, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Constant time, so that comparing hashes leaks nothing through timing.
impl PartialEq for SecretHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_secret_has_the_documented_shape() {
        for _ in 0..200 {
            let s = ClientSecret::generate();
            let text = s.expose();
            assert_eq!(text.len(), SECRET_LEN);
            assert!(text.starts_with("pcs_"));
            assert!(text[4..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            assert_eq!(ClientSecret::parse(text), Ok(s.clone()));
        }
    }

    #[test]
    fn generated_secrets_differ() {
        assert_ne!(ClientSecret::generate(), ClientSecret::generate());
    }

    #[test]
    fn a_single_changed_character_is_caught_by_the_checksum() {
        let s = ClientSecret::generate();
        let text = s.expose().to_owned();
        for i in 4..text.len() {
            if text.as_bytes()[i] == b'_' {
                continue;
            }
            let mut bytes = text.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).unwrap_or_default();
            assert_eq!(ClientSecret::parse(&typo), Err(DomainError::MalformedSecret), "position {i}");
        }
    }

    #[test]
    fn malformed_secrets_are_rejected() {
        let good = ClientSecret::generate().expose().to_owned();
        for bad in [
            "",
            "pcs_",
            "pat_abc",
            &good[..good.len() - 1],
            &format!("{good}x"),
            &good.replacen("pcs_", "PCS_", 1),
            &good.replace('_', "-"),
        ] {
            assert_eq!(ClientSecret::parse(bad), Err(DomainError::MalformedSecret), "{bad:?}");
        }
    }

    #[test]
    fn debug_and_hint_never_show_the_secret() {
        let s = ClientSecret::generate();
        let debug = format!("{s:?}");
        assert!(!debug.contains(s.expose()));
        assert!(!debug.contains(&s.expose()[4..20]));
        assert_eq!(s.hint().chars().count(), "pcs_…".chars().count() + 4);
        assert!(s.expose().ends_with(&s.hint()[s.hint().len() - 4..]));
    }

    #[test]
    fn personal_tokens_have_their_own_prefix_and_do_not_parse_as_client_secrets() {
        let pat = PersonalTokenSecret::generate();
        assert!(pat.expose().starts_with("pat_"));
        assert_eq!(PersonalTokenSecret::parse(pat.expose()), Ok(pat.clone()));
        assert_eq!(ClientSecret::parse(pat.expose()), Err(DomainError::MalformedSecret));
        let client = ClientSecret::generate();
        assert!(PersonalTokenSecret::parse(client.expose()).is_err());
        assert!(pat.hint().starts_with("pat_…"));
    }

    #[test]
    fn secret_hash_compares_by_value() {
        let a = SecretHash::from_bytes([1; 32]);
        assert_eq!(a, SecretHash::from_bytes([1; 32]));
        assert_ne!(a, SecretHash::from_bytes([2; 32]));
        assert!(SecretHash::from_slice(&[0; 31]).is_none());
        assert_eq!(format!("{a:?}"), "SecretHash(..)");
    }

    #[test]
    fn a_multi_byte_character_at_the_split_is_refused_not_a_panic() {
        // The reproduction from issue 11: 54 bytes, with `é` straddling the split.
        for prefix in ["pcs_", "pat_"] {
            let text = format!("{prefix}{}é{}", "a".repeat(42), "b".repeat(6));
            assert_eq!(text.len(), SECRET_LEN);
            assert_eq!(ClientSecret::parse(&text), Err(DomainError::MalformedSecret));
            assert_eq!(PersonalTokenSecret::parse(&text), Err(DomainError::MalformedSecret));
        }
    }

    /// Strings of exactly a secret's byte length, a valid-looking prefix, and
    /// at least one multi-byte character anywhere after it.
    fn secret_length_with_multibyte() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["pcs_", "pat_"]),
            prop::sample::select(vec!['é', 'ß', '€', '😀', '\u{80}', '\u{7ff}', '\u{ffff}']),
            0usize..=SECRET_LEN,
            "[A-Za-z0-9_]{0,60}",
        )
            .prop_map(|(prefix, wide, at, filler)| {
                let room = SECRET_LEN - prefix.len() - wide.len_utf8();
                let mut rest: String = filler.chars().chain(std::iter::repeat('a')).take(room).collect();
                let at = at.min(rest.len());
                rest.insert(at, wide);
                format!("{prefix}{rest}")
            })
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = ClientSecret::parse(&s);
            let _ = PersonalTokenSecret::parse(&s);
        }

        #[test]
        fn secret_length_strings_with_multibyte_characters_are_refused(s in secret_length_with_multibyte()) {
            prop_assert_eq!(s.len(), SECRET_LEN);
            prop_assert_eq!(ClientSecret::parse(&s), Err(DomainError::MalformedSecret));
            prop_assert_eq!(PersonalTokenSecret::parse(&s), Err(DomainError::MalformedSecret));
        }

        #[test]
        fn arbitrary_text_of_the_secret_length_never_panics(
            prefix in prop::sample::select(vec!["pcs_", "pat_", ""]),
            text in "\\PC{0,60}",
        ) {
            // Exactly SECRET_LEN bytes, cut on a character boundary and padded.
            let mut t = prefix.to_owned();
            for c in text.chars() {
                if t.len() + c.len_utf8() > SECRET_LEN { break; }
                t.push(c);
            }
            while t.len() < SECRET_LEN { t.push('x'); }
            prop_assert_eq!(t.len(), SECRET_LEN);
            let _ = ClientSecret::parse(&t);
            let _ = PersonalTokenSecret::parse(&t);
        }

        #[test]
        fn parse_rejects_random_secret_shaped_strings(body in "[A-Za-z0-9]{43}", sum in "[A-Za-z0-9]{6}") {
            let candidate = format!("pcs_{body}_{sum}");
            let expected = checksum(&format!("pcs_{body}"));
            prop_assert_eq!(ClientSecret::parse(&candidate).is_ok(), sum == expected);
        }
    }
}
