//! What the form-encoded OAuth2 endpoints (token, introspection,
//! revocation) share: reading the request strictly, and client
//! authentication by exactly one method (RFC 6749 §2.3).

use std::collections::{HashMap, HashSet};

use axum::{
    body::{Body, to_bytes},
    http::{HeaderMap, Uri, header},
};

use super::{client_auth::basic_credentials, form};
use crate::error::OAuthError;

/// These requests are a few hundred bytes; anything past this is refused.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The parameters an endpoint reads, non-empty values only.
pub type Params = HashMap<&'static str, String>;

/// Checks the URI, the media type, the size and the encoding, refuses
/// repeated parameters, and returns the `known` ones.
pub async fn read_form(
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
    known: &[&'static str],
) -> Result<Params, OAuthError> {
    let body = to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| OAuthError::TooLarge)?;
    check_form(headers, uri, &body, known)
}

/// [`read_form`] once the body has been read: everything but the size.
pub(crate) fn check_form(
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
    known: &[&'static str],
) -> Result<Params, OAuthError> {
    refuse_query_credentials(uri)?;
    refuse_repeated_authorization(headers)?;
    check_content_type(headers)?;
    parameters(body, known)
}

/// RFC 6749 §2.3.1: credentials never travel in the URI.
fn refuse_query_credentials(uri: &Uri) -> Result<(), OAuthError> {
    let query = uri.query().unwrap_or("");
    if form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "client_secret" || k == "client_id") {
        return Err(OAuthError::InvalidRequest("client credentials must not be sent in the query string"));
    }
    Ok(())
}

/// RFC 6749 §2.3: one authentication method. Two `Authorization` headers
/// (two Basic, or a Bearer and a Basic) would let one be checked and the
/// other recorded or trusted elsewhere; refuse them before anything reads one.
fn refuse_repeated_authorization(headers: &HeaderMap) -> Result<(), OAuthError> {
    if headers.get_all(header::AUTHORIZATION).iter().nth(1).is_some() {
        return Err(OAuthError::InvalidRequest("the Authorization header was sent more than once"));
    }
    Ok(())
}

/// RFC 6749 §4.4.2: `application/x-www-form-urlencoded`, UTF-8.
fn check_content_type(headers: &HeaderMap) -> Result<(), OAuthError> {
    let wrong = OAuthError::InvalidRequest("Content-Type must be application/x-www-form-urlencoded");
    let value = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).ok_or(wrong)?;
    let mut parts = value.split(';').map(str::trim);
    if !parts.next().is_some_and(|m| m.eq_ignore_ascii_case("application/x-www-form-urlencoded")) {
        return Err(OAuthError::InvalidRequest("Content-Type must be application/x-www-form-urlencoded"));
    }
    for param in parts.filter(|p| !p.is_empty()) {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        if name.trim().eq_ignore_ascii_case("charset")
            && !value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        {
            return Err(OAuthError::InvalidRequest("the request body must be UTF-8"));
        }
    }
    Ok(())
}

/// The body's parameters: strictly decoded, none repeated (RFC 6749 §3.2),
/// empty values treated as omitted, unknown ones ignored.
fn parameters(body: &[u8], known: &[&'static str]) -> Result<Params, OAuthError> {
    let pairs = form::parse(body)
        .map_err(|_| OAuthError::InvalidRequest("the body is not properly form-urlencoded UTF-8"))?;
    let mut seen = HashSet::new();
    let mut params = HashMap::new();
    for (name, value) in pairs {
        if !seen.insert(name.clone()) {
            return Err(OAuthError::InvalidRequest("a parameter was sent more than once"));
        }
        if let Some(known) = known.iter().find(|k| **k == name)
            && !value.is_empty()
        {
            params.insert(*known, value);
        }
    }
    Ok(params)
}

/// Exactly one authentication method (RFC 6749 §2.3): Basic, or the secret
/// in the body; `None` when the request carries neither.
pub fn client_credentials(
    headers: &HeaderMap,
    params: &Params,
) -> Result<Option<(String, String)>, OAuthError> {
    let basic = basic_credentials(headers)?;
    let body_id = params.get("client_id");
    match (basic, params.get("client_secret")) {
        (Some(_), Some(_)) => {
            Err(OAuthError::InvalidRequest("use one client authentication method, not two"))
        }
        (Some((id, secret)), None) => match body_id {
            // §3.2.1 lets a client name itself in the body too; it must agree.
            Some(body_id) if *body_id != id => {
                Err(OAuthError::InvalidRequest("client_id in the body differs from the Authorization header"))
            }
            _ => Ok(Some((id, secret))),
        },
        (None, Some(secret)) => match body_id {
            Some(id) => Ok(Some((id.clone(), secret.clone()))),
            None => Err(OAuthError::InvalidRequest("client_secret was sent without client_id")),
        },
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const KNOWN: [&str; 4] = ["grant_type", "scope", "client_id", "client_secret"];

    fn ct(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn content_type_rules() {
        assert!(check_content_type(&ct("application/x-www-form-urlencoded")).is_ok());
        assert!(check_content_type(&ct("Application/X-WWW-Form-Urlencoded; charset=UTF-8")).is_ok());
        assert!(check_content_type(&ct("application/x-www-form-urlencoded;charset=\"utf-8\"")).is_ok());
        assert!(check_content_type(&ct("application/x-www-form-urlencoded; charset=latin1")).is_err());
        assert!(check_content_type(&ct("application/json")).is_err());
        assert!(check_content_type(&HeaderMap::new()).is_err());
    }

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        assert!(parameters(b"grant_type=a&grant_type=b", &KNOWN).is_err());
        assert!(parameters(b"foo=1&foo=2", &KNOWN).is_err());
        assert!(parameters(b"scope=&scope=x", &KNOWN).is_err());
        let p = parameters(b"grant_type=client_credentials&scope=&other=1", &KNOWN).unwrap();
        assert_eq!(p.get("grant_type").map(String::as_str), Some("client_credentials"));
        assert!(!p.contains_key("scope"));
    }

    #[test]
    fn query_credentials_are_refused() {
        assert!(refuse_query_credentials(&"/oauth2/token?client_secret=x".parse().unwrap()).is_err());
        assert!(refuse_query_credentials(&"/oauth2/token?client_id=x".parse().unwrap()).is_err());
        assert!(refuse_query_credentials(&"/oauth2/token?x=1".parse().unwrap()).is_ok());
    }
}
