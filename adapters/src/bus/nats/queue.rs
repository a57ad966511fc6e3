//! Work queues on NATS: a durable pull consumer per queue, one message per pull, and the
//! acker that turns a worker's answer into ack, nak, term and dead letters.

use super::arrivals::ArrivalRate;
use super::consumer_watch::{self, Watched};
use super::{NatsBusConfig, Shared, dead_letter};
use crate::bus::{Acker, BusError, Delivery, Message, WorkQueue, WorkQueueSpec};
use crate::failure_streak::FailureStreak;
use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{self, AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::message::AckKind;
use async_nats::jetstream::stream::ConsumerCreateStrictErrorKind;
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// How long one pull request waits on the server for a message before it is renewed. It
/// also bounds how long a stopping worker listens for a message its last request may still
/// bring (see [`NatsWorkQueue::hand_back_outstanding`]).
const PULL_EXPIRY: Duration = Duration::from_secs(3);
/// How long to wait before pulling again after the server or the connection failed.
const RETRY_AFTER: Duration = Duration::from_millis(500);
/// How long a batch in hand waits for the next message of its `no_wait` fetch, or for the
/// fetch's end. The server answers such a fetch within a round trip, but it can also leave
/// one open without sending anything: when what it counted as pending goes to another
/// worker's request first, or when the consumer already has all the unacknowledged
/// deliveries it allows (`bus_contract.rs` shows the second); and a busy machine answers
/// late. The server gives no way to end that request early, and a server-side expiry
/// would make every fetch that finds nothing pending wait it out; so the worker stops
/// waiting and lets the fetch run in the background: what it brings comes with the
/// worker's next calls. (Until 2026-12-07 it was handed back to the server, which spends
/// an attempt: on a slow machine under a backlog, claims were dead-lettered after five
/// such hand-backs without ever being looked at.)
const FETCH_PATIENCE: Duration = Duration::from_millis(100);

/// Declares (or re-opens) a work queue: its consumer is created on first declaration and
/// must match the spec on every later one.
pub(super) async fn declare(
    shared: &Arc<Shared>,
    spec: WorkQueueSpec,
) -> Result<Box<dyn WorkQueue>, BusError> {
    shared.ensure_running()?;
    ensure_captured(shared, &spec)?;
    let consumer = match existing(shared, &spec).await? {
        Some(consumer) => consumer,
        None => create(shared, &spec).await?,
    };
    let spec = Arc::new(spec);
    let watched = consumer_watch::watch(shared, &spec, consumer.cached_info());
    let (strays_in, strays) = mpsc::unbounded_channel();
    Ok(Box::new(NatsWorkQueue {
        shared: shared.clone(),
        spec,
        consumer,
        pull: None,
        pending: 0,
        arrivals: ArrivalRate::default(),
        connections: shared.connections.subscribe(),
        redeclared: shared.redeclared.subscribe(),
        failing: FailureStreak::new(RETRY_AFTER, RETRY_AFTER),
        strays,
        strays_in,
        watched,
        pull_overdue: None,
    }))
}

/// A queue whose subjects the stream does not store would never receive anything, and a
/// dead letter outside it would not be kept: both are configuration errors.
fn ensure_captured(shared: &Shared, spec: &WorkQueueSpec) -> Result<(), BusError> {
    let stream_subjects = &shared.config.subjects;
    for pattern in &spec.subjects {
        if !stream_subjects.iter().any(|outer| outer.covers(pattern)) {
            return Err(BusError::InvalidSubject {
                subject: pattern.to_string(),
                reason: "the NATS bus's stream does not capture these subjects; add them to its configuration",
            });
        }
    }
    if !shared.captures(&spec.dead_letter) {
        return Err(BusError::InvalidSubject {
            subject: spec.dead_letter.to_string(),
            reason: "the NATS bus's stream does not capture this dead-letter subject; add it to its configuration",
        });
    }
    Ok(())
}

/// The consumer a spec asks for, filtering on the subjects as they travel on the wire.
pub(super) fn consumer_config(config: &NatsBusConfig, spec: &WorkQueueSpec) -> pull::Config {
    let mut filters: Vec<String> = spec
        .subjects
        .iter()
        .map(|pattern| config.on_wire(pattern.as_str()))
        .collect();
    let (filter_subject, filter_subjects) = if filters.len() == 1 {
        (filters.remove(0), Vec::new())
    } else {
        (String::new(), filters)
    };
    pull::Config {
        durable_name: Some(spec.name.clone()),
        description: Some(dead_letter::describe(&spec.name, &spec.dead_letter)),
        deliver_policy: DeliverPolicy::New,
        ack_policy: AckPolicy::Explicit,
        ack_wait: spec.ack_wait,
        max_deliver: i64::from(max_deliveries(spec)),
        filter_subject,
        filter_subjects,
        ..pull::Config::default()
    }
}

/// Deliveries allowed per message; a spec of 0 still allows the first, as in process.
fn max_deliveries(spec: &WorkQueueSpec) -> u32 {
    spec.max_deliveries.max(1)
}

/// The subjects a consumer filters on, in either of the server's two fields.
fn filters(filter_subject: &str, filter_subjects: &[String]) -> BTreeSet<String> {
    filter_subjects
        .iter()
        .cloned()
        .chain(Some(filter_subject.to_owned()).filter(|subject| !subject.is_empty()))
        .collect()
}

/// True when the server's consumer is the queue the spec describes.
fn matches(config: &NatsBusConfig, spec: &WorkQueueSpec, actual: &consumer::Config) -> bool {
    let wanted = consumer_config(config, spec);
    actual.description == wanted.description
        && actual.ack_wait == wanted.ack_wait
        && actual.max_deliver == wanted.max_deliver
        && actual.ack_policy == AckPolicy::Explicit
        && filters(&actual.filter_subject, &actual.filter_subjects)
            == filters(&wanted.filter_subject, &wanted.filter_subjects)
}

fn invalid_name(spec: &WorkQueueSpec) -> BusError {
    BusError::InvalidSubject {
        subject: spec.name.clone(),
        reason: "a work queue's name on NATS cannot contain whitespace, `.`, `*`, `>`, `/` or `\\`",
    }
}

/// The queue's consumer if it exists and matches the spec.
async fn existing(shared: &Shared, spec: &WorkQueueSpec) -> Result<Option<PullConsumer>, BusError> {
    match shared.stream.consumer_info(&spec.name).await {
        Ok(info) if matches(&shared.config, spec, &info.config) => {
            let consumer = shared
                .stream
                .get_consumer::<pull::Config>(&spec.name)
                .await
                .map_err(|error| unavailable(spec, &error))?;
            Ok(Some(consumer))
        }
        Ok(_) => Err(BusError::QueueMismatch(spec.name.clone())),
        Err(error) if error.kind() == ConsumerInfoErrorKind::NotFound => Ok(None),
        Err(error) if error.kind() == ConsumerInfoErrorKind::InvalidName => Err(invalid_name(spec)),
        Err(error) => Err(unavailable(spec, &error)),
    }
}

/// Creates the queue's consumer; a process that raced us to it must have declared the
/// same spec.
async fn create(shared: &Shared, spec: &WorkQueueSpec) -> Result<PullConsumer, BusError> {
    let created = match shared
        .stream
        .create_consumer_strict(consumer_config(&shared.config, spec))
        .await
    {
        Ok(consumer) => consumer,
        Err(error) if error.kind() == ConsumerCreateStrictErrorKind::AlreadyExists => {
            return existing(shared, spec)
                .await?
                .ok_or_else(|| BusError::QueueMismatch(spec.name.clone()));
        }
        Err(error) if error.kind() == ConsumerCreateStrictErrorKind::InvalidName => {
            return Err(invalid_name(spec));
        }
        Err(error) => return Err(unavailable(spec, &error)),
    };
    if !matches(&shared.config, spec, &created.cached_info().config) {
        // A server older than 2.10 ignores `filter_subjects` and would feed this queue
        // every subject of the stream; take the consumer away again.
        if let Err(error) = shared.stream.delete_consumer(&spec.name).await {
            tracing::warn!(queue = %spec.name, %error, "could not remove a consumer the server set up wrongly");
        }
        return Err(BusError::Unavailable(format!(
            "the NATS server did not set up work queue {} as asked (a queue on several subjects needs server 2.10 or later)",
            spec.name
        )));
    }
    tracing::info!(queue = %spec.name, subjects = ?spec.subjects, "work queue declared");
    Ok(created)
}

fn unavailable(spec: &WorkQueueSpec, error: &dyn std::fmt::Display) -> BusError {
    BusError::Unavailable(format!("work queue {}: {error}", spec.name))
}

/// A worker's handle on a work queue.
struct NatsWorkQueue {
    shared: Arc<Shared>,
    spec: Arc<WorkQueueSpec>,
    consumer: PullConsumer,
    /// The outstanding one-message pull request, kept across cancelled calls to
    /// [`WorkQueue::next`] so that a message the server sends for it is not lost. (A call
    /// cancelled while the request itself is being sent can still orphan it; the server
    /// then redelivers its message after `ack_wait`.)
    pull: Option<pull::Batch>,
    /// How many more messages the consumer held when the last one pulled was sent.
    pending: u64,
    /// How fast this worker takes messages: whether a batch's linger can gather any.
    arrivals: ArrivalRate,
    /// The client's connection count, seen as of the outstanding pull request.
    connections: watch::Receiver<u64>,
    /// The consumers declared again here, seen as of the outstanding pull request.
    redeclared: watch::Receiver<u64>,
    /// Pull requests failed in a row (the server away, say): said once, once a minute
    /// and when pulls work again, not at every retry.
    failing: FailureStreak,
    /// What a request left to run in the background brought while the worker runs,
    /// delivered by its next calls before anything pulled later ([`Self::let_run`]).
    strays: mpsc::UnboundedReceiver<Stray>,
    strays_in: mpsc::UnboundedSender<Stray>,
    /// What this process has of the queue unfinished, and whom to tell a pull failed.
    watched: Arc<Watched>,
    /// When the outstanding pull request is overdue if the server has not ended it.
    pull_overdue: Option<Instant>,
}

/// A message a request left to run in the background brought, with when it came: the
/// server counts its `ack_wait` from then, not from when a worker takes it.
struct Stray {
    message: async_nats::jetstream::Message,
    arrived: Instant,
}

/// What becomes of what a request left to run in the background brings.
#[derive(Clone, Copy)]
enum Then {
    /// The worker's next calls deliver it.
    Keep,
    /// It goes back to the server at once: the worker is stopping.
    HandBack,
}

/// What a worker waiting on its pull request got.
enum Pulled {
    /// The request's answer: a message, an error, or its end.
    Own(Option<Result<async_nats::jetstream::Message, async_nats::Error>>),
    /// A message an earlier request, left to run in the background, brought.
    Stray(Stray),
    /// The request went out on a connection since lost, or to a consumer since deleted.
    Stale,
    /// The request is past its expiry and the server has not said so.
    Overdue,
}

#[async_trait]
impl WorkQueue for NatsWorkQueue {
    async fn next(&mut self) -> Option<Delivery> {
        let mut shutdown = self.shared.shutdown.subscribe();
        loop {
            if *shutdown.borrow_and_update() {
                self.hand_back_outstanding();
                return None;
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                pulled = self.pull_one() => {
                    if let Some(delivery) = pulled {
                        return Some(delivery);
                    }
                }
            }
        }
    }

    /// One message as [`WorkQueue::next`] waits for it, then one `no_wait` fetch for the
    /// rest: the server sends what the consumer has pending right away, up to the number
    /// asked, and says when it has no more, so the batch costs one more round trip and
    /// never waits for messages still to come (nor holds them in this worker's buffer
    /// while other workers idle).
    async fn next_batch(&mut self, max: usize) -> Vec<Delivery> {
        let Some(first) = self.next().await else {
            return Vec::new();
        };
        let batch = self.rest_of_batch(first, max).await;
        self.arrivals
            .observe(batch.len(), std::time::Instant::now());
        batch
    }
}

impl NatsWorkQueue {
    /// The batch `first` opens: what the consumer has pending, after the linger when
    /// messages arrive fast enough for it to gather more.
    async fn rest_of_batch(&mut self, first: Delivery, max: usize) -> Vec<Delivery> {
        let mut batch = vec![first];
        let wanted = max.saturating_sub(1);
        if wanted == 0 || self.shared.is_shut_down() {
            return batch;
        }
        let linger = self.shared.config.batch_linger;
        if !linger.is_zero()
            && self.pending < wanted as u64
            && self.arrivals.worth_lingering(linger)
        {
            // Fewer are waiting than the batch could take, and more arrive often enough:
            // give those trickling in the linger to join it. No pull request is
            // outstanding meanwhile, so what arrives waits in the consumer for the fetch
            // below, or for another worker.
            tokio::time::sleep(linger).await;
        }
        // The expiry bounds the fetch on the server: one it keeps open forever would later
        // send messages to an inbox nobody reads, each then waiting out `ack_wait`.
        let mut fetch = match self
            .consumer
            .fetch()
            .max_messages(wanted)
            .expires(PULL_EXPIRY)
            .messages()
            .await
        {
            Ok(fetch) => fetch,
            Err(error) => {
                // The first message is in hand; the rest wait for the next call.
                tracing::debug!(queue = %self.spec.name, %error, "fetching more messages failed");
                return batch;
            }
        };
        loop {
            match tokio::time::timeout(FETCH_PATIENCE, fetch.next()).await {
                Ok(Some(Ok(message))) => {
                    if let Some(delivery) = self.deliver(message, Instant::now()).await {
                        batch.push(delivery);
                    }
                }
                Ok(Some(Err(error))) => {
                    tracing::debug!(queue = %self.spec.name, %error, "fetching more messages ended early");
                    break;
                }
                Ok(None) => break,
                Err(_) => {
                    // Left open by the server, or slow to answer on a busy machine: what
                    // it still brings comes with this worker's next calls.
                    tracing::debug!(queue = %self.spec.name, waited = ?FETCH_PATIENCE, messages = batch.len(), "the server left a fetch for more messages open; handling the batch in hand");
                    self.let_run(fetch, Then::Keep);
                    break;
                }
            }
        }
        while batch.len() < max {
            let Ok(stray) = self.strays.try_recv() else {
                break;
            };
            if let Some(delivery) = self.deliver(stray.message, stray.arrived).await {
                batch.push(delivery);
            }
        }
        batch
    }

    /// At shutdown, the outstanding pull request may still bring a message that no worker
    /// here will process: the server would count it delivered and hold it until `ack_wait`
    /// (30 s for the engine's queues) before any other worker could have it. So the request
    /// is read out to its end (at most [`PULL_EXPIRY`]) in the background and whatever it
    /// brings is handed back at once, as is what earlier requests brought and no call took;
    /// [`super::NatsBus::handed_back`] waits for that.
    fn hand_back_outstanding(&mut self) {
        if let Some(pull) = self.pull.take() {
            self.let_run(pull, Then::HandBack);
        }
        // Done at an earlier call: the channel left in place of the strays has no sender.
        if self.strays.is_closed() {
            return;
        }
        let (_, none) = mpsc::unbounded_channel();
        let mut strays = std::mem::replace(&mut self.strays, none);
        // Requests still running in the background hand back what they bring from now on.
        strays.close();
        let queue = self.detached();
        let hand_back = tokio::spawn(async move {
            while let Some(stray) = strays.recv().await {
                queue.give_back(stray.message, stray.arrived).await;
            }
        });
        self.shared.track_hand_back(hand_back);
    }

    /// Reads a pull request out in the background (for at most [`PULL_EXPIRY`] and a
    /// little more). What it brings goes to this worker's next calls while the worker
    /// runs ([`Then::Keep`]): handing it back to the server would spend one of the
    /// message's attempts, and a busy machine that keeps answering fetches late would
    /// dead-letter messages no worker ever looked at. At shutdown, and once the worker is
    /// gone, it is handed back at once; [`super::NatsBus::handed_back`] waits for that.
    fn let_run(&self, mut pull: pull::Batch, then: Then) {
        let queue = self.detached();
        let strays = self.strays_in.clone();
        let shutdown = self.shared.shutdown.subscribe();
        let hand_back = tokio::spawn(async move {
            let read_out = async {
                while let Some(pulled) = pull.next().await {
                    let Ok(message) = pulled else { continue };
                    let stray = Stray {
                        message,
                        arrived: Instant::now(),
                    };
                    let stray = match then {
                        Then::Keep if !*shutdown.borrow() => match strays.send(stray) {
                            Ok(()) => continue,
                            // The worker is gone.
                            Err(mpsc::error::SendError(stray)) => stray,
                        },
                        _ => stray,
                    };
                    queue.give_back(stray.message, stray.arrived).await;
                }
            };
            let _ = tokio::time::timeout(PULL_EXPIRY + RETRY_AFTER, read_out).await;
        });
        self.shared.track_hand_back(hand_back);
    }

    /// Hands a message no worker here will process back to the server at once.
    async fn give_back(&self, message: async_nats::jetstream::Message, arrived: Instant) {
        if let Some(delivery) = self.deliver(message, arrived).await
            && let Err(error) = delivery
                .nak(None, "the worker stopped before processing it")
                .await
        {
            tracing::warn!(queue = %self.spec.name, %error, "a message pulled at shutdown could not be handed back; the server redelivers it after ack_wait");
        }
    }

    /// A handle on the same queue for a background task: enough to deliver and hand back.
    fn detached(&self) -> NatsWorkQueue {
        let (strays_in, strays) = mpsc::unbounded_channel();
        NatsWorkQueue {
            shared: self.shared.clone(),
            spec: self.spec.clone(),
            consumer: self.consumer.clone(),
            pull: None,
            pending: 0,
            arrivals: ArrivalRate::default(),
            connections: self.shared.connections.subscribe(),
            redeclared: self.shared.redeclared.subscribe(),
            failing: FailureStreak::new(RETRY_AFTER, RETRY_AFTER),
            strays,
            strays_in,
            watched: self.watched.clone(),
            pull_overdue: None,
        }
    }

    /// Waits for one message from the server, or for the pull request to run out.
    async fn pull_one(&mut self) -> Option<Delivery> {
        // What an earlier request brought in the background goes first: it was in the
        // stream before anything a new request would bring.
        if let Ok(stray) = self.strays.try_recv() {
            return self.deliver(stray.message, stray.arrived).await;
        }
        if self.pull.is_none() {
            match self
                .consumer
                .batch()
                .max_messages(1)
                .expires(PULL_EXPIRY)
                .messages()
                .await
            {
                Ok(batch) => {
                    self.pull = Some(batch);
                    self.pull_overdue = Some(Instant::now() + PULL_EXPIRY + RETRY_AFTER);
                    self.connections.borrow_and_update();
                    self.redeclared.borrow_and_update();
                    if let Some(ended) = self.failing.succeeded() {
                        tracing::info!(queue = %self.spec.name, failures = ended.failures, failed_for = ?ended.lasted, "pulling from the work queue again");
                    }
                }
                Err(error) => {
                    self.pull_failed(error.to_string()).await;
                    return None;
                }
            }
        }
        let pull = self.pull.as_mut()?;
        let overdue = self.pull_overdue;
        let pulled = tokio::select! {
            pulled = pull.next() => Pulled::Own(pulled),
            // The server ends every request at its expiry; one that has not heard even
            // that went to nobody, as it does when the consumer was deleted. The client
            // gives up on it only seconds later.
            () = tokio::time::sleep_until(overdue.unwrap_or_else(Instant::now)), if overdue.is_some() => Pulled::Overdue,
            Some(stray) = self.strays.recv() => Pulled::Stray(stray),
            // The request went out on a connection that has since dropped: a restarted
            // server has forgotten it, and the client would wait out its expiry and five
            // seconds more for an answer that never comes.
            Ok(()) = self.connections.changed() => Pulled::Stale,
            // The same when the request went to a consumer that was deleted on the server
            // and has been declared again (`consumer_watch.rs`).
            Ok(()) = self.redeclared.changed() => Pulled::Stale,
        };
        match pulled {
            // The request stays outstanding for the next call.
            Pulled::Stray(stray) => self.deliver(stray.message, stray.arrived).await,
            Pulled::Overdue => {
                self.pull_overdue = None;
                self.watched.look();
                None
            }
            Pulled::Stale => {
                // Whatever it may still bring comes later; the caller asks again.
                if let Some(pull) = self.pull.take() {
                    self.let_run(pull, Then::Keep);
                }
                None
            }
            Pulled::Own(pulled) => {
                self.pull = None;
                self.pull_overdue = None;
                match pulled {
                    Some(Ok(message)) => {
                        self.pending = message.info().map_or(0, |info| info.pending);
                        self.deliver(message, Instant::now()).await
                    }
                    Some(Err(error)) => {
                        self.pull_failed(error.to_string()).await;
                        None
                    }
                    // The request ran out with nothing to deliver; the caller asks again.
                    None => None,
                }
            }
        }
    }

    async fn pull_failed(&mut self, error: String) {
        // Perhaps its consumer was deleted on the server.
        self.watched.look();
        let queue = &self.spec.name;
        let (say, pause) = self.failing.failed();
        crate::log_failure!(say, (%queue, %error),
            first: "pulling from the work queue failed; retrying (said again every minute while it fails)",
            still: "pulling from the work queue still fails; retrying",
            again: "pulling from the work queue failed again");
        tokio::time::sleep(pause).await;
    }

    /// Hands a message that `arrived` to the worker, or dead-letters one the port cannot
    /// represent. One that waited here past its `ack_wait` is left alone: the server has
    /// taken it back and delivers it again, and a worker that took this copy too would
    /// work it alongside the next.
    async fn deliver(
        &self,
        message: async_nats::jetstream::Message,
        arrived: Instant,
    ) -> Option<Delivery> {
        let (attempt, sequence) = match message.info() {
            Ok(info) => (
                u32::try_from(info.delivered).unwrap_or(u32::MAX),
                info.stream_sequence,
            ),
            Err(error) => {
                tracing::warn!(queue = %self.spec.name, %error, "a delivery without JetStream metadata was skipped");
                return None;
            }
        };
        if arrived.elapsed() >= self.spec.ack_wait {
            tracing::debug!(queue = %self.spec.name, sequence, attempt, "a message waited here past its ack_wait; the server delivers it again");
            return None;
        }
        let (message, acker) = message.split();
        let stored = Stored {
            subject: message.subject.to_string(),
            headers: message.headers,
            payload: message.payload,
        };
        self.watched.hold(sequence, arrived + self.spec.ack_wait);
        let answer = Arc::new(Answer {
            shared: self.shared.clone(),
            spec: self.spec.clone(),
            watched: self.watched.clone(),
            acker,
            stored,
            attempt,
            sequence,
            ack_wait_from: Mutex::new(arrived),
            generation: self.watched.generation(),
            answered: AtomicBool::new(false),
        });
        match to_port(&self.shared.config, &answer.stored) {
            Ok(message) => {
                tracing::debug!(queue = %self.spec.name, subject = %message.subject, attempt, "delivering");
                Some(Delivery {
                    message,
                    attempt,
                    attempts_allowed: max_deliveries(&self.spec),
                    acker: Box::new(NatsAcker(answer)),
                })
            }
            Err(error) => {
                let reason = format!("the bus cannot represent this message: {error}");
                if let Err(error) = answer.give_up(&reason).await {
                    tracing::error!(queue = %self.spec.name, %error, "an unrepresentable message could not be dead-lettered");
                }
                None
            }
        }
    }
}

/// A delivered message as the stream holds it, kept to dead-letter it unchanged.
struct Stored {
    subject: String,
    headers: Option<HeaderMap>,
    payload: Bytes,
}

/// Everything needed to answer one delivery, shared with the task that answers for a
/// dropped one.
struct Answer {
    shared: Arc<Shared>,
    spec: Arc<WorkQueueSpec>,
    watched: Arc<Watched>,
    acker: async_nats::jetstream::message::Acker,
    stored: Stored,
    attempt: u32,
    /// The message's place in the stream.
    sequence: u64,
    /// When the server's `ack_wait` last started: at delivery, or at the last progress.
    ack_wait_from: Mutex<Instant>,
    /// The consumer's generation when it delivered this ([`Watched::orphaned`]).
    generation: u64,
    answered: AtomicBool,
}

impl Answer {
    /// True the first time only: a delivery is answered once.
    fn first_answer(&self) -> bool {
        !self.answered.swap(true, Ordering::SeqCst)
    }

    /// True once `ack_wait` has passed: the server has taken the message back, and a
    /// late nak or reject must not act on its next delivery.
    fn expired(&self) -> bool {
        self.ack_wait_from
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
            >= self.spec.ack_wait
    }

    async fn in_progress(&self) -> Result<(), BusError> {
        if self.answered.load(Ordering::SeqCst) || self.expired() {
            return Ok(());
        }
        let sent = Instant::now();
        self.acker
            .ack_with(AckKind::Progress)
            .await
            .map_err(|error| self.failed("progress", &error))?;
        *self
            .ack_wait_from
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = sent;
        self.watched.hold(self.sequence, sent + self.spec.ack_wait);
        Ok(())
    }

    fn is_last(&self) -> bool {
        self.attempt >= max_deliveries(&self.spec)
    }

    async fn ack(&self) -> Result<(), BusError> {
        if !self.first_answer() {
            return Ok(());
        }
        self.watched.finished(self.sequence);
        self.acker
            .ack()
            .await
            .map_err(|error| self.failed("ack", &error))?;
        tracing::debug!(queue = %self.spec.name, "delivery acknowledged");
        Ok(())
    }

    async fn nak(&self, delay: Option<Duration>, reason: &str) -> Result<(), BusError> {
        if !self.first_answer() || self.answered_too_late("nak") || self.orphaned() {
            return Ok(());
        }
        if self.is_last() {
            return self.give_up(reason).await;
        }
        tracing::debug!(queue = %self.spec.name, attempt = self.attempt, reason, ?delay, "delivery handed back");
        let delay = delay.filter(|delay| !delay.is_zero());
        self.held_for_next_attempt(delay.unwrap_or_default());
        self.acker
            .ack_with(AckKind::Nak(delay))
            .await
            .map_err(|error| self.failed("nak", &error))
    }

    /// Sent for a delivery of a consumer since gone as well: the worker's verdict stands.
    /// The consumer declared in its place delivers the message again, and the dead letter
    /// of the reject that follows is a duplicate the stream drops ([`dead_letter::send`]).
    async fn reject(&self, reason: &str) -> Result<(), BusError> {
        if !self.first_answer() || self.answered_too_late("reject") {
            return Ok(());
        }
        self.give_up(reason).await
    }

    /// A worker dropped the delivery unanswered: hand it back, or on its last attempt
    /// dead-letter it.
    async fn dropped(&self) {
        if self.orphaned() {
            return;
        }
        let reason = format!(
            "the worker dropped the last of {} deliveries without acknowledging it",
            self.attempt
        );
        let outcome = if self.is_last() {
            self.give_up(&reason).await
        } else {
            self.held_for_next_attempt(Duration::ZERO);
            self.acker
                .ack_with(AckKind::Nak(None))
                .await
                .map_err(|error| self.failed("nak", &error))
        };
        if let Err(error) = outcome {
            tracing::warn!(queue = %self.spec.name, %error, "a dropped delivery could not be handed back; the server redelivers it after ack_wait");
        }
    }

    /// Counts the message as unfinished here until its next attempt, `after` from now, has
    /// had its `ack_wait`: by then another delivery counts it.
    fn held_for_next_attempt(&self, after: Duration) {
        let until = Instant::now() + after + self.spec.ack_wait;
        self.watched.hold(self.sequence, until);
        self.watched.handed_back();
    }

    /// A delivery of a consumer since gone is left to the one that replaced it, which
    /// starts at or before it: counted as unfinished here until then, not handed back.
    fn orphaned(&self) -> bool {
        let orphaned = self.watched.orphaned(self.generation);
        if orphaned {
            self.held_for_next_attempt(Duration::ZERO);
            tracing::debug!(queue = %self.spec.name, sequence = self.sequence, "a delivery of a consumer since deleted is left to the one declared in its place");
        }
        orphaned
    }

    fn answered_too_late(&self, what: &str) -> bool {
        let late = self.expired();
        if late {
            // The server has delivered it again, or will at once.
            self.held_for_next_attempt(Duration::ZERO);
            tracing::debug!(queue = %self.spec.name, answer = what, "answer after ack_wait ignored: the message was already handed back");
        }
        late
    }

    /// Dead-letters the message, then tells the server never to deliver it again. If the
    /// dead letter cannot be stored, the message is left to the server, which delivers it
    /// again after `ack_wait` (or reports it as out of attempts).
    async fn give_up(&self, reason: &str) -> Result<(), BusError> {
        self.watched.finished(self.sequence);
        dead_letter::send(
            &self.shared,
            dead_letter::DeadLetter {
                queue: &self.spec.name,
                to: self.spec.dead_letter.as_str(),
                original_subject: &self.stored.subject,
                headers: self.stored.headers.as_ref(),
                payload: self.stored.payload.clone(),
                sequence: self.sequence,
                deliveries: u64::from(self.attempt),
                reason,
            },
        )
        .await?;
        self.acker
            .ack_with(AckKind::Term)
            .await
            .map_err(|error| self.failed("term", &error))
    }

    fn failed(&self, what: &str, error: &dyn std::fmt::Display) -> BusError {
        BusError::Unavailable(format!(
            "the {what} for a delivery from work queue {} did not reach NATS: {error}",
            self.spec.name
        ))
    }
}

/// The NATS side of a [`Delivery`].
struct NatsAcker(Arc<Answer>);

#[async_trait]
impl Acker for NatsAcker {
    async fn ack(&self) -> Result<(), BusError> {
        self.0.ack().await
    }

    async fn nak(&self, delay: Option<Duration>, reason: &str) -> Result<(), BusError> {
        self.0.nak(delay, reason).await
    }

    async fn reject(&self, reason: &str) -> Result<(), BusError> {
        self.0.reject(reason).await
    }

    async fn in_progress(&self) -> Result<(), BusError> {
        self.0.in_progress().await
    }
}

impl Drop for NatsAcker {
    /// Hands an unanswered delivery back at once rather than after `ack_wait`. Nothing can
    /// be awaited here, so the answer is sent from a task.
    fn drop(&mut self) {
        let answer = self.0.clone();
        if !answer.first_answer() || answer.expired() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { answer.dropped().await });
            }
            Err(_) => tracing::warn!(
                queue = %answer.spec.name,
                "a delivery dropped outside the runtime is redelivered after ack_wait"
            ),
        }
    }
}

/// The port's view of a stored message, under the engine's subject.
fn to_port(config: &NatsBusConfig, stored: &Stored) -> Result<Message, BusError> {
    super::convert::from_nats(
        config.off_wire(&stored.subject),
        None,
        stored.headers.as_ref(),
        stored.payload.clone(),
    )
}
