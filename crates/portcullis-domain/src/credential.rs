//! What is kept of a credential wherever one might be stored (events,
//! change details): our own formats (`pcs_…`, `pat_…`, the JWTs we sign)
//! keep a short recognisable marker (`pcs_…AbCd`), enough to tell which
//! one was used and useless to anyone else; every other credential
//! (passwords, foreign or malformed secrets and tokens) becomes the fixed
//! [`REDACTED`], which tells nothing at all.

use std::borrow::Cow;

use crate::{ClientSecret, PersonalTokenSecret};

/// What a credential that is not one of our recognisable formats becomes.
pub const REDACTED: &str = "[redacted]";

/// A JWT's shape: three base64url segments, the header a JSON object
/// (`eyJ` is `{"` in base64url).
///
/// One pass over the bytes: every token the token endpoint records goes
/// through here, and two splits and a scan per part were a tenth of what
/// recording a token request cost (bench/profile).
fn jwt_shaped(word: &str) -> bool {
    if word.len() <= 20 || !word.starts_with("eyJ") {
        return false;
    }
    let (mut dots, mut after_dot) = (0, false);
    for b in word.bytes() {
        match BASE64URL_OR_DOT[usize::from(b)] {
            Byte::Base64Url => after_dot = false,
            // An empty part, or a fourth one.
            Byte::Dot if after_dot || dots == 2 => return false,
            Byte::Dot => {
                dots += 1;
                after_dot = true;
            }
            Byte::Other => return false,
        }
    }
    dots == 2 && !after_dot
}

#[derive(Clone, Copy)]
enum Byte {
    Base64Url,
    Dot,
    Other,
}

/// What each byte is in a JWT: a table, so that the loop above is one load
/// and one branch a byte.
const BASE64URL_OR_DOT: [Byte; 256] = {
    let mut table = [Byte::Other; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' {
            table[b] = Byte::Base64Url;
        } else if c == b'.' {
            table[b] = Byte::Dot;
        }
        b += 1;
    }
    table
};

/// One of our own formats, checked strictly: a client secret or personal
/// access token whose checksum holds, or a JWT-shaped token.
fn recognisable(value: &str) -> bool {
    // The secret parsers split at byte positions: only ASCII reaches them.
    let ours =
        value.is_ascii() && (ClientSecret::parse(value).is_ok() || PersonalTokenSecret::parse(value).is_ok());
    ours || jwt_shaped(value)
}

/// A word free text may hold that is, or tries to be, a credential: it
/// starts like one of our secrets, or is shaped like a JWT.
pub fn looks_like_credential(word: &str) -> bool {
    ((word.starts_with("pcs_") || word.starts_with("pat_")) && word.len() > 12) || jwt_shaped(word)
}

/// The stored form of a credential: `pcs_…AbCd` (first and last four
/// characters) for our own formats, [`REDACTED`] for anything else.
pub fn redact_credential(value: &str) -> String {
    if recognisable(value) {
        // Recognisable values are ASCII: byte positions are characters.
        format!("{}…{}", &value[..4], &value[value.len() - 4..])
    } else {
        REDACTED.to_owned()
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Replaces every credential-looking word in free text by its stored form.
pub fn scrub_text(text: &str) -> Cow<'_, str> {
    // A credential-looking word starts with one of these; most text holds none.
    if !(text.contains("pcs_") || text.contains("pat_") || text.contains("eyJ")) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let word_end = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        // A sentence's full stop is not part of the token before it.
        let bare = word.trim_end_matches('.');
        if looks_like_credential(bare) {
            out.push_str(&redact_credential(bare));
            out.push_str(&word[bare.len()..]);
        } else {
            out.push_str(word);
        }
        let gap_end = after.find(is_word_char).unwrap_or(after.len());
        out.push_str(&after[..gap_end]);
        rest = &after[gap_end..];
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl";

    /// The shape as it was first written (three non-empty base64url parts).
    fn jwt_shaped_by_splitting(word: &str) -> bool {
        word.len() > 20
            && word.starts_with("eyJ")
            && word.split('.').count() == 3
            && word.split('.').all(|part| {
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    }

    #[test]
    fn the_one_pass_jwt_shape_agrees_with_splitting() {
        for word in [
            JWT,
            "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.",
            "eyJhbGciOiJFZERTQSJ9..c2lnbmF0dXJl",
            "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln.bmF0",
            "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln+bmF0",
            "eyJhbGciOiJFZERTQSJ9eyJzdWIiOiJ4In0c2lnbmF0",
            "eyJ.a.b",
            "xeyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln",
            "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lé",
        ] {
            assert_eq!(jwt_shaped(word), jwt_shaped_by_splitting(word), "{word}");
        }
    }

    proptest::proptest! {
        #[test]
        fn jwt_shape_agrees_with_splitting_on_any_word(tail in "[a-zA-Z0-9._+é-]{0,60}") {
            let word = format!("eyJ{tail}");
            proptest::prop_assert_eq!(jwt_shaped(&word), jwt_shaped_by_splitting(&word));
        }
    }

    #[test]
    fn our_formats_keep_a_marker_everything_else_is_redacted() {
        let s = ClientSecret::generate();
        assert_eq!(redact_credential(s.expose()), s.hint());
        let p = PersonalTokenSecret::generate();
        assert_eq!(redact_credential(p.expose()), p.hint());
        assert_eq!(redact_credential(JWT), "eyJh…dXJl");
        for other in [
            "correct horse battery staple",
            "password",
            "",
            "pcs_notavalidsecretatall_123456",
            // A valid secret with one character changed: the checksum fails.
            &format!("{}x", &s.expose()[..s.expose().len() - 1]),
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "ääääääääääääääääääääääääääääääääääääääääääääääääääääää",
            &format!("pcs_{}é{}", "a".repeat(42), "b".repeat(6)),
        ] {
            assert_eq!(redact_credential(other), REDACTED, "{other}");
        }
    }

    #[test]
    fn free_text_loses_credential_looking_words() {
        let s = ClientSecret::generate();
        let text = format!("use {} or pcs_guessedguessed, see {JWT}.", s.expose());
        let out = scrub_text(&text);
        assert_eq!(out, format!("use {} or [redacted], see eyJh…dXJl.", s.hint()));
        assert!(matches!(scrub_text("nothing here"), Cow::Borrowed(_)));
    }

    proptest::proptest! {
        #[test]
        fn scrubbing_replaces_only_credential_words(
            words in proptest::collection::vec(r"[a-zA-Z0-9_.-]{0,30}|pcs_[a-zA-Z0-9]{20}|eyJ[a-z]{5}\.[a-z]{8}\.[a-z]{8}", 0..8),
            gaps in proptest::collection::vec(r#"[ ,;:"=&é]{1,3}"#, 8),
        ) {
            let text: String = words.iter().zip(&gaps).flat_map(|(w, g)| [w.as_str(), g.as_str()]).collect();
            let expected: String = words
                .iter()
                .zip(&gaps)
                .flat_map(|(w, g)| {
                    let bare = w.trim_end_matches('.');
                    let w = if looks_like_credential(bare) { redact_credential(bare) + &w[bare.len()..] } else { w.clone() };
                    [w, g.clone()]
                })
                .collect();
            proptest::prop_assert_eq!(scrub_text(&text), expected);
        }

        #[test]
        fn never_panics(text in "\\PC{0,80}") {
            let _ = redact_credential(&text);
            let _ = scrub_text(&text);
        }
    }
}
