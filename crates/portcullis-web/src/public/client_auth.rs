//! `client_secret_basic` (RFC 6749 §2.3.1): the `Authorization: Basic`
//! header, whose id and secret are form-urlencoded *before* base64
//! (Appendix B).

use axum::http::{HeaderMap, header};
use base64::{
    Engine, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};

use super::form::decode_component;
use crate::error::OAuthError;

/// Standard alphabet; padding optional, as some clients omit it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Credentials from the `Authorization` header, if there is one.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(OAuthError::InvalidRequest("the Authorization header was sent more than once"));
    }
    let value =
        value.to_str().map_err(|_| OAuthError::InvalidRequest("the Authorization header is not ASCII"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        // An authentication method we do not support is a failed authentication.
        return Err(OAuthError::InvalidClient);
    }
    let decoded = BASE64
        .decode(rest.trim_start_matches(' '))
        .map_err(|_| OAuthError::InvalidRequest("the Basic credentials are not valid base64"))?;
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or(OAuthError::InvalidRequest("the Basic credentials have no `:` between id and secret"))?;
    let bad = |_| OAuthError::InvalidRequest("the Basic credentials are not properly form-urlencoded UTF-8");
    let id = decode_component(&decoded[..colon]).map_err(bad)?;
    let secret = decode_component(&decoded[colon + 1..]).map_err(bad)?;
    Ok(Some((id, secret)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    fn header(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    fn encode(id: &str, secret: &str) -> String {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
        )
    }

    #[test]
    fn decodes_urlencoded_special_characters() {
        let got = basic_credentials(&header(&encode("id+ % : £ €", "s:+%£€"))).unwrap();
        assert_eq!(got, Some(("id+ % : £ €".into(), "s:+%£€".into())));
    }

    #[test]
    fn plus_in_the_raw_header_is_a_space() {
        let raw = base64::engine::general_purpose::STANDARD.encode("a+b:c%3Ad");
        let got = basic_credentials(&header(&format!("Basic {raw}"))).unwrap();
        assert_eq!(got, Some(("a b".into(), "c:d".into())));
    }

    #[test]
    fn secret_may_contain_colons_after_the_first() {
        let raw = base64::engine::general_purpose::STANDARD.encode("id:a:b");
        assert_eq!(
            basic_credentials(&header(&format!("basic {raw}"))).unwrap(),
            Some(("id".into(), "a:b".into()))
        );
    }

    #[test]
    fn malformed_headers_are_invalid_requests() {
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        for bad in [
            "Basic !!!".to_owned(),
            format!("Basic {}", b64(b"no-colon")),
            format!("Basic {}", b64(b"%%%:x")),
            format!("Basic {}", b64(b"id:\xff")),
        ] {
            assert!(matches!(basic_credentials(&header(&bad)), Err(OAuthError::InvalidRequest(_))), "{bad}");
        }
        assert!(matches!(basic_credentials(&header("Bearer abc")), Err(OAuthError::InvalidClient)));
        assert_eq!(basic_credentials(&HeaderMap::new()).unwrap(), None);
        let mut twice = header(&encode("a", "b"));
        twice.append(header::AUTHORIZATION, HeaderValue::from_static("Basic YTpi"));
        assert!(matches!(basic_credentials(&twice), Err(OAuthError::InvalidRequest(_))));
    }

    proptest! {
        #[test]
        fn round_trips_any_id_and_secret(id in "[^:]{0,30}", secret in "\\PC{0,60}") {
            prop_assert_eq!(basic_credentials(&header(&encode(&id, &secret))).unwrap(), Some((id, secret)));
        }
    }
}
