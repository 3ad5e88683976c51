//! The one place a credential the server hands out (a client secret, a
//! personal access token, a generated password) leaves its domain type:
//! the response that shows it, once. Until then the service and the
//! handlers hold `ClientSecret`, `PersonalTokenSecret` or `Password`, whose
//! `Debug` never shows it and which nothing serialises by accident.
//!
//! REST response types mark such a field
//! `#[serde(serialize_with = "crate::shown::once")]` (or
//! [`once_if_any`] for an optional one) and
//! `#[schema(value_type = String)]`; GraphQL payloads resolve it with
//! [`crate::graphql::shown`], which also keeps it out of the request's
//! event.

use portcullis_domain::{Password, Secret, SecretKind};
use serde::Serializer;

/// A credential shown once in a response.
pub trait ShownOnce {
    /// The credential in the clear: only for the response that shows it.
    fn text(&self) -> &str;
}

impl<K: SecretKind> ShownOnce for Secret<K> {
    fn text(&self) -> &str {
        self.expose()
    }
}

impl ShownOnce for Password {
    fn text(&self) -> &str {
        self.expose()
    }
}

/// Serialises the credential as the JSON string it is.
pub fn once<T: ShownOnce, S: Serializer>(credential: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(credential.text())
}

/// [`once`], for a credential that may be absent (`null`, or left out with
/// `skip_serializing_if`).
pub fn once_if_any<T: ShownOnce, S: Serializer>(
    credential: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match credential {
        Some(credential) => serializer.serialize_some(credential.text()),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use portcullis_domain::{ClientSecret, PersonalTokenSecret};
    use serde::Serialize;

    use super::*;

    #[derive(Debug, Serialize)]
    struct Shown {
        #[serde(serialize_with = "once")]
        secret: ClientSecret,
        #[serde(serialize_with = "once")]
        token: PersonalTokenSecret,
        #[serde(serialize_with = "once_if_any")]
        password: Option<Password>,
        #[serde(serialize_with = "once_if_any", skip_serializing_if = "Option::is_none")]
        absent: Option<Password>,
    }

    #[test]
    fn the_response_shows_each_credential_and_its_debug_none() {
        let shown = Shown {
            secret: ClientSecret::generate(),
            token: PersonalTokenSecret::generate(),
            password: Some(Password::from("correct horse battery staple")),
            absent: None,
        };
        let json = serde_json::to_value(&shown).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "secret": shown.secret.expose(),
                "token": shown.token.expose(),
                "password": "correct horse battery staple",
            })
        );
        let debug = format!("{shown:?}");
        for clear in [shown.secret.expose(), shown.token.expose(), "correct horse battery staple"] {
            assert!(!debug.contains(clear), "{debug}");
        }
        let none = Shown { password: None, ..shown };
        assert_eq!(serde_json::to_value(&none).unwrap()["password"], serde_json::Value::Null);
    }

    /// The REST answers that hand a credential out: the wire shows it as the
    /// string it always was, their `Debug` (a log line, a panic) never.
    #[test]
    fn rest_answers_show_their_credential_on_the_wire_only() {
        use crate::api::{
            clients::{ClientResponse, CreatedClient, RegeneratedSecret, Status},
            me::{CreatedPersonalToken, PersonalTokenResponse},
            users::{CreatedUser, UserResponse},
        };
        let id = uuid::Uuid::new_v4();
        let client = || ClientResponse {
            client_id: id,
            name: "crm".into(),
            description: None,
            status: Status::Enabled,
            role: None,
            access_token_ttl_seconds: 3600,
            created_at: "2026-11-23T15:50:20Z".into(),
            last_used_at: None,
        };
        let user = || UserResponse {
            user_id: id,
            email: "ada@example.com".into(),
            name: "Ada".into(),
            status: Status::Enabled,
            roles: vec!["viewer".into()],
            created_at: "2026-11-23T15:50:20Z".into(),
            updated_at: "2026-11-23T15:50:20Z".into(),
        };
        let (secret, token) = (ClientSecret::generate(), PersonalTokenSecret::generate());
        let password = "Vq3xK9mZ2pL7wR4tY8nB6cD1";
        let info = || PersonalTokenResponse {
            hint: token.hint(),
            created_at: "2026-11-23T15:50:20Z".into(),
            last_used_at: None,
        };

        let created = CreatedClient { client: client(), client_secret: secret.clone() };
        let regenerated = RegeneratedSecret { client_id: id, client_secret: secret.clone() };
        let rotated = CreatedPersonalToken { token: token.clone(), info: info() };
        let with_password = CreatedUser { user: user(), password: Some(Password::from(password)) };
        let without = CreatedUser { user: user(), password: None };

        fn json<T: Serialize>(value: &T) -> serde_json::Value {
            serde_json::to_value(value).unwrap()
        }
        assert_eq!(json(&created)["client_secret"], secret.expose());
        assert_eq!(json(&regenerated)["client_secret"], secret.expose());
        assert_eq!(json(&rotated)["token"], token.expose());
        assert_eq!(json(&rotated)["hint"], token.hint());
        assert_eq!(json(&with_password)["password"], password);
        assert!(json(&without).get("password").is_none(), "left out, not null");

        let debug = format!("{created:?} {regenerated:?} {rotated:?} {with_password:?}");
        for clear in [secret.expose(), token.expose(), password] {
            assert!(!debug.contains(clear), "{debug}");
        }
    }
}
