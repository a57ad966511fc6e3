//! The relay: publishes every stored event to the bus, in log order, from a checkpoint kept
//! in the store.
//!
//! A page of events is published, in order, before the checkpoint moves past it (the
//! checkpoint is stored while the next page is read, off the path of the events, and at
//! most every [`CHECKPOINT_EVERY`]), so a crash in between publishes those pages again; the
//! event id is the message id, so the bus drops the repeats.
//! Nothing is lost and nothing is delivered twice within the deduplication window. Once
//! caught up, the relay waits for the store's wake-up hint after each commit, with its poll
//! interval as the safety net.
//!
//! While the store or the bus is away the relay tries again, less often the longer it
//! fails (up to every [`MAX_PAUSE`]), and says so once, then once a minute, then when it
//! publishes again ([`FailureStreak`]).

use crate::shutdown::Shutdown;
use crate::subjects;
use claims_adapters::bus::{BusError, Message, MessageBus};
use claims_adapters::event_store::{
    EventStore, LogPosition, LogSubscription, RecordedEvent, StoreError,
};
use claims_adapters::failure_streak::FailureStreak;
use claims_adapters::log_failure;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// The checkpoint name of the relay.
pub const CHECKPOINT: &str = "relay";

/// How often the relay stores its checkpoint at most. Storing it after every page cost
/// PostgreSQL a committed transaction per page, and at a steady 1,000 claims/s pages hold
/// an event or two; a crash now publishes at most this much again, which the bus drops
/// by event id (its window is minutes). An idle relay still stores its last position once
/// this has passed.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// The longest pause before trying again after failures (unless the poll interval is
/// longer): short enough to resume soon after the store or the bus is back.
pub const MAX_PAUSE: Duration = Duration::from_secs(2);

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
    /// A relay that, once caught up, waits for the store's wake-up hint or `poll_interval`.
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

    /// Relays until shutdown. After a failure it goes back to the stored checkpoint, so
    /// the events of a page that failed half-way are published again (and deduplicated).
    pub async fn run(self, mut shutdown: Shutdown) {
        let mut checkpoint = Checkpoint::default();
        let mut streak = FailureStreak::new(self.poll_interval, MAX_PAUSE);
        while !shutdown.is_triggered() {
            let after = match self.store.load_checkpoint(CHECKPOINT).await {
                Ok(after) => after,
                Err(error) => {
                    self.pause_after(&RelayError::from(error), &mut streak, &mut shutdown)
                        .await;
                    continue;
                }
            };
            let mut subscription = LogSubscription::after(self.store.clone(), after)
                .with_page_size(self.batch_size)
                .with_poll_interval(self.poll_interval);
            let error = tokio::select! {
                error = self.follow(&mut subscription, &mut checkpoint, &mut streak) => error,
                () = shutdown.wait() => break,
            };
            self.pause_after(&error, &mut streak, &mut shutdown).await;
        }
        // What was published is recorded before the relay stops, so a restart does not
        // publish it again.
        if let Some(position) = checkpoint.unsaved()
            && let Err(error) = self.store.save_checkpoint(CHECKPOINT, position).await
        {
            warn!(%error, "the relay's checkpoint could not be saved at shutdown; its last page will be published again (and deduplicated)");
        }
    }

    /// Publishes page after page; returns only with the error that stopped it.
    ///
    /// A page's position is stored while the next page is awaited, not before, and no
    /// sooner than [`CHECKPOINT_EVERY`] after the last one: the checkpoint's commit is off
    /// the path from an event's commit to its publication. The checkpoint still never
    /// passes an event not yet published; a crash before it is stored publishes those
    /// pages again, and the bus drops the repeats by event id.
    async fn follow(
        &self,
        subscription: &mut LogSubscription,
        checkpoint: &mut Checkpoint,
        streak: &mut FailureStreak,
    ) -> RelayError {
        let mut saved_at = Instant::now();
        loop {
            let unsaved = checkpoint.unsaved();
            let due_at = saved_at + CHECKPOINT_EVERY;
            let due = unsaved.filter(|_| Instant::now() >= due_at);
            let save = async {
                match due {
                    Some(position) => self.store.save_checkpoint(CHECKPOINT, position).await,
                    None => Ok(()),
                }
            };
            // A position waiting to fall due bounds the wait for the next page, so an idle
            // relay still stores it (`next_page` is cancel-safe).
            let waiting = unsaved.is_some() && due.is_none();
            let next_page = async {
                if waiting {
                    tokio::time::timeout_at(due_at, subscription.next_page())
                        .await
                        .ok()
                } else {
                    Some(subscription.next_page().await)
                }
            };
            let (saved, page) = tokio::join!(save, next_page);
            if let Err(error) = saved {
                return error.into();
            }
            if let Some(position) = due {
                checkpoint.saved = Some(position);
                saved_at = Instant::now();
            }
            let page = match page {
                None => continue,
                Some(Ok(page)) => page,
                Some(Err(error)) => return error.into(),
            };
            match self.publish(&page).await {
                Ok(last) => checkpoint.published = last.or(checkpoint.published),
                Err(error) => return error,
            }
            if !page.is_empty()
                && let Some(ended) = streak.succeeded()
            {
                info!(failures = ended.failures, failed_for = ?ended.lasted, "the relay publishes again");
            }
        }
    }

    /// Publishes a page in log order; returns the position of its last event.
    async fn publish(&self, events: &[RecordedEvent]) -> Result<Option<LogPosition>, RelayError> {
        let Some(last) = events.last().map(|event| event.position) else {
            return Ok(None);
        };
        let messages = events
            .iter()
            .map(|event| {
                Ok(
                    Message::new(subjects::event(event), serde_json::to_vec(event)?)
                        .with_id(event.id.to_string())
                        .with_header("Content-Type", "application/json"),
                )
            })
            .collect::<Result<Vec<_>, serde_json::Error>>()?;
        // In log order, all on their way before the first is confirmed: a page costs one
        // round trip to the bus, not one per event.
        self.bus.publish_all(messages).await?;
        debug!(count = events.len(), %last, "relayed events");
        Ok(Some(last))
    }

    async fn pause_after(
        &self,
        error: &RelayError,
        streak: &mut FailureStreak,
        shutdown: &mut Shutdown,
    ) {
        let (say, pause) = streak.failed();
        log_failure!(say, (%error),
            first: "relay failed; resuming from its checkpoint (said again every minute while it fails)",
            still: "relay still failing; resuming from its checkpoint",
            again: "relay failed again");
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = shutdown.wait() => {}
        }
    }
}

/// How far the relay has published, and how far it has recorded that.
#[derive(Debug, Default, Clone, Copy)]
struct Checkpoint {
    published: Option<LogPosition>,
    saved: Option<LogPosition>,
}

impl Checkpoint {
    /// The position published and not yet stored, if any.
    fn unsaved(&self) -> Option<LogPosition> {
        self.published
            .filter(|published| Some(*published) != self.saved)
    }
}
