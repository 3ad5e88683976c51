//! The console's session cookie: read from `Cookie` headers and written in
//! `Set-Cookie`, both with the `cookie` crate (RFC 6265), never split by
//! hand.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite, time::Duration};

use super::problem::Problem;
use crate::AppState;

/// The session cookie's name: `__Host-` prefixed when the issuer is https
/// (RFC 6265bis §4.1.3.2: Secure, Path=/, no Domain).
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-portcullis_session" } else { "portcullis_session" }
}

/// Whether this server is reached over https (its issuer says so): then the
/// cookie is `Secure` and `__Host-` prefixed.
pub(crate) fn secure(state: &AppState) -> bool {
    state.service.config().issuer.starts_with("https://")
}

/// What a request carries under the session cookie's name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Presented {
    None,
    One(String),
    /// More than once (a sibling host may set a cookie of the same name for
    /// the parent domain, "cookie tossing", RFC 6265 §8.6): which one the
    /// browser meant is unknown, so none is used.
    Several,
}

/// The value of the cookie `name`, read from every `Cookie` header (HTTP/2
/// may split one over several, RFC 9113 §8.2.3). Pairs are `name=value`
/// joined by `;`, whitespace around them ignored; a value in double quotes
/// is the value inside them (RFC 6265 §4.1.1 allows them); a pair that does
/// not parse is someone else's and skipped. Bytes that are not UTF-8 spoil
/// only the pair they are in (they become U+FFFD, which no session id holds).
pub(crate) fn read(headers: &HeaderMap, name: &str) -> Presented {
    let mut found = Presented::None;
    for header in headers.get_all(header::COOKIE) {
        let text = String::from_utf8_lossy(header.as_bytes());
        for pair in Cookie::split_parse(text.as_ref()).flatten() {
            if pair.name() != name {
                continue;
            }
            found = match found {
                Presented::None => Presented::One(pair.value_trimmed().to_owned()),
                Presented::One(_) | Presented::Several => Presented::Several,
            };
        }
    }
    found
}

/// `Set-Cookie` for a new session: HttpOnly (no script reads it),
/// SameSite=Lax (not sent with cross-site POSTs), Path=/, for `max_age`
/// seconds; Secure and `__Host-` when the issuer is https.
pub(crate) fn set(state: &AppState, value: &str, max_age: i64) -> Result<HeaderValue, Problem> {
    header_value(build(secure(state), Cow::Owned(value.to_owned()), max_age))
}

/// `Set-Cookie` that ends the session in the browser: the same cookie,
/// empty and already expired.
pub(crate) fn clear(state: &AppState) -> Result<HeaderValue, Problem> {
    let mut cookie = build(secure(state), Cow::Borrowed(""), 0);
    cookie.make_removal();
    header_value(cookie)
}

fn build(secure: bool, value: Cow<'static, str>, max_age: i64) -> Cookie<'static> {
    Cookie::build((session_cookie_name(secure), value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(Duration::seconds(max_age))
        .build()
}

fn header_value(cookie: Cookie<'_>) -> Result<HeaderValue, Problem> {
    HeaderValue::from_str(&cookie.to_string()).map_err(|_| Problem::internal())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(header::COOKIE, HeaderValue::from_bytes(value).unwrap());
        }
        map
    }

    fn one(value: &str) -> Presented {
        Presented::One(value.to_owned())
    }

    #[test]
    fn the_session_cookie_is_found_among_others_however_they_are_written() {
        let name = "portcullis_session";
        for (values, expected) in [
            (&[&b"portcullis_session=abc"[..]][..], one("abc")),
            (&[b"a=1; portcullis_session=abc; b=2"], one("abc")),
            (&[b"a=1;portcullis_session=abc;b=2"], one("abc")),
            (&[b"  a=1 ;   portcullis_session = abc  ;  "], one("abc")),
            (&[b"a=1;;; ;portcullis_session=abc"], one("abc")),
            (&[b"portcullis_session=\"abc\""], one("abc")),
            (&[b"a=1", b"portcullis_session=abc"], one("abc")),
            (&[b"junk; =nameless; portcullis_session=abc"], one("abc")),
            // Another cookie's bytes that are not UTF-8 spoil only that cookie.
            (&[b"a=\xff\xfe; portcullis_session=abc"], one("abc")),
            (&[b"portcullis_session=ab\xffc"], one("ab\u{fffd}c")),
            (&[b"portcullis_session="], one("")),
            (&[b"portcullis_session=abc; portcullis_session=def"], Presented::Several),
            (&[b"portcullis_session=abc; portcullis_session=abc"], Presented::Several),
            (&[b"portcullis_session=abc", b"portcullis_session=def"], Presented::Several),
            (&[b"Portcullis_Session=abc"], Presented::None),
            (&[b"__Host-portcullis_session=abc"], Presented::None),
            (&[b"xportcullis_session=abc; portcullis_sessionx=abc"], Presented::None),
            (&[b"portcullis_session"], Presented::None),
            (&[b""], Presented::None),
            (&[], Presented::None),
        ] {
            assert_eq!(read(&headers(values), name), expected, "{values:?}");
        }
    }

    #[test]
    fn set_cookie_has_every_attribute_and_secure_only_over_https() {
        let http = build(false, Cow::Borrowed("abc"), 3600).to_string();
        let mut attributes: Vec<&str> = http.split("; ").collect();
        attributes.sort();
        assert_eq!(
            attributes,
            ["HttpOnly", "Max-Age=3600", "Path=/", "SameSite=Lax", "portcullis_session=abc"]
        );

        let https = build(true, Cow::Borrowed("abc"), 3600).to_string();
        let mut attributes: Vec<&str> = https.split("; ").collect();
        attributes.sort();
        assert_eq!(
            attributes,
            ["HttpOnly", "Max-Age=3600", "Path=/", "SameSite=Lax", "Secure", "__Host-portcullis_session=abc"]
        );
        assert!(!https.contains("Domain"), "a __Host- cookie has no Domain");
    }
}
