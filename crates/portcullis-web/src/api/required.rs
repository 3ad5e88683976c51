//! The permission each admin REST operation needs, by method and route.
//! Recorded with the operation's event: the event's request and response
//! bodies are shown only to a reader who holds it, so that `events:read`
//! never shows what the reader could not have read by making the call.
//! A test checks that every operation of the OpenAPI document is here.

/// `(method, route, permission)`. The caller's own account (`/me`,
/// `/session`) needs no permission to call, but its answers show a user's
/// e-mail and roles: reading them back from events needs `users:read`.
use portcullis_domain::BuiltinPermission::{self, *};

pub(crate) const OPERATIONS: &[(&str, &str, BuiltinPermission)] = &[
    ("GET", "/api/v1/clients", ClientsRead),
    ("POST", "/api/v1/clients", ClientsWrite),
    ("POST", "/api/v1/clients/bulk", ClientsWrite),
    ("GET", "/api/v1/clients/{client_id}", ClientsRead),
    ("PATCH", "/api/v1/clients/{client_id}", ClientsWrite),
    ("DELETE", "/api/v1/clients/{client_id}", ClientsWrite),
    ("GET", "/api/v1/clients/{client_id}/events", EventsRead),
    ("GET", "/api/v1/clients/{client_id}/permissions", ClientsRead),
    ("POST", "/api/v1/clients/{client_id}/revoke-tokens", ClientsWrite),
    ("POST", "/api/v1/clients/{client_id}/secret", ClientsSecrets),
    ("POST", "/api/v1/clients/{client_id}/token", TokensIssue),
    ("GET", "/api/v1/events", EventsRead),
    ("GET", "/api/v1/events/{event_id}", EventsRead),
    ("GET", "/api/v1/keys", KeysWrite),
    ("POST", "/api/v1/keys/rotate", KeysWrite),
    ("POST", "/api/v1/keys/{kid}/revoke", KeysWrite),
    ("GET", "/api/v1/me", UsersRead),
    ("GET", "/api/v1/me/token", UsersRead),
    ("POST", "/api/v1/me/token", UsersRead),
    ("DELETE", "/api/v1/me/token", UsersRead),
    ("POST", "/api/v1/session", UsersRead),
    ("DELETE", "/api/v1/session", UsersRead),
    ("GET", "/api/v1/permissions", RolesRead),
    ("POST", "/api/v1/permissions", RolesWrite),
    ("PATCH", "/api/v1/permissions/{name}", RolesWrite),
    ("DELETE", "/api/v1/permissions/{name}", RolesWrite),
    ("GET", "/api/v1/roles", RolesRead),
    ("POST", "/api/v1/roles", RolesWrite),
    ("GET", "/api/v1/roles/{role_id}", RolesRead),
    ("PATCH", "/api/v1/roles/{role_id}", RolesWrite),
    ("DELETE", "/api/v1/roles/{role_id}", RolesWrite),
    ("GET", "/api/v1/users", UsersRead),
    ("POST", "/api/v1/users", UsersWrite),
    ("GET", "/api/v1/users/{user_id}", UsersRead),
    ("PATCH", "/api/v1/users/{user_id}", UsersWrite),
    ("DELETE", "/api/v1/users/{user_id}", UsersWrite),
    ("DELETE", "/api/v1/users/{user_id}/token", UsersWrite),
];

/// Whether `path` fits `route`, whose `{…}` segments match any one segment.
fn fits(route: &str, path: &str) -> bool {
    let (mut r, mut p) = (route.split('/'), path.split('/'));
    loop {
        match (r.next(), p.next()) {
            (None, None) => return true,
            (Some(r), Some(p)) if r.starts_with('{') && r.ends_with('}') => {
                if p.is_empty() {
                    return false;
                }
            }
            (Some(r), Some(p)) if r == p => {}
            _ => return false,
        }
    }
}

/// The permission the operation at `method` and `path` needs; `None` for
/// a path no operation has (the caller's whole scope is recorded then).
pub(crate) fn permission_for(method: &str, path: &str) -> Option<BuiltinPermission> {
    // A literal route (`/clients/bulk`) before a templated one (`/clients/{id}`).
    let exact = OPERATIONS.iter().find(|(m, route, _)| *m == method && *route == path);
    exact
        .or_else(|| OPERATIONS.iter().find(|(m, route, _)| *m == method && fits(route, path)))
        .map(|(_, _, p)| *p)
}

/// What reading an operation's recorded answer back needs, beside the
/// operation's own permission: a change of a client, user or role answers
/// the changed record (a user's e-mail and roles, a client's name and
/// role), which the matching read permission guards. `None` when the answer
/// shows what its reader could see (the event reads): then the reader's
/// whole scope, as for a GraphQL document.
pub(crate) fn answer_needs(permission: BuiltinPermission) -> Option<Vec<BuiltinPermission>> {
    Some(match permission {
        EventsRead => return None,
        ClientsWrite | ClientsSecrets => vec![permission, ClientsRead],
        UsersWrite => vec![permission, UsersRead],
        RolesWrite => vec![permission, RolesRead],
        other => vec![other],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi;

    #[test]
    fn every_operation_of_the_openapi_document_has_its_permission() {
        let doc = serde_json::to_value(super::super::ApiDoc::openapi()).unwrap();
        let mut count = 0;
        for (path, operations) in doc["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                let method = method.to_uppercase();
                let entry = OPERATIONS.iter().find(|(m, route, _)| *m == method && route == path);
                let Some((_, _, permission)) = entry else {
                    panic!("{method} {path} is not in OPERATIONS");
                };
                // Where the document names a permission, it is the one recorded.
                if let Some(scopes) = operation["security"][0]["bearer"].as_array() {
                    assert_eq!(scopes, &[serde_json::json!(permission.as_str())], "{method} {path}");
                }
                count += 1;
            }
        }
        assert_eq!(count, OPERATIONS.len(), "OPERATIONS lists an operation the document does not have");
    }

    #[test]
    fn paths_find_their_operation() {
        let id = "7d4a1c52-2b1e-4c47-9a0e-5b7b8f0f7e11";
        assert_eq!(permission_for("POST", "/api/v1/clients/bulk"), Some(ClientsWrite));
        assert_eq!(permission_for("POST", &format!("/api/v1/clients/{id}/secret")), Some(ClientsSecrets));
        assert_eq!(permission_for("GET", &format!("/api/v1/users/{id}")), Some(UsersRead));
        assert_eq!(permission_for("GET", "/api/v1/users/"), None);
        assert_eq!(permission_for("GET", &format!("/api/v1/users/{id}/x")), None);
        assert_eq!(permission_for("PUT", "/api/v1/users"), None);
        assert_eq!(permission_for("GET", "/api/v1/nothing"), None);
    }
}
