//! `claims serve`: the chosen roles in this process until SIGINT or SIGTERM.
//!
//! Stopping is graceful: every role finishes the message it holds and stops taking new
//! ones; a message taken but not yet acknowledged goes back to its queue (NATS redelivers
//! it to another worker, or to this one after a restart), and the relay and projector
//! resume from their stored checkpoints, so nothing is lost.

use crate::api::probes::{self, ProbeState};
use crate::api::{self, ApiState};
use crate::clock::SystemClock;
use crate::config::ServeConfig;
use crate::engine::{EmbeddedConfig, Engine, Role};
use anyhow::Context;
use std::sync::Arc;
use tracing::{info, warn};

/// Runs `config`'s roles until a stop signal, then stops them and returns.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let mut engine_config = EmbeddedConfig::new(config.database.clone(), Arc::new(SystemClock));
    engine_config.bus = config.bus.clone();
    engine_config.adjudicators = config.adjudicators;
    engine_config.intakes = config.queues.intakes;
    engine_config.notifiers = config.queues.notifiers;
    engine_config.batch = config.queues.batch;
    engine_config.ack_wait = config.queues.ack_wait;
    engine_config.roles = config.roles.clone();
    engine_config.folded_streams = config.folded_streams;
    engine_config.chain = config.chain.clone();
    engine_config.settler = config.settler;
    if matches!(engine_config.bus, crate::engine::BusChoice::InProcess)
        && config.roles.len() < Role::ALL.len()
    {
        warn!(
            "running some roles on the in-process bus: the others cannot reach them; configure nats_url"
        );
    }
    let engine = Engine::start_embedded(engine_config)
        .await
        .context("starting the engine")?;
    let roles: Vec<_> = config.roles.iter().map(|role| role.name()).collect();

    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async move {
        let _ = http_stopped.await;
    };
    let http = match config.listen {
        Some(address) if config.roles.contains(&Role::Api) => {
            let state = ApiState {
                store: engine.store().clone(),
                read_models: engine.read_models().clone(),
                chain: Some(engine.settlement_chain().clone()),
                metrics: engine.metrics().clone(),
            };
            Some(api::serve(address, api::router(state), stopped).await?)
        }
        Some(address) => {
            let state = ProbeState {
                store: engine.store().clone(),
                bus: engine.bus().clone(),
                metrics: engine.metrics().clone(),
            };
            Some(api::serve(address, probes::router(state), stopped).await?)
        }
        None => None,
    };
    info!(roles = %roles.join(","), "the engine is running; SIGINT or SIGTERM stops it");

    stop_signal().await?;
    info!("stopping: finishing the requests and messages in hand");
    let _ = stop_http.send(());
    if let Some(http) = http {
        let _ = http.await;
    }
    engine.shutdown().await;
    info!("stopped");
    Ok(())
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM (what an orchestrator sends).
pub async fn stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        tokio::select! {
            interrupted = tokio::signal::ctrl_c() => interrupted.context("listening for SIGINT")?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("listening for Ctrl-C")?;
    Ok(())
}
