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

/// The camel-case endings of credential names (`clientSecret`,
/// `accessToken`, `newPassword`), as GraphQL spells fields.
const SENSITIVE_CAMEL: [&str; 5] = ["Secret", "Password", "Token", "Authorization", "Assertion"];

/// A field named like one of [`SENSITIVE`], or ending in `_` and one of
/// them, in any case; or a camel-case name ending in one of
/// [`SENSITIVE_CAMEL`].
fn is_sensitive(key: &str) -> bool {
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

/// In a GraphQL document, a string literal given to an argument or input
/// field named like a credential (`password: "…"`) becomes a marker;
/// comments and other strings are kept as they are. Also returns the
/// variables given to such a field (`password: $pw` → `pw`), whose values
/// are credentials whatever their names.
fn scrub_graphql(doc: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(doc.len());
    let mut bound = Vec::new();
    // The last name read, while only `:` and blanks followed it.
    let mut name: Option<&str> = None;
    let mut colon = false;
    let mut i = 0;
    while let Some(c) = doc[i..].chars().next() {
        let rest = &doc[i..];
        let len = if c == '#' {
            rest.find(['\n', '\r']).unwrap_or(rest.len())
        } else if c == '"' {
            let len = crate::graphql_text::string_literal_len(rest);
            let sensitive = colon && name.is_some_and(is_sensitive);
            let literal = &rest[..len];
            if sensitive {
                let quotes = if literal.starts_with("\"\"\"") { "\"\"\"" } else { "\"" };
                let inner = literal.strip_prefix(quotes).unwrap_or(literal);
                let inner = inner.strip_suffix(quotes).unwrap_or(inner);
                out.push_str(quotes);
                out.push_str(&marker(inner));
                out.push_str(quotes);
            } else {
                out.push_str(literal);
            }
            (name, colon) = (None, false);
            i += len;
            continue;
        } else if c == '_' || c.is_ascii_alphabetic() {
            let len = rest.find(|c: char| !(c == '_' || c.is_ascii_alphanumeric())).unwrap_or(rest.len());
            (name, colon) = (Some(&rest[..len]), false);
            len
        } else if c == '$' {
            let len = 1 + rest[1..]
                .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
                .unwrap_or(rest.len() - 1);
            if colon && name.is_some_and(is_sensitive) && len > 1 {
                bound.push(rest[1..len].to_owned());
            }
            (name, colon) = (None, false);
            len
        } else {
            if c == ':' {
                colon = name.is_some() && !colon;
            } else if !(c.is_whitespace() || c == ',') {
                (name, colon) = (None, false);
            }
            c.len_utf8()
        };
        out.push_str(&rest[..len]);
        i += len;
    }
    (out, bound)
}

/// A credential's value: a string becomes its marker, anything else `…`.
fn mask(v: &mut Value) {
    if let Value::String(s) = v {
        *s = marker(s);
    } else if !v.is_null() {
        *v = Value::String("…".to_owned());
    }
}

/// A GraphQL answer as it is to be stored: every credential this request
/// handed out (`issued`, whatever alias it was asked for under) becomes its
/// marker, and every string is scrubbed of secret-looking words. Field
/// names are not judged: the caller chose them.
pub fn graphql_response(body: &[u8], issued: &[String]) -> Option<String> {
    fn walk(value: &mut Value, issued: &[String]) {
        match value {
            Value::String(s) if issued.iter().any(|i| i == s) => *s = marker(s),
            Value::String(s) => *s = scrub_text(s),
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
            let mut text = scrub_text(&String::from_utf8_lossy(body));
            for secret in issued {
                text = text.replace(secret.as_str(), &marker(secret));
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
                let (scrubbed, variables) = scrub_graphql(doc);
                *doc = scrub_text(&scrubbed);
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
    fn camel_case_credential_names() {
        for name in ["clientSecret", "accessToken", "newPassword", "personalAccessToken", "x1Token"] {
            assert!(is_sensitive(name), "{name}");
        }
        for name in ["tokenType", "revokeTokens", "secretary", "XToken", "hint"] {
            assert!(!is_sensitive(name), "{name}");
        }
    }

    #[test]
    fn graphql_documents_lose_their_inline_credentials() {
        let doc = r#"mutation { createUser(input: {email: "a@b.c", password : "correct horse battery", name: "p\"w"}) { password } }
            # password: "in a comment stays"
            updateUser(id: "1", input: {newPassword: """block
            secret value""", name: "password"}) { id }"#;
        let (out, _) = scrub_graphql(doc);
        assert!(!out.contains("correct horse battery") && !out.contains("secret value"), "{out}");
        for kept in [
            "\"a@b.c\"",
            r#"name: "p\"w""#,
            r#"name: "password""#,
            "# password: \"in a comment stays\"",
            "{ password }",
        ] {
            assert!(out.contains(kept), "{kept} in {out}");
        }
        assert!(out.contains(r#"password : "corr…tery""#), "{out}");
        // Unclosed strings and odd input end where the text does.
        for odd in ["password: \"abc", "password: \"\"\"abc", "password:", "ü: \"ä\"", "\"", "password: \"\\"]
        {
            let _ = scrub_graphql(odd);
        }
        let body = serde_json::json!({"query": doc, "variables": {"input": {"password": "hunter2hunter2"}}})
            .to_string();
        let stored = super::body(body.as_bytes(), Some("application/json")).unwrap();
        assert!(!stored.contains("correct horse battery") && !stored.contains("hunter2hunter2"), "{stored}");
        // A variable bound to a credential argument, whatever its name.
        let doc = "mutation($pw: String, $e: String!, $n: String) { createUser(input: {email: $e, password: $pw, name: $n}) { id } }";
        let body = serde_json::json!({"query": doc, "variables": {"pw": "lantern orbit meadow", "e": "a@b.c", "n": "N"}});
        let stored = super::body(body.to_string().as_bytes(), Some("application/json")).unwrap();
        assert!(!stored.contains("lantern orbit meadow") && stored.contains("lant…adow"), "{stored}");
        assert!(stored.contains("\"a@b.c\"") && stored.contains("\"N\""), "{stored}");
        assert_eq!(scrub_graphql("{ a(password: $x, token: $y2, name: $z) }").1, ["x", "y2"]);
    }

    #[test]
    fn graphql_answers_lose_what_they_issued_under_any_alias() {
        let issued = vec!["OsjqluwxN2wq0hLgceEEoyTF".to_owned()];
        let body = serde_json::json!({"data": {"createUser": {"pw": "OsjqluwxN2wq0hLgceEEoyTF", "user": {"id": "u1"}},
            "regenerateClientSecret": {"client": {"id": "c1"}, "x": format!("see {JWT}")}}});
        let stored = graphql_response(body.to_string().as_bytes(), &issued).unwrap();
        assert!(!stored.contains("OsjqluwxN2wq0hLgceEEoyTF") && !stored.contains(JWT), "{stored}");
        assert!(stored.contains("Osjq…oyTF"), "{stored}");
        assert!(stored.contains("\"c1\"") && stored.contains("\"u1\""), "ids kept: {stored}");
        assert_eq!(graphql_response(b"", &issued), None);
        let broken = graphql_response(b"{\"pw\": \"OsjqluwxN2wq0hLgceEEoyTF", &issued).unwrap();
        assert!(!broken.contains("OsjqluwxN2wq0hLgceEEoyTF"), "{broken}");
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
