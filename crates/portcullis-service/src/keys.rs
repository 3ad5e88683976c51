//! Ed25519 signing keys: generated on first start, sealed at rest under the
//! master key, published as a JWK Set.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{SigningKey, VerifyingKey};
use portcullis_domain::now;
use portcullis_store::{KeyStore, StoredSigningKey};
use rand::rngs::OsRng;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{ServiceError, crypto::MasterKey};

pub const ALGORITHM: &str = "EdDSA";

/// One usable signing key: the private half in memory, its `kid`, and the
/// JWS header already encoded (it is the same for every token).
pub struct ActiveKey {
    pub kid: String,
    pub(crate) signing: SigningKey,
    pub(crate) header_b64: String,
}

/// The key that signs new tokens and every public key still published.
pub struct KeySet {
    pub active: ActiveKey,
    verifying: Vec<(String, VerifyingKey)>,
    jwks: String,
}

impl KeySet {
    /// The JWK Set document (RFC 7517 §5), serialised once.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }

    pub fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifying.iter().find(|(k, _)| k == kid).map(|(_, v)| v)
    }
}

/// RFC 7638 JWK thumbprint of an Ed25519 public key (RFC 8037 §2): a `kid`
/// anyone can recompute from the published key.
pub fn thumbprint(public: &VerifyingKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(public.as_bytes());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn purpose(kid: &str) -> String {
    format!("signing-key:{kid}")
}

fn unseal(master: &MasterKey, stored: &StoredSigningKey) -> Result<SigningKey, ServiceError> {
    let seed = master.open(&purpose(&stored.kid), &stored.sealed_private_key)?;
    let seed: [u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| ServiceError::Corrupt(format!("signing key {} has a bad length", stored.kid)))?;
    let key = SigningKey::from_bytes(&seed);
    if key.verifying_key().as_bytes().as_slice() != stored.public_key.as_slice() {
        return Err(ServiceError::Corrupt(format!(
            "signing key {} does not match its public key",
            stored.kid
        )));
    }
    Ok(key)
}

/// Creates, seals and stores a new key.
pub async fn generate(store: &dyn KeyStore, master: &MasterKey) -> Result<String, ServiceError> {
    let signing = SigningKey::generate(&mut OsRng);
    let kid = thumbprint(&signing.verifying_key());
    let stored = StoredSigningKey {
        kid: kid.clone(),
        algorithm: ALGORITHM.to_owned(),
        public_key: signing.verifying_key().as_bytes().to_vec(),
        sealed_private_key: master.seal(&purpose(&kid), signing.as_bytes())?,
        created_at: now(),
    };
    store.insert_signing_key(&stored).await?;
    tracing::info!(kid, "generated a new signing key");
    Ok(kid)
}

/// Loads every stored key, generating the first one if there is none. The
/// newest key signs; all are published.
pub async fn load(store: &dyn KeyStore, master: &MasterKey) -> Result<Arc<KeySet>, ServiceError> {
    let mut stored = store.list_signing_keys().await?;
    if stored.is_empty() {
        generate(store, master).await?;
        // Read back: if another instance raced us, every instance settles on
        // the same newest key.
        stored = store.list_signing_keys().await?;
    }
    let newest =
        stored.first().ok_or_else(|| ServiceError::Corrupt("no signing key after generating one".into()))?;
    let signing = unseal(master, newest)?;
    let mut verifying = Vec::with_capacity(stored.len());
    for key in &stored {
        if key.algorithm != ALGORITHM {
            return Err(ServiceError::Corrupt(format!("signing key {} has unknown algorithm", key.kid)));
        }
        let bytes: [u8; 32] = key
            .public_key
            .as_slice()
            .try_into()
            .map_err(|_| ServiceError::Corrupt(format!("public key {} has a bad length", key.kid)))?;
        let public = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| ServiceError::Corrupt(format!("public key {} is invalid", key.kid)))?;
        verifying.push((key.kid.clone(), public));
    }
    Ok(Arc::new(KeySet::new(newest.kid.clone(), signing, verifying)))
}

/// How long a replaced key stays published: the longest token lifetime,
/// plus a margin for instances that learn of the rotation late and for
/// clock skew.
pub const RETIRE_AFTER_SECS: i64 = portcullis_domain::TokenTtl::MAX as i64 + 300;

/// The kids of keys no token can still need: each key that was replaced
/// longer than [`RETIRE_AFTER_SECS`] ago (its successor is that old).
pub fn retirable(stored_newest_first: &[StoredSigningKey], now: portcullis_domain::Timestamp) -> Vec<String> {
    stored_newest_first
        .windows(2)
        .filter(|pair| (now - pair[0].created_at).num_seconds() > RETIRE_AFTER_SECS)
        .map(|pair| pair[1].kid.clone())
        .collect()
}

impl KeySet {
    /// `signing` signs new tokens under `kid`; `verifying` (which should
    /// include it) is published.
    pub(crate) fn new(kid: String, signing: SigningKey, verifying: Vec<(String, VerifyingKey)>) -> Self {
        let header = json!({"alg": ALGORITHM, "typ": "at+jwt", "kid": kid});
        let active = ActiveKey { kid, header_b64: URL_SAFE_NO_PAD.encode(header.to_string()), signing };
        let keys: Vec<_> = verifying
            .iter()
            .map(|(kid, public)| {
                json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(public.as_bytes()),
                    "kid": kid,
                    "alg": ALGORITHM,
                    "use": "sig",
                })
            })
            .collect();
        let jwks = json!({ "keys": keys }).to_string();
        Self { active, verifying, jwks }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(kid: &str, created_secs_ago: i64, at: portcullis_domain::Timestamp) -> StoredSigningKey {
        StoredSigningKey {
            kid: kid.into(),
            algorithm: ALGORITHM.into(),
            public_key: vec![],
            sealed_private_key: vec![],
            created_at: at - chrono::TimeDelta::seconds(created_secs_ago),
        }
    }

    #[test]
    fn a_replaced_key_is_retired_only_after_its_tokens_can_have_expired() {
        let at = now();
        let day = RETIRE_AFTER_SECS;
        // Newest first: c replaced b just now; b replaced a long ago.
        let keys = [stored("c", 10, at), stored("b", day + 100, at), stored("a", 3 * day, at)];
        assert_eq!(retirable(&keys, at), vec!["a".to_owned()]);
        let keys = [stored("b", day - 1, at), stored("a", 3 * day, at)];
        assert!(retirable(&keys, at).is_empty(), "a still signs tokens that may be alive");
        assert!(retirable(&keys[..1], at).is_empty(), "the only key is never retired");
        assert!(retirable(&[], at).is_empty());
    }

    #[test]
    fn thumbprint_matches_rfc_8037_appendix_a3() {
        // RFC 8037 Appendix A.2/A.3: the example key and its thumbprint.
        let x = URL_SAFE_NO_PAD.decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
        let public = VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
        assert_eq!(thumbprint(&public), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }
}
