//! The values that cross the message-bus port.

use super::{Subject, SubjectPattern};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::Duration;

/// A message on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Where it is published.
    pub subject: Subject,
    /// Deduplication id (JetStream `Nats-Msg-Id`); `None` for no deduplication.
    pub id: Option<String>,
    /// Where the sender wants a reply, if anywhere.
    pub reply_to: Option<Subject>,
    /// Headers, such as `Content-Type`.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub payload: Bytes,
}

impl Message {
    /// A message with no id, reply subject or headers.
    pub fn new(subject: Subject, payload: impl Into<Bytes>) -> Self {
        Self {
            subject,
            id: None,
            reply_to: None,
            headers: BTreeMap::new(),
            payload: payload.into(),
        }
    }

    /// Sets the deduplication id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Sets the reply subject.
    pub fn with_reply_to(mut self, reply_to: Subject) -> Self {
        self.reply_to = Some(reply_to);
        self
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// The bus's answer to a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// True when the message id was already seen and the message was dropped.
    pub duplicate: bool,
}

/// The state of a bus's connection to its server ([`crate::bus::MessageBus::connection`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusConnection {
    /// Whether the bus is connected now; while it is not, it is reconnecting by itself.
    pub connected: bool,
    /// How many times the connection was lost and made again since the bus was opened.
    pub reconnections: u64,
    /// How many times this process found one of its work queues missing on the server
    /// (deleted there) and saw it declared again, since the bus was opened.
    pub queues_redeclared: u64,
}

/// The definition of a durable work queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkQueueSpec {
    /// The queue's durable name, shared by every worker that pulls from it.
    pub name: String,
    /// The subjects it captures.
    pub subjects: Vec<SubjectPattern>,
    /// Deliveries before a message is dead-lettered.
    pub max_deliveries: u32,
    /// How long a pulled message may stay unacknowledged before it is redelivered.
    pub ack_wait: Duration,
    /// Where a message goes after its last failed delivery, with the reason.
    pub dead_letter: Subject,
}

/// One delivery of a message from a work queue. Dropping it without acking hands it back.
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// Which attempt this is, starting at 1.
    pub attempt: u32,
    /// The attempts the queue allows ([`WorkQueueSpec::max_deliveries`]): a
    /// [`Delivery::nak`] of this one dead-letters the message.
    pub attempts_allowed: u32,
    /// How the acknowledgement reaches the bus.
    pub acker: Box<dyn Acker>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("message", &self.message)
            .field("attempt", &self.attempt)
            .field("attempts_allowed", &self.attempts_allowed)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// Whether this is the last attempt the queue allows: if its work fails, the message
    /// is dead-lettered rather than delivered again.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.attempts_allowed
    }

    /// The work is stored: never deliver this message again.
    pub async fn ack(self) -> Result<(), BusError> {
        self.acker.ack().await
    }

    /// The work failed for a reason that may pass: deliver again after `delay` (or at once),
    /// unless this was the last allowed attempt, in which case the message is dead-lettered
    /// with `reason`.
    pub async fn nak(self, delay: Option<Duration>, reason: &str) -> Result<(), BusError> {
        self.acker.nak(delay, reason).await
    }

    /// The message can never be processed: dead-letter it now with `reason`.
    pub async fn reject(self, reason: &str) -> Result<(), BusError> {
        self.acker.reject(reason).await
    }

    /// The work is still going on (waiting for the store to come back, say): restart the
    /// `ack_wait` before the message would be handed to another worker, without spending
    /// an attempt. Does nothing once the delivery is answered or its `ack_wait` has run out.
    pub async fn in_progress(&self) -> Result<(), BusError> {
        self.acker.in_progress().await
    }
}

/// The bus-specific side of a [`Delivery`].
#[async_trait]
pub trait Acker: Send + Sync {
    /// See [`Delivery::ack`].
    async fn ack(&self) -> Result<(), BusError>;
    /// See [`Delivery::nak`].
    async fn nak(&self, delay: Option<Duration>, reason: &str) -> Result<(), BusError>;
    /// See [`Delivery::reject`].
    async fn reject(&self, reason: &str) -> Result<(), BusError>;
    /// See [`Delivery::in_progress`].
    async fn in_progress(&self) -> Result<(), BusError>;
}

/// Headers the bus sets on a dead-lettered message.
pub mod dead_letter_headers {
    /// Why the message was dead-lettered.
    pub const REASON: &str = "Claims-Dead-Letter-Reason";
    /// The subject it was originally published to.
    pub const ORIGINAL_SUBJECT: &str = "Claims-Original-Subject";
    /// How many deliveries were attempted.
    pub const DELIVERIES: &str = "Claims-Deliveries";
    /// The durable queue it was taken from.
    pub const QUEUE: &str = "Claims-Queue";
}

/// A non-durable subscription.
pub struct Subscription {
    pub(crate) receiver: tokio::sync::mpsc::UnboundedReceiver<Message>,
}

impl Subscription {
    /// A subscription fed by the given receiver (for bus implementations).
    pub fn from_receiver(receiver: tokio::sync::mpsc::UnboundedReceiver<Message>) -> Self {
        Self { receiver }
    }

    /// Waits for the next message; `None` once the bus is shut down.
    pub async fn next(&mut self) -> Option<Message> {
        self.receiver.recv().await
    }
}

/// Why the bus refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// A subject or pattern is not well-formed.
    #[error("invalid subject {subject:?}: {reason}")]
    InvalidSubject {
        /// The offending text.
        subject: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A work queue was re-declared with a different spec.
    #[error("work queue {0} already exists with a different definition")]
    QueueMismatch(String),
    /// The message is larger than the bus accepts.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The message's size.
        size: usize,
        /// The bus's limit.
        limit: usize,
    },
    /// The bus is shut down or unreachable.
    #[error("message bus unavailable: {0}")]
    Unavailable(String),
}
