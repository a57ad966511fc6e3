//! What a process without the API role serves when `listen` is set: its health, its
//! readiness and its own gauges, so that an operator can watch every worker on every host,
//! not only the process serving the API. The claims, payouts and totals counted from the
//! log stay the API processes' to serve.

use super::{ApiError, health};
use crate::metrics::EngineMetrics;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use claims_adapters::bus::MessageBus;
use claims_adapters::event_store::EventStore;
use std::sync::Arc;

/// Every path a process without the API serves.
pub const PATHS: &[&str] = &["/health", "/ready", "/metrics"];

/// What the probes read.
#[derive(Clone)]
pub struct ProbeState {
    /// The event store the process's roles write to.
    pub store: Arc<dyn EventStore>,
    /// The bus the process's roles take their work from.
    pub bus: Arc<dyn MessageBus>,
    /// This process's gauges.
    pub metrics: EngineMetrics,
}

/// The probes' routes.
pub fn router(state: ProbeState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .fallback(not_served)
        .with_state(state)
}

/// Ready when the process can do its work: its bus is connected and its store takes a
/// write ([`EventStore::check`], so a database turned read-only counts as away, as it does
/// for the roles).
async fn ready(State(state): State<ProbeState>) -> impl IntoResponse {
    let reason = if !state.bus.connection().connected {
        Some("the process is not connected to its message bus; it is reconnecting")
    } else if let Err(error) = state.store.check().await {
        tracing::warn!(%error, "not ready: the event store takes no writes");
        Some("the event store takes no writes; held work resumes when it does")
    } else {
        None
    };
    match reason {
        None => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "status": "ready" })),
        ),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "status": "not-ready", "reason": reason })),
        ),
    }
}

/// This process's own gauges, in the Prometheus text exposition.
async fn metrics(State(state): State<ProbeState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render_process(),
    )
}

async fn not_served(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no such resource: {}; this process runs without the api role and serves only {}",
        uri.path(),
        PATHS.join(", ")
    ))
}
