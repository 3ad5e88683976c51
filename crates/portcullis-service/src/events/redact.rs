//! What is stored of a request or response body: never a secret, token,
//! password or `Authorization` value. Each is replaced by a marker that
//! keeps its first and last four characters (`pcs_…AbCd`), enough to tell
//! which credential was used and useless to anyone else. Bodies are capped.

use serde_json::Value;

/// Stored bodies are at most this long; longer ones end in [`TRUNCATED`].
pub const MAX_BODY_BYTES: usize = 16 * 1024;
pub const TRUNCATED: &str = "…[truncated]";

/// Fields whose values are credentials, whatever they look like.
const SENSITIVE: [&str; 9] = [
    "client_secret",
    "password",
    "token",
    "access_token",
    "refresh_token",
    "csrf_token",
    "authorization",
    "secret",
    "assertion",
];

/// `pcs_…AbCd`: the first and last four characters of a credential.
pub fn marker(value: &str) -> String {
    if value.is_ascii() {
        // The usual case (our secrets, JWTs): byte positions are characters.
        if value.len() <= 12 {
            return "…".to_owned();
        }
        return format!("{}…{}", &value[..4], &value[value.len() - 4..]);
    }
    let count = value.chars().count();
    if count <= 12 {
        return "…".to_owned();
    }
    let head_end = value.char_indices().nth(4).map_or(value.len(), |(i, _)| i);
    let tail_start = value.char_indices().nth(count - 4).map_or(value.len(), |(i, _)| i);
    let mut out = String::with_capacity(head_end + (value.len() - tail_start) + '…'.len_utf8());
    out.push_str(&value[..head_end]);
    out.push('…');
    out.push_str(&value[tail_start..]);
    out
}

/// A field named like one of [`SENSITIVE`], or ending in `_` and one of
/// them, in any case.
fn is_sensitive(key: &str) -> bool {
    SENSITIVE.iter().any(|s| {
        if key.len() == s.len() {
            return key.eq_ignore_ascii_case(s);
        }
        key.len() > s.len()
            && key.as_bytes()[key.len() - s.len() - 1] == b'_'
            && key.is_char_boundary(key.len() - s.len())
            && key[key.len() - s.len()..].eq_ignore_ascii_case(s)
    })
}

/// A word that looks like one of our secrets or like a JWT.
fn looks_secret(word: &str) -> bool {
    let secret_prefix = word.starts_with("pcs_") || word.starts_with("pat_");
    let jwt = word.starts_with("eyJ") && word.matches('.').count() == 2 && word.len() > 20;
    (secret_prefix && word.len() > 12) || jwt
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Replaces every secret-looking word in free text.
fn scrub_text(text: &str) -> String {
    // A secret-looking word starts with one of these; most text holds none.
    if !(text.contains("pcs_") || text.contains("pat_") || text.contains("eyJ")) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let word_end = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        if looks_secret(word) {
            out.push_str(&marker(word));
        } else {
            out.push_str(word);
        }
        let gap_end = after.find(is_word_char).unwrap_or(after.len());
        out.push_str(&after[..gap_end]);
        rest = &after[gap_end..];
    }
    out
}

fn scrub_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_sensitive(key) {
                    if let Value::String(s) = v {
                        *s = marker(s);
                    } else if !v.is_null() {
                        *v = Value::String("…".to_owned());
                    }
                } else {
                    scrub_json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_json),
        Value::String(s) => *s = scrub_text(s),
        _ => {}
    }
}

fn scrub_form(body: &str) -> String {
    body.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if is_sensitive(key) => {
                let decoded: String = form_decode(value);
                format!("{key}={}", marker(&decoded))
            }
            _ => scrub_text(pair),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn form_decode(value: &str) -> String {
    form_urlencoded::parse(format!("v={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Caps a stored body at [`MAX_BODY_BYTES`], ending it in [`TRUNCATED`].
pub fn cap(mut text: String) -> String {
    if text.len() > MAX_BODY_BYTES {
        let mut end = MAX_BODY_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(TRUNCATED);
    }
    text
}

/// The storable form of a body: JSON and form bodies field by field, other
/// text word by word; binary bodies are not kept.
pub fn body(bytes: &[u8], content_type: Option<&str>) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Some(format!("[{} bytes, not UTF-8]", bytes.len()));
    };
    let media = content_type.unwrap_or("").split(';').next().unwrap_or("").trim();
    let is_json = media.get(media.len().saturating_sub(4)..).is_some_and(|t| t.eq_ignore_ascii_case("json"));
    let scrubbed = if is_json {
        match serde_json::from_str::<Value>(text) {
            Ok(mut value) => {
                scrub_json(&mut value);
                value.to_string()
            }
            Err(_) => scrub_text(text),
        }
    } else if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        scrub_form(text)
    } else {
        scrub_text(text)
    };
    Some(cap(scrubbed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_domain::{ClientSecret, PersonalTokenSecret};

    const JWT: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl";

    #[test]
    fn markers_keep_four_and_four() {
        let s = ClientSecret::generate();
        let m = marker(s.expose());
        assert_eq!(m, format!("pcs_…{}", &s.expose()[s.expose().len() - 4..]));
        assert_eq!(marker("short"), "…");
    }

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
        ] {
            assert!(is_sensitive(name), "{name}");
        }
        for name in ["tokens", "passwords_count", "mytoken", "secretary", "", "_", "ü_token_", "ütoken"] {
            assert!(!is_sensitive(name), "{name}");
        }
        assert_eq!(marker("pcs_ünïcödé_ßecret"), "pcs_…cret");
        assert_eq!(marker("ääääääääääääääää"), "ääää…ääää");
    }

    #[test]
    fn form_bodies_lose_their_credentials() {
        let s = ClientSecret::generate();
        let body =
            format!("grant_type=client_credentials&client_id=abc&client_secret={}&scope=a%3Ab", s.expose());
        let out = super::body(body.as_bytes(), Some("application/x-www-form-urlencoded")).unwrap();
        assert!(!out.contains(s.expose()), "{out}");
        assert!(
            out.contains("grant_type=client_credentials")
                && out.contains("client_id=abc")
                && out.contains("pcs_…")
        );
        let revoke = format!("token={JWT}");
        let out = super::body(revoke.as_bytes(), Some("application/x-www-form-urlencoded")).unwrap();
        assert!(!out.contains(JWT) && out.starts_with("token=eyJh…"), "{out}");
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
            "nested": [{"note": format!("my token is {} ok", pat.expose())}],
        })
        .to_string();
        let out = super::body(body.as_bytes(), Some("application/json")).unwrap();
        for secret in [s.expose(), JWT, "correct horse battery staple", pat.expose()] {
            assert!(!out.contains(secret), "{out}");
        }
        assert!(out.contains("\"name\":\"x\""));
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
    }

    proptest::proptest! {
        #[test]
        fn text_scrubbing_replaces_only_secret_words(
            words in proptest::collection::vec(r"[a-zA-Z0-9_.-]{0,30}|pcs_[a-zA-Z0-9]{20}|eyJ[a-z]{5}\.[a-z]{8}\.[a-z]{8}", 0..8),
            gaps in proptest::collection::vec(r#"[ ,;:"=&é]{1,3}"#, 8),
        ) {
            let text: String = words.iter().zip(&gaps).flat_map(|(w, g)| [w.as_str(), g.as_str()]).collect();
            let expected: String = words
                .iter()
                .zip(&gaps)
                .flat_map(|(w, g)| [if looks_secret(w) { marker(w) } else { w.clone() }, g.clone()])
                .collect();
            proptest::prop_assert_eq!(scrub_text(&text), expected);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), json in proptest::prelude::any::<bool>()) {
            let _ = super::body(&bytes, Some(if json { "application/json" } else { "application/x-www-form-urlencoded" }));
        }
    }
}
