//! What a role decides about a message it has handled, and the one place that tells the
//! bus: done (ack), try again later (nak with a delay) or never (dead-letter with the
//! reason). A failure to tell the bus is logged; the bus then redelivers, which every role
//! tolerates because every command is idempotent.

use claims_adapters::bus::Delivery;
use std::time::Duration;
use tracing::warn;

/// The fate of a handled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Its work is stored: never deliver it again.
    Done,
    /// Its work failed for a reason that may pass (the store was busy or down).
    Retry {
        /// How long to wait before the next attempt.
        after: Duration,
        /// Why, for the dead letter if this was the last attempt.
        reason: String,
    },
    /// It can never be processed: dead-letter it with the reason.
    Unprocessable(String),
}

impl Verdict {
    /// A retry whose wait grows with the attempt: `step` times the attempt, capped at 30 steps.
    pub fn retry(delivery: &Delivery, step: Duration, reason: impl ToString) -> Self {
        Verdict::Retry {
            after: step.saturating_mul(delivery.attempt.min(30)),
            reason: reason.to_string(),
        }
    }
}

/// Tells the bus the verdict on a delivery.
pub async fn conclude(delivery: Delivery, verdict: Verdict) {
    let subject = delivery.message.subject.clone();
    let outcome = match verdict {
        Verdict::Done => delivery.ack().await,
        Verdict::Retry { after, reason } => delivery.nak(Some(after), &reason).await,
        Verdict::Unprocessable(reason) => {
            warn!(%subject, %reason, "dead-lettering a message that cannot be processed");
            delivery.reject(&reason).await
        }
    };
    if let Err(error) = outcome {
        warn!(%subject, %error, "could not acknowledge a message; the bus will redeliver it");
    }
}
