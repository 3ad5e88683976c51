//! What is stored of a request or response body: never a secret, token,
//! password or `Authorization` value, however it was encoded. Bodies are
//! decoded the way the endpoints decode them (JSON, forms with the
//! endpoints' own form parser, GraphQL text), credentials are replaced
//! after decoding, and the result is stored re-encoded and capped.
//!
//! A credential in one of our own formats (`pcs_…`, `pat_…`, a JWT) keeps
//! a short marker (`pcs_…AbCd`); any other credential (a password, a
//! foreign or malformed secret) becomes `[redacted]`
//! ([`portcullis_domain::credential`]). The service receives events
//! already redacted by this module.

mod form;
pub(crate) mod graphql;

use portcullis_domain::credential::{REDACTED, redact_credential, scrub_text};
use serde_json::Value;

pub use form::form_body;

/// Stored bodies are at most this long; longer ones end in [`TRUNCATED`].
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Bodies of failed authentications at the OAuth2 endpoints are at most
/// this long: an operator needs to see which field was wrong, not 16 KiB.
pub const MAX_FAILURE_BODY_BYTES: usize = 1024;
pub const TRUNCATED: &str = "…[truncated]";

/// Fields whose values are credentials, whatever they look like.
const SENSITIVE: [&str; 14] = [
    "client_secret",
    "password",
    "passphrase",
    "token",
    "access_token",
    "refresh_token",
    "csrf_token",
    "authorization",
    "secret",
    "assertion",
    "api_key",
    "apikey",
    "private_key",
    "cookie",
];

/// The camel-case endings of credential names (`clientSecret`,
/// `accessToken`, `newPassword`), as GraphQL spells fields.
const SENSITIVE_CAMEL: [&str; 7] =
    ["Secret", "Password", "Passphrase", "Token", "Authorization", "Assertion", "ApiKey"];

/// A field named like one of [`SENSITIVE`], or ending in `_` and one of
/// them, in any case; or a camel-case name ending in one of
/// [`SENSITIVE_CAMEL`].
pub(crate) fn is_sensitive(key: &str) -> bool {
    let camel = SENSITIVE_CAMEL.iter().any(|s| {
        key.len() > s.len()
            && key.ends_with(s)
            && key[..key.len() - s.len()]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    camel
        || SENSITIVE.iter().any(|s| {
            if key.len() == s.len() {
                return key.eq_ignore_ascii_case(s);
            }
            key.len() > s.len()
                && key.as_bytes()[key.len() - s.len() - 1] == b'_'
                && key.is_char_boundary(key.len() - s.len())
                && key[key.len() - s.len()..].eq_ignore_ascii_case(s)
        })
}

/// A credential's value: a string becomes its stored form, anything else
/// (a number, an object) `[redacted]`.
fn mask(v: &mut Value) {
    if let Value::String(s) = v {
        *s = redact_credential(s);
    } else if !v.is_null() {
        *v = Value::String(REDACTED.to_owned());
    }
}

/// A GraphQL answer as it is to be stored: every credential this request
/// handed out (`issued`, whatever alias it was asked for under) becomes its
/// stored form, and every string is scrubbed of credential-looking words.
/// Field names are not judged: the caller chose them.
pub fn graphql_response(body: &[u8], issued: &[String]) -> Option<String> {
    fn walk(value: &mut Value, issued: &[String]) {
        match value {
            Value::String(s) if issued.iter().any(|i| i == s) => *s = redact_credential(s),
            Value::String(s) => *s = scrub_text(s).into_owned(),
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, issued)),
            Value::Object(map) => map.values_mut().for_each(|v| walk(v, issued)),
            _ => {}
        }
    }
    if body.is_empty() {
        return None;
    }
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut value) => {
            walk(&mut value, issued);
            value.to_string()
        }
        Err(_) => {
            let mut text = scrub_text(&String::from_utf8_lossy(body)).into_owned();
            for secret in issued {
                text = text.replace(secret.as_str(), &redact_credential(secret));
            }
            text
        }
    };
    Some(cap(text))
}

fn scrub_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            // A GraphQL request: credentials may sit in its text, or in
            // variables bound to credential arguments.
            let mut bound = Vec::new();
            if let Some(Value::String(doc)) = map.get_mut("query") {
                let (scrubbed, variables) = graphql::scrub(doc);
                *doc = scrubbed;
                bound = variables;
            }
            if let Some(Value::Object(variables)) = map.get_mut("variables") {
                for name in &bound {
                    if let Some(v) = variables.get_mut(name) {
                        mask(v);
                    }
                }
            }
            for (key, v) in map.iter_mut() {
                if key == "query" && v.is_string() {
                    continue;
                }
                if is_sensitive(key) {
                    mask(v);
                } else {
                    scrub_json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_json),
        Value::String(s) => *s = scrub_text(s).into_owned(),
        _ => {}
    }
}

/// Caps a stored body at [`MAX_BODY_BYTES`], ending it in [`TRUNCATED`].
pub fn cap(text: String) -> String {
    cap_at(text, MAX_BODY_BYTES)
}

/// Caps a stored body at `max` bytes, ending it in [`TRUNCATED`].
pub fn cap_at(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(TRUNCATED);
    }
    text
}

fn is_json(media: &str) -> bool {
    media.get(media.len().saturating_sub(4)..).is_some_and(|t| t.eq_ignore_ascii_case("json"))
}

/// The storable form of a body: JSON and form bodies field by field, other
/// text word by word; binary bodies are not kept.
pub fn body(bytes: &[u8], content_type: Option<&str>) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let media = content_type.unwrap_or("").split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return form_body(bytes);
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Some(format!("[{} bytes, not UTF-8]", bytes.len()));
    };
    // JSON is read as JSON whatever it was labelled: a mislabelled body
    // must not keep its credentials.
    let parsed = if is_json(media) || text.trim_start().starts_with(['{', '[']) {
        serde_json::from_str::<Value>(text).ok()
    } else {
        None
    };
    let scrubbed = match parsed {
        Some(mut value) => {
            scrub_json(&mut value);
            value.to_string()
        }
        None => scrub_text(text).into_owned(),
    };
    Some(cap(scrubbed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_domain::{ClientSecret, PersonalTokenSecret};

    pub(super) const JWT: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl";

    #[test]
    fn sensitive_names_in_any_case_and_as_suffixes() {
        for name in [
            "password",
            "Client_Secret",
            "ACCESS_TOKEN",
            "new_password",
            "x_authorization",
            "token",
            "ü_token",
            "x_api_key",
        ] {
            assert!(is_sensitive(name), "{name}");
        }
        for name in ["tokens", "passwords_count", "mytoken", "secretary", "", "_", "ü_token_", "ütoken"] {
            assert!(!is_sensitive(name), "{name}");
        }
    }

    #[test]
    fn camel_case_credential_names() {
        for name in ["clientSecret", "accessToken", "newPassword", "personalAccessToken", "x1Token"] {
            assert!(is_sensitive(name), "{name}");
        }
        for name in ["tokenType", "revokeTokens", "secretary", "XToken", "hint"] {
            assert!(!is_sensitive(name), "{name}");
        }
    }

    #[test]
    fn graphql_answers_lose_what_they_issued_under_any_alias() {
        let secret = ClientSecret::generate();
        let issued = vec!["OsjqluwxN2wq0hLgceEEoyTF".to_owned(), secret.expose().to_owned()];
        let body = serde_json::json!({"data": {"createUser": {"pw": "OsjqluwxN2wq0hLgceEEoyTF", "user": {"id": "u1"}},
            "regenerateClientSecret": {"client": {"id": "c1"}, "s": secret.expose(), "x": format!("see {JWT}")}}});
        let stored = graphql_response(body.to_string().as_bytes(), &issued).unwrap();
        assert!(!stored.contains("OsjqluwxN2wq0hLgceEEoyTF") && !stored.contains(JWT), "{stored}");
        assert!(!stored.contains(secret.expose()) && stored.contains(&secret.hint()), "{stored}");
        assert!(stored.contains("\"pw\":\"[redacted]\""), "a generated password tells nothing: {stored}");
        assert!(stored.contains("\"c1\"") && stored.contains("\"u1\""), "ids kept: {stored}");
        assert_eq!(graphql_response(b"", &issued), None);
        let broken = graphql_response(b"{\"pw\": \"OsjqluwxN2wq0hLgceEEoyTF", &issued).unwrap();
        assert!(!broken.contains("OsjqluwxN2wq0hLgceEEoyTF"), "{broken}");
    }

    #[test]
    fn json_bodies_lose_their_credentials_at_any_depth() {
        let s = ClientSecret::generate();
        let pat = PersonalTokenSecret::generate();
        let body = serde_json::json!({
            "client": {"name": "x"},
            "client_secret": s.expose(),
            "access_token": JWT,
            "password": "correct horse battery staple",
            "api_key": 12345678,
            "nested": [{"note": format!("my token is {} ok", pat.expose())}],
        })
        .to_string();
        let out = super::body(body.as_bytes(), Some("application/json")).unwrap();
        for secret in [s.expose(), JWT, "correct horse battery staple", "12345678", pat.expose()] {
            assert!(!out.contains(secret), "{out}");
        }
        assert!(out.contains("\"name\":\"x\""));
        assert!(out.contains("\"password\":\"[redacted]\""), "{out}");
        assert!(out.contains(&s.hint()) && out.contains(&pat.hint()), "{out}");
        // Escapes are decoded before the names and values are judged.
        let escaped = r#"{"pass\u0077ord": "hunter2hunter2", "note": "\u0070cs_abcdefghijklmnop"}"#;
        let out = super::body(escaped.as_bytes(), Some("application/json")).unwrap();
        assert!(!out.contains("hunter2") && !out.contains("abcdefghijklmnop"), "{out}");
        // Mislabelled JSON is still read as JSON.
        let out = super::body(br#"{"password": "hunter2hunter2"}"#, Some("text/plain")).unwrap();
        assert!(!out.contains("hunter2"), "{out}");
    }

    #[test]
    fn free_text_and_caps() {
        let s = ClientSecret::generate();
        let out = super::body(format!("oops {} leaked", s.expose()).as_bytes(), Some("text/plain")).unwrap();
        assert!(!out.contains(s.expose()) && out.starts_with("oops pcs_…"));
        let big = "a".repeat(MAX_BODY_BYTES + 10);
        let out = super::body(big.as_bytes(), None).unwrap();
        assert!(out.ends_with(TRUNCATED) && out.len() == MAX_BODY_BYTES + TRUNCATED.len());
        assert_eq!(super::body(b"", None), None);
        assert_eq!(super::body(b"\xff\xfe", None).unwrap(), "[2 bytes, not UTF-8]");
        assert_eq!(cap_at("ééé".to_owned(), 3), format!("é{TRUNCATED}"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), json in proptest::prelude::any::<bool>()) {
            let _ = super::body(&bytes, Some(if json { "application/json" } else { "application/x-www-form-urlencoded" }));
        }
    }
}
