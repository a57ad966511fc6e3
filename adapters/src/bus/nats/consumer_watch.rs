//! Keeping each declared work queue's consumer on the server.
//!
//! A queue's durable consumer holds its place in the stream and which deliveries are still
//! unacknowledged. Deleted on the server (an operator's `nats consumer rm`, a server
//! restored without its consumers), the queue would stop: every pull fails, and the work
//! waits for someone to restart the engine. So when the server announces that a consumer
//! of the stream was deleted (an advisory every process hears), or a worker's pull fails,
//! the process asks the server whether the queue's consumer is still there (at most once
//! a second), and declares a missing one again.
//!
//! It looks only on such a sign, not on a timer: a consumer's info makes nats-server
//! 2.9 count the queue's pending messages, and asked every second for every queue under a
//! backlog of 20,000 claims it slowed the server enough to answer fetches late and to
//! cost several times the processor time per claim (`docs/benchmarks.md`).
//!
//! The server has forgotten what was acknowledged, so the new consumer starts from the
//! oldest message this process still has unfinished: one a worker holds, or one handed
//! back for a later attempt until that attempt is due and its `ack_wait` has passed; with
//! none, just after the newest message delivered here. Every message published since, and
//! every one this process had not finished, is delivered again (as a first attempt); what
//! this process or another finished after that point comes again too, which the engine's
//! idempotent consumers absorb.
//!
//! Several processes share a queue, and the first to look declares the consumer for all.
//! A message that only another process held may lie before that start. So every process
//! also looks when the server announces that one of its queues' consumers was deleted or
//! created (JetStream's advisories, which every process hears), and when it hands a
//! message back (at most every ten seconds: an advisory is not stored, and a process
//! reconnecting at that moment misses it). Whenever it finds the consumer declared
//! again from after a message it has not finished, it replaces that consumer with one
//! starting from its oldest: a consumer's start only ever moves back, so the processes
//! agree after at most one replacement each, and nothing any of them left unfinished is
//! skipped. A worker's hand-back of a delivery of the consumer that is gone is not sent:
//! it would reach the consumer declared in its place, whose start covers the message. A
//! process killed in the same seconds leaves nobody to speak for its messages: that gap
//! is left.

use super::NatsBusError;
use super::Shared;
use super::queue::consumer_config;
use crate::bus::WorkQueueSpec;
use crate::failure_streak::FailureStreak;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::consumer::{self, DeliverPolicy};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::stream::{ConsumerCreateStrictErrorKind, ConsumerErrorKind};
use futures::StreamExt;
use futures::stream::BoxStream;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The least time between two looks at a queue's consumer: pulls fail every half second
/// while the server is away, and each look is a request to it.
const LOOK_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// The least time between two looks for messages handed back. A consumer's info costs
/// nats-server 2.9 a count of the queue's pending messages, and a busy engine hands back
/// many messages (a conflict, a store outage); a handed-back message counts as unfinished
/// for a whole `ack_wait`, so one look in that time is enough for it.
const LOOK_AFTER_HANDING_BACK_AT_MOST_EVERY: Duration = Duration::from_secs(10);

/// A process's watches, by queue name, each with the task that looks at the consumer.
pub(super) type Watches = HashMap<String, (Arc<Watched>, JoinHandle<()>)>;

/// One queue's watch in a process: what its workers have unfinished, and the signal to
/// look at its consumer.
pub(super) struct Watched {
    unfinished: Mutex<Unfinished>,
    look: Notify,
    /// When a handed-back message last asked for a look.
    looked_after_handing_back: Mutex<Option<Instant>>,
    /// Counts the consumers this process found gone or replaced: a delivery made before
    /// the count moved came from a consumer that no longer exists.
    generation: AtomicU64,
}

/// The messages of a queue this process has not finished, by stream sequence.
struct Unfinished {
    /// Each with the time until which it counts: its `ack_wait` while a worker holds it,
    /// the end of the next attempt's `ack_wait` once it was handed back. By then the
    /// server has given it to some worker again, whose process counts it.
    held: BTreeMap<u64, Instant>,
    /// Every message up to this sequence was delivered here or settled before.
    through: u64,
}

impl Watched {
    /// A worker holds the message at `sequence` until `until` (delivered, or said to be
    /// in progress), or it was handed back and its next attempt ends by then.
    pub(super) fn hold(&self, sequence: u64, until: Instant) {
        let mut unfinished = self.unfinished();
        unfinished.held.insert(sequence, until);
        unfinished.through = unfinished.through.max(sequence);
    }

    /// The message at `sequence` is acknowledged or dead-lettered.
    pub(super) fn finished(&self, sequence: u64) {
        self.unfinished().held.remove(&sequence);
    }

    /// A pull failed, or the server announced a change: is the consumer still there, and
    /// does it still cover everything unfinished here?
    pub(super) fn look(&self) {
        self.look.notify_one();
    }

    /// A message was handed back: another process may have declared the consumer again
    /// from after it, without a pull of this process failing. Looks, but not more often
    /// than [`LOOK_AFTER_HANDING_BACK_AT_MOST_EVERY`].
    pub(super) fn handed_back(&self) {
        let mut looked = self
            .looked_after_handing_back
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if looked.is_none_or(|at| at.elapsed() >= LOOK_AFTER_HANDING_BACK_AT_MOST_EVERY) {
            *looked = Some(Instant::now());
            self.look();
        }
    }

    /// The consumer's generation as this process knows it (see [`Self::orphaned`]).
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Whether a delivery made in `generation` came from a consumer since gone. A nak
    /// for it would reach the consumer declared in its place, which has that message
    /// pending under a delivery of its own: it would deliver it once more while a worker
    /// has it. The new consumer's start covers the message anyway.
    pub(super) fn orphaned(&self, generation: u64) -> bool {
        self.generation() != generation
    }

    /// The consumer is gone, or about to be: what was delivered so far came from it.
    fn orphan_outstanding(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The oldest message this process has not finished, if any.
    fn oldest_unfinished(&self) -> Option<u64> {
        let now = Instant::now();
        let mut unfinished = self.unfinished();
        unfinished.held.retain(|_, until| *until > now);
        unfinished.held.keys().next().copied()
    }

    /// Where a consumer declared again must start so that nothing this process has
    /// unfinished, and nothing it was not yet given, is skipped.
    fn resume_from(&self) -> u64 {
        let now = Instant::now();
        let mut unfinished = self.unfinished();
        unfinished.held.retain(|_, until| *until > now);
        let next = unfinished.through.saturating_add(1);
        unfinished
            .held
            .keys()
            .next()
            .map_or(next, |oldest| (*oldest).min(next))
    }

    fn unfinished(&self) -> std::sync::MutexGuard<'_, Unfinished> {
        self.unfinished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The watch of `spec`'s queue in this process, started on its first declaration here;
/// `declared` is the consumer as that declaration found it.
pub(super) fn watch(
    shared: &Arc<Shared>,
    spec: &Arc<WorkQueueSpec>,
    declared: &consumer::Info,
) -> Arc<Watched> {
    let mut watches = shared
        .watches
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some((watched, task)) = watches.get(&spec.name)
        && !task.is_finished()
    {
        return watched.clone();
    }
    // A consumer that delivered but never acknowledged anything holds every message it
    // was given as unfinished, so it would start again from the stream's first.
    let watched = Arc::new(Watched {
        unfinished: Mutex::new(Unfinished {
            held: BTreeMap::new(),
            through: settled_through(declared).unwrap_or(0),
        }),
        look: Notify::new(),
        looked_after_handing_back: Mutex::new(None),
        generation: AtomicU64::new(0),
    });
    let task = tokio::spawn(keep(Arc::downgrade(shared), spec.clone(), watched.clone()));
    watches.insert(spec.name.clone(), (watched.clone(), task));
    watched
}

/// The server's advisories that a consumer of `stream` was created or deleted, heard by
/// every process (not as a queue group): each looks at its own queues.
pub(super) async fn subscribe_to_changes(
    client: &async_nats::Client,
    stream: &str,
) -> Result<BoxStream<'static, async_nats::Message>, NatsBusError> {
    let mut changes = Vec::new();
    for change in ["CREATED", "DELETED"] {
        let subject = format!("$JS.EVENT.ADVISORY.CONSUMER.{change}.{stream}.*");
        let heard = client
            .subscribe(subject.clone())
            .await
            .map_err(|source| NatsBusError::Advisories { subject, source })?;
        changes.push(heard);
    }
    Ok(futures::stream::select_all(changes).boxed())
}

/// Asks the watch of the queue an advisory names to look at its consumer, until the bus
/// is dropped.
pub(super) async fn listen(
    shared: Weak<Shared>,
    mut changes: BoxStream<'static, async_nats::Message>,
) {
    while let Some(change) = changes.next().await {
        let Some(shared) = shared.upgrade() else {
            break;
        };
        // `$JS.EVENT.ADVISORY.CONSUMER.<change>.<stream>.<consumer>`
        let Some(consumer) = change.subject.as_str().rsplit('.').next() else {
            continue;
        };
        let watches = shared
            .watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((watched, _)) = watches.get(consumer) {
            tracing::debug!(queue = consumer, advisory = %change.subject, "the work queue's consumer changed on the server; looking at it");
            watched.look();
        }
    }
}

/// Looks at the consumer whenever a worker's pull fails, until the bus shuts down or is
/// dropped.
async fn keep(shared: Weak<Shared>, spec: Arc<WorkQueueSpec>, watched: Arc<Watched>) {
    let Some(mut shutdown) = shared.upgrade().map(|shared| shared.shutdown.subscribe()) else {
        return;
    };
    let mut failing = FailureStreak::new(LOOK_AT_MOST_EVERY, LOOK_AT_MOST_EVERY);
    loop {
        tokio::select! {
            () = watched.look.notified() => {}
            changed = shutdown.changed() => if changed.is_err() { return },
        }
        if *shutdown.borrow() {
            return;
        }
        let Some(strong) = shared.upgrade() else {
            return;
        };
        look(&strong, &spec, &watched, &mut failing).await;
        drop(strong);
        tokio::select! {
            () = tokio::time::sleep(LOOK_AT_MOST_EVERY) => {}
            changed = shutdown.changed() => if changed.is_err() { return },
        }
    }
}

/// Asks the server for the queue's consumer and declares it again if it is gone.
async fn look(
    shared: &Shared,
    spec: &WorkQueueSpec,
    watched: &Watched,
    failing: &mut FailureStreak,
) {
    match shared.stream.consumer_info(&spec.name).await {
        Ok(info) => {
            if let Some(oldest) = skips_unfinished(&info, watched) {
                let skipped_from = start_sequence(&info).unwrap_or_default();
                watched.orphan_outstanding();
                match replace(shared, spec, oldest).await {
                    Ok(()) => {
                        shared.redeclared.send_modify(|count| *count += 1);
                        tracing::warn!(queue = %spec.name, from_stream_sequence = oldest, skipped_from, "another process declared the work queue's consumer again from after a message this process has not finished; declared it again from that message (some finished ones may be delivered again)");
                    }
                    Err(error) => {
                        tracing::warn!(queue = %spec.name, %error, "the work queue's consumer starts after a message this process has not finished, and could not be declared again; looking again");
                        watched.look();
                    }
                }
            }
        }
        Err(error) if error.kind() == ConsumerInfoErrorKind::NotFound => {
            watched.orphan_outstanding();
            match declare_again(shared, spec, watched.resume_from()).await {
                Ok(declared) => {
                    // Here or by another process: either way this process's workers ask
                    // the new consumer rather than wait on the deleted one.
                    shared.redeclared.send_modify(|count| *count += 1);
                    match declared {
                        Some(start) => {
                            tracing::warn!(queue = %spec.name, from_stream_sequence = start, "the work queue's consumer was gone from the NATS server; declared it again from the oldest message this process had not finished (some finished ones may be delivered again)")
                        }
                        None => {
                            tracing::warn!(queue = %spec.name, "the work queue's consumer was gone from the NATS server; another process declared it again");
                            // From where that process saw fit: look whether it covers
                            // what this one has unfinished.
                            watched.look();
                        }
                    }
                }
                Err(error) => {
                    let queue = &spec.name;
                    crate::log_failure!(failing.failed().0, (%queue, %error),
                        first: "the work queue's consumer is gone from the NATS server and could not be declared again; retrying (said again every minute while it fails)",
                        still: "the work queue's consumer is still gone from the NATS server",
                        again: "declaring the work queue's consumer again failed");
                    return;
                }
            }
        }
        Err(error) if error.kind() == ConsumerInfoErrorKind::StreamNotFound => {
            // Not re-created here: the relay's checkpoint says its events were published,
            // so what the stream held is lost to the queues either way, and that needs a
            // person, not a silent new stream.
            let (queue, stream) = (&spec.name, &shared.config.stream);
            crate::log_failure!(failing.failed().0, (%queue, %stream),
                first: "the NATS stream is gone: nothing can be pulled or published until it exists again (a restarted engine creates it; what it held is lost); said again every minute while it is gone",
                still: "the NATS stream is still gone",
                again: "the NATS stream is still gone");
            return;
        }
        // The server away: the pullers say so.
        Err(_) => return,
    }
    if let Some(ended) = failing.succeeded() {
        tracing::info!(queue = %spec.name, failures = ended.failures, failed_for = ?ended.lasted, "the work queue's consumer is on the NATS server again");
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

/// The oldest message this process has unfinished, when the queue's consumer was declared
/// again from after it: that consumer will never deliver it. A consumer declared from a
/// start delivers nothing before it, so a message held here from before that start came
/// from the consumer it replaced. The engine's own first declaration has no start.
fn skips_unfinished(info: &consumer::Info, watched: &Watched) -> Option<u64> {
    let start = start_sequence(info)?;
    watched.oldest_unfinished().filter(|oldest| *oldest < start)
}

fn start_sequence(info: &consumer::Info) -> Option<u64> {
    match info.config.deliver_policy {
        DeliverPolicy::ByStartSequence { start_sequence } => Some(start_sequence),
        _ => None,
    }
}

/// Deletes the queue's consumer and declares it again from `start`. Workers of every
/// process holding its deliveries find out as the consumer's deletion fails their pulls;
/// what they finish meanwhile comes again, which the engine absorbs.
async fn replace(shared: &Shared, spec: &WorkQueueSpec, start: u64) -> Result<(), String> {
    if let Err(error) = shared.stream.delete_consumer(&spec.name).await {
        let gone = matches!(error.kind(), ConsumerErrorKind::JetStream(refused)
            if refused.error_code() == ErrorCode::CONSUMER_NOT_FOUND);
        // Deleted meanwhile by someone else: declaring it is all that is left to do.
        if !gone {
            return Err(error.to_string());
        }
    }
    match declare_again(shared, spec, start).await? {
        Some(_) => Ok(()),
        // Another process declared it first: the next look compares its start.
        None => Err("another process declared the consumer first".to_owned()),
    }
}

/// Declares the queue's consumer again, from stream sequence `start`; `None` when another
/// process got there first.
async fn declare_again(
    shared: &Shared,
    spec: &WorkQueueSpec,
    mut start: u64,
) -> Result<Option<u64>, String> {
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
