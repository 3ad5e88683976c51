//! Form bodies (`application/x-www-form-urlencoded`), as the OAuth2
//! endpoints read them: decoded by the endpoints' own parser
//! ([`crate::public::form`]) before any name or value is judged, so that
//! `client%5Fsecret=%70cs_…` is a client secret here exactly as it is at
//! the token endpoint. What is stored is a canonical re-encoding of the
//! redacted pairs; a body the parser refuses is not stored at all.

use portcullis_domain::credential::{redact_credential, scrub_text};

use super::{cap, is_sensitive};
use crate::public::form;

/// Encodes one name or value so that [`form::parse`] reads it back as it
/// was: only the bytes that mean something to the parser (`&`, `=`, `+`,
/// `%`, space) and control characters are escaped; the rest, markers
/// (`pcs_…AbCd`, `[redacted]`) included, stays readable.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ' ' => out.push('+'),
            '&' | '=' | '+' | '%' | '#' => out.push_str(&format!("%{:02X}", c as u32)),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The storable form of a form body: every pair decoded; the value of a
/// credential-named field (after decoding) becomes its stored form, and
/// credential-looking words in any other name or value (after decoding, `+`
/// as a space) likewise. A body that does not parse as a form is kept as a
/// fixed note of its length, never as it was sent.
pub fn form_body(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let Ok(pairs) = form::parse(bytes) else {
        return Some(format!("[{} bytes, not a valid form]", bytes.len()));
    };
    let text = pairs
        .iter()
        .map(|(name, value)| {
            let value =
                if is_sensitive(name) { redact_credential(value) } else { scrub_text(value).into_owned() };
            format!("{}={}", encode(&scrub_text(name)), encode(&value))
        })
        .collect::<Vec<_>>()
        .join("&");
    Some(cap(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::tests::JWT;
    use portcullis_domain::{ClientSecret, PersonalTokenSecret, credential::REDACTED};
    use proptest::prelude::*;

    /// Every way a form may spell `text`: plainly, fully percent-encoded
    /// (upper and lower case hex), and with `+` for a space.
    fn spellings(text: &str) -> Vec<String> {
        let full: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
        let lower: String = text.bytes().map(|b| format!("%{b:02x}")).collect();
        let first: String = text.chars().take(1).map(|c| format!("%{:02X}", c as u32)).collect::<String>()
            + &text.chars().skip(1).collect::<String>();
        vec![text.to_owned(), full, lower, first]
    }

    #[test]
    fn names_and_values_are_judged_after_decoding() {
        let s = ClientSecret::generate();
        for name in spellings("client_secret") {
            for value in spellings(s.expose()) {
                let body = format!("grant_type=client_credentials&client_id=abc&{name}={value}&scope=a%3Ab");
                let out = form_body(body.as_bytes()).unwrap();
                for clear in spellings(s.expose()) {
                    assert!(!out.contains(&clear), "{out}");
                }
                assert_eq!(
                    out,
                    format!(
                        "grant_type=client_credentials&client_id=abc&client_secret={}&scope=a:b",
                        s.hint()
                    )
                );
            }
        }
        for name in spellings("token") {
            let out = form_body(format!("{name}={}", spellings(JWT)[1]).as_bytes()).unwrap();
            assert_eq!(out, "token=eyJh…dXJl");
        }
    }

    #[test]
    fn credentials_under_any_name_and_foreign_ones() {
        let pat = PersonalTokenSecret::generate();
        let encoded: String = pat.expose().bytes().map(|b| format!("%{b:02X}")).collect();
        let out = form_body(format!("note=see+{encoded}+now&password=hunter2hunter2").as_bytes()).unwrap();
        assert_eq!(out, format!("note=see+{}+now&password={REDACTED}", pat.hint()));
        // A client secret that does not parse is not ours: nothing of it stays.
        let out = form_body(b"client_secret=pcs_typo_of_a_real_secret").unwrap();
        assert_eq!(out, format!("client_secret={REDACTED}"));
        let out = form_body(b"token=opaque-foreign-token-value").unwrap();
        assert_eq!(out, format!("token={REDACTED}"));
    }

    #[test]
    fn bodies_that_are_not_forms_are_not_stored() {
        let s = ClientSecret::generate();
        for body in
            [format!("client_secret={}&x=%%%", s.expose()), format!("client_secret={}%FF", s.expose())]
        {
            let out = form_body(body.as_bytes()).unwrap();
            assert_eq!(out, format!("[{} bytes, not a valid form]", body.len()));
        }
        assert_eq!(form_body(b""), None);
    }

    proptest! {
        #[test]
        fn the_stored_form_reads_back_as_the_redacted_pairs(
            pairs in proptest::collection::vec(("[a-z_]{1,8}", "\\PC{0,16}"), 0..5),
        ) {
            let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
            let Some(stored) = form_body(body.as_bytes()) else { return Ok(()) };
            let back = form::parse(stored.as_bytes()).unwrap();
            let expected: Vec<(String, String)> = form::parse(body.as_bytes())
                .unwrap()
                .into_iter()
                .map(|(n, v)| {
                    let v = if is_sensitive(&n) { redact_credential(&v) } else { scrub_text(&v).into_owned() };
                    (n, v)
                })
                .collect();
            prop_assert_eq!(back, expected);
        }
    }
}
