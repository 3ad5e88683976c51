//! Access-token parsing as introspection (and the admin API's Bearer
//! check) does it: `portcullis_service::jwt::verify` against the published
//! keys, then the claim parsers `validate_access_token` applies; a
//! `pat_…` token goes to the personal access token parser instead.
//!
//! Any text: it never panics, and whatever it accepts is a compact JWS whose
//! header names EdDSA, `at+jwt` and a published key, whose signature over
//! exactly its first two parts verifies under that key, and whose claims
//! are exactly its payload. Tokens signed from the input (any claims, any
//! header, by a published key or a foreign one, then perhaps edited): those
//! the current key signs as the server does are accepted with their
//! claims; a foreign key's, an edited one's or one whose header is not ours
//! never is.
#![no_main]

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use portcullis_domain::{ClientId, PersonalTokenSecret, Scope};
use portcullis_service::{
    fuzzing::key_set,
    jwt::{AccessTokenClaims, InvalidToken, sign, verify},
    keys::{KeySet, thumbprint},
};

const CURRENT: [u8; 32] = [1; 32];
const NEXT: [u8; 32] = [2; 32];
const FOREIGN: [u8; 32] = [3; 32];

static KEYS: LazyLock<KeySet> = LazyLock::new(|| key_set(&CURRENT, &[NEXT]));

fn kid(seed: &[u8; 32]) -> String {
    thumbprint(&SigningKey::from_bytes(seed).verifying_key())
}

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// Whatever a caller sends as `token`.
    Text(&'a str),
    /// Claims signed by the server's own code.
    Issued(Claims),
    /// A token put together from the input.
    Forged { signer: Key, header: Header<'a>, payload: Payload<'a>, edit: Edit<'a> },
}

#[derive(Arbitrary, Debug, Clone)]
struct Claims {
    iss: String,
    sub: String,
    client_id: String,
    aud: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: String,
    scope: Option<String>,
}

impl Claims {
    fn claims(self) -> AccessTokenClaims {
        let Self { iss, sub, client_id, aud, iat, nbf, exp, jti, scope } = self;
        AccessTokenClaims { iss, sub, client_id, aud, iat, nbf, exp, jti, scope }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Key {
    Current,
    Next,
    Foreign,
}

impl Key {
    fn seed(self) -> &'static [u8; 32] {
        match self {
            Self::Current => &CURRENT,
            Self::Next => &NEXT,
            Self::Foreign => &FOREIGN,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Header<'a> {
    alg: Choice<'a>,
    typ: Choice<'a>,
    kid: KidChoice<'a>,
    /// The whole header as these bytes instead.
    raw: Option<&'a [u8]>,
}

#[derive(Arbitrary, Debug)]
enum Choice<'a> {
    Ours,
    Variant(u8),
    Missing,
    Other(&'a str),
}

#[derive(Arbitrary, Debug)]
enum KidChoice<'a> {
    Signer,
    Current,
    Next,
    Foreign,
    Missing,
    Other(&'a str),
}

#[derive(Arbitrary, Debug)]
enum Payload<'a> {
    Claims(Claims),
    Raw(&'a [u8]),
}

#[derive(Arbitrary, Debug)]
enum Edit<'a> {
    None,
    Flip {
        at: u16,
        bits: u8,
    },
    Truncate {
        to: u16,
    },
    Insert {
        at: u16,
        text: &'a str,
    },
    /// Another token's signature, or any other last part.
    Signature(&'a str),
}

impl Header<'_> {
    fn json(&self, signer: Key) -> Vec<u8> {
        if let Some(raw) = self.raw {
            return raw.to_vec();
        }
        let mut header = serde_json::Map::new();
        let alg = match self.alg {
            Choice::Ours => Some("EdDSA".to_owned()),
            Choice::Variant(i) => {
                Some(["eddsa", "none", "HS256", "ES256", "EdDSA "][usize::from(i) % 5].to_owned())
            }
            Choice::Missing => None,
            Choice::Other(s) => Some(s.to_owned()),
        };
        let typ = match self.typ {
            Choice::Ours => Some("at+jwt".to_owned()),
            Choice::Variant(i) => Some(
                ["application/at+jwt", "AT+JWT", "JWT", "at+JWT ", "application/jwt"][usize::from(i) % 5]
                    .to_owned(),
            ),
            Choice::Missing => None,
            Choice::Other(s) => Some(s.to_owned()),
        };
        let kid = match self.kid {
            KidChoice::Signer => Some(kid(signer.seed())),
            KidChoice::Current => Some(kid(&CURRENT)),
            KidChoice::Next => Some(kid(&NEXT)),
            KidChoice::Foreign => Some(kid(&FOREIGN)),
            KidChoice::Missing => None,
            KidChoice::Other(s) => Some(s.to_owned()),
        };
        for (name, value) in [("alg", alg), ("typ", typ), ("kid", kid)] {
            if let Some(value) = value {
                header.insert(name.to_owned(), value.into());
            }
        }
        serde_json::to_vec(&header).expect("a map of strings")
    }
}

/// What must hold of every token `verify` accepts, checked without it.
fn check_accepted(token: &str, claims: &AccessTokenClaims) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("header is base64url"))
            .expect("JSON");
    assert_eq!(header["alg"], "EdDSA");
    let typ = header["typ"].as_str().expect("a typ").to_ascii_lowercase();
    assert!(typ == "at+jwt" || typ == "application/at+jwt", "{typ}");
    let kid = header["kid"].as_str().expect("a kid");
    let key = KEYS.verifying_key(kid).expect("a published key");
    assert!(kid == self::kid(&CURRENT) || kid == self::kid(&NEXT));
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature is base64url");
    let signature = ed25519_dalek::Signature::from_slice(&signature).expect("64 bytes");
    let signed = format!("{}.{}", parts[0], parts[1]);
    key.verify_strict(signed.as_bytes(), &signature).expect("the signature verifies");
    let payload = URL_SAFE_NO_PAD.decode(parts[1]).expect("payload is base64url");
    let decoded: AccessTokenClaims = serde_json::from_slice(&payload).expect("claims");
    assert_eq!(&decoded, claims, "the claims are exactly the signed payload");
    // What `validate_access_token` parses next, on any signed claims.
    let _ = claims.jti.parse::<uuid::Uuid>();
    let _ = claims.client_id.parse::<ClientId>();
    let _ = Scope::parse(claims.scope.as_deref().unwrap_or(""));
}

/// As introspection reads a token: a personal access token by its prefix,
/// anything else as an access token.
fn introspect(token: &str) -> Result<AccessTokenClaims, InvalidToken> {
    if token.starts_with("pat_") {
        let _ = PersonalTokenSecret::parse(token);
        return Err(InvalidToken::Malformed);
    }
    let verified = verify(&KEYS, token);
    if let Ok(claims) = &verified {
        check_accepted(token, claims);
    }
    verified
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Text(text) => {
        let _ = introspect(text);
    }
    Input::Issued(claims) => {
        let claims = claims.claims();
        let token = sign(&KEYS.active, &claims).expect("claims serialise");
        assert_eq!(introspect(&token), Ok(claims), "the server's own token is accepted");
    }
    Input::Forged { signer, header, payload, edit } => {
        let header_b64 = URL_SAFE_NO_PAD.encode(header.json(signer));
        let payload_bytes = match &payload {
            Payload::Claims(c) => serde_json::to_vec(&c.clone().claims()).expect("claims"),
            Payload::Raw(raw) => raw.to_vec(),
        };
        let signing_input = format!("{header_b64}.{}", URL_SAFE_NO_PAD.encode(&payload_bytes));
        let signature = SigningKey::from_bytes(signer.seed()).sign(signing_input.as_bytes());
        let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        let mut bytes = token.clone().into_bytes();
        match edit {
            Edit::None => {}
            Edit::Flip { at, bits } => {
                let at = usize::from(at) % bytes.len();
                bytes[at] ^= bits;
            }
            Edit::Truncate { to } => bytes.truncate(usize::from(to) % bytes.len()),
            Edit::Insert { at, text } => {
                let at = usize::from(at) % (bytes.len() + 1);
                bytes.splice(at..at, text.bytes());
            }
            Edit::Signature(last) => {
                bytes.truncate(signing_input.len() + 1);
                bytes.extend_from_slice(last.as_bytes());
            }
        }
        let Ok(presented) = String::from_utf8(bytes) else { return };
        let result = introspect(&presented);
        if result.is_ok() {
            // Only what a published key signed, exactly as it signed it.
            assert_ne!(signer, Key::Foreign, "a foreign key's token was accepted");
            assert!(
                presented.starts_with(&format!("{signing_input}.")),
                "an edited signing input was accepted"
            );
            assert_eq!(presented, token, "an edited signature was accepted");
        }
        // The server's own kind of token, unedited: accepted, claims and all.
        let ours = matches!(header.alg, Choice::Ours)
            && matches!(header.typ, Choice::Ours)
            && matches!(header.kid, KidChoice::Signer)
            && header.raw.is_none()
            && signer != Key::Foreign
            && matches!(edit, Edit::None);
        if let (true, Payload::Claims(c)) = (ours, &payload) {
            assert_eq!(result, Ok(c.clone().claims()), "a valid token was refused");
        }
    }
});
