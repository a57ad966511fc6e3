//! The message bus on NATS JetStream: the production implementation of the port, with the
//! same contract as the in-process bus (`adapters/tests/bus_contract.rs` runs both).
//!
//! # The JetStream shape
//!
//! **One stream, limits retention, capturing the engine's subjects** (the configured
//! [`NatsBusConfig::subjects`], such as `claims.submit.>`, `events.>`, `deadletter.>`;
//! any other subject travels as a plain NATS message, kept nowhere).
//! JetStream refuses two streams with overlapping subjects, yet the port wants every queue
//! whose subjects match a message to get its own copy; with one stream, a message is stored
//! once and any number of consumers read it. One stream also gives the port's message-id
//! deduplication, which JetStream keeps per stream (`Nats-Msg-Id` within
//! [`NatsBusConfig::dedup_window`]). Limits retention (rather than work-queue or interest)
//! keeps a message until [`NatsBusConfig::max_age`] whatever the queues do with it, so a
//! dead-lettered message, and the dead letter itself, can still be read by an operator.
//!
//! **Each work queue is a durable pull consumer** named after the queue, filtered to its
//! subjects, created with `DeliverPolicy::New`: it captures what is published from the
//! moment it is declared, whether or not a worker pulls. Workers sharing a queue share the
//! consumer; each [`WorkQueue::next`] asks for exactly one message, so a message waits on
//! the server, not in a worker's buffer, until some worker is ready for it.
//! [`WorkQueue::next_batch`] asks for one the same way, then for the rest with one
//! `no_wait` fetch that takes only what is already pending (a fetch the server leaves open
//! without sending anything is not waited out past 100 ms: it runs on in the background,
//! and what it brings later comes with the worker's next call). The consumer's
//! `ack_wait` and `max_deliver` are the spec's; its description records the dead-letter
//! subject, so any process (and the advisory listener) knows where its dead letters go, and
//! re-declaring the queue with a different spec is refused with [`BusError::QueueMismatch`].
//! A consumer deleted on the server is declared again by the first process whose pull then
//! fails, from the oldest message that process had not finished (`nats/consumer_watch.rs`).
//!
//! **Dead letters.** A nak or drop on the last allowed delivery, and every reject, first
//! publishes a copy to the queue's dead-letter subject (with the
//! [`dead_letter_headers`](crate::bus::dead_letter_headers)) and then terminates the
//! delivery, so the server never retries it. A delivery left unacknowledged on its last
//! attempt is the server's to notice: it emits a `MAX_DELIVERIES` advisory, which the bus
//! hears (as a queue group, so one process per advisory handles it), reads the message by
//! its stream sequence and dead-letters it with a reason saying it was never acknowledged.
//! Dead-letter subjects must be among the stream's subjects, so dead letters are stored.
//! A dead letter is published before the original is let go, so a crash in between leaves
//! the message to be delivered again, never lost; its dead letter's message id (the queue
//! and the original's stream sequence) makes a second one a duplicate the stream drops.
//!
//! **Subscriptions hear what the stream stored.** A JetStream publish is also a plain NATS
//! message that every subscriber hears, duplicate or not, so a plain subscription would
//! hear a re-sent claim the port promises to drop. A subscription therefore reads the
//! subjects the stream captures through ephemeral ordered consumers of its own (from the
//! moment it subscribes), and listens to the plain subject for the rest (answers to an
//! insurer and replies to its inbox, which never touch the stream); see
//! `nats/subscription.rs`.
//!
//! Replies: a JetStream publish uses the NATS reply subject for the stream's
//! acknowledgement, so a message's `reply_to` travels in the `Claims-Reply-To` header when
//! it goes through the stream, and in the NATS reply subject otherwise.
//!
//! # What the port cannot see
//!
//! An unacknowledged last delivery is dead-lettered only while some worker is pulling from
//! its queue (the server checks on its next delivery attempt), and only if a bus is
//! listening when the advisory is emitted (advisories are not stored). A message id
//! deduplicates only on subjects the stream captures. Work queues on several subjects need
//! a server of version 2.10 or later. Acks, naks and terms are sent without waiting for
//! the server's confirmation: one lost with the connection brings the message back after
//! `ack_wait`, which the engine's idempotent consumers absorb.

mod arrivals;
mod config;
mod consumer_watch;
mod convert;
mod dead_letter;
mod dead_letters;
mod queue;
mod subscription;

pub use config::{NatsBusConfig, NatsBusError, NatsCredentials, wire_subject};
pub use dead_letters::{DeadLetterError, DeadLetters, Requeued, StoredDeadLetter};

use super::{
    BusConnection, BusError, Message, MessageBus, Published, Subject, SubjectPattern, Subscription,
    WorkQueue, WorkQueueSpec,
};
use crate::failure_streak::FailureStreak;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use async_nats::{ConnectOptions, Event, HeaderMap};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Logs what happens to the engine's connection and counts its (re)connections. While
/// the server is away the client reports an error at each attempt to reconnect: the first
/// is a warning, the rest are said once a minute ([`FailureStreak`]).
fn connection_event(
    connections: &watch::Sender<u64>,
    client_errors: &Mutex<FailureStreak>,
    event: Event,
) {
    let mut client_errors = client_errors.lock().unwrap_or_else(PoisonError::into_inner);
    match event {
        Event::Connected => {
            // The first is the connection `connect` made, which may be reported after the
            // workers' first pull requests: only later ones wake the workers.
            let reconnected = connections.send_if_modified(|count| {
                *count += 1;
                *count > 1
            });
            let failed_attempts = client_errors.succeeded().map_or(0, |ended| ended.failures);
            if reconnected {
                tracing::warn!(
                    failed_attempts,
                    "reconnected to NATS; every work queue pulls again"
                );
            }
        }
        Event::Disconnected => {
            tracing::warn!("disconnected from NATS; reconnecting");
        }
        Event::LameDuckMode => {
            tracing::warn!("the NATS server is shutting down (lame duck mode)");
        }
        Event::SlowConsumer(subscription) => {
            tracing::warn!(
                subscription,
                "a NATS subscription of the engine is a slow consumer; the server drops messages for it"
            );
        }
        Event::ServerError(error) => tracing::warn!(%error, "the NATS server reported an error"),
        Event::ClientError(error) => crate::log_failure!(client_errors.failed().0, (%error),
            first: "the NATS client reported an error (said again every minute while it goes on)",
            still: "the NATS client still reports errors",
            again: "the NATS client reported an error again"),
        Event::Draining | Event::Closed => tracing::debug!(%event, "NATS connection"),
    }
}

/// The message bus on NATS JetStream.
///
/// Cheap to clone; clones share one connection. Call [`NatsBus::shutdown`] to stop every
/// puller and subscriber of this process (the server and its stream are untouched).
#[derive(Clone)]
pub struct NatsBus {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// What every handle of one bus shares: the connection, the stream and the shutdown flag.
struct Shared {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    stream: stream::Stream,
    config: NatsBusConfig,
    shutdown: watch::Sender<bool>,
    /// The advisory listeners (dead letters, consumers created and deleted), stopped with
    /// the last handle.
    advisories: Mutex<Vec<JoinHandle<()>>>,
    /// Workers' requests read out in the background (`queue.rs`, `let_run`), so that at
    /// shutdown what they bring is handed back.
    hand_backs: Mutex<Vec<JoinHandle<()>>>,
    /// One watch per queue declared here: what its workers have unfinished, and a task that
    /// declares its consumer again if it is deleted on the server (`consumer_watch.rs`);
    /// stopped with the last handle.
    watches: Mutex<consumer_watch::Watches>,
    /// How many times the client has connected, its receivers told of reconnections only:
    /// a pull request outstanding when the connection dropped may be gone with it, and a
    /// worker told of a reconnection asks again rather than wait for the request to run
    /// out (`queue.rs`).
    connections: watch::Sender<u64>,
    /// How many times a queue's consumer was declared again here after being deleted on
    /// the server: a worker whose pull request went to the deleted one asks again at once
    /// rather than wait out the request's expiry.
    redeclared: watch::Sender<u64>,
}

impl NatsBus {
    /// Connects, creates the stream (or brings an existing one to this configuration: the
    /// bus owns its stream's settings) and starts listening for deliveries that ran out of
    /// attempts.
    pub async fn connect(config: NatsBusConfig) -> Result<Self, NatsBusError> {
        if config.subjects.is_empty() {
            return Err(NatsBusError::NoSubjects(config.stream.clone()));
        }
        if let Some(namespace) = &config.namespace
            && (namespace.is_empty()
                || !namespace
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(NatsBusError::InvalidNamespace(namespace.clone()));
        }
        let connections = watch::Sender::new(0);
        let counted = connections.clone();
        // Only what it says matters here: the client paces its own reconnections.
        let client_errors = Mutex::new(FailureStreak::new(
            std::time::Duration::ZERO,
            std::time::Duration::ZERO,
        ));
        let client = connect_options(&config.credentials)
            .await?
            .name("claims-engine")
            .event_callback(move |event| {
                connection_event(&counted, &client_errors, event);
                std::future::ready(())
            })
            .connect(config.url.as_str())
            .await
            .map_err(|source| NatsBusError::Connect {
                url: config.url.clone(),
                source,
            })?;
        let jetstream = jetstream::new(client.clone());
        jetstream
            .create_or_update_stream(kept_republishing(&jetstream, stream_config(&config)).await)
            .await
            .map_err(|source| NatsBusError::Stream {
                stream: config.stream.clone(),
                source,
            })?;
        let stream = jetstream
            .get_stream(&config.stream)
            .await
            .map_err(|source| NatsBusError::StreamLookup {
                stream: config.stream.clone(),
                source,
            })?;
        let advisories = dead_letter::subscribe_to_advisories(&client, &config.stream).await?;
        let consumer_changes =
            consumer_watch::subscribe_to_changes(&client, &config.stream).await?;
        tracing::info!(
            url = %config.url,
            stream = %config.stream,
            subjects = ?config.subjects,
            "NATS bus connected"
        );
        let shared = Arc::new(Shared {
            client,
            jetstream,
            stream,
            config,
            shutdown: watch::Sender::new(false),
            advisories: Mutex::new(Vec::new()),
            hand_backs: Mutex::new(Vec::new()),
            watches: Mutex::new(HashMap::new()),
            connections,
            redeclared: watch::Sender::new(0),
        });
        let listeners = vec![
            tokio::spawn(dead_letter::listen(Arc::downgrade(&shared), advisories)),
            tokio::spawn(consumer_watch::listen(
                Arc::downgrade(&shared),
                consumer_changes,
            )),
        ];
        *shared
            .advisories
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = listeners;
        Ok(Self { shared })
    }

    /// The bus's configuration.
    pub fn config(&self) -> &NatsBusConfig {
        &self.shared.config
    }

    /// Stops this process's side of the bus: every waiting and future [`WorkQueue::next`]
    /// returns `None`, every [`Subscription::next`] returns `None`, and publishing,
    /// declaring queues and subscribing fail with [`BusError::Unavailable`]. What the
    /// stream holds stays for the next process.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        tracing::debug!(stream = %self.shared.config.stream, "NATS bus shut down");
    }

    /// Waits until every worker stopped by [`NatsBus::shutdown`] has handed back what its
    /// last pull request brought (a few seconds at most), so that another process can take
    /// those messages at once rather than after their acknowledgement wait. Call it after
    /// the workers have stopped and before the process exits.
    pub async fn handed_back(&self) {
        let hand_backs = std::mem::take(
            &mut *self
                .shared
                .hand_backs
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for hand_back in hand_backs {
            let _ = hand_back.await;
        }
    }

    /// True once [`NatsBus::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.shared.is_shut_down()
    }
}

#[async_trait]
impl MessageBus for NatsBus {
    async fn publish(&self, message: Message) -> Result<Published, BusError> {
        self.shared.publish(message).await
    }

    fn connection(&self) -> BusConnection {
        BusConnection {
            connected: self.shared.client.connection_state()
                == async_nats::connection::State::Connected,
            reconnections: self.shared.connections.borrow().saturating_sub(1),
            queues_redeclared: *self.shared.redeclared.borrow(),
        }
    }

    async fn publish_all(&self, messages: Vec<Message>) -> Result<Vec<Published>, BusError> {
        self.shared.publish_all(messages).await
    }

    async fn work_queue(&self, spec: WorkQueueSpec) -> Result<Box<dyn WorkQueue>, BusError> {
        queue::declare(&self.shared, spec).await
    }

    async fn subscribe(&self, pattern: SubjectPattern) -> Result<Subscription, BusError> {
        subscription::subscribe(&self.shared, pattern).await
    }
}

impl Shared {
    /// Keeps a background read-out of a worker's request for [`NatsBus::handed_back`].
    fn track_hand_back(&self, hand_back: JoinHandle<()>) {
        let mut hand_backs = self
            .hand_backs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Those done are let go: a busy worker leaves many fetches to run in a day.
        hand_backs.retain(|earlier| !earlier.is_finished());
        hand_backs.push(hand_back);
    }

    fn is_shut_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    fn ensure_running(&self) -> Result<(), BusError> {
        if self.is_shut_down() {
            Err(BusError::Unavailable(
                "the NATS bus is shut down".to_owned(),
            ))
        } else {
            Ok(())
        }
    }

    /// True when the stream stores messages published to `subject`.
    fn captures(&self, subject: &Subject) -> bool {
        self.config
            .subjects
            .iter()
            .any(|pattern| pattern.matches(subject))
    }

    /// The largest message accepted: the server's limit, or the configured one if lower.
    fn max_payload(&self) -> usize {
        let server = self.client.server_info().max_payload;
        match self.config.max_payload {
            Some(limit) if server == 0 || limit < server => limit,
            _ => server,
        }
    }

    async fn publish(&self, message: Message) -> Result<Published, BusError> {
        self.ensure_running()?;
        let through_stream = self.captures(&message.subject);
        let headers = convert::to_headers(&message, through_stream)?;
        if through_stream {
            self.store(&message.subject, headers, message.payload).await
        } else {
            if message.id.is_some() {
                tracing::debug!(
                    subject = %message.subject,
                    "message id not deduplicated: the stream does not capture this subject"
                );
            }
            self.send_plain(
                &message.subject,
                message.reply_to.as_ref(),
                headers,
                message.payload,
            )
            .await?;
            Ok(Published { duplicate: false })
        }
    }

    /// Sends every message to the stream in order on the one connection (so the stream
    /// stores them in that order), then waits for the stream's acknowledgements: one round
    /// trip for the lot instead of one per message. A message the stream does not capture
    /// is sent plain, in its place.
    async fn publish_all(&self, messages: Vec<Message>) -> Result<Vec<Published>, BusError> {
        self.ensure_running()?;
        let mut acks = Vec::with_capacity(messages.len());
        for message in messages {
            let through_stream = self.captures(&message.subject);
            let headers = convert::to_headers(&message, through_stream)?;
            if through_stream {
                self.check_size(&headers, message.payload.len())?;
                let ack = self
                    .jetstream
                    .send_publish(
                        self.config.on_wire(message.subject.as_str()),
                        PublishMessage::build()
                            .payload(message.payload)
                            .headers(headers),
                    )
                    .await
                    .map_err(|error| not_stored(&message.subject, &error))?;
                acks.push(Some((message.subject, ack)));
            } else {
                self.send_plain(
                    &message.subject,
                    message.reply_to.as_ref(),
                    headers,
                    message.payload,
                )
                .await?;
                acks.push(None);
            }
        }
        let mut published = Vec::with_capacity(acks.len());
        for ack in acks {
            published.push(match ack {
                Some((subject, ack)) => Published {
                    duplicate: ack
                        .await
                        .map_err(|error| not_stored(&subject, &error))?
                        .duplicate,
                },
                None => Published { duplicate: false },
            });
        }
        Ok(published)
    }

    /// Refuses a message larger than the server takes, before anything is sent.
    fn check_size(&self, headers: &HeaderMap, payload_len: usize) -> Result<(), BusError> {
        let size = convert::wire_size(headers, payload_len);
        let limit = self.max_payload();
        if size > limit {
            return Err(BusError::TooLarge { size, limit });
        }
        Ok(())
    }

    /// Publishes through the stream (under the namespace, if any) and waits until it is
    /// stored (or found a duplicate).
    async fn store(
        &self,
        subject: &Subject,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<Published, BusError> {
        self.check_size(&headers, payload.len())?;
        let unavailable = |error: &dyn std::fmt::Display| {
            BusError::Unavailable(format!(
                "JetStream did not store the message to {subject}: {error}"
            ))
        };
        let ack = self
            .jetstream
            .send_publish(
                self.config.on_wire(subject.as_str()),
                PublishMessage::build().payload(payload).headers(headers),
            )
            .await
            .map_err(|error| unavailable(&error))?
            .await
            .map_err(|error| unavailable(&error))?;
        if ack.duplicate {
            tracing::debug!(%subject, sequence = ack.sequence, "duplicate message dropped");
        }
        Ok(Published {
            duplicate: ack.duplicate,
        })
    }

    /// Publishes as a plain NATS message (under the namespace, if any), for subjects the
    /// stream does not capture.
    async fn send_plain(
        &self,
        subject: &Subject,
        reply_to: Option<&Subject>,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<(), BusError> {
        self.check_size(&headers, payload.len())?;
        let subject_text = self.config.on_wire(subject.as_str());
        let sent = match reply_to {
            Some(reply_to) => {
                self.client
                    .publish_with_reply_and_headers(
                        subject_text,
                        self.config.on_wire(reply_to.as_str()),
                        headers,
                        payload,
                    )
                    .await
            }
            None => {
                self.client
                    .publish_with_headers(subject_text, headers, payload)
                    .await
            }
        };
        sent.map_err(|error| {
            BusError::Unavailable(format!(
                "NATS did not take the message to {subject}: {error}"
            ))
        })
    }
}

fn not_stored(subject: &Subject, error: &dyn std::fmt::Display) -> BusError {
    BusError::Unavailable(format!(
        "JetStream did not store the message to {subject}: {error}"
    ))
}

impl Drop for Shared {
    fn drop(&mut self) {
        for listener in self
            .advisories
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            listener.abort();
        }
        let watches = self
            .watches
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for (_, (_, watch)) in watches.drain() {
            watch.abort();
        }
    }
}

/// The connection options that present `credentials` to the server; an insurer's client
/// (`claims submit`) connects the same way the engine does.
pub async fn connect_options(
    credentials: &NatsCredentials,
) -> Result<ConnectOptions, NatsBusError> {
    let options = ConnectOptions::new();
    Ok(match credentials {
        NatsCredentials::None => options,
        NatsCredentials::UserPassword { user, password } => {
            options.user_and_password(user.clone(), password.clone())
        }
        NatsCredentials::Token(token) => options.token(token.clone()),
        NatsCredentials::CredentialsFile(path) => {
            options
                .credentials_file(path)
                .await
                .map_err(|source| NatsBusError::Credentials {
                    path: path.clone(),
                    source,
                })?
        }
    })
}

/// `wanted`, keeping the republishing of a stream made by an earlier version: nothing
/// listens to those copies any more, but nats-server 2.9 refuses to change a stream's
/// republishing, and would refuse the whole update.
async fn kept_republishing(
    jetstream: &jetstream::Context,
    mut wanted: stream::Config,
) -> stream::Config {
    if let Ok(existing) = jetstream.get_stream(&wanted.name).await
        && let Some(republish) = existing.cached_info().config.republish.clone()
    {
        tracing::warn!(
            stream = %wanted.name,
            destination = %republish.destination,
            "the stream republishes every message it stores, as streams made by earlier versions did; nothing needs the copies now, and they cost nats-server processor time (docs/operations.md, \"A stream that still republishes\")"
        );
        wanted.republish = Some(republish);
    }
    wanted
}

/// The stream: every configured subject, kept for `max_age`, deduplicated within the
/// window. Nothing is republished: subscriptions read the stream through consumers of
/// their own (a stream made by an earlier version keeps republishing, see
/// [`kept_republishing`]).
fn stream_config(config: &NatsBusConfig) -> stream::Config {
    stream::Config {
        name: config.stream.clone(),
        description: Some(
            "The claims engine's messages: work queues and subscriptions read them, dead \
             letters stay here for operators."
                .to_owned(),
        ),
        subjects: config
            .subjects
            .iter()
            .map(|pattern| config.on_wire(pattern.as_str()))
            .collect(),
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::Old,
        duplicate_window: config.dedup_window,
        max_age: config.max_age,
        max_message_size: config
            .max_payload
            .and_then(|limit| i32::try_from(limit).ok())
            .unwrap_or(-1),
        max_messages: -1,
        max_bytes: -1,
        max_messages_per_subject: -1,
        republish: None,
        ..stream::Config::default()
    }
}
