//! Optimistic concurrency (RFC 9110 §8.8.3, §13.1.1): a client, role or
//! user answers its version as a strong `ETag` (`"3"`), and a change sent
//! with `If-Match` is made only while the resource is still at one of the
//! versions named, else refused with 412 and nothing changed.
//!
//! `If-Match: *` or no `If-Match` means no version condition. An entity tag
//! this server never hands out (a weak `W/"3"`, which §13.1.1 says never
//! matches, or `"abc"`) cannot match: 412. A header that is no list of
//! entity tags at all (`3`, `"3`) is the request's fault: 400.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, header, request::Parts},
};

use super::problem::Problem;

/// What `If-Match` asks; `Any` when it is absent or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    /// The versions named; empty when none of the tags is one of ours.
    Versions(Vec<u64>),
}

impl IfMatch {
    /// The version a change must find, given the resource's version now
    /// (`current`, read only when several are named): `None` for no
    /// condition; `Some(0)`, which no resource ever has, when none can match.
    pub fn required(&self, current: impl FnOnce() -> Option<u64>) -> Option<u64> {
        match self {
            Self::Any => None,
            Self::Versions(versions) => match versions.as_slice() {
                [] => Some(0),
                [one] => Some(*one),
                many => Some(current().filter(|v| many.contains(v)).unwrap_or(0)),
            },
        }
    }

    /// True when reading the current version first would help.
    pub fn names_several(&self) -> bool {
        matches!(self, Self::Versions(v) if v.len() > 1)
    }

    /// Parses every `If-Match` header of a request.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, Problem> {
        let mut versions = Vec::new();
        let mut present = false;
        for value in headers.get_all(header::IF_MATCH) {
            present = true;
            let text = value.to_str().map_err(|_| malformed())?;
            for tag in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if tag == "*" {
                    return Ok(Self::Any);
                }
                let (weak, quoted) = match tag.strip_prefix("W/") {
                    Some(rest) => (true, rest),
                    None => (false, tag),
                };
                let opaque = quoted
                    .strip_prefix('"')
                    .and_then(|t| t.strip_suffix('"'))
                    .filter(|t| !t.contains('"'))
                    .ok_or_else(malformed)?;
                // Strong comparison: a weak tag never matches (§13.1.1).
                if !weak && let Ok(version) = opaque.parse::<u64>() {
                    versions.push(version);
                }
            }
        }
        if !present {
            return Ok(Self::Any);
        }
        Ok(Self::Versions(versions))
    }
}

fn malformed() -> Problem {
    Problem::invalid_header("if-match", "If-Match must be `*` or a list of entity tags, e.g. `\"3\"`")
}

/// The strong `ETag` of a resource at `version`.
pub fn etag(version: u64) -> HeaderValue {
    // Digits and quotes only: always a valid header value.
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// The version `if_match` requires of a resource, reading its current
/// version with `current` only when several are named.
pub async fn required_version<F, Fut>(if_match: &IfMatch, current: F) -> Result<Option<u64>, Problem>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<u64, Problem>>,
{
    let current = match if_match.names_several() {
        true => Some(current().await?),
        false => None,
    };
    Ok(if_match.required(|| current))
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        Self::from_headers(&parts.headers)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(values: &[&str]) -> Result<IfMatch, Problem> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::IF_MATCH, HeaderValue::from_str(v).unwrap());
        }
        IfMatch::from_headers(&headers)
    }

    #[test]
    fn absent_or_star_asks_nothing() {
        assert_eq!(parse(&[]).unwrap(), IfMatch::Any);
        assert_eq!(parse(&["*"]).unwrap(), IfMatch::Any);
        assert_eq!(parse(&["\"1\", *"]).unwrap(), IfMatch::Any);
    }

    #[test]
    fn strong_tags_are_versions_and_others_never_match() {
        assert_eq!(parse(&["\"3\""]).unwrap(), IfMatch::Versions(vec![3]));
        assert_eq!(parse(&["\"3\", \"5\"", "\"7\""]).unwrap(), IfMatch::Versions(vec![3, 5, 7]));
        let never = parse(&["W/\"3\", \"abc\""]).unwrap();
        assert_eq!(never.required(|| Some(3)), Some(0));
        let several = parse(&["\"3\", \"5\""]).unwrap();
        assert!(several.names_several());
        assert_eq!(several.required(|| Some(5)), Some(5));
        assert_eq!(several.required(|| Some(4)), Some(0));
    }

    #[test]
    fn what_is_no_entity_tag_is_malformed() {
        for bad in ["3", "\"3", "3\"", "W/3", "\"a\"b\""] {
            let err = parse(&[bad]).unwrap_err();
            assert_eq!(err.details().status, 400, "{bad}");
        }
    }
}
