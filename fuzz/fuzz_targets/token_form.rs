//! What `POST /oauth2/token` reads of a request once its body has arrived:
//! the URI, the media type, the strict form parser
//! (`portcullis-web/src/public/form.rs`), the parameters and the client's
//! credentials (`request.rs`).
//!
//! Any request: it never panics. The strict parser, where it accepts a
//! body, reads it exactly as a standard (lenient) decoder does; an accepted
//! request has the form media type, no credentials in its query, no
//! repeated parameter, only the known parameters with their values, and
//! credentials by exactly one method. A request built from chosen
//! parameters, each spelled in any of the ways a form allows, is read as
//! exactly those parameters, or refused exactly when one is repeated or two
//! methods are used.
#![no_main]

use std::collections::{HashMap, HashSet};

use arbitrary::Arbitrary;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use base64::{Engine, engine::general_purpose::STANDARD};
use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::{Spelling, spell, testkit_urlencode};
use portcullis_web::{
    OAuthError,
    fuzzing::{parse_form, token_request},
};

const KNOWN: [&str; 4] = ["grant_type", "scope", "client_id", "client_secret"];
const FORM: &str = "application/x-www-form-urlencoded";

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// A request as text: its `Content-Type`, `Authorization` and query
    /// string on the first three lines (an empty line: none), then its body.
    Raw(&'a [u8]),
    Built {
        params: Vec<Param>,
        content_type: ContentType,
        basic: Option<(String, String)>,
    },
}

/// The `Content-Type`, `Authorization`, query string and body of a raw request.
fn split(raw: &[u8]) -> (Option<&str>, Option<&str>, Option<&str>, &[u8]) {
    let mut parts = raw.splitn(4, |&b| b == b'\n');
    let mut line = || parts.next().filter(|l| !l.is_empty()).and_then(|l| std::str::from_utf8(l).ok());
    let (content_type, authorization, query) = (line(), line(), line());
    let body = raw.splitn(4, |&b| b == b'\n').nth(3).unwrap_or_default();
    (content_type, authorization, query, body)
}

#[derive(Arbitrary, Debug)]
struct Param {
    name: Name,
    value: String,
    name_spelling: Spelling,
    value_spelling: Spelling,
}

#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    Other(String),
}

impl Name {
    fn text(&self) -> String {
        match self {
            Self::Known(i) => KNOWN[usize::from(*i) % KNOWN.len()].to_owned(),
            Self::Other(name) => name.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum ContentType {
    Plain,
    Utf8,
    QuotedUpper,
}

fn request(
    content_type: Option<&str>,
    authorization: Option<&str>,
    query: Option<&str>,
) -> Option<(HeaderMap, Uri)> {
    let mut headers = HeaderMap::new();
    if let Some(value) = content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).ok()?);
    }
    if let Some(value) = authorization {
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).ok()?);
    }
    let uri = match query {
        Some(q) => format!("/oauth2/token?{q}").parse().ok()?,
        None => Uri::from_static("/oauth2/token"),
    };
    Some((headers, uri))
}

/// What must hold of any request the endpoint accepts.
fn check_accepted(
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
    params: &HashMap<&'static str, String>,
    credentials: &Option<(String, String)>,
) {
    let media = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(media.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case(FORM)), "{media:?}");
    let query = uri.query().unwrap_or_default();
    assert!(!form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "client_id" || k == "client_secret"));
    let pairs = parse_form(body).expect("an accepted body parses");
    let mut names = HashSet::new();
    assert!(pairs.iter().all(|(name, _)| names.insert(name.as_str())), "no parameter repeated");
    for (name, value) in params {
        assert!(KNOWN.contains(name) && !value.is_empty());
        assert!(pairs.contains(&((*name).to_owned(), value.clone())));
    }
    for (name, value) in &pairs {
        if let Some(known) = KNOWN.iter().find(|k| **k == name) {
            assert_eq!(params.get(known).map(String::as_str), (!value.is_empty()).then_some(value.as_str()));
        }
    }
    let basic = headers.contains_key(header::AUTHORIZATION);
    match credentials {
        Some((id, _)) if basic => {
            assert!(!params.contains_key("client_secret"), "two methods");
            assert!(params.get("client_id").is_none_or(|body_id| body_id == id));
        }
        Some((id, secret)) => {
            assert_eq!(params.get("client_id"), Some(id));
            assert_eq!(params.get("client_secret"), Some(secret));
        }
        None => assert!(!basic && !params.contains_key("client_secret")),
    }
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Raw(raw) => {
        let (content_type, authorization, query, body) = split(raw);
        // The strict parser reads what it accepts as a lenient one does.
        if let Ok(pairs) = parse_form(body) {
            let lenient: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
            assert_eq!(pairs, lenient);
        }
        let Some((headers, uri)) = request(content_type, authorization, query) else { return };
        if let Ok((params, credentials)) = token_request(&headers, &uri, body) {
            check_accepted(&headers, &uri, body, &params, &credentials);
        }
    }
    Input::Built { params, content_type, basic } => {
        let body = params
            .iter()
            .map(|p| {
                format!("{}={}", spell(&p.name.text(), p.name_spelling), spell(&p.value, p.value_spelling))
            })
            .collect::<Vec<_>>()
            .join("&");
        let content_type = match content_type {
            ContentType::Plain => FORM.to_owned(),
            ContentType::Utf8 => format!("{FORM}; charset=UTF-8"),
            ContentType::QuotedUpper => "Application/X-WWW-Form-URLEncoded;charset=\"utf-8\"".to_owned(),
        };
        let authorization = basic.as_ref().map(|(id, secret)| {
            format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", testkit_urlencode(id), testkit_urlencode(secret)))
            )
        });
        let (headers, uri) =
            request(Some(&content_type), authorization.as_deref(), None).expect("plain ASCII");
        let result = token_request(&headers, &uri, body.as_bytes());
        // What the endpoint must make of it.
        let mut seen = HashSet::new();
        let repeated = params.iter().any(|p| !seen.insert(p.name.text()));
        let expected: HashMap<&'static str, String> = params
            .iter()
            .filter_map(|p| {
                let known = KNOWN.iter().find(|k| **k == p.name.text())?;
                (!p.value.is_empty()).then(|| (*known, p.value.clone()))
            })
            .collect();
        let body_secret = expected.get("client_secret");
        let body_id = expected.get("client_id");
        match (&result, repeated) {
            (Err(OAuthError::InvalidRequest(_)), true) => return,
            (_, true) => panic!("a repeated parameter was accepted: {result:?}"),
            _ => {}
        }
        let expected_credentials = match (&basic, body_secret) {
            (Some(_), Some(_)) => None,
            (Some((id, _)), None) if body_id.is_some_and(|b| b != id) => None,
            (Some((id, secret)), None) => Some(Some((id.clone(), secret.clone()))),
            (None, Some(secret)) => body_id.map(|id| Some((id.clone(), secret.clone()))),
            (None, None) => Some(None),
        };
        match (result, expected_credentials) {
            (Ok((got, credentials)), Some(expected_credentials)) => {
                assert_eq!(got, expected);
                assert_eq!(credentials, expected_credentials);
                check_accepted(&headers, &uri, body.as_bytes(), &got, &credentials);
            }
            (Err(OAuthError::InvalidRequest(_)), None) => {}
            (result, expected) => panic!("got {result:?}, expected credentials {expected:?}"),
        }
    }
});
