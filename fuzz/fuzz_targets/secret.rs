//! The client secret and personal access token parser
//! (`portcullis_domain::Secret::parse`, `pcs_…` and `pat_…`), and the
//! marker a secret leaves where it is stored (`credential::redact_credential`).
//!
//! Any text: parsing never panics; what parses is ASCII, 54 bytes, of its own
//! prefix only, re-renders to exactly the text it came from and is stored as
//! its hint. A valid secret built from the input's bytes parses back to
//! itself, and any one edit of it (a character replaced, inserted, removed,
//! two swapped, cut short or lengthened) is refused by both parsers.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use portcullis_domain::{
    ClientSecret, ClientSecretKind, PersonalTokenKind, PersonalTokenSecret, Secret, SecretKind,
    credential::{redact_credential, scrub_text},
    fuzzing::secret_from_bytes,
};

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// Whatever a request may carry where a secret is expected.
    Text(&'a str),
    /// A valid secret, then one edit of it.
    Valid { personal: bool, body: [u8; 32], edit: Edit },
}

#[derive(Arbitrary, Debug)]
enum Edit {
    None,
    Replace { at: u8, with: char },
    Insert { at: u8, with: char },
    Remove { at: u8 },
    Swap { at: u8 },
    Truncate { to: u8 },
    Append(char),
}

impl Edit {
    fn apply(&self, text: &str) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        let at = |i: u8, n: usize| usize::from(i) % n.max(1);
        match *self {
            Self::None => {}
            Self::Replace { at: i, with } => {
                let i = at(i, chars.len());
                chars[i] = with;
            }
            Self::Insert { at: i, with } => chars.insert(at(i, chars.len() + 1), with),
            Self::Remove { at: i } => {
                chars.remove(at(i, chars.len()));
            }
            Self::Swap { at: i } => {
                let i = at(i, chars.len() - 1);
                chars.swap(i, i + 1);
            }
            Self::Truncate { to } => chars.truncate(at(to, chars.len())),
            Self::Append(c) => chars.push(c),
        }
        chars.into_iter().collect()
    }
}

/// What must hold of any text parsed as a secret of kind `K`.
fn check_parse<K: SecretKind>(text: &str) {
    let Ok(secret) = Secret::<K>::parse(text) else { return };
    assert_eq!(secret.expose(), text, "a parsed secret re-renders to its text");
    assert!(text.is_ascii() && text.len() == 54 && text.starts_with(K::PREFIX));
    assert_eq!(Secret::<K>::parse(secret.expose()).as_ref(), Ok(&secret));
    let hint = secret.hint();
    assert_eq!(hint, format!("{}…{}", K::PREFIX, &text[50..]));
    assert_eq!(redact_credential(text), hint, "stored as its hint");
    assert!(!format!("{secret:?}").contains(&text[4..50]), "Debug shows no body");
    // In free text, it is replaced by its hint as well.
    let sentence = format!("see {text}, then");
    assert_eq!(scrub_text(&sentence), format!("see {hint}, then"));
}

fn valid<K: SecretKind>(body: &[u8; 32], edit: &Edit) {
    let secret = secret_from_bytes::<K>(body);
    let text = secret.expose();
    assert_eq!(Secret::<K>::parse(text).as_ref(), Ok(&secret), "a generated secret parses");
    check_parse::<K>(text);
    let edited = edit.apply(text);
    if edited != text {
        assert!(ClientSecret::parse(&edited).is_err(), "edited {text} to {edited}: still a client secret");
        assert!(PersonalTokenSecret::parse(&edited).is_err(), "edited {text} to {edited}: still a token");
    }
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Text(text) => {
        check_parse::<ClientSecretKind>(text);
        check_parse::<PersonalTokenKind>(text);
        // One text is never both kinds.
        assert!(ClientSecret::parse(text).is_err() || PersonalTokenSecret::parse(text).is_err());
        let _ = scrub_text(text);
    }
    Input::Valid { personal: false, body, edit } => valid::<ClientSecretKind>(&body, &edit),
    Input::Valid { personal: true, body, edit } => valid::<PersonalTokenKind>(&body, &edit),
});
