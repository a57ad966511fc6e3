//! `claims dead-letters list | requeue`: what an operator does with the messages a work
//! queue gave up on (see docs/operations.md, "Dead letters").
//!
//! `list` prints each dead letter on one line (or as JSON lines); `requeue` puts the chosen
//! ones back on their original subjects, once the cause is fixed, so the engine processes
//! them once more, and removes them from the stream.

use crate::subjects;
use claims_adapters::bus::{
    DeadLetterError, DeadLetters, NatsBusConfig, NatsCredentials, Requeued, StoredDeadLetter,
};
use std::fmt::Write as _;

/// The engine's stream on a NATS server, as `claims serve` keeps it.
pub fn bus_config(url: &str, stream: &str, credentials: NatsCredentials) -> NatsBusConfig {
    let mut config = NatsBusConfig::new(url, stream, subjects::stream_subjects());
    config.credentials = credentials;
    config
}

/// Which dead letters of a queue to requeue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These stream sequences.
    Sequences(Vec<u64>),
    /// Every dead letter of the queue.
    All,
}

/// What a requeue did, dead letter by dead letter.
#[derive(Debug, Default)]
pub struct RequeueReport {
    /// Put back on their subjects.
    pub requeued: Vec<Requeued>,
    /// Not requeued, with why (each is kept in the stream, unless it never was there).
    pub failed: Vec<(u64, DeadLetterError)>,
}

/// Every dead letter, of one queue when `queue` is named.
pub async fn list(
    config: NatsBusConfig,
    queue: Option<&str>,
) -> Result<Vec<StoredDeadLetter>, DeadLetterError> {
    DeadLetters::connect(config).await?.list(queue).await
}

/// Requeues the selected dead letters of `queue`; one that fails does not stop the others.
pub async fn requeue(
    config: NatsBusConfig,
    queue: &str,
    selection: &Selection,
) -> Result<RequeueReport, DeadLetterError> {
    let dead_letters = DeadLetters::connect(config).await?;
    let sequences = match selection {
        Selection::Sequences(sequences) => sequences.clone(),
        Selection::All => dead_letters
            .list(Some(queue))
            .await?
            .iter()
            .map(|letter| letter.sequence)
            .collect(),
    };
    let mut report = RequeueReport::default();
    for sequence in sequences {
        match dead_letters.requeue(sequence, Some(queue)).await {
            Ok(requeued) => report.requeued.push(requeued),
            Err(error) => report.failed.push((sequence, error)),
        }
    }
    Ok(report)
}

/// One line per dead letter: sequence, queue, original subject, time, deliveries, reason.
pub fn render(letters: &[StoredDeadLetter]) -> String {
    let mut out = String::new();
    for letter in letters {
        let _ = writeln!(
            out,
            "{}  {}  {}  {}  {} deliveries  {}",
            letter.sequence,
            letter.queue,
            letter.original_subject,
            letter.dead_lettered_at.to_rfc3339(),
            letter
                .deliveries
                .map_or_else(|| "?".to_owned(), |count| count.to_string()),
            letter.reason
        );
    }
    let _ = writeln!(out, "{} dead letters", letters.len());
    out
}

/// One JSON object per dead letter and line (the payload left out: it may carry health
/// data, and `nats stream get` shows it to whoever may see it).
pub fn json_lines(letters: &[StoredDeadLetter]) -> String {
    let mut out = String::new();
    for letter in letters {
        let _ = writeln!(
            out,
            "{}",
            serde_json::json!({
                "sequence": letter.sequence,
                "queue": letter.queue,
                "original_subject": letter.original_subject,
                "dead_lettered_at": letter.dead_lettered_at.to_rfc3339(),
                "deliveries": letter.deliveries,
                "reason": letter.reason,
                "payload_bytes": letter.payload.len(),
            })
        );
    }
    out
}

/// A line per dead letter requeued or not.
pub fn render_requeue(report: &RequeueReport) -> String {
    let mut out = String::new();
    for requeued in &report.requeued {
        let _ = writeln!(
            out,
            "requeued {} to {} (now message {}{})",
            requeued.dead_letter,
            requeued.subject,
            requeued.sequence,
            if requeued.duplicate {
                ", already requeued before: stored once"
            } else {
                ""
            }
        );
    }
    for (sequence, error) in &report.failed {
        let _ = writeln!(out, "not requeued {sequence}: {error}");
    }
    let _ = writeln!(
        out,
        "{} requeued, {} not",
        report.requeued.len(),
        report.failed.len()
    );
    out
}
