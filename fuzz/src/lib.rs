//! What the fuzz targets share: credentials planted in generated input,
//! the ways a form may spell a text, and what a redacted value may look
//! like. docs/fuzzing.md says what each target checks.

use arbitrary::Arbitrary;
use portcullis_domain::{
    ClientSecretKind, PersonalTokenKind, credential::REDACTED, fuzzing::secret_from_bytes,
};

/// A credential in one of our own formats, built from the fuzzer's bytes so
/// that a run reproduces: every one is a word `scrub_text` must replace.
#[derive(Arbitrary, Debug, Clone)]
pub enum Planted {
    ClientSecret([u8; 32]),
    PersonalToken([u8; 32]),
    /// A JWT-shaped token (three base64url parts, the first `eyJ…`).
    Jwt {
        header: Word,
        payload: Word,
        signature: Word,
    },
}

/// One or more of `[A-Za-z0-9_-]`, from the fuzzer's bytes.
#[derive(Arbitrary, Debug, Clone)]
pub struct Word(Vec<u8>);

impl Word {
    pub fn text(&self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out: String = self.0.iter().map(|b| ALPHABET[usize::from(b % 64)] as char).collect();
        if out.is_empty() {
            out.push('A');
        }
        out
    }
}

impl Planted {
    pub fn text(&self) -> String {
        match self {
            Self::ClientSecret(bytes) => secret_from_bytes::<ClientSecretKind>(bytes).expose().to_owned(),
            Self::PersonalToken(bytes) => secret_from_bytes::<PersonalTokenKind>(bytes).expose().to_owned(),
            Self::Jwt { header, payload, signature } => {
                // Longer than 20 characters, as a JWT always is.
                let header = format!("eyJ{}{}", header.text(), "A".repeat(20));
                format!("{header}.{}.{}", payload.text(), signature.text())
            }
        }
    }
}

/// A character that ends a word for `scrub_text` (not `[A-Za-z0-9._-]`).
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Sep {
    Space,
    Comma,
    Colon,
    Quote,
    Slash,
    Newline,
    Accent,
    Equals,
    Ampersand,
    Percent,
}

impl Sep {
    pub fn char(self) -> char {
        match self {
            Self::Space => ' ',
            Self::Comma => ',',
            Self::Colon => ':',
            Self::Quote => '"',
            Self::Slash => '/',
            Self::Newline => '\n',
            Self::Accent => 'é',
            Self::Equals => '=',
            Self::Ampersand => '&',
            Self::Percent => '%',
        }
    }
}

/// Free text with, perhaps, a credential planted in it as a whole word.
#[derive(Arbitrary, Debug, Clone)]
pub struct Text {
    pub before: String,
    pub planted: Option<(Sep, Planted, Sep)>,
    pub after: String,
}

impl Text {
    /// The text, and the credential planted in it.
    pub fn render(&self) -> (String, Option<String>) {
        match &self.planted {
            None => (format!("{}{}", self.before, self.after), None),
            Some((open, planted, close)) => {
                let secret = planted.text();
                let text = format!("{}{}{secret}{}{}", self.before, open.char(), close.char(), self.after);
                (text, Some(secret))
            }
        }
    }
}

/// The ways a client may spell a name or value in a form body.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Spelling {
    /// As a standard encoder writes it (`form_urlencoded`).
    Standard,
    /// Every byte as `%XX`.
    AllUpper,
    /// Every byte as `%xx`.
    AllLower,
    /// The first character as `%XX`, the rest as `Standard`.
    FirstEscaped,
    /// As the testkit's encoder writes it (`*` kept, space as `+`).
    Testkit,
}

pub fn spell(text: &str, spelling: Spelling) -> String {
    let standard = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    match spelling {
        Spelling::Standard => standard(text),
        Spelling::AllUpper => text.bytes().map(|b| format!("%{b:02X}")).collect(),
        Spelling::AllLower => text.bytes().map(|b| format!("%{b:02x}")).collect(),
        Spelling::FirstEscaped => {
            let mut chars = text.chars();
            match chars.next() {
                None => String::new(),
                Some(c) => {
                    let mut buf = [0u8; 4];
                    let first: String =
                        c.encode_utf8(&mut buf).bytes().map(|b| format!("%{b:02X}")).collect();
                    first + &standard(chars.as_str())
                }
            }
        }
        Spelling::Testkit => testkit_urlencode(text),
    }
}

/// `portcullis_testkit::form_urlencode`, which the integration tests'
/// `client_secret_basic` header is built with (the testkit itself pulls in
/// both database backends, too much to build under a sanitizer for 10 lines).
pub fn testkit_urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What a credential may become where it is stored: [`REDACTED`], or a
/// marker of its first and last four characters (`pcs_…AbCd`), which shows
/// no more of `original` than those eight.
pub fn is_redacted_form_of(stored: &str, original: &str) -> bool {
    if stored == REDACTED {
        return true;
    }
    let Some((head, tail)) = stored.split_once('…') else { return false };
    head.len() == 4
        && tail.len() == 4
        && original.is_ascii()
        && original.len() > 8
        && original.starts_with(head)
        && original.ends_with(tail)
}

/// Runs `f` on a thread with the stack of a tokio worker (2 MiB), where
/// the server runs it: a recursion the server cannot afford is a crash here
/// too, not hidden by the main thread's 8 MiB.
pub fn on_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let worker = std::thread::Builder::new().stack_size(2 * 1024 * 1024).spawn(f);
    match worker.map(std::thread::JoinHandle::join) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(e) => panic!("could not start a thread: {e}"),
    }
}
