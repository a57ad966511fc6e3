//! Keeping each declared work queue's consumer on the server.
//!
//! A queue's durable consumer holds its place in the stream and which deliveries are still
//! unacknowledged. Deleted on the server (an operator's `nats consumer rm`, a server
//! restored without its consumers), the queue would stop: every pull fails, and the work
//! waits for someone to restart the engine. So each process watches the consumer of every
//! queue it declared, once every [`WATCH_EVERY`], and declares a missing one again.
//!
//! The server has forgotten what was acknowledged, so the new consumer starts just after
//! the acknowledgement floor last seen, which is at most [`WATCH_EVERY`] old: every
//! message unacknowledged when the consumer went, and every one published since, is
//! delivered (as a first attempt). What was acknowledged between the last look and the
//! deletion is delivered again, which the engine's idempotent consumers absorb.

use super::Shared;
use super::queue::consumer_config;
use crate::bus::WorkQueueSpec;
use crate::failure_streak::FailureStreak;
use async_nats::jetstream::consumer::{self, DeliverPolicy};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::stream::ConsumerCreateStrictErrorKind;
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

/// How often a process looks at each of its queues' consumers: how long a deleted one
/// stops its queue, and how much acknowledged work it may deliver again.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Starts watching the consumer of `spec`'s queue, unless this process already does;
/// `declared` is the consumer as the declaration found it.
pub(super) fn watch(shared: &Arc<Shared>, spec: &Arc<WorkQueueSpec>, declared: &consumer::Info) {
    let mut watches = shared
        .watches
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    watches.retain(|_, watch| !watch.is_finished());
    if !watches.contains_key(&spec.name) {
        // A consumer that delivered but never acknowledged anything holds every message
        // it was given as unfinished, so it starts again from the stream's first.
        let floor = settled_through(declared).unwrap_or(0);
        let watch = tokio::spawn(keep(Arc::downgrade(shared), spec.clone(), floor));
        watches.insert(spec.name.clone(), watch);
    }
}

/// Looks at the consumer every [`WATCH_EVERY`] until the bus shuts down or is dropped.
async fn keep(shared: Weak<Shared>, spec: Arc<WorkQueueSpec>, mut floor: u64) {
    let Some(mut shutdown) = shared.upgrade().map(|shared| shared.shutdown.subscribe()) else {
        return;
    };
    let mut failing = FailureStreak::new(WATCH_EVERY, WATCH_EVERY);
    loop {
        tokio::select! {
            () = tokio::time::sleep(WATCH_EVERY) => {}
            changed = shutdown.changed() => if changed.is_err() { return },
        }
        if *shutdown.borrow() {
            return;
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match shared.stream.consumer_info(&spec.name).await {
            // The floor never goes back, and the one seen last is the safest start.
            Ok(info) => floor = floor.max(settled_through(&info).unwrap_or(floor)),
            Err(error) if error.kind() == ConsumerInfoErrorKind::NotFound => {
                match declare_again(&shared, &spec, floor).await {
                    Ok(declared) => {
                        // Here or by another process: either way this process's workers
                        // ask the new consumer rather than wait on the deleted one.
                        shared.redeclared.send_modify(|count| *count += 1);
                        if let Some(start) = declared {
                            tracing::warn!(queue = %spec.name, from_stream_sequence = start, "the work queue's consumer was gone from the NATS server; declared it again (messages acknowledged in the last second before it went may be delivered again)");
                        }
                    }
                    Err(error) => {
                        let queue = &spec.name;
                        crate::log_failure!(failing.failed().0, (%queue, %error),
                            first: "the work queue's consumer is gone from the NATS server and could not be declared again; retrying (said again every minute while it fails)",
                            still: "the work queue's consumer is still gone from the NATS server",
                            again: "declaring the work queue's consumer again failed");
                        continue;
                    }
                }
            }
            Err(error) if error.kind() == ConsumerInfoErrorKind::StreamNotFound => {
                // Not re-created here: the relay's checkpoint says its events were
                // published, so what the stream held is lost to the queues either way,
                // and that needs a person, not a silent new stream.
                let (queue, stream) = (&spec.name, &shared.config.stream);
                crate::log_failure!(failing.failed().0, (%queue, %stream),
                    first: "the NATS stream is gone: nothing can be pulled or published until it exists again (a restarted engine creates it; what it held is lost); said again every minute while it is gone",
                    still: "the NATS stream is still gone",
                    again: "the NATS stream is still gone");
                continue;
            }
            // The server away: the pullers say so.
            Err(_) => continue,
        }
        if let Some(ended) = failing.succeeded() {
            tracing::info!(queue = %spec.name, failures = ended.failures, failed_for = ?ended.lasted, "the work queue's consumer is on the NATS server again");
        }
    }
}

/// The stream sequence through which the consumer has nothing unfinished: its
/// acknowledgement floor once it acknowledged something; before it delivered anything, the
/// last message before its start (the server's floor is then 0, which would take in the
/// whole stream); unknown while it has delivered messages and acknowledged none.
fn settled_through(info: &consumer::Info) -> Option<u64> {
    if info.ack_floor.consumer_sequence > 0 {
        Some(info.ack_floor.stream_sequence)
    } else if info.delivered.consumer_sequence == 0 {
        Some(info.delivered.stream_sequence)
    } else {
        None
    }
}

/// Declares the queue's consumer again, from just after `floor`; `None` when another
/// process got there first.
async fn declare_again(
    shared: &Shared,
    spec: &WorkQueueSpec,
    floor: u64,
) -> Result<Option<u64>, String> {
    let mut start = floor.saturating_add(1);
    // A stream deleted and created again numbers its messages from 1: a floor beyond its
    // end belongs to the old one, and every message here is new to the queue.
    let stream = shared
        .jetstream
        .get_stream(&shared.config.stream)
        .await
        .map_err(|error| error.to_string())?;
    let state = &stream.cached_info().state;
    if start > state.last_sequence.saturating_add(1) {
        start = state.first_sequence;
    }
    let config = consumer::pull::Config {
        deliver_policy: DeliverPolicy::ByStartSequence {
            start_sequence: start,
        },
        ..consumer_config(&shared.config, spec)
    };
    match stream.create_consumer_strict(config).await {
        Ok(_) => Ok(Some(start)),
        Err(error) if error.kind() == ConsumerCreateStrictErrorKind::AlreadyExists => Ok(None),
        Err(error) => Err(error.to_string()),
    }
}
