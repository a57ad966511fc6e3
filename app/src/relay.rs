//! The relay: publishes every stored event to the bus, in log order, from a checkpoint kept
//! in the store.
//!
//! An event is published before the checkpoint moves past it, so a crash in between
//! publishes it again; the event id is the message id, so the bus drops the repeat.
//! Nothing is lost and nothing is delivered twice within the deduplication window.

use crate::shutdown::Shutdown;
use crate::subjects;
use claims_adapters::bus::{BusError, Message, MessageBus};
use claims_adapters::event_store::{EventStore, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, warn};

/// The checkpoint name of the relay.
pub const CHECKPOINT: &str = "relay";

/// Why a relay pass failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Reading the log or the checkpoint failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Publishing failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// A stored event could not be serialised for the bus.
    #[error("stored event cannot be serialised: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The relay role.
#[derive(Clone)]
pub struct Relay {
    store: Arc<dyn EventStore>,
    bus: Arc<dyn MessageBus>,
    poll_interval: Duration,
    batch_size: usize,
}

impl Relay {
    /// A relay polling the store every `poll_interval` when it has caught up.
    pub fn new(
        store: Arc<dyn EventStore>,
        bus: Arc<dyn MessageBus>,
        poll_interval: Duration,
    ) -> Self {
        Self {
            store,
            bus,
            poll_interval,
            batch_size: 256,
        }
    }

    /// Relays until shutdown.
    pub async fn run(self, mut shutdown: Shutdown) {
        while !shutdown.is_triggered() {
            let relayed = match self.relay_once().await {
                Ok(relayed) => relayed,
                Err(error) => {
                    warn!(%error, "relay pass failed; retrying");
                    0
                }
            };
            if relayed < self.batch_size {
                tokio::select! {
                    () = tokio::time::sleep(self.poll_interval) => {}
                    () = shutdown.wait() => {}
                }
            }
        }
    }

    /// Publishes the events after the checkpoint (one batch) and moves the checkpoint.
    /// Returns how many events were published.
    pub async fn relay_once(&self) -> Result<usize, RelayError> {
        let after = self.store.load_checkpoint(CHECKPOINT).await?;
        let events = self.store.read_all(after, self.batch_size).await?;
        let Some(last) = events.last().map(|event| event.position) else {
            return Ok(0);
        };
        for event in &events {
            let message = Message::new(subjects::event(event), serde_json::to_vec(event)?)
                .with_id(event.id.to_string())
                .with_header("Content-Type", "application/json");
            self.bus.publish(message).await?;
        }
        self.store.save_checkpoint(CHECKPOINT, last).await?;
        debug!(count = events.len(), %last, "relayed events");
        Ok(events.len())
    }
}
