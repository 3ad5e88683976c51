//! Records one event per request made as a client or a user: token
//! requests (also failed ones whose client id is known), introspection,
//! revocation and every admin API call. Bodies are redacted and capped
//! before they are queued; the request never waits on the write.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::{
    body::{Body, to_bytes},
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use portcullis_domain::{ClientId, Event, EventId, UserId, now};
use portcullis_service::events::redact;

use crate::AppState;

/// Who the request was made as, filled in by whatever authenticates it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject {
    pub client_id: Option<ClientId>,
    pub user_id: Option<UserId>,
}

/// Put into every recorded request's extensions.
#[derive(Clone, Default)]
pub struct SubjectSlot(Arc<Mutex<Subject>>);

impl SubjectSlot {
    pub fn set_client(&self, id: ClientId) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).client_id = Some(id);
    }

    pub fn set_user(&self, id: UserId) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).user_id = Some(id);
    }

    fn get(&self) -> Subject {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
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
        _ => "admin.request",
    }
}

/// The client's address: the peer, or, when the peer is a trusted proxy,
/// the right-most `X-Forwarded-For` entry that is not one (RFC 9700 §4.13:
/// forwarded headers count only from configured proxies).
pub fn source_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> Option<String> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer.to_string());
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|ip| ip.trim().parse().ok())
        .collect();
    let client = forwarded.iter().rev().find(|ip| !trusted.contains(ip)).copied().unwrap_or(peer);
    Some(client.to_string())
}

pub async fn record(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let slot = SubjectSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let source_ip = source_ip(peer, request.headers(), &state.trusted_proxies);
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(512).collect());
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
    let (mut parts, body) = response.into_parts();
    let (response_body, body) = match parts.extensions.remove::<RecordedResponse>() {
        Some(RecordedResponse(text)) => (Some(redact::cap(text)), body),
        None => {
            let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
            let response_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            (redact::body(&bytes, response_type), Body::from(bytes))
        }
    };
    state.service.record(Event {
        id: EventId::generate(),
        occurred_at: now(),
        kind: kind_of(&path).to_owned(),
        client_id: subject.client_id,
        user_id: subject.user_id,
        actor: None,
        method: Some(method),
        path: Some(path),
        status: Some(parts.status.as_u16()),
        latency_micros: Some(i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX)),
        source_ip,
        user_agent,
        request_body: redact::body(&request_bytes, request_type.as_deref()),
        response_body,
        details: None,
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
}
