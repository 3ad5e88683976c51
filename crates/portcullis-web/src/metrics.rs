//! `GET /metrics`: counters for Prometheus (OpenMetrics text). Only counts,
//! never a client id, name or anything secret, so it is served without
//! authentication like `/healthz`; restrict it at the proxy if it must not
//! be reachable from outside.

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use portcullis_service::Service;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};

use crate::AppState;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Reads the service's own counters (and the throttle's) at each scrape.
struct ServiceCollector(Service, std::sync::Arc<crate::throttle::Throttle>);

impl std::fmt::Debug for ServiceCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceCollector")
    }
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> std::fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: usize) -> std::fmt::Result {
    let metric = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for ServiceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let service = &self.0;
        counter(
            &mut encoder,
            "portcullis_auth_failures_limited",
            "Failed authentications counted by the limits on failures (every 401 of an authentication).",
            self.1.failures(),
        )?;
        counter(
            &mut encoder,
            "portcullis_auth_throttled",
            "Authentication attempts answered 429 because their address or account failed too often.",
            self.1.refused(),
        )?;
        counter(
            &mut encoder,
            "portcullis_events_dropped",
            "Events dropped because the queue was full or their batch could not be written.",
            service.dropped_events(),
        )?;
        counter(
            &mut encoder,
            "portcullis_events_written",
            "Events written to the database.",
            service.written_events(),
        )?;
        gauge(
            &mut encoder,
            "portcullis_events_queued",
            "Events waiting to be written.",
            service.queued_events(),
        )?;
        gauge(
            &mut encoder,
            "portcullis_events_queue_capacity",
            "How many events may wait to be written.",
            service.event_queue_capacity(),
        )?;
        // Failed authentications that are counted instead of stored: as a
        // client id that does not exist (anyone may make those, as often as
        // they like).
        let failures = ConstCounter::new(service.unknown_client_failures());
        let mut family = encoder.encode_descriptor(
            "portcullis_auth_failures",
            "Failed client authentications counted instead of recorded as events, by reason.",
            None,
            failures.metric_type(),
        )?;
        failures.encode(family.encode_family(&[("reason", "unknown_client")])?)
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ServiceCollector(state.service.clone(), state.throttle.clone())));
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => {
            tracing::error!("could not encode the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
