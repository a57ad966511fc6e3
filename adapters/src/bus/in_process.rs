//! The in-process message bus: the embedded default, with the semantics of NATS JetStream
//! (durable work queues, ack / nak / reject, redelivery, dead letters, message-id
//! deduplication) so that roles written against it behave the same on NATS.
//!
//! Everything lives in memory. State sits behind `std::sync::Mutex`es that are never held
//! across an `.await` (a dropped [`Delivery`] must hand its message back from `Drop`, where
//! nothing can be awaited); waiting pullers sleep on a [`Notify`] or until the next
//! deadline (an unacknowledged delivery's `ack_wait`, a nak's delay), never in a busy loop.
//!
//! Lock order: the bus's state, then a queue's state. Dead letters are published only
//! after the queue's lock is released, since publishing takes the bus's lock.

use super::{
    Acker, BusError, Delivery, Message, MessageBus, Published, SubjectPattern, Subscription,
    WorkQueue, WorkQueueSpec, dead_letter_headers,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

/// The limits of an [`InProcessBus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InProcessBusConfig {
    /// How long a message id is remembered: a message re-published with the same id within
    /// this window is dropped, so an insurer re-sending a claim does not file it twice.
    pub dedup_window: Duration,
    /// The largest payload accepted, in bytes; larger messages are refused with
    /// [`BusError::TooLarge`] rather than held in memory.
    pub max_payload: usize,
}

impl InProcessBusConfig {
    /// The default deduplication window, JetStream's default.
    pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(120);
    /// The default payload limit, NATS's default: 1 MiB.
    pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
}

impl Default for InProcessBusConfig {
    fn default() -> Self {
        Self {
            dedup_window: Self::DEFAULT_DEDUP_WINDOW,
            max_payload: Self::DEFAULT_MAX_PAYLOAD,
        }
    }
}

/// The message bus inside one process: the embedded default.
///
/// Cheap to clone; clones are the same bus. Call [`InProcessBus::shutdown`] to stop every
/// puller and subscriber.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    bus: Arc<Bus>,
}

impl InProcessBus {
    /// A bus with the default limits (see [`InProcessBusConfig`]).
    pub fn new() -> Self {
        Self::with_config(InProcessBusConfig::default())
    }

    /// A bus with the given limits.
    pub fn with_config(config: InProcessBusConfig) -> Self {
        Self {
            bus: Arc::new(Bus {
                config,
                shut_down: AtomicBool::new(false),
                state: Mutex::new(BusState::default()),
            }),
        }
    }

    /// The bus's limits.
    pub fn config(&self) -> InProcessBusConfig {
        self.bus.config
    }

    /// Stops the bus, so that an engine's roles wind down: every waiting and future
    /// [`WorkQueue::next`] returns `None`, every [`Subscription::next`] returns `None` once
    /// it has handed over what it had already received, and publishing, declaring queues
    /// and subscribing fail with [`BusError::Unavailable`]. Messages still queued are
    /// dropped with the bus (it is in memory; nothing survives the process anyway).
    pub fn shutdown(&self) {
        self.bus.shutdown();
    }

    /// True once [`InProcessBus::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.bus.is_shut_down()
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl MessageBus for InProcessBus {
    async fn publish(&self, message: Message) -> Result<Published, BusError> {
        self.bus.publish(message)
    }

    async fn work_queue(&self, spec: WorkQueueSpec) -> Result<Box<dyn WorkQueue>, BusError> {
        let mut state = self.bus.running_state()?;
        let queue = match state.queues.get(&spec.name) {
            Some(queue) if queue.spec == spec => queue.clone(),
            Some(_) => return Err(BusError::QueueMismatch(spec.name)),
            None => {
                tracing::debug!(queue = %spec.name, "work queue declared");
                let queue = Arc::new(Queue::new(spec));
                state.queues.insert(queue.spec.name.clone(), queue.clone());
                queue
            }
        };
        Ok(Box::new(InProcessWorkQueue {
            bus: self.bus.clone(),
            queue,
        }))
    }

    async fn subscribe(&self, pattern: SubjectPattern) -> Result<Subscription, BusError> {
        let mut state = self.bus.running_state()?;
        let (sender, receiver) = mpsc::unbounded_channel();
        state.subscribers.push(Subscriber { pattern, sender });
        Ok(Subscription::from_receiver(receiver))
    }
}

/// The shared inside of an [`InProcessBus`].
#[derive(Debug)]
struct Bus {
    config: InProcessBusConfig,
    shut_down: AtomicBool,
    state: Mutex<BusState>,
}

/// What the bus knows: recent message ids, subscribers, queues.
#[derive(Debug, Default)]
struct BusState {
    /// Message ids published within the deduplication window, with when.
    seen: HashMap<String, Instant>,
    /// The same ids in publication order, to forget them when the window passes.
    seen_order: VecDeque<(Instant, String)>,
    subscribers: Vec<Subscriber>,
    queues: HashMap<String, Arc<Queue>>,
}

/// A non-durable subscription's sending side.
#[derive(Debug)]
struct Subscriber {
    pattern: SubjectPattern,
    sender: mpsc::UnboundedSender<Message>,
}

impl Bus {
    fn state(&self) -> MutexGuard<'_, BusState> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters more than stopping the whole bus would, so carry on with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::SeqCst)
    }

    /// The state, if the bus still runs. The flag is checked under the lock that
    /// [`Bus::shutdown`] sets it under, so nothing is added once shutdown has cleared up.
    fn running_state(&self) -> Result<MutexGuard<'_, BusState>, BusError> {
        let state = self.state();
        if self.is_shut_down() {
            Err(BusError::Unavailable(
                "the in-process bus is shut down".to_owned(),
            ))
        } else {
            Ok(state)
        }
    }

    fn shutdown(&self) {
        let mut state = self.state();
        self.shut_down.store(true, Ordering::SeqCst);
        // Dropping the senders ends every subscription once it has drained.
        state.subscribers.clear();
        for queue in state.queues.values() {
            queue.changed.notify_waiters();
        }
        tracing::debug!("in-process bus shut down");
    }

    /// Publishes at once: nothing in memory needs to be awaited.
    fn publish(&self, message: Message) -> Result<Published, BusError> {
        let size = message.payload.len();
        if size > self.config.max_payload {
            return Err(BusError::TooLarge {
                size,
                limit: self.config.max_payload,
            });
        }
        let mut state = self.running_state()?;
        if let Some(id) = &message.id {
            let now = Instant::now();
            state.forget_ids_before(now, self.config.dedup_window);
            if state.seen.contains_key(id) {
                tracing::debug!(subject = %message.subject, id, "duplicate message dropped");
                return Ok(Published { duplicate: true });
            }
            state.seen.insert(id.clone(), now);
            state.seen_order.push_back((now, id.clone()));
        }
        for queue in state.queues.values() {
            if queue
                .spec
                .subjects
                .iter()
                .any(|pattern| pattern.matches(&message.subject))
            {
                queue.capture(message.clone());
            }
        }
        state.subscribers.retain(|subscriber| {
            !subscriber.pattern.matches(&message.subject)
                || subscriber.sender.send(message.clone()).is_ok()
        });
        Ok(Published { duplicate: false })
    }

    /// Publishes a copy of a message that a queue gave up on to the queue's dead-letter
    /// subject, with why.
    fn dead_letter(&self, queue: &WorkQueueSpec, dead: DeadLetter) -> Result<(), BusError> {
        let DeadLetter {
            message,
            sequence,
            deliveries,
            reason,
        } = dead;
        tracing::warn!(
            queue = %queue.name,
            subject = %message.subject,
            dead_letter = %queue.dead_letter,
            deliveries,
            reason,
            "message dead-lettered"
        );
        let original_subject = message.subject.to_string();
        let copy = Message {
            subject: queue.dead_letter.clone(),
            id: Some(format!("dead-letter-{}-{sequence}", queue.name)),
            ..message
        }
        .with_header(dead_letter_headers::REASON, reason)
        .with_header(dead_letter_headers::ORIGINAL_SUBJECT, original_subject)
        .with_header(dead_letter_headers::DELIVERIES, deliveries.to_string())
        .with_header(dead_letter_headers::QUEUE, queue.name.clone());
        self.publish(copy).map(|_| ())
    }

    /// Dead-letters, logging instead of failing: for paths that cannot report an error
    /// (a dropped delivery, a puller finding an expired one).
    fn dead_letter_or_log(&self, queue: &WorkQueueSpec, dead: DeadLetter) {
        let subject = dead.message.subject.clone();
        if let Err(error) = self.dead_letter(queue, dead) {
            tracing::warn!(
                queue = %queue.name,
                %subject,
                %error,
                "a message could not be dead-lettered and is lost"
            );
        }
    }
}

impl BusState {
    /// Forgets the message ids published longer than `window` ago.
    fn forget_ids_before(&mut self, now: Instant, window: Duration) {
        while let Some((at, _)) = self.seen_order.front() {
            if now.saturating_duration_since(*at) < window {
                break;
            }
            if let Some((at, id)) = self.seen_order.pop_front()
                && self.seen.get(&id) == Some(&at)
            {
                self.seen.remove(&id);
            }
        }
    }
}

/// One durable work queue, shared by every handle declared with its name.
#[derive(Debug)]
struct Queue {
    spec: WorkQueueSpec,
    state: Mutex<QueueState>,
    /// Woken whenever pullers should look again: a message arrived or came back, a
    /// deadline changed, or the bus shut down.
    changed: Notify,
}

/// The messages of a queue, each in exactly one place: ready, delayed or in flight.
/// Each is known by its capture sequence, which also orders redeliveries first.
#[derive(Debug, Default)]
struct QueueState {
    next_sequence: u64,
    next_delivery: u64,
    /// Deliverable now, oldest capture first.
    ready: BTreeMap<u64, Pending>,
    /// Nak'd with a delay: deliverable from the instant given (`None`: a delay too long
    /// to represent, so never).
    delayed: BTreeMap<u64, (Option<Instant>, Pending)>,
    /// Delivered and not yet settled.
    in_flight: BTreeMap<u64, InFlight>,
}

/// A captured message and how often it was delivered.
#[derive(Debug)]
struct Pending {
    message: Message,
    deliveries: u32,
}

/// A delivered message, waiting for its worker's answer.
#[derive(Debug)]
struct InFlight {
    pending: Pending,
    /// Which delivery this is, so that a late answer to an earlier one is recognised.
    delivery: u64,
    /// When it is handed back if unanswered (`None`: an `ack_wait` too long to represent).
    deadline: Option<Instant>,
}

/// A message the queue gives up on.
#[derive(Debug)]
struct DeadLetter {
    message: Message,
    /// The message's capture sequence in the queue: with the queue, its dead letter's id.
    sequence: u64,
    deliveries: u32,
    reason: String,
}

/// What a puller got from the queue.
#[derive(Debug)]
struct Taken {
    delivery: Option<HandedOut>,
    dead_letters: Vec<DeadLetter>,
    wake_at: Option<Instant>,
}

/// A message handed to a puller.
#[derive(Debug)]
struct HandedOut {
    sequence: u64,
    delivery: u64,
    message: Message,
    attempt: u32,
}

/// A worker's answer to a delivery.
#[derive(Debug, Clone, Copy)]
enum Answer<'a> {
    Nak(Option<Duration>, &'a str),
    Reject(&'a str),
    Dropped,
}

impl Queue {
    fn new(spec: WorkQueueSpec) -> Self {
        Self {
            spec,
            state: Mutex::new(QueueState::default()),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Deliveries allowed per message; a spec of 0 still allows the first.
    fn max_deliveries(&self) -> u32 {
        self.spec.max_deliveries.max(1)
    }

    fn capture(&self, message: Message) {
        let mut state = self.state();
        let sequence = state.next_sequence;
        state.next_sequence += 1;
        state.ready.insert(
            sequence,
            Pending {
                message,
                deliveries: 0,
            },
        );
        drop(state);
        self.changed.notify_waiters();
    }

    /// Hands back expired deliveries, releases due delays and takes the oldest ready
    /// message, if any.
    fn take(&self, now: Instant) -> Taken {
        let max_deliveries = self.max_deliveries();
        let mut state = self.state();
        let mut dead_letters = Vec::new();

        let expired: Vec<u64> = state
            .in_flight
            .iter()
            .filter(|(_, in_flight)| in_flight.deadline.is_some_and(|deadline| deadline <= now))
            .map(|(sequence, _)| *sequence)
            .collect();
        for sequence in expired {
            let Some(in_flight) = state.in_flight.remove(&sequence) else {
                continue;
            };
            let pending = in_flight.pending;
            if pending.deliveries >= max_deliveries {
                dead_letters.push(DeadLetter {
                    reason: format!(
                        "not acknowledged within {:?} on the last of {} deliveries",
                        self.spec.ack_wait, pending.deliveries
                    ),
                    deliveries: pending.deliveries,
                    sequence,
                    message: pending.message,
                });
            } else {
                tracing::debug!(
                    queue = %self.spec.name,
                    subject = %pending.message.subject,
                    "delivery not acknowledged in time; redelivering"
                );
                state.ready.insert(sequence, pending);
            }
        }

        let due: Vec<u64> = state
            .delayed
            .iter()
            .filter(|(_, (at, _))| at.is_some_and(|at| at <= now))
            .map(|(sequence, _)| *sequence)
            .collect();
        for sequence in due {
            if let Some((_, pending)) = state.delayed.remove(&sequence) {
                state.ready.insert(sequence, pending);
            }
        }

        let delivery = state.ready.pop_first().map(|(sequence, mut pending)| {
            pending.deliveries = pending.deliveries.saturating_add(1);
            let delivery = state.next_delivery;
            state.next_delivery += 1;
            let attempt = pending.deliveries;
            let message = pending.message.clone();
            state.in_flight.insert(
                sequence,
                InFlight {
                    pending,
                    delivery,
                    deadline: now.checked_add(self.spec.ack_wait),
                },
            );
            HandedOut {
                sequence,
                delivery,
                message,
                attempt,
            }
        });

        let wake_at = state
            .in_flight
            .values()
            .filter_map(|in_flight| in_flight.deadline)
            .chain(state.delayed.values().filter_map(|(at, _)| *at))
            .min();
        Taken {
            delivery,
            dead_letters,
            wake_at,
        }
    }

    /// The work is stored: forgets the message wherever it is now, even if this delivery
    /// expired and the message went back to the queue or to another worker.
    fn ack(&self, sequence: u64) {
        let mut state = self.state();
        let removed = state.in_flight.remove(&sequence).is_some()
            || state.ready.remove(&sequence).is_some()
            || state.delayed.remove(&sequence).is_some();
        drop(state);
        if removed {
            tracing::debug!(queue = %self.spec.name, "delivery acknowledged");
        }
    }

    /// Restarts the `ack_wait` of a delivery still in flight (not of one that expired).
    fn extend(&self, sequence: u64, delivery: u64) {
        let ack_wait = self.spec.ack_wait;
        if let Some(in_flight) = self
            .state()
            .in_flight
            .get_mut(&sequence)
            .filter(|in_flight| in_flight.delivery == delivery)
        {
            in_flight.deadline = Instant::now().checked_add(ack_wait);
        }
    }

    /// Applies a nak, reject or drop to the delivery it answers. An answer to a delivery
    /// that is no longer current (it expired) changes nothing: the message is already
    /// back under the queue's control.
    fn answer(&self, sequence: u64, delivery: u64, answer: Answer<'_>) -> Option<DeadLetter> {
        let max_deliveries = self.max_deliveries();
        let mut state = self.state();
        if state
            .in_flight
            .get(&sequence)
            .is_none_or(|in_flight| in_flight.delivery != delivery)
        {
            return None;
        }
        let pending = state.in_flight.remove(&sequence)?.pending;
        let last = pending.deliveries >= max_deliveries;
        let gives_up = match answer {
            Answer::Reject(reason) => Some(reason.to_owned()),
            Answer::Nak(_, reason) if last => Some(reason.to_owned()),
            Answer::Dropped if last => Some(format!(
                "the worker dropped the last of {} deliveries without acknowledging it",
                pending.deliveries
            )),
            Answer::Nak(..) | Answer::Dropped => None,
        };
        if let Some(reason) = gives_up {
            return Some(DeadLetter {
                sequence,
                deliveries: pending.deliveries,
                message: pending.message,
                reason,
            });
        }
        match answer {
            Answer::Nak(Some(delay), _) if !delay.is_zero() => {
                state
                    .delayed
                    .insert(sequence, (Instant::now().checked_add(delay), pending));
            }
            _ => {
                state.ready.insert(sequence, pending);
            }
        }
        drop(state);
        self.changed.notify_waiters();
        None
    }
}

/// A handle on a durable work queue.
#[derive(Debug)]
struct InProcessWorkQueue {
    bus: Arc<Bus>,
    queue: Arc<Queue>,
}

#[async_trait]
impl WorkQueue for InProcessWorkQueue {
    async fn next(&mut self) -> Option<Delivery> {
        loop {
            // Registered before looking, so a change made after the look still wakes us.
            let mut changed = pin!(self.queue.changed.notified());
            changed.as_mut().enable();
            if self.bus.is_shut_down() {
                return None;
            }
            let (delivery, wake_at) = self.take_ready();
            if delivery.is_some() {
                return delivery;
            }
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        () = changed => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    async fn next_batch(&mut self, max: usize) -> Vec<Delivery> {
        let Some(first) = self.next().await else {
            return Vec::new();
        };
        let mut batch = vec![first];
        while batch.len() < max && !self.bus.is_shut_down() {
            match self.take_ready().0 {
                Some(delivery) => batch.push(delivery),
                None => break,
            }
        }
        batch
    }
}

impl InProcessWorkQueue {
    /// Takes the oldest message ready now, if any, dead-lettering what expired on its
    /// last attempt on the way; otherwise says when something may next become ready.
    fn take_ready(&self) -> (Option<Delivery>, Option<Instant>) {
        let taken = self.queue.take(Instant::now());
        for dead in taken.dead_letters {
            self.bus.dead_letter_or_log(&self.queue.spec, dead);
        }
        let Some(HandedOut {
            sequence,
            delivery,
            message,
            attempt,
        }) = taken.delivery
        else {
            return (None, taken.wake_at);
        };
        // Other pullers recompute when to wake: this delivery has a deadline now.
        self.queue.changed.notify_waiters();
        tracing::debug!(
            queue = %self.queue.spec.name,
            subject = %message.subject,
            attempt,
            "delivering"
        );
        let delivery = Delivery {
            message,
            attempt,
            attempts_allowed: self.queue.max_deliveries(),
            acker: Box::new(QueueAcker {
                bus: self.bus.clone(),
                queue: self.queue.clone(),
                sequence,
                delivery,
                answered: AtomicBool::new(false),
            }),
        };
        (Some(delivery), taken.wake_at)
    }
}

/// The in-process side of a [`Delivery`]: answers go straight to the queue, and a
/// delivery dropped unanswered is handed back.
struct QueueAcker {
    bus: Arc<Bus>,
    queue: Arc<Queue>,
    sequence: u64,
    delivery: u64,
    answered: AtomicBool,
}

impl QueueAcker {
    /// True the first time only: a delivery is answered once.
    fn first_answer(&self) -> bool {
        !self.answered.swap(true, Ordering::SeqCst)
    }

    fn answer(&self, answer: Answer<'_>) -> Result<(), BusError> {
        if !self.first_answer() {
            return Ok(());
        }
        match self.queue.answer(self.sequence, self.delivery, answer) {
            Some(dead) => self.bus.dead_letter(&self.queue.spec, dead),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Acker for QueueAcker {
    async fn ack(&self) -> Result<(), BusError> {
        if self.first_answer() {
            self.queue.ack(self.sequence);
        }
        Ok(())
    }

    async fn nak(&self, delay: Option<Duration>, reason: &str) -> Result<(), BusError> {
        self.answer(Answer::Nak(delay, reason))
    }

    async fn reject(&self, reason: &str) -> Result<(), BusError> {
        self.answer(Answer::Reject(reason))
    }

    async fn in_progress(&self) -> Result<(), BusError> {
        if !self.answered.load(Ordering::SeqCst) {
            self.queue.extend(self.sequence, self.delivery);
        }
        Ok(())
    }
}

impl Drop for QueueAcker {
    fn drop(&mut self) {
        if self.first_answer()
            && let Some(dead) = self
                .queue
                .answer(self.sequence, self.delivery, Answer::Dropped)
        {
            self.bus.dead_letter_or_log(&self.queue.spec, dead);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Subject;

    fn subject(text: &str) -> Subject {
        Subject::new(text).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_id_is_forgotten_after_the_dedup_window() {
        let bus = InProcessBus::with_config(InProcessBusConfig {
            dedup_window: Duration::from_secs(120),
            ..InProcessBusConfig::default()
        });
        let message = Message::new(subject("claims.submit.acme"), "claim").with_id("c-1");
        assert!(!bus.publish(message.clone()).await.unwrap().duplicate);
        tokio::time::advance(Duration::from_secs(119)).await;
        assert!(bus.publish(message.clone()).await.unwrap().duplicate);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!bus.publish(message.clone()).await.unwrap().duplicate);
        assert!(bus.publish(message).await.unwrap().duplicate);
    }

    #[tokio::test]
    async fn shutdown_ends_pullers_and_subscriptions_and_refuses_publishing() {
        let bus = InProcessBus::new();
        let mut queue = bus
            .work_queue(WorkQueueSpec {
                name: "intake".to_owned(),
                subjects: vec![SubjectPattern::new("claims.>").unwrap()],
                max_deliveries: 3,
                ack_wait: Duration::from_secs(30),
                dead_letter: subject("deadletter.intake"),
            })
            .await
            .unwrap();
        let mut subscription = bus
            .subscribe(SubjectPattern::new("claims.>").unwrap())
            .await
            .unwrap();
        let puller = tokio::spawn(async move { queue.next().await.map(|d| d.attempt) });
        tokio::task::yield_now().await;

        bus.shutdown();

        let pulled = tokio::time::timeout(Duration::from_secs(1), puller)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pulled, None);
        let heard = tokio::time::timeout(Duration::from_secs(1), subscription.next())
            .await
            .unwrap();
        assert_eq!(heard, None);
        assert!(bus.is_shut_down());
        let refused = bus
            .publish(Message::new(subject("claims.submit.acme"), "claim"))
            .await;
        assert!(
            matches!(refused, Err(BusError::Unavailable(_))),
            "{refused:?}"
        );
        let refused = bus
            .subscribe(SubjectPattern::new("claims.>").unwrap())
            .await;
        assert!(matches!(refused, Err(BusError::Unavailable(_))));
    }

    #[tokio::test]
    async fn a_queue_declared_with_zero_deliveries_still_delivers_once() {
        let bus = InProcessBus::new();
        let mut dead = bus
            .subscribe(SubjectPattern::new("deadletter.zero").unwrap())
            .await
            .unwrap();
        let mut queue = bus
            .work_queue(WorkQueueSpec {
                name: "zero".to_owned(),
                subjects: vec![SubjectPattern::new("work").unwrap()],
                max_deliveries: 0,
                ack_wait: Duration::from_secs(30),
                dead_letter: subject("deadletter.zero"),
            })
            .await
            .unwrap();
        bus.publish(Message::new(subject("work"), "job"))
            .await
            .unwrap();
        let delivery = queue.next().await.unwrap();
        assert_eq!(delivery.attempt, 1);
        delivery.nak(None, "still failing").await.unwrap();
        let letter = dead.next().await.unwrap();
        assert_eq!(
            letter.header(dead_letter_headers::REASON),
            Some("still failing")
        );
    }
}
