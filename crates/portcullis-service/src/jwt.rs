//! RFC 9068 access tokens as compact JWS (RFC 7515 §7.1).
//!
//! The signature is ed25519-dalek's; this module only joins the three
//! base64url parts. We do not go through a JOSE crate here because the ones
//! we tried rebuild the signing key from PKCS#8 on every call, which doubles
//! the cost of the hottest operation Portcullis has (see docs/performance.md).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::Signer;
use serde::{Deserialize, Serialize};

use crate::keys::{ActiveKey, KeySet};

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

/// Why a presented token is not accepted. Deliberately coarse: callers
/// answer "invalid token" (or `active: false`) whatever the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    #[error("not a compact JWS")]
    Malformed,
    #[error("header is not EdDSA / at+jwt with a known kid")]
    Header,
    #[error("signature does not verify")]
    Signature,
    #[error("claims are not those of a Portcullis access token")]
    Claims,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// Tokens are a few hundred bytes; refuse to parse anything much larger.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Checks the form, header and signature of a token against the published
/// keys and returns its claims. Time and issuer are the caller's to check.
/// Only `EdDSA` with a key of ours is accepted: never `none`, never an
/// algorithm the header picks (RFC 8725 §3.1).
pub fn verify(keys: &KeySet, token: &str) -> Result<AccessTokenClaims, InvalidToken> {
    verify_with_kid(keys, token).map(|(claims, _)| claims)
}

/// [`verify`], and the `kid` of the key that verified the signature.
pub fn verify_with_kid(keys: &KeySet, token: &str) -> Result<(AccessTokenClaims, String), InvalidToken> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(InvalidToken::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(InvalidToken::Malformed);
    };
    let header_bytes = URL_SAFE_NO_PAD.decode(header_b64).map_err(|_| InvalidToken::Malformed)?;
    let header: Header = serde_json::from_slice(&header_bytes).map_err(|_| InvalidToken::Header)?;
    // RFC 9068 §4: the typ must be at+jwt (with or without the application/ prefix).
    let typ_ok = header
        .typ
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt"));
    if header.alg != crate::keys::ALGORITHM || !typ_ok {
        return Err(InvalidToken::Header);
    }
    let key = header.kid.as_deref().and_then(|kid| keys.verifying_key(kid)).ok_or(InvalidToken::Header)?;
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| InvalidToken::Malformed)?;
    let signature = ed25519_dalek::Signature::from_slice(&signature).map_err(|_| InvalidToken::Malformed)?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    key.verify_strict(signing_input.as_bytes(), &signature).map_err(|_| InvalidToken::Signature)?;
    let payload = URL_SAFE_NO_PAD.decode(payload_b64).map_err(|_| InvalidToken::Malformed)?;
    let claims = serde_json::from_slice(&payload).map_err(|_| InvalidToken::Claims)?;
    Ok((claims, header.kid.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::thumbprint;
    use ed25519_dalek::{SigningKey, Verifier};
    use rand::rngs::OsRng;

    fn key_set() -> KeySet {
        let signing = SigningKey::generate(&mut OsRng);
        let kid = thumbprint(&signing.verifying_key());
        let public = signing.verifying_key();
        KeySet::new(kid.clone(), signing, vec![(kid, public)])
    }

    fn claims(scope: Option<&str>) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://auth.example".into(),
            sub: "c".into(),
            client_id: "c".into(),
            aud: "https://api.example".into(),
            iat: 1,
            nbf: 1,
            exp: 61,
            jti: "j".into(),
            scope: scope.map(Into::into),
        }
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn signed_token_verifies_and_carries_the_claims() {
        let keys = key_set();
        let token = sign(&keys.active, &claims(None)).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": keys.active.kid}));
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert!(!payload.contains("scope"), "no scope claim when none granted");
        let sig = ed25519_dalek::Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        let public = keys.verifying_key(&keys.active.kid).unwrap();
        assert!(public.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).is_ok());
        assert_eq!(verify(&keys, &token), Ok(claims(None)));
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let keys = key_set();
        let token = sign(&keys.active, &claims(Some("a:b"))).unwrap();
        let (head, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.rsplit_once('.').unwrap();

        let widened =
            format!("{head}.{}.{sig}", b64(&serde_json::to_value(claims(Some("a:b c:d"))).unwrap()));
        assert_eq!(verify(&keys, &widened), Err(InvalidToken::Signature));

        let other = key_set();
        assert_eq!(verify(&other, &token), Err(InvalidToken::Header), "unknown kid");

        let payload = rest.rsplit_once('.').unwrap().0;
        let none = format!("{}.{payload}.", b64(&serde_json::json!({"alg": "none", "typ": "at+jwt"})));
        assert!(verify(&keys, &none).is_err(), "alg none");
        let hs = format!(
            "{}.{payload}.{sig}",
            b64(&serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": keys.active.kid}))
        );
        assert_eq!(verify(&keys, &hs), Err(InvalidToken::Header));
        let plain_jwt = format!(
            "{}.{payload}.{sig}",
            b64(&serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": keys.active.kid}))
        );
        assert_eq!(verify(&keys, &plain_jwt), Err(InvalidToken::Header), "typ must be at+jwt");

        for garbage in ["", "a", "a.b", "a.b.c.d", "!!.!!.!!", &format!("{token}.x"), &"a".repeat(10_000)] {
            assert!(verify(&keys, garbage).is_err(), "{garbage}");
        }
    }

    proptest::proptest! {
        #[test]
        fn verify_never_panics(s in "\\PC{0,300}") {
            let _ = verify(&key_set(), &s);
        }
    }
}
