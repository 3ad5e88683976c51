//! Records one event per request made as a client or a user: token
//! requests (also failed ones, when their client exists: failures as an
//! unknown client are only counted in `/metrics`), introspection,
//! revocation and every admin API call. Bodies are redacted
//! ([`crate::redact`]) and capped before they are queued (a failed OAuth2
//! request keeps at most 1 KiB of its request and only the OAuth2 error of
//! its answer); an admin call's event records the permissions it needed,
//! which a reader must hold to see its bodies. The request never waits on
//! the write.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Instant,
};

use crate::redact;
use axum::{
    body::{Body, to_bytes},
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use portcullis_domain::{ClientId, Event, EventId, PermissionName, Scope, UserId, now};
use portcullis_service::events::{ADMIN_REQUEST, admin_request_details};

use crate::AppState;

/// Who the request was made as, filled in by whatever authenticates it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject {
    pub client_id: Option<ClientId>,
    pub user_id: Option<UserId>,
}

/// Put into every recorded request's extensions.
#[derive(Clone, Default)]
pub struct SubjectSlot(Arc<Mutex<Subject>>, Arc<Mutex<Option<Scope>>>);

impl SubjectSlot {
    pub fn set_client(&self, id: ClientId) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).client_id = Some(id);
    }

    pub fn set_user(&self, id: UserId) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).user_id = Some(id);
    }

    /// The permissions the admin caller authenticated with: what reading
    /// the bodies of a call whose permission is not known (a GraphQL
    /// document) requires.
    pub fn set_scope(&self, scope: Scope) {
        *self.1.lock().unwrap_or_else(|e| e.into_inner()) = Some(scope);
    }

    fn get(&self) -> Subject {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn scope(&self) -> Option<Scope> {
        self.1.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A response's body as it is to be recorded, already redacted, set by a
/// handler that knows which of its fields are secret; the recorder then
/// stores it instead of parsing and redacting the body itself.
#[derive(Clone)]
pub struct RecordedResponse(pub String);

/// Bodies past this are not buffered for recording (the endpoints refuse
/// far smaller ones anyway).
const MAX_RECORDED_REQUEST: usize = 1024 * 1024;

fn kind_of(path: &str) -> &'static str {
    match path {
        "/oauth2/token" => "token.request",
        "/oauth2/introspect" => "introspection",
        "/oauth2/revoke" => "revocation",
        _ => ADMIN_REQUEST,
    }
}

/// What an admin call's event records as the permissions reading its
/// bodies back needs: the operation's own and what its answer shows (REST,
/// [`answer_needs`](crate::api::required::answer_needs)), or else the
/// caller's whole scope (a GraphQL document, which may need several, and
/// the event reads, whose answers show what their reader could see:
/// conservative).
fn required_permissions(method: &str, path: &str, slot: &SubjectSlot) -> Scope {
    let needs =
        crate::api::required::permission_for(method, path).and_then(crate::api::required::answer_needs);
    match needs {
        Some(permissions) => permissions.into_iter().map(PermissionName::from).collect(),
        // Only built-in permissions guard what the admin API answers; an
        // operator's own permission in the caller's scope guards nothing here
        // (and would hide the event from admins, who hold every built-in one).
        None => slot
            .scope()
            .unwrap_or_default()
            .iter()
            .filter(|p| portcullis_domain::BuiltinPermission::ALL.iter().any(|b| b.as_str() == p.as_str()))
            .cloned()
            .collect(),
    }
}

/// The response of a failed OAuth2 request as stored: its `error` and
/// `error_description` (RFC 6749 §5.2), nothing else.
fn oauth_error(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let kept: serde_json::Map<String, serde_json::Value> = ["error", "error_description"]
        .into_iter()
        .filter_map(|k| Some((k.to_owned(), value.get(k)?.clone())))
        .collect();
    Some(redact::cap_at(serde_json::Value::Object(kept).to_string(), redact::MAX_FAILURE_BODY_BYTES))
}

/// The client's address: the peer, or, when the peer is a trusted proxy,
/// the right-most `X-Forwarded-For` entry that is not one (RFC 9700 §4.13:
/// forwarded headers count only from configured proxies).
pub fn source_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> Option<String> {
    source_addr(peer, headers, trusted).map(|ip| ip.to_string())
}

/// [`source_ip`], as an address.
/// Addresses are compared in their canonical form: on a dual-stack listener
/// an IPv4 peer arrives as `::ffff:a.b.c.d`, and must still match `a.b.c.d`.
pub fn source_addr(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| t.to_canonical() == *ip);
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let values: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().map(|v| v.to_str().unwrap_or("")).collect();
    // From the right: past our own proxies, the first entry is the client.
    // An entry that is not an address ends the walk at the last hop we
    // trust: skipping it would let what the caller wrote to its left
    // choose the address (and so its own throttling key).
    let mut last_trusted = peer;
    for entry in values.iter().rev().flat_map(|v| v.rsplit(',')) {
        let Some(ip) = forwarded_address(entry.trim()) else { return Some(last_trusted) };
        if !is_trusted(&ip) {
            return Some(ip);
        }
        last_trusted = ip;
    }
    Some(last_trusted)
}

/// An `X-Forwarded-For` entry as an address: `a.b.c.d`, an IPv6 address,
/// and as some proxies write them, `a.b.c.d:port`, `[v6]` and `[v6]:port`.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(socket) = entry.parse::<std::net::SocketAddr>() {
        return Some(socket.ip().to_canonical());
    }
    let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<std::net::Ipv6Addr>().ok().map(|ip| IpAddr::V6(ip).to_canonical())
}

/// Events keep this many bytes of a request's path (a path may be as long
/// as the request head allows), then mark it truncated.
pub const MAX_RECORDED_PATH: usize = 2048;

/// The `User-Agent`, as events keep it: at most 512 characters.
pub fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|v| v.chars().take(512).collect())
}

pub async fn record(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let slot = SubjectSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let source_ip = source_ip(peer, request.headers(), &state.trusted_proxies);
    let user_agent = user_agent(request.headers());
    let request_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);

    let (parts, body) = request.into_parts();
    let Ok(request_bytes) = to_bytes(body, MAX_RECORDED_REQUEST).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let response = next.run(Request::from_parts(parts, Body::from(request_bytes.clone()))).await;

    let subject = slot.get();
    if subject.client_id.is_none() && subject.user_id.is_none() {
        // Not made as a client or a user: nothing to attribute it to.
        return response;
    }
    let kind = kind_of(&path);
    let oauth2 = kind != ADMIN_REQUEST;
    let failed = oauth2 && response.status().is_client_error();
    if failed && let Some(id) = subject.client_id {
        // A failed authentication as a client that does not exist is
        // anyone's to make, as often as they like: never stored (the
        // service counted it, as `unknown_client`, for `/metrics`).
        match state.service.client_exists(id).await {
            Ok(true) => {}
            Ok(false) => return response,
            Err(e) => {
                tracing::warn!(error = %e, "could not tell whether a client exists; its failed request is not recorded");
                return response;
            }
        }
    }
    let (mut parts, body) = response.into_parts();
    let (response_body, body) = match parts.extensions.remove::<RecordedResponse>() {
        Some(RecordedResponse(text)) => (Some(redact::cap(text)), body),
        None => {
            let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
            let response_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            let stored = if failed { oauth_error(&bytes) } else { redact::body(&bytes, response_type) };
            (stored, Body::from(bytes))
        }
    };
    let request_body = if oauth2 {
        // The OAuth2 endpoints take forms only: their bodies are read as
        // forms whatever they were labelled.
        let stored = redact::form_body(&request_bytes);
        if failed { stored.map(|text| redact::cap_at(text, redact::MAX_FAILURE_BODY_BYTES)) } else { stored }
    } else {
        redact::body(&request_bytes, request_type.as_deref())
    };
    let details = (!oauth2).then(|| admin_request_details(&required_permissions(&method, &path, &slot)));
    state.service.record(Event {
        id: EventId::generate(),
        occurred_at: now(),
        kind: kind.to_owned(),
        client_id: subject.client_id,
        user_id: subject.user_id,
        actor: None,
        method: Some(method),
        path: Some(redact::cap_at(path, MAX_RECORDED_PATH)),
        status: Some(parts.status.as_u16()),
        latency_micros: Some(i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX)),
        source_ip,
        user_agent,
        request_body,
        response_body,
        details,
    });
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.2".parse().unwrap());
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let inner_proxy: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            source_ip(Some(proxy), &headers, &[]).as_deref(),
            Some("10.0.0.1"),
            "untrusted peer: header ignored"
        );
        assert_eq!(source_ip(Some(proxy), &headers, &[proxy, inner_proxy]).as_deref(), Some("203.0.113.9"));
        assert_eq!(source_ip(Some(proxy), &headers, &[proxy]).as_deref(), Some("10.0.0.2"));
        assert_eq!(source_ip(None, &headers, &[proxy]), None);
    }

    /// (attack review) Behind a proxy that appends `ip:port`, its entry was
    /// skipped as unparseable, and the caller's own left-hand entry became
    /// its address (and its throttling key).
    #[test]
    fn an_entry_that_is_not_an_address_ends_the_walk_at_the_last_trusted_hop() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-forwarded-for", value.parse().unwrap());
            source_ip(Some(proxy), &headers, &[proxy])
        };
        assert_eq!(with("198.51.100.7, 203.0.113.9:51234").as_deref(), Some("203.0.113.9"));
        assert_eq!(with("198.51.100.7, [2001:db8::1]:443").as_deref(), Some("2001:db8::1"));
        assert_eq!(with("198.51.100.7, [2001:db8::1]").as_deref(), Some("2001:db8::1"));
        assert_eq!(with("198.51.100.7, unknown").as_deref(), Some("10.0.0.1"));
        assert_eq!(with("198.51.100.7, 10.0.0.1, _hidden").as_deref(), Some("10.0.0.1"));
    }
}
