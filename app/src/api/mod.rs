//! The HTTP read API (`claims serve --role api`): claims with their status, event
//! timeline and FHIR `ClaimResponse`; insurers' claims; providers' remittances per payout
//! batch; payouts with their transactions; members' accumulators; health, readiness and an
//! OpenAPI document. Everything read comes from the event log and the read models; the API
//! never writes.

mod claims;
mod error;
mod page;
mod payouts;
pub mod probes;
mod views;

pub use error::ApiError;

use crate::metrics::EngineMetrics;
use anyhow::Context;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use claims_adapters::event_store::EventStore;
use claims_adapters::read_models::ReadModels;
use claims_settlement::SettlementChain;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Every path the API serves, as the OpenAPI document names them.
pub const PATHS: &[&str] = &[
    "/",
    "/health",
    "/ready",
    "/openapi.json",
    "/metrics",
    "/claims/{claim}",
    "/insurers/{insurer}/claims",
    "/providers/{provider}/remittances",
    "/payouts",
    "/members/{member}/accumulators",
];

/// The OpenAPI 3.1 document, written by hand and checked against [`PATHS`] by a test.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The dashboard page, plain HTML and script with no build step.
const DASHBOARD: &str = include_str!("dashboard.html");

/// What the handlers read.
#[derive(Clone)]
pub struct ApiState {
    /// The event log: claims' timelines and decisions.
    pub store: Arc<dyn EventStore>,
    /// Statuses, remittances, accumulators.
    pub read_models: Arc<dyn ReadModels>,
    /// The chain, for confirmation depths.
    pub chain: Option<Arc<dyn SettlementChain>>,
    /// What `/metrics` reports.
    pub metrics: EngineMetrics,
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/claims/{claim}", get(claims::claim))
        .route("/insurers/{insurer}/claims", get(claims::of_insurer))
        .route(
            "/providers/{provider}/remittances",
            get(payouts::remittances),
        )
        .route("/payouts", get(payouts::payouts))
        .route("/members/{member}/accumulators", get(payouts::accumulators))
        .fallback(not_found)
        .with_state(state)
}

/// Binds `address`, then serves until `stop` completes, finishing requests in flight.
pub async fn serve(
    address: std::net::SocketAddr,
    app: Router,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("listening for HTTP on {address}"))?;
    tracing::info!(%address, "listening for HTTP");
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(%error, "the HTTP API stopped");
        }
    }))
}

/// The operators' dashboard: a static page whose script reads `/metrics` and `/payouts`.
async fn dashboard() -> impl IntoResponse {
    axum::response::Html(DASHBOARD)
}

/// The process is up.
pub(crate) async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// The process can answer: its database is reachable.
async fn ready(axum::extract::State(state): axum::extract::State<ApiState>) -> impl IntoResponse {
    match state.read_models.position().await {
        Ok(position) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({
                "status": "ready",
                "read_models_position": position.sequence,
            })),
        ),
        Err(error) => {
            tracing::warn!(%error, "not ready: the read models cannot be read");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({
                    "status": "not-ready",
                    "reason": "the read models' database cannot be reached",
                })),
            )
        }
    }
}

/// The Prometheus text exposition.
async fn metrics(axum::extract::State(state): axum::extract::State<ApiState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no such resource: {}", uri.path()))
}
