//! The redactor of form bodies (`portcullis-web/src/redact/form.rs`), as
//! events store the token, introspection and revocation requests; and the
//! body redactor that chooses it by media type (`redact/mod.rs`).
//!
//! Forms built from the input, each name and value spelled in any of the
//! ways a form allows, with credentials planted in them: the stored form is
//! a form that reads back pair by pair; the value of every credential-named
//! field (after decoding) is stored as `[redacted]` or a marker of at most
//! its first and last four characters; a client secret, personal access
//! token or JWT planted as a word in any other name or value is not stored.
//! A body the form parser refuses is stored as a note of its length only.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::{Spelling, Text, is_redacted_form_of, spell};
use portcullis_web::{
    fuzzing::{is_sensitive, parse_form, redact_body, redact_form_body},
    redact::TRUNCATED,
};

/// Names the redactor must treat as credentials, and some it must not.
const NAMES: [&str; 12] = [
    "client_secret",
    "password",
    "token",
    "Client_Secret",
    "new_password",
    "refresh_token",
    "x_api_key",
    "clientSecret",
    "grant_type",
    "client_id",
    "scope",
    "token_type_hint",
];

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    Built {
        pairs: Vec<Pair>,
        /// Bytes after the pairs (perhaps breaking the form).
        tail: Option<&'a [u8]>,
    },
    /// Any body.
    Raw(&'a [u8]),
}

#[derive(Arbitrary, Debug)]
struct Pair {
    name: Name,
    value: Text,
    name_spelling: Spelling,
    value_spelling: Spelling,
}

#[derive(Arbitrary, Debug)]
enum Name {
    Listed(u8),
    Free(Text),
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Built { pairs, tail } => {
        let mut planted = Vec::new();
        let mut parts = Vec::new();
        for pair in &pairs {
            let name = match &pair.name {
                Name::Listed(i) => (NAMES[usize::from(*i) % NAMES.len()].to_owned(), None),
                Name::Free(text) => text.render(),
            };
            let value = pair.value.render();
            parts.push(format!(
                "{}={}",
                spell(&name.0, pair.name_spelling),
                spell(&value.0, pair.value_spelling)
            ));
            planted.push((name.1, value.1));
        }
        let mut body = parts.join("&").into_bytes();
        if let Some(tail) = tail {
            body.push(b'&');
            body.extend_from_slice(tail);
        }
        check(&body, &planted);
    }
    Input::Raw(body) => check(body, &[]),
});

/// `planted`: the credentials planted in the name and value of each of the
/// first pairs, as whole words.
fn check(body: &[u8], planted: &[(Option<String>, Option<String>)]) {
    let stored = redact_form_body(body);
    assert_eq!(redact_body(body, Some("application/x-www-form-urlencoded; charset=utf-8")), stored);
    let Some(stored) = stored else {
        assert!(body.is_empty());
        return;
    };
    let Ok(pairs) = parse_form(body) else {
        assert_eq!(stored, format!("[{} bytes, not a valid form]", body.len()), "a refused body is not kept");
        return;
    };
    if stored.ends_with(TRUNCATED) {
        return;
    }
    let back = parse_form(stored.as_bytes()).expect("the stored form is a form");
    assert_eq!(back.len(), pairs.len(), "pair by pair: {stored}");
    for (i, ((name, value), (stored_name, stored_value))) in pairs.iter().zip(&back).enumerate() {
        if is_sensitive(name) {
            assert!(is_redacted_form_of(stored_value, value), "{name}={value:?} stored as {stored_value:?}");
        }
        let Some((planted_name, planted_value)) = planted.get(i) else { continue };
        for (secret, original, kept) in
            [(planted_name, name, stored_name), (planted_value, value, stored_value)]
        {
            if let Some(secret) = secret
                && original.matches(secret.as_str()).count() == 1
            {
                assert!(!kept.contains(secret.as_str()), "{secret} kept in {kept:?}");
            }
        }
    }
}
