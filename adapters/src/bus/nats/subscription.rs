//! Non-durable subscriptions on NATS: what the stream stored, read through ordered
//! consumers of the subscription's own, and plain messages on subjects the stream does not
//! capture.
//!
//! A JetStream publish is also a plain NATS message that every subscriber hears, duplicate
//! or not, so a subscription hears a captured subject from the stream instead: an
//! ephemeral ordered consumer from the moment it subscribes, which delivers each stored
//! message once and in order, and picks up where it was after a lost connection. The
//! stream used to republish every message it stored for subscriptions to hear, which cost
//! nats-server about a sixth of its processor time per claim whether or not anyone
//! listened (`docs/benchmarks.md`); a consumer costs only while a subscription has one.

use super::{NatsBusConfig, Shared, convert};
use crate::bus::{BusError, Message, Subject, SubjectPattern, Subscription};
use async_nats::jetstream::consumer::{DeliverPolicy, push};
use futures::StreamExt;
use futures::future::Either;
use futures::stream::BoxStream;
use tokio::sync::{mpsc, watch};

/// Subscribes to `pattern` in the stream, where it captures the pattern's subjects, and
/// as plain NATS elsewhere, and forwards each message once into the port's
/// [`Subscription`].
pub(super) async fn subscribe(
    shared: &Shared,
    pattern: SubjectPattern,
) -> Result<Subscription, BusError> {
    shared.ensure_running()?;
    let failed = |error: &dyn std::fmt::Display| {
        BusError::Unavailable(format!("cannot subscribe to {pattern}: {error}"))
    };
    let plain = shared
        .client
        .subscribe(shared.config.on_wire(pattern.as_str()))
        .await
        .map_err(|error| failed(&error))?;
    let mut stored = Vec::new();
    for filter in stored_filters(&shared.config.subjects, &pattern) {
        let consumer = shared
            .stream
            .create_consumer(push::OrderedConfig {
                deliver_subject: shared.client.new_inbox(),
                description: Some(format!("Claims bus subscription to {pattern}")),
                filter_subject: shared.config.on_wire(filter.as_str()),
                deliver_policy: DeliverPolicy::New,
                ..push::OrderedConfig::default()
            })
            .await
            .map_err(|error| failed(&error))?;
        // Everything the stream held when the consumer was made. Made again after a lost
        // connection or heartbeat before it delivered anything, an ordered consumer starts
        // from the stream's first message; what came before this is not the
        // subscription's to hear.
        let before = consumer.cached_info().delivered.stream_sequence;
        let messages = consumer.messages().await.map_err(|error| failed(&error))?;
        stored.push(
            messages
                .filter(move |read| std::future::ready(after(read, before)))
                .boxed(),
        );
    }
    let (sender, receiver) = mpsc::unbounded_channel();
    let sorter = Sorter {
        config: shared.config.clone(),
        captured: shared.config.subjects.clone(),
    };
    tokio::spawn(forward(
        futures::stream::select_all(stored).boxed(),
        plain,
        sorter,
        sender,
        shared.shutdown.subscribe(),
    ));
    Ok(Subscription::from_receiver(receiver))
}

/// What a subscription to `pattern` reads from the stream: where it meets each of the
/// stream's subjects, each taken once. The server accepts a consumer's filter only within
/// (or around) one of the stream's subjects, which each of these is.
fn stored_filters(captured: &[SubjectPattern], pattern: &SubjectPattern) -> Vec<SubjectPattern> {
    let overlaps: Vec<SubjectPattern> = captured
        .iter()
        .filter_map(|subjects| subjects.overlap(pattern))
        .collect();
    let mut filters: Vec<SubjectPattern> = Vec::new();
    for (index, overlap) in overlaps.iter().enumerate() {
        // Two of the stream's subjects may overlap each other: a message they share is
        // read once, through the wider filter (or the first of two alike).
        let covered = overlaps.iter().enumerate().any(|(other, wider)| {
            other != index && wider.covers(overlap) && (!overlap.covers(wider) || other < index)
        });
        if !covered {
            filters.push(overlap.clone());
        }
    }
    filters
}

/// Whether what a subscription's consumer read came after stream sequence `before` (an
/// error is passed on).
fn after(read: &Result<async_nats::jetstream::Message, push::OrderedError>, before: u64) -> bool {
    match read {
        Ok(message) => message
            .info()
            .map_or(true, |info| info.stream_sequence > before),
        Err(_) => true,
    }
}

type Stored = BoxStream<'static, Result<async_nats::jetstream::Message, push::OrderedError>>;

/// Forwards until the subscriber lets go, the bus shuts down or the connection closes.
/// Dropping the NATS subscriptions unsubscribes them; the server forgets an ordered
/// consumer nobody listens to.
async fn forward(
    stored: Stored,
    plain: async_nats::Subscriber,
    sorter: Sorter,
    sender: mpsc::UnboundedSender<Message>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut incoming = futures::stream::select(stored.map(Either::Left), plain.map(Either::Right));
    loop {
        tokio::select! {
            () = sender.closed() => break,
            _ = shutdown.wait_for(|down| *down) => break,
            next = incoming.next() => {
                let Some(next) = next else { break };
                let message = match next {
                    Either::Left(Ok(stored)) => sorter.stored(stored),
                    Either::Left(Err(error)) => {
                        // The ordered consumer says so and declares itself again from the
                        // next message it expects.
                        tracing::debug!(%error, "a subscription's reading of the stream was interrupted");
                        None
                    }
                    Either::Right(plain) => sorter.plain(plain),
                };
                if let Some(message) = message
                    && sender.send(message).is_err()
                {
                    break;
                }
            }
        }
    }
}

/// Tells which copy of a message to keep.
struct Sorter {
    /// The bus's configuration, to read subjects back out of its namespace.
    config: NatsBusConfig,
    /// The stream's subjects: plain messages on these are heard through the stream instead.
    captured: Vec<SubjectPattern>,
}

impl Sorter {
    /// A message the stream stored: kept, under its subject.
    fn stored(&self, message: async_nats::jetstream::Message) -> Option<Message> {
        let message = message.message;
        let subject = self.config.off_wire(message.subject.as_str());
        convert::from_nats(subject, None, message.headers.as_ref(), message.payload)
            .inspect_err(|error| {
                tracing::warn!(%error, "a stored message the bus cannot represent was skipped");
            })
            .ok()
    }

    /// A plain message: kept only if the stream does not capture its subject (else its
    /// stored copy is heard, and a dropped duplicate is not).
    fn plain(&self, message: async_nats::Message) -> Option<Message> {
        let subject = self.config.off_wire(message.subject.as_str());
        let parsed = Subject::new(subject).ok()?;
        if self.captured.iter().any(|pattern| pattern.matches(&parsed)) {
            return None;
        }
        convert::from_nats(
            subject,
            message.reply.as_ref().map(|reply| reply.as_str()),
            message.headers.as_ref(),
            message.payload,
        )
        .inspect_err(|error| {
            tracing::warn!(%error, "a message the bus cannot represent was skipped");
        })
        .ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn patterns(texts: &[&str]) -> Vec<SubjectPattern> {
        texts
            .iter()
            .map(|text| SubjectPattern::new(*text).unwrap())
            .collect()
    }

    fn filters(captured: &[&str], pattern: &str) -> Vec<String> {
        stored_filters(&patterns(captured), &patterns(&[pattern])[0])
            .iter()
            .map(|filter| filter.as_str().to_owned())
            .collect()
    }

    #[test]
    fn a_subscription_reads_the_stream_where_it_meets_the_stream_subjects() {
        let stream = ["claims.submit.>", "events.>", "deadletter.>"];
        assert_eq!(filters(&stream, "deadletter.>"), ["deadletter.>"]);
        assert_eq!(filters(&stream, "deadletter.intake"), ["deadletter.intake"]);
        assert_eq!(filters(&stream, "claims.*.acme"), ["claims.submit.acme"]);
        assert_eq!(filters(&stream, ">"), stream);
        // Answers to insurers are plain messages only.
        assert!(filters(&stream, "claims.ack.acme").is_empty());
        // Stream subjects that overlap each other: a shared message is read once.
        assert_eq!(
            filters(&["events.>", "events.claim.>"], "events.>"),
            ["events.>"]
        );
        assert_eq!(filters(&["a.*", "a.*"], "a.b"), ["a.b"]);
    }
}
