//! The `Authorization: Basic` parser of `client_secret_basic`
//! (RFC 6749 §2.3.1; `portcullis-web/src/public/client_auth.rs`).
//!
//! Any header value: it never panics; a scheme other than Basic is
//! `invalid_client`, anything else refused is `invalid_request`; what it
//! accepts, encoded again, reads back the same. Any id and secret, encoded
//! as the testkit does or as a standard encoder does, in any case of
//! `Basic`, with or without padding and with extra spaces, reads back
//! exactly. Two headers are refused.
#![no_main]

use arbitrary::Arbitrary;
use axum::http::{HeaderMap, HeaderValue, header};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD},
};
use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::testkit_urlencode;
use portcullis_web::{OAuthError, fuzzing::basic_credentials};

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// Any bytes as the header's value.
    Raw(&'a [u8]),
    /// An id and a secret, encoded as a client would.
    Encoded { id: String, secret: String, form: Form },
    /// The header twice.
    Twice(&'a [u8], &'a [u8]),
}

#[derive(Arbitrary, Debug)]
struct Form {
    testkit: bool,
    padded: bool,
    scheme: Scheme,
    spaces: u8,
}

#[derive(Arbitrary, Debug)]
enum Scheme {
    Basic,
    Lower,
    Upper,
}

fn headers(values: &[&[u8]]) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    for value in values {
        map.append(header::AUTHORIZATION, HeaderValue::from_bytes(value).ok()?);
    }
    Some(map)
}

fn encode(id: &str, secret: &str, form: &Form) -> String {
    let enc = |s: &str| {
        if form.testkit {
            testkit_urlencode(s)
        } else {
            form_urlencoded::byte_serialize(s.as_bytes()).collect()
        }
    };
    let joined = format!("{}:{}", enc(id), enc(secret));
    let b64 = if form.padded { STANDARD.encode(joined) } else { STANDARD_NO_PAD.encode(joined) };
    let scheme = match form.scheme {
        Scheme::Basic => "Basic",
        Scheme::Lower => "basic",
        Scheme::Upper => "BASIC",
    };
    format!("{scheme} {}{b64}", " ".repeat(usize::from(form.spaces % 4)))
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Raw(value) => {
        let Some(map) = headers(&[value]) else { return };
        match basic_credentials(&map) {
            Ok(Some((id, secret))) => {
                let form = Form { testkit: true, padded: true, scheme: Scheme::Basic, spaces: 0 };
                let again =
                    headers(&[encode(&id, &secret, &form).as_bytes()]).expect("base64 is a header value");
                assert_eq!(
                    basic_credentials(&again).ok(),
                    Some(Some((id, secret))),
                    "accepted, re-encoded, read back"
                );
            }
            Ok(None) => panic!("a header was sent: Ok(None) says there was none"),
            Err(OAuthError::InvalidClient) => {
                let scheme = value.split(|&b| b == b' ').next().unwrap_or_default();
                assert!(!scheme.eq_ignore_ascii_case(b"basic"), "Basic refused as another scheme");
            }
            Err(OAuthError::InvalidRequest(_)) => {}
            Err(other) => panic!("unexpected refusal {other:?}"),
        }
    }
    Input::Encoded { id, secret, form } => {
        let map = headers(&[encode(&id, &secret, &form).as_bytes()]).expect("base64 is a header value");
        assert_eq!(basic_credentials(&map).ok(), Some(Some((id, secret))), "round trip");
    }
    Input::Twice(a, b) => {
        let Some(map) = headers(&[a, b]) else { return };
        assert!(matches!(basic_credentials(&map), Err(OAuthError::InvalidRequest(_))));
    }
});
