//! Holding a batch's messages while the event store does not answer.
//!
//! A role hands a message whose work failed back to the bus for another attempt, and the
//! bus allows five, spent within seconds ([`Verdict::retry`]): a database outage longer
//! than that would dead-letter every message in flight, for an operator to requeue. So
//! before handing back messages whose work failed, a role asks the store whether it
//! answers at all ([`EventStore::check`]). While it does not, the messages are held: the bus
//! is told every second that the work goes on ([`Delivery::in_progress`], which spends no
//! attempt) and the store is asked again, less often the longer it stays away. Once it
//! answers, the messages are handed back as they would have been, each having spent one
//! attempt on the outage however long it lasted. A shutdown ends the wait, and so does
//! [`MAX_HOLD`]: the messages are then handed back (or, on a shutdown, redelivered later).

use crate::shutdown::Shutdown;
use crate::verdict::{Verdict, conclude};
use claims_adapters::bus::Delivery;
use claims_adapters::event_store::EventStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// The first wait before asking the store again; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest wait between two questions to the store.
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// How often the bus hears that held messages are still being worked on: well inside any
/// sensible `ack_wait` (30 s by default).
const KEEP_ALIVE: Duration = Duration::from_secs(1);
/// The longest a batch is held: beyond it, its messages go back to the bus's retries.
const MAX_HOLD: Duration = Duration::from_secs(15 * 60);

/// What a role asks before handing failed work back to the bus.
#[derive(Clone)]
pub struct StoreGate {
    store: Arc<dyn EventStore>,
    shutdown: Option<Shutdown>,
}

impl StoreGate {
    /// A gate on `store`, held until the store answers or [`MAX_HOLD`] passes.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            shutdown: None,
        }
    }

    /// The same gate, which also stops holding when `shutdown` is triggered.
    pub fn with_shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Tells the bus each delivery's verdict; when any is to be tried again and the store
    /// does not answer, first holds those until it does.
    pub async fn conclude_all(&self, queue: &str, concluded: Vec<(Delivery, Verdict)>) {
        let retrying: Vec<&Delivery> = concluded
            .iter()
            .filter(|(_, verdict)| matches!(verdict, Verdict::Retry { .. }))
            .map(|(delivery, _)| delivery)
            .collect();
        if !retrying.is_empty() {
            self.hold_while_away(queue, &retrying).await;
        }
        for (delivery, verdict) in concluded {
            conclude(delivery, verdict).await;
        }
    }

    async fn hold_while_away(&self, queue: &str, held: &[&Delivery]) {
        let Err(error) = self.store.check().await else {
            return;
        };
        warn!(queue, %error, held = held.len(), "the event store does not answer; holding the messages until it does");
        let started = Instant::now();
        let keep_alive = async {
            loop {
                for delivery in held {
                    if let Err(error) = delivery.in_progress().await {
                        warn!(queue, %error, "could not tell the bus a held message is still being worked on; it may be redelivered");
                    }
                }
                tokio::time::sleep(KEEP_ALIVE).await;
            }
        };
        let store_back = async {
            let mut pause = FIRST_PAUSE;
            loop {
                tokio::time::sleep(pause).await;
                if self.store.check().await.is_ok() {
                    return true;
                }
                if started.elapsed() >= MAX_HOLD {
                    return false;
                }
                pause = (pause * 2).min(MAX_PAUSE);
            }
        };
        let mut shutdown = self.shutdown.clone();
        let stopping = async {
            match shutdown.as_mut() {
                Some(shutdown) => shutdown.wait().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            back = store_back => if back {
                info!(queue, held = held.len(), waited = ?started.elapsed(), "the event store answers again; handing the held messages back");
            } else {
                warn!(queue, held = held.len(), waited = ?started.elapsed(), "the event store still does not answer; handing the held messages back to the bus's retries");
            },
            () = keep_alive => {}
            () = stopping => {}
        }
    }
}
