//! Ed25519 signing keys: generated on first start, sealed at rest under the
//! master key, published as a JWK Set.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{SigningKey, VerifyingKey};
use portcullis_domain::now;
use portcullis_store::{KeyState, KeyStore, StoreError, StoredSigningKey};
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

/// Creates and seals a new key in `state` (not stored yet).
pub(crate) fn new_key(master: &MasterKey, state: KeyState) -> Result<StoredSigningKey, ServiceError> {
    let signing = SigningKey::generate(&mut OsRng);
    let kid = thumbprint(&signing.verifying_key());
    let at = now();
    Ok(StoredSigningKey {
        sealed_private_key: master.seal(&purpose(&kid), signing.as_bytes())?,
        kid,
        algorithm: ALGORITHM.to_owned(),
        public_key: signing.verifying_key().as_bytes().to_vec(),
        created_at: at,
        state,
        activated_at: (state == KeyState::Current).then_some(at),
        replaced_at: None,
    })
}

/// Stores a new key in `state` unless another process stored one first
/// (the unique index on the state says so): either way, one exists after.
async fn add_if_missing(
    store: &dyn KeyStore,
    master: &MasterKey,
    state: KeyState,
) -> Result<(), ServiceError> {
    let key = new_key(master, state)?;
    match store.insert_signing_key(&key).await {
        Ok(()) => {
            tracing::info!(kid = key.kid, state = state.as_str(), "generated a new signing key");
            Ok(())
        }
        Err(StoreError::Conflict("signing_key_state_unique")) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Makes sure there is a current key and a pre-published next one: both on
/// an empty database, the next one on a database from before key states.
pub async fn ensure(store: &dyn KeyStore, master: &MasterKey) -> Result<Vec<StoredSigningKey>, ServiceError> {
    let mut stored = store.list_signing_keys().await?;
    let has = |stored: &[StoredSigningKey], state| stored.iter().any(|k| k.state == state);
    if !has(&stored, KeyState::Current) || !has(&stored, KeyState::Next) {
        for state in [KeyState::Current, KeyState::Next] {
            if !has(&stored, state) {
                add_if_missing(store, master, state).await?;
            }
        }
        // Read back: if another instance raced us, all settle on the same keys.
        stored = store.list_signing_keys().await?;
    }
    Ok(stored)
}

/// Loads every stored key (adding what [`ensure`] adds). The current key
/// signs; all, the next one included, are published.
pub async fn load(store: &dyn KeyStore, master: &MasterKey) -> Result<Arc<KeySet>, ServiceError> {
    let stored = ensure(store, master).await?;
    let current = stored
        .iter()
        .find(|k| k.state == KeyState::Current)
        .ok_or_else(|| ServiceError::Corrupt("no current signing key after generating one".into()))?;
    let signing = unseal(master, current)?;
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
    Ok(Arc::new(KeySet::new(current.kid.clone(), signing, verifying)))
}

/// How long a replaced key stays published: the longest token lifetime,
/// plus a margin for instances that learn of the rotation late and for
/// clock skew.
pub const RETIRE_AFTER_SECS: i64 = portcullis_domain::TokenTtl::MAX as i64 + 300;

/// The kids of keys no token can still need: each replaced key that
/// stopped signing longer than [`RETIRE_AFTER_SECS`] ago.
pub fn retirable(stored: &[StoredSigningKey], now: portcullis_domain::Timestamp) -> Vec<String> {
    stored
        .iter()
        .filter(|k| k.state == KeyState::Previous)
        .filter(|k| k.replaced_at.is_none_or(|at| (now - at).num_seconds() > RETIRE_AFTER_SECS))
        .map(|k| k.kid.clone())
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

    fn stored(
        kid: &str,
        state: KeyState,
        replaced_secs_ago: Option<i64>,
        at: portcullis_domain::Timestamp,
    ) -> StoredSigningKey {
        StoredSigningKey {
            kid: kid.into(),
            algorithm: ALGORITHM.into(),
            public_key: vec![],
            sealed_private_key: vec![],
            created_at: at - chrono::TimeDelta::days(10),
            state,
            activated_at: None,
            replaced_at: replaced_secs_ago.map(|s| at - chrono::TimeDelta::seconds(s)),
        }
    }

    #[test]
    fn a_replaced_key_is_retired_only_after_its_tokens_can_have_expired() {
        let at = now();
        let day = RETIRE_AFTER_SECS;
        let keys = [
            stored("next", KeyState::Next, None, at),
            stored("current", KeyState::Current, None, at),
            stored("b", KeyState::Previous, Some(day - 1), at),
            stored("a", KeyState::Previous, Some(day + 100), at),
        ];
        assert_eq!(retirable(&keys, at), vec!["a".to_owned()], "b still signed tokens that may be alive");
        assert!(retirable(&keys[..2], at).is_empty(), "the current and the next key are never retired");
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
