//! RFC 9068 access tokens as compact JWS (RFC 7515 §7.1).
//!
//! The signature is ed25519-dalek's; this module only joins the three
//! base64url parts. We do not go through a JOSE crate here because the ones
//! we tried rebuild the signing key from PKCS#8 on every call, which doubles
//! the cost of the hottest operation Portcullis has (see docs/performance.md).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::Signer;
use serde::{Deserialize, Serialize};

use crate::keys::ActiveKey;

/// The claims of an access token (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// For client credentials, the client itself (RFC 9068 §2.2).
    pub sub: String,
    pub client_id: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// Space-separated permissions; absent when none were granted (RFC 9068 §2.2.3).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scope: Option<String>,
}

pub fn sign(key: &ActiveKey, claims: &AccessTokenClaims) -> Result<String, serde_json::Error> {
    let payload = serde_json::to_vec(claims)?;
    let b64_len = |n: usize| n.div_ceil(3) * 4;
    let mut token = String::with_capacity(key.header_b64.len() + b64_len(payload.len()) + 90);
    token.push_str(&key.header_b64);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = key.signing.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, SigningKey, Verifier};
    use rand::rngs::OsRng;

    #[test]
    fn signed_token_verifies_and_carries_the_claims() {
        let signing = SigningKey::generate(&mut OsRng);
        let header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"}).to_string();
        let key = ActiveKey {
            kid: "k1".into(),
            header_b64: URL_SAFE_NO_PAD.encode(header),
            signing: signing.clone(),
        };
        let claims = AccessTokenClaims {
            iss: "https://auth.example".into(),
            sub: "c".into(),
            client_id: "c".into(),
            aud: "https://api.example".into(),
            iat: 1,
            nbf: 1,
            exp: 61,
            jti: "j".into(),
            scope: None,
        };
        let token = sign(&key, &claims).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["typ"], "at+jwt");
        let body: AccessTokenClaims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(body, claims);
        let payload = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
        assert!(!String::from_utf8(payload).unwrap().contains("scope"), "no scope claim when none granted");
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        assert!(signing.verifying_key().verify(signed.as_bytes(), &sig).is_ok());
    }
}
