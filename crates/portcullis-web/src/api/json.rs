//! Strict JSON bodies: `application/json`, capped, unknown fields refused,
//! and errors that name the field.

use axum::{
    body::to_bytes,
    extract::{FromRequest, Request},
    http::header,
};
use serde::de::DeserializeOwned;

use super::problem::Problem;

/// Admin API bodies are small; anything past this is refused.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = to_bytes(req.into_body(), MAX_JSON_BYTES)
            .await
            .map_err(|_| Problem::too_large(MAX_JSON_BYTES))?;
        if bytes.is_empty() && content_type.is_none() {
            // No body at all means "no fields": operations whose fields are
            // all optional need none.
            return deserialize(b"{}").map(Self);
        }
        let is_json = content_type
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .is_some_and(|m| {
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(Problem::unsupported_media_type());
        }
        deserialize(&bytes).map(Self)
    }
}

fn deserialize<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    // serde would read a struct from an array by position; bodies are objects.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Problem::malformed_body("the body must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        // Broken JSON is the body's fault; well-formed JSON of the wrong shape is a field's.
        match field_of(&path, &message).filter(|_| inner.is_data()) {
            Some(field) => Problem::invalid_field(field, message),
            None => Problem::malformed_body(message),
        }
    })?;
    de.end().map_err(|e| Problem::malformed_body(e.to_string()))?;
    Ok(value)
}

/// The field a deserialisation error is about: its path, or for an unknown
/// field at the top level, the field's name from the message.
fn field_of(path: &str, message: &str) -> Option<String> {
    if !path.is_empty() && path != "." {
        return Some(path.to_owned());
    }
    let rest = message.strip_prefix("unknown field `").or_else(|| message.strip_prefix("missing field `"))?;
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_field() {
        assert_eq!(field_of("name", "invalid type"), Some("name".into()));
        assert_eq!(field_of(".", "unknown field `colour`, expected one of `name`"), Some("colour".into()));
        assert_eq!(field_of("", "missing field `name` at line 1 column 2"), Some("name".into()));
        assert_eq!(field_of("", "EOF while parsing"), None);
    }
}
