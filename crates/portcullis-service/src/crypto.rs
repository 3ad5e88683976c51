//! The master key, sealing at rest, and the keyed hash of client secrets.

use std::fmt;

use chacha20poly1305::{
    ChaCha20Poly1305, Key, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use hmac::{Hmac, Mac};
use portcullis_domain::{Secret, SecretHash, SecretKind};
use rand::{RngCore, rngs::OsRng};
use sha2::Sha256;
use zeroize::Zeroizing;

const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("sealed data could not be opened: wrong master key, or the data was altered")]
    Unseal,
    #[error("sealing failed")]
    Seal,
    #[error("a master key is 32 bytes")]
    MasterKeyLength,
}

/// The key that seals private keys and server secrets at rest
/// (ChaCha20-Poly1305). Given by the operator or generated on first start.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl MasterKey {
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut());
        Self(key)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::MasterKeyLength)?;
        Ok(Self(Zeroizing::new(key)))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `version || nonce || ciphertext+tag`. `purpose` is bound as associated
    /// data, so a sealed value cannot be moved to another slot.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(self.0.as_ref()));
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: purpose.as_bytes() })
            .map_err(|_| CryptoError::Seal)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (&version, rest) = sealed.split_first().ok_or(CryptoError::Unseal)?;
        if version != SEAL_VERSION || rest.len() < NONCE_LEN {
            return Err(CryptoError::Unseal);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(self.0.as_ref()));
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: purpose.as_bytes() })
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Unseal)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// HMAC-SHA256 under a server key: how client secrets are stored. A
/// 256-bit random secret needs no slow hash; the key makes a stolen
/// database alone useless for checking guesses.
#[derive(Clone)]
pub struct SecretHasher(Hmac<Sha256>);

impl SecretHasher {
    pub fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of any length; this cannot fail.
        Self(
            <Hmac<Sha256> as Mac>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC takes any key length")),
        )
    }

    pub fn hash<K: SecretKind>(&self, secret: &Secret<K>) -> SecretHash {
        self.hash_bytes(secret.expose().as_bytes())
    }

    /// For values that are not one of our formatted secrets (session ids).
    pub fn hash_bytes(&self, value: &[u8]) -> SecretHash {
        let mut mac = self.0.clone();
        mac.update(value);
        SecretHash::from_bytes(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHasher(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_domain::ClientSecret;

    #[test]
    fn seal_round_trips_and_binds_purpose() {
        let key = MasterKey::generate();
        let sealed = key.seal("a", b"hello").unwrap();
        assert_eq!(key.open("a", &sealed).unwrap().as_slice(), b"hello");
        assert!(key.open("b", &sealed).is_err(), "purpose is bound");
        assert!(MasterKey::generate().open("a", &sealed).is_err(), "another key fails");
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(key.open("a", &tampered).is_err());
        assert!(key.open("a", &[]).is_err());
        assert!(key.open("a", &[1, 2, 3]).is_err());
    }

    #[test]
    fn sealing_twice_differs() {
        let key = MasterKey::generate();
        assert_ne!(key.seal("a", b"x").unwrap(), key.seal("a", b"x").unwrap());
    }

    #[test]
    fn secret_hash_depends_on_key_and_secret() {
        let s = ClientSecret::generate();
        let h1 = SecretHasher::new(b"key one");
        assert_eq!(h1.hash(&s), h1.hash(&s));
        assert_ne!(h1.hash(&s), SecretHasher::new(b"key two").hash(&s));
        assert_ne!(h1.hash(&s), h1.hash(&ClientSecret::generate()));
    }

    #[test]
    fn master_key_length_is_checked() {
        assert!(MasterKey::from_bytes(&[0; 31]).is_err());
        assert!(MasterKey::from_bytes(&[0; 32]).is_ok());
        assert_eq!(format!("{:?}", MasterKey::generate()), "MasterKey(..)");
    }
}
