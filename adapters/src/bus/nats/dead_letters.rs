//! Dead letters as an operator handles them: read from the engine's stream, and requeued
//! to the subject they came from once the cause is fixed.
//!
//! A dead letter is a message on `deadletter.<queue>` carrying the original's payload and
//! headers plus the [`dead_letter_headers`]. Listing reads them by stream sequence, without
//! a consumer (nothing is left on the server). Requeueing republishes the original through
//! the stream, so every queue capturing its subject gets it again, and then deletes the dead
//! letter, so it is listed no more.
//!
//! The original's `Nats-Msg-Id` was dropped when it was dead-lettered (JetStream would
//! have dropped the dead letter itself as a duplicate of the original), so the requeued
//! message carries a derived id, `<stream>-requeue-<dead letter's sequence>`: requeueing
//! the same dead letter twice within the duplicate window (a crash between republishing
//! and deleting, then a second attempt) stores it once. Past the window the engine's own
//! idempotency holds: claim ids derive from the insurer and its claim reference, and
//! events are applied by event id.

use super::config::{NatsBusConfig, NatsBusError};
use super::connect_options;
use crate::bus::{Subject, dead_letter_headers};
use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{RawMessageErrorKind, Stream};
use async_nats::jetstream::{self, message::StreamMessage};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The first token of every dead-letter subject.
const DEAD_LETTER_PREFIX: &str = "deadletter.";

/// The header JetStream deduplicates on.
const MESSAGE_ID: &str = "Nats-Msg-Id";

/// A dead letter as the stream keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDeadLetter {
    /// Its sequence in the stream: how an operator names it.
    pub sequence: u64,
    /// The work queue that gave up on the message.
    pub queue: String,
    /// Where the message was published.
    pub original_subject: String,
    /// When it was dead-lettered.
    pub dead_lettered_at: DateTime<Utc>,
    /// Deliveries attempted before the queue gave up (absent on a malformed dead letter).
    pub deliveries: Option<u64>,
    /// Why the queue gave up.
    pub reason: String,
    /// The original's headers, each with its values (the dead-letter headers left out).
    pub headers: BTreeMap<String, Vec<String>>,
    /// The original's body.
    pub payload: Bytes,
}

/// A dead letter put back on its original subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requeued {
    /// The dead letter's sequence (deleted from the stream).
    pub dead_letter: u64,
    /// Where the message was republished.
    pub subject: String,
    /// Its new sequence in the stream.
    pub sequence: u64,
    /// True when the stream had already stored this requeue (an earlier attempt within the
    /// duplicate window) and dropped this one.
    pub duplicate: bool,
}

/// Why dead letters could not be read or requeued.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The server could not be reached.
    #[error(transparent)]
    Connect(#[from] NatsBusError),
    /// The stream could not be read.
    #[error("cannot read the JetStream stream {stream}: {reason}")]
    Stream {
        /// The stream.
        stream: String,
        /// Why.
        reason: String,
    },
    /// Nothing is stored at this sequence (never was, or already requeued or expired).
    #[error(
        "no message at sequence {sequence} of the stream {stream}: list the dead letters to see their sequences"
    )]
    NotFound {
        /// The stream.
        stream: String,
        /// The sequence asked for.
        sequence: u64,
    },
    /// The message at this sequence is not a dead letter.
    #[error("message {sequence} of the stream is on {subject}, not a dead letter")]
    NotADeadLetter {
        /// The sequence asked for.
        sequence: u64,
        /// Its subject.
        subject: String,
    },
    /// The dead letter came from another queue than the one named.
    #[error("dead letter {sequence} is from the queue {actual}, not {expected}")]
    OtherQueue {
        /// The sequence asked for.
        sequence: u64,
        /// The queue named.
        expected: String,
        /// The queue it came from.
        actual: String,
    },
    /// The dead letter names no original subject, or one the stream does not capture.
    #[error("dead letter {sequence} cannot be requeued: {reason}")]
    NotRequeueable {
        /// The dead letter.
        sequence: u64,
        /// Why.
        reason: String,
    },
    /// JetStream did not store the republished message; the dead letter is kept.
    #[error("dead letter {sequence} could not be republished to {subject} (it is kept): {reason}")]
    Republish {
        /// The dead letter.
        sequence: u64,
        /// Where it was going.
        subject: String,
        /// Why.
        reason: String,
    },
    /// Republished, but the dead letter could not be deleted: it stays listed, and
    /// requeueing it again within the duplicate window stores nothing new.
    #[error(
        "dead letter {sequence} was republished to {subject} but could not be deleted: {reason}"
    )]
    Delete {
        /// The dead letter.
        sequence: u64,
        /// Where it was republished.
        subject: String,
        /// Why.
        reason: String,
    },
}

/// The dead letters of one engine's stream.
pub struct DeadLetters {
    jetstream: jetstream::Context,
    stream: Stream,
    config: NatsBusConfig,
}

impl DeadLetters {
    /// Connects to the server and opens the engine's stream as it is (it is neither created
    /// nor changed: that is the engine's).
    pub async fn connect(config: NatsBusConfig) -> Result<Self, DeadLetterError> {
        let client = connect_options(&config.credentials)
            .await?
            .name("claims-dead-letters")
            .connect(config.url.as_str())
            .await
            .map_err(|source| NatsBusError::Connect {
                url: config.url.clone(),
                source,
            })?;
        let jetstream = jetstream::new(client);
        let stream = jetstream
            .get_stream(&config.stream)
            .await
            .map_err(|source| NatsBusError::StreamLookup {
                stream: config.stream.clone(),
                source,
            })?;
        Ok(Self {
            jetstream,
            stream,
            config,
        })
    }

    /// Every dead letter, oldest first; of one queue only when `queue` is named.
    pub async fn list(
        &self,
        queue: Option<&str>,
    ) -> Result<Vec<StoredDeadLetter>, DeadLetterError> {
        let filter = match queue {
            Some(queue) => format!("{DEAD_LETTER_PREFIX}{queue}"),
            None => format!("{DEAD_LETTER_PREFIX}>"),
        };
        let filter = self.config.on_wire(&filter);
        let mut letters = Vec::new();
        let mut from = 1;
        loop {
            match self
                .stream
                .get_first_raw_message_by_subject(&filter, from)
                .await
            {
                Ok(message) => {
                    from = message.sequence + 1;
                    letters.push(read(&self.config, message)?);
                }
                Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => break,
                Err(error) => return Err(self.unreadable(&error)),
            }
        }
        Ok(letters)
    }

    /// The dead letter at `sequence`.
    pub async fn get(&self, sequence: u64) -> Result<StoredDeadLetter, DeadLetterError> {
        match self.stream.get_raw_message(sequence).await {
            Ok(message) => read(&self.config, message),
            Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => {
                Err(DeadLetterError::NotFound {
                    stream: self.config.stream.clone(),
                    sequence,
                })
            }
            Err(error) => Err(self.unreadable(&error)),
        }
    }

    /// Republishes the dead letter at `sequence` to its original subject with its original
    /// headers, then deletes it. With `queue` named, a dead letter of another queue is
    /// refused.
    pub async fn requeue(
        &self,
        sequence: u64,
        queue: Option<&str>,
    ) -> Result<Requeued, DeadLetterError> {
        let letter = self.get(sequence).await?;
        if let Some(expected) = queue
            && letter.queue != expected
        {
            return Err(DeadLetterError::OtherQueue {
                sequence,
                expected: expected.to_owned(),
                actual: letter.queue,
            });
        }
        let not_requeueable = |reason: String| DeadLetterError::NotRequeueable { sequence, reason };
        let subject = Subject::new(&letter.original_subject).map_err(|error| {
            not_requeueable(format!(
                "its original subject {:?} is not one: {error}",
                letter.original_subject
            ))
        })?;
        if !self
            .config
            .subjects
            .iter()
            .any(|pattern| pattern.matches(&subject))
        {
            return Err(not_requeueable(format!(
                "the stream does not capture its original subject {subject}"
            )));
        }
        if letter.original_subject.starts_with(DEAD_LETTER_PREFIX) {
            return Err(not_requeueable(
                "its original subject is itself a dead-letter subject".to_owned(),
            ));
        }
        let mut headers = HeaderMap::new();
        for (name, values) in &letter.headers {
            for value in values {
                headers.append(name.as_str(), value.as_str());
            }
        }
        headers.insert(
            MESSAGE_ID,
            format!("{}-requeue-{sequence}", self.config.stream).as_str(),
        );
        let republish = |reason: String| DeadLetterError::Republish {
            sequence,
            subject: subject.to_string(),
            reason,
        };
        let ack = self
            .jetstream
            .send_publish(
                self.config.on_wire(subject.as_str()),
                PublishMessage::build()
                    .payload(letter.payload)
                    .headers(headers),
            )
            .await
            .map_err(|error| republish(error.to_string()))?
            .await
            .map_err(|error| republish(error.to_string()))?;
        self.stream
            .delete_message(sequence)
            .await
            .map_err(|error| DeadLetterError::Delete {
                sequence,
                subject: subject.to_string(),
                reason: error.to_string(),
            })?;
        tracing::info!(
            dead_letter = sequence,
            %subject,
            sequence = ack.sequence,
            duplicate = ack.duplicate,
            "dead letter requeued"
        );
        Ok(Requeued {
            dead_letter: sequence,
            subject: subject.to_string(),
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    fn unreadable(&self, error: &dyn std::fmt::Display) -> DeadLetterError {
        DeadLetterError::Stream {
            stream: self.config.stream.clone(),
            reason: error.to_string(),
        }
    }
}

/// A stored message read as a dead letter.
fn read(
    config: &NatsBusConfig,
    message: StreamMessage,
) -> Result<StoredDeadLetter, DeadLetterError> {
    let subject = config.off_wire(message.subject.as_str()).to_owned();
    let Some(queue_of_subject) = subject.strip_prefix(DEAD_LETTER_PREFIX) else {
        return Err(DeadLetterError::NotADeadLetter {
            sequence: message.sequence,
            subject,
        });
    };
    let header = |name: &str| {
        message
            .headers
            .get(name)
            .map(|value| value.as_str().to_owned())
    };
    let dead_letter_names = [
        dead_letter_headers::REASON,
        dead_letter_headers::ORIGINAL_SUBJECT,
        dead_letter_headers::DELIVERIES,
        dead_letter_headers::QUEUE,
    ];
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, values) in message.headers.iter() {
        let name: &str = name.as_ref();
        if dead_letter_names
            .iter()
            .any(|dead| dead.eq_ignore_ascii_case(name))
            || name.to_ascii_lowercase().starts_with("nats-")
        {
            continue;
        }
        headers
            .entry(name.to_owned())
            .or_default()
            .extend(values.iter().map(|value| value.as_str().to_owned()));
    }
    let time = message.time;
    Ok(StoredDeadLetter {
        sequence: message.sequence,
        queue: header(dead_letter_headers::QUEUE).unwrap_or_else(|| queue_of_subject.to_owned()),
        original_subject: header(dead_letter_headers::ORIGINAL_SUBJECT).unwrap_or_default(),
        dead_lettered_at: DateTime::from_timestamp(time.unix_timestamp(), time.nanosecond())
            .unwrap_or_default(),
        deliveries: header(dead_letter_headers::DELIVERIES).and_then(|text| text.parse().ok()),
        reason: header(dead_letter_headers::REASON).unwrap_or_default(),
        headers,
        payload: message.payload,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::bus::SubjectPattern;

    fn message(subject: &str, headers: &[(&str, &str)]) -> StreamMessage {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, *value);
        }
        StreamMessage {
            subject: subject.into(),
            sequence: 42,
            headers: map,
            payload: Bytes::from_static(b"{}"),
            time: async_nats::datetime::parse_rfc3339("2026-03-25T10:00:00Z").unwrap(),
        }
    }

    #[test]
    fn a_dead_letter_keeps_the_original_headers_apart_from_its_own() {
        let config = NatsBusConfig::new(
            "nats://127.0.0.1:4222",
            "CLAIMS",
            vec![SubjectPattern::new("events.>").unwrap()],
        )
        .in_namespace("staging");
        let letter = read(
            &config,
            message(
                "staging.deadletter.adjudication",
                &[
                    ("Content-Type", "application/json"),
                    ("Claims-Reply-To", "_INBOX.acme.1"),
                    (
                        dead_letter_headers::REASON,
                        "member M-1 is no longer enrolled",
                    ),
                    (
                        dead_letter_headers::ORIGINAL_SUBJECT,
                        "events.claim.ClaimSubmitted.claim-1",
                    ),
                    (dead_letter_headers::DELIVERIES, "5"),
                    (dead_letter_headers::QUEUE, "adjudication"),
                ],
            ),
        )
        .unwrap();
        assert_eq!(letter.sequence, 42);
        assert_eq!(letter.queue, "adjudication");
        assert_eq!(
            letter.original_subject,
            "events.claim.ClaimSubmitted.claim-1"
        );
        assert_eq!(letter.deliveries, Some(5));
        assert_eq!(letter.reason, "member M-1 is no longer enrolled");
        assert_eq!(
            letter.dead_lettered_at.to_rfc3339(),
            "2026-03-25T10:00:00+00:00"
        );
        assert_eq!(
            letter
                .headers
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["Claims-Reply-To", "Content-Type"]
        );
    }

    #[test]
    fn a_message_off_the_dead_letter_subjects_is_not_read_as_one() {
        let config = NatsBusConfig::new("nats://127.0.0.1:4222", "CLAIMS", vec![]);
        let refused = read(&config, message("claims.submit.acme", &[]));
        assert!(matches!(
            refused,
            Err(DeadLetterError::NotADeadLetter { sequence: 42, .. })
        ));
    }
}
