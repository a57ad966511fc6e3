//! Dead letters on NATS: the copy a queue gives up on, and the advisory listener that
//! catches deliveries left unacknowledged on their last attempt.

use super::{NatsBusError, Shared};
use crate::bus::{BusError, Subject, dead_letter_headers};
use async_nats::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use futures::StreamExt;
use std::sync::Weak;

/// How a work queue's consumer description names its dead-letter subject, so that any
/// process (and the advisory listener) can find it from the consumer alone.
const DEAD_LETTER_MARK: &str = "dead letters to ";

/// Headers with this prefix belong to the server or to deduplication: a dead letter carries
/// none of the original's, or JetStream would drop it as a duplicate of the original.
const SERVER_PREFIX: &str = "Nats-";

/// The header JetStream deduplicates on.
const MESSAGE_ID: &str = "Nats-Msg-Id";

/// The description of a work queue's consumer.
pub(super) fn describe(queue: &str, dead_letter: &Subject) -> String {
    format!("Claims work queue {queue}; {DEAD_LETTER_MARK}{dead_letter}")
}

/// The dead-letter subject a consumer description names, if it is a work queue's.
pub(super) fn subject_in(description: Option<&str>) -> Option<&str> {
    description?
        .split_once(DEAD_LETTER_MARK)
        .map(|(_, subject)| subject)
}

/// A message a queue gives up on, as the server holds it.
pub(super) struct DeadLetter<'a> {
    /// The queue giving up.
    pub queue: &'a str,
    /// Its dead-letter subject.
    pub to: &'a str,
    /// Where the message was published (on the wire or the engine's subject).
    pub original_subject: &'a str,
    /// The message's headers as stored.
    pub headers: Option<&'a HeaderMap>,
    /// The message's body.
    pub payload: Bytes,
    /// The message's place in the stream: with the queue, what makes its dead letter one.
    pub sequence: u64,
    /// Deliveries attempted.
    pub deliveries: u64,
    /// Why it is given up on.
    pub reason: &'a str,
}

/// Publishes the dead letter (through the stream, which stores it), with the original's
/// headers and reply subject and the reason.
///
/// A queue dead-letters a message once: the dead letter's message id is the queue's name
/// and the original's stream sequence, so within the stream's duplicate window a second
/// one is dropped. A second comes when the term after the first is lost (a crash, a lost
/// connection) and the message is delivered again, when a worker rejects a delivery of a
/// consumer since deleted and the one declared in its place delivers the message again,
/// or when a late answer and the server's `MAX_DELIVERIES` advisory meet.
pub(super) async fn send(shared: &Shared, mut letter: DeadLetter<'_>) -> Result<(), BusError> {
    letter.original_subject = shared.config.off_wire(letter.original_subject);
    let to = Subject::new(letter.to)?;
    let mut headers = HeaderMap::new();
    for (name, values) in letter.headers.into_iter().flat_map(HeaderMap::iter) {
        let text: &str = name.as_ref();
        if text
            .get(..SERVER_PREFIX.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(SERVER_PREFIX))
        {
            continue;
        }
        for value in values {
            headers.append(name.clone(), value.clone());
        }
    }
    set(&mut headers, dead_letter_headers::REASON, letter.reason);
    set(
        &mut headers,
        dead_letter_headers::ORIGINAL_SUBJECT,
        letter.original_subject,
    );
    set(
        &mut headers,
        dead_letter_headers::DELIVERIES,
        &letter.deliveries.to_string(),
    );
    set(&mut headers, dead_letter_headers::QUEUE, letter.queue);
    if shared.captures(&to) {
        let id = format!(
            "{}-dead-letter-{}-{}",
            shared.config.stream, letter.queue, letter.sequence
        );
        set(&mut headers, MESSAGE_ID, &id);
        let stored = shared.store(&to, headers, letter.payload.clone()).await?;
        if stored.duplicate {
            tracing::debug!(
                queue = letter.queue,
                stream_sequence = letter.sequence,
                reason = letter.reason,
                "message already dead-lettered; this dead letter is dropped"
            );
        } else {
            log_dead_lettered(&letter);
        }
        Ok(())
    } else {
        log_dead_lettered(&letter);
        tracing::warn!(
            dead_letter = %to,
            "the stream does not capture this dead-letter subject; the dead letter is not stored"
        );
        shared.send_plain(&to, None, headers, letter.payload).await
    }
}

/// Says a message was dead-lettered (not when its dead letter was a duplicate).
fn log_dead_lettered(letter: &DeadLetter<'_>) {
    tracing::warn!(
        queue = letter.queue,
        subject = letter.original_subject,
        stream_sequence = letter.sequence,
        dead_letter = letter.to,
        deliveries = letter.deliveries,
        reason = letter.reason,
        "message dead-lettered"
    );
}

/// Sets a dead-letter header; a value NATS cannot carry (a line break in a reason) is
/// flattened onto one line rather than lost.
fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    let one_line = value.replace(['\r', '\n'], " ");
    let value = one_line.parse().unwrap_or_else(|_| HeaderValue::new());
    headers.insert(HeaderName::from_static(name), value);
}

/// The advisory JetStream emits when a delivery ran out of attempts without an answer.
#[derive(Debug, serde::Deserialize)]
struct MaxDeliveries {
    consumer: String,
    stream_seq: u64,
    deliveries: u64,
}

fn advisory_subject(stream: &str) -> String {
    format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.*")
}

/// Subscribes to the stream's max-deliveries advisories as a queue group, so that of every
/// process on this stream exactly one dead-letters each message.
pub(super) async fn subscribe_to_advisories(
    client: &async_nats::Client,
    stream: &str,
) -> Result<async_nats::Subscriber, NatsBusError> {
    let subject = advisory_subject(stream);
    client
        .queue_subscribe(subject.clone(), format!("claims-dead-letters-{stream}"))
        .await
        .map_err(|source| NatsBusError::Advisories { subject, source })
}

/// Dead-letters every message an advisory names, until the bus is dropped.
pub(super) async fn listen(shared: Weak<Shared>, mut advisories: async_nats::Subscriber) {
    while let Some(advisory) = advisories.next().await {
        let Some(shared) = shared.upgrade() else {
            break;
        };
        if let Err(error) = dead_letter_unanswered(&shared, &advisory.payload).await {
            tracing::error!(
                %error,
                advisory = %String::from_utf8_lossy(&advisory.payload),
                "a delivery that ran out of attempts could not be dead-lettered"
            );
        }
    }
}

/// Reads the message an advisory names from the stream and dead-letters it.
async fn dead_letter_unanswered(shared: &Shared, payload: &[u8]) -> Result<(), BusError> {
    let advisory: MaxDeliveries = serde_json::from_slice(payload)
        .map_err(|error| BusError::Unavailable(format!("unreadable advisory: {error}")))?;
    let consumer = shared
        .stream
        .consumer_info(&advisory.consumer)
        .await
        .map_err(|error| {
            BusError::Unavailable(format!(
                "cannot read work queue {}: {error}",
                advisory.consumer
            ))
        })?;
    let Some(to) = subject_in(consumer.config.description.as_deref()) else {
        tracing::debug!(
            consumer = %advisory.consumer,
            "max-deliveries advisory for a consumer that is not a claims work queue"
        );
        return Ok(());
    };
    let stored = shared
        .stream
        .get_raw_message(advisory.stream_seq)
        .await
        .map_err(|error| {
            BusError::Unavailable(format!(
                "cannot read message {} of the stream: {error}",
                advisory.stream_seq
            ))
        })?;
    let reason = format!(
        "never acknowledged: not answered within {:?} on the last of {} deliveries",
        consumer.config.ack_wait, advisory.deliveries
    );
    send(
        shared,
        DeadLetter {
            queue: &advisory.consumer,
            to,
            original_subject: stored.subject.as_str(),
            headers: Some(&stored.headers),
            payload: stored.payload,
            sequence: advisory.stream_seq,
            deliveries: advisory.deliveries,
            reason: &reason,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_description_names_the_dead_letter_subject() {
        let subject = Subject::new("deadletter.intake").unwrap();
        let description = describe("intake", &subject);
        assert_eq!(subject_in(Some(&description)), Some("deadletter.intake"));
        assert_eq!(subject_in(Some("someone else's consumer")), None);
        assert_eq!(subject_in(None), None);
    }

    #[test]
    fn an_advisory_is_read() {
        let payload = br#"{"type":"io.nats.jetstream.advisory.v1.max_deliver","id":"x","timestamp":"2026-01-01T00:00:00Z","stream":"CLAIMS","consumer":"intake","stream_seq":7,"deliveries":3}"#;
        let advisory: MaxDeliveries = serde_json::from_slice(payload).unwrap();
        assert_eq!(advisory.consumer, "intake");
        assert_eq!(advisory.stream_seq, 7);
        assert_eq!(advisory.deliveries, 3);
    }
}
