//! The message-bus port: how insurers' messages come in, how stored events fan out to
//! workers, and where poison goes.
//!
//! The shape follows NATS JetStream, which implements it in production, so that the
//! in-process bus (the embedded default) and NATS are interchangeable:
//!
//! - [`MessageBus::publish`] sends a message to a subject; a message with an id is
//!   published at most once per id (the JetStream `Nats-Msg-Id` deduplication);
//! - a [`WorkQueue`] is durable: it captures every message published to its subjects from
//!   the moment it is declared, whether or not a worker is pulling, and any number of
//!   workers may pull from the same queue; each message goes to one of them;
//! - a pulled [`Delivery`] must be acked once its work is stored; a nak (or a worker that
//!   drops it) hands it back for redelivery, and after `max_deliveries` attempts the
//!   message goes to the queue's dead-letter subject with the reason, once: the dead
//!   letter's id names the queue and the message, so a second is a duplicate;
//! - [`MessageBus::subscribe`] is a plain, non-durable subscription (replies, outcomes).
//!
//! Subjects are dot-separated tokens; patterns use `*` for one token and `>` for the rest.

mod in_process;
mod nats;
mod subject;
mod types;

pub use in_process::{InProcessBus, InProcessBusConfig};
pub use nats::{DeadLetterError, DeadLetters, Requeued, StoredDeadLetter};
pub use nats::{
    NatsBus, NatsBusConfig, NatsBusError, NatsCredentials, connect_options, wire_subject,
};
pub use subject::{MAX_SUBJECT_LEN, Subject, SubjectPattern};
pub use types::*;

use async_trait::async_trait;

/// The message bus. Implementations: [`InProcessBus`] (embedded default) and [`NatsBus`]
/// (NATS JetStream, production), with the same contract.
#[async_trait]
pub trait MessageBus: Send + Sync + 'static {
    /// Publishes a message. A message whose [`Message::id`] was already published within
    /// the deduplication window is accepted and dropped ([`Published::duplicate`] is true).
    async fn publish(&self, message: Message) -> Result<Published, BusError>;

    /// Publishes messages in their order, as [`MessageBus::publish`] would one after
    /// another, and returns once every one is stored. An implementation may have them all
    /// on their way before the first is confirmed (NATS does); order is kept either way.
    /// On an error some of the messages may have been published: publish them again with
    /// the same ids.
    async fn publish_all(&self, messages: Vec<Message>) -> Result<Vec<Published>, BusError> {
        let mut published = Vec::with_capacity(messages.len());
        for message in messages {
            published.push(self.publish(message).await?);
        }
        Ok(published)
    }

    /// Declares (or re-opens) a durable work queue. Declaring an existing queue with the
    /// same spec returns it unchanged; its captured messages are kept.
    async fn work_queue(&self, spec: WorkQueueSpec) -> Result<Box<dyn WorkQueue>, BusError>;

    /// A non-durable subscription: receives what is published to matching subjects from now on.
    async fn subscribe(&self, pattern: SubjectPattern) -> Result<Subscription, BusError>;

    /// The bus's connection now, for the operators' gauges. A bus in process is always
    /// connected.
    fn connection(&self) -> BusConnection {
        BusConnection {
            connected: true,
            reconnections: 0,
            queues_redeclared: 0,
        }
    }
}

/// A handle on a durable work queue, from which one worker pulls.
#[async_trait]
pub trait WorkQueue: Send {
    /// Waits for the next message. Returns `None` once the bus is shut down.
    async fn next(&mut self) -> Option<Delivery>;

    /// Waits for the next message, then takes whatever else the queue has ready, up to
    /// `max` in all (at least one), without waiting for more: a worker that handles
    /// messages a batch at a time gets a full batch under load and a batch of one when
    /// messages trickle in, so batching never adds latency. Empty once the bus is shut
    /// down. Each delivery is acked, nak'd or rejected on its own, as from
    /// [`WorkQueue::next`].
    ///
    /// The default takes one message; both buses here take several.
    async fn next_batch(&mut self, max: usize) -> Vec<Delivery> {
        let _ = max;
        self.next().await.into_iter().collect()
    }
}
