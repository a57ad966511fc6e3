//! Reviewer commands over the bus: an insurer's reviewer approves or denies a pended claim
//! by publishing to `claims.review.<insurer>`, and hears `accepted` (with the claim's new
//! decision) or `rejected` (why) on the message's reply subject and always on
//! `claims.review-ack.<insurer>`.
//!
//! ```json
//! { "claim_ref": "ACME-2026-0001", "reviewer": "Dr Rao", "verdict": "approve" }
//! { "claim_ref": "ACME-2026-0001", "reviewer": "Dr Rao", "verdict": "deny",
//!   "reason": "no medical necessity documented" }
//! ```
//!
//! The claim is named by the insurer's own reference, so an insurer can only review its
//! own claims. The decision goes through [`Adjudicator::review`]: the `ClaimReviewed`
//! event and the new `ClaimAdjudicated` are stored in one append, and the same command
//! again stores nothing (it is answered `accepted` with `duplicate: true`).

use crate::adjudicator::{Adjudicated, Adjudicator, AdjudicatorError};
use crate::answer;
use crate::intake::ReplyStatus;
use crate::store_gate::WorksOne;
use crate::subjects;
use crate::verdict::Verdict;
use claims_adapters::bus::{Delivery, Message, MessageBus, WorkQueue};
use claims_domain::adjudication::Decision;
use claims_domain::claim::{Review, ReviewVerdict};
use claims_domain::{ClaimId, InsurerClaimRef, InsurerId, Money};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tracing::{Instrument, info, warn};

/// A reviewer's command, as published to `claims.review.<insurer>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewCommand {
    /// The insurer's reference of the pended claim.
    pub claim_ref: InsurerClaimRef,
    /// Who decides.
    pub reviewer: String,
    /// `approve` or `deny`.
    pub verdict: ReviewAction,
    /// Why, in the reviewer's words; required to deny.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the reviewer decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewAction {
    /// Release the claim to the plan's rules, without the review threshold.
    Approve,
    /// Nothing is payable.
    Deny,
}

/// The engine's answer to a reviewer's command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewReply {
    /// Accepted or rejected.
    pub status: ReplyStatus,
    /// The claim reference, when the command had a readable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_ref: Option<String>,
    /// The engine's claim id, when the command had a readable reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_id: Option<ClaimId>,
    /// The claim's decision after the review: `approved` or `denied`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// What the plan pays after the review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_paid: Option<Money>,
    /// True when the same review had already been recorded.
    #[serde(default)]
    pub duplicate: bool,
    /// Why it was rejected (empty when accepted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

impl ReviewReply {
    fn rejected(claim: Option<(&InsurerClaimRef, ClaimId)>, reason: impl ToString) -> Self {
        Self {
            status: ReplyStatus::Rejected,
            claim_ref: claim.map(|(reference, _)| reference.to_string()),
            claim_id: claim.map(|(_, id)| id),
            decision: None,
            payer_paid: None,
            duplicate: false,
            reasons: vec![reason.to_string()],
        }
    }
}

/// The reviewer-command role (it runs with intake).
#[derive(Clone)]
pub struct ReviewIntake {
    adjudicator: Adjudicator,
    bus: Arc<dyn MessageBus>,
}

impl WorksOne for ReviewIntake {
    type Deferred = (InsurerId, ReviewReply);

    fn work(
        &self,
        delivery: &Delivery,
        deferred: &mut Option<(InsurerId, ReviewReply)>,
    ) -> impl Future<Output = Verdict> + Send {
        self.verdict(delivery, deferred)
    }
}

impl ReviewIntake {
    /// The role, deciding reviews with `adjudicator` and answering on `bus`.
    pub fn new(adjudicator: Adjudicator, bus: Arc<dyn MessageBus>) -> Self {
        Self { adjudicator, bus }
    }

    /// Processes reviewer commands until the queue closes.
    pub async fn run(self, mut queue: Box<dyn WorkQueue>) {
        let gate = self.adjudicator.gate();
        while let Some(delivery) = queue.next().await {
            // A last attempt that failed while the store took no writes is worked once more
            // once it takes them again, rather than dead-lettered (see `StoreGate`).
            let (verdict, not_stored) = gate.work_one("reviews", &delivery, &self).await;
            if let Some((insurer, reply)) = not_stored {
                self.answer(&insurer, &delivery.message, &reply).await;
            }
            gate.conclude("reviews", delivery, verdict).await;
        }
    }

    /// Handles one command and answers it, except for a last attempt that failed to store:
    /// its `rejected` answer is left in `not_stored`, sent once the gate has decided it is
    /// not worked again.
    async fn verdict(
        &self,
        delivery: &Delivery,
        not_stored: &mut Option<(InsurerId, ReviewReply)>,
    ) -> Verdict {
        let message = &delivery.message;
        let Some(insurer) = subjects::reviewer_of(&message.subject) else {
            return Verdict::Unprocessable(format!(
                "{} is not a review subject (claims.review.<insurer>)",
                message.subject
            ));
        };
        let command = match parse(&message.payload) {
            Ok(command) => command,
            Err(reason) => {
                self.answer(&insurer, message, &ReviewReply::rejected(None, &reason))
                    .await;
                return Verdict::Unprocessable(reason);
            }
        };
        let claim = ClaimId::for_submission(&insurer, &command.claim_ref);
        let named = Some((&command.claim_ref, claim));
        let verdict = match (command.verdict, command.reason.clone()) {
            (ReviewAction::Approve, _) => ReviewVerdict::Approve,
            (ReviewAction::Deny, Some(reason)) if !reason.trim().is_empty() => {
                ReviewVerdict::Deny { reason }
            }
            (ReviewAction::Deny, _) => {
                let reply = ReviewReply::rejected(named, "a denial needs a reason");
                self.answer(&insurer, message, &reply).await;
                return Verdict::Done;
            }
        };
        let review = Review {
            reviewer: command.reviewer.clone(),
            verdict,
        };
        let span = tracing::info_span!("review_command", %claim, %insurer);
        let reply = match self
            .adjudicator
            .review(claim, review)
            .instrument(span.clone())
            .await
        {
            Ok(adjudicated) => {
                let duplicate = adjudicated == Adjudicated::AlreadyDecided;
                let decided = self.adjudicator.decision_of(claim).await;
                let (decision, payer_paid) = match decided {
                    Ok(Some((decision, paid))) => (Some(decision), Some(paid)),
                    _ => (None, None),
                };
                span.in_scope(|| info!(reviewer = %command.reviewer, ?decision, "review recorded"));
                ReviewReply {
                    status: ReplyStatus::Accepted,
                    claim_ref: Some(command.claim_ref.to_string()),
                    claim_id: Some(claim),
                    decision: decision.map(|decision| describe(&decision).to_owned()),
                    payer_paid,
                    duplicate,
                    reasons: vec![],
                }
            }
            Err(error @ AdjudicatorError::Unprocessable { .. }) => {
                ReviewReply::rejected(named, error)
            }
            Err(error) => {
                warn!(%claim, %error, attempt = delivery.attempt, "review failed; it will be retried");
                if delivery.is_last_attempt() {
                    let reason = answer::not_stored("this review", delivery.attempt, &error);
                    *not_stored = Some((insurer, ReviewReply::rejected(named, reason)));
                }
                return Verdict::retry(delivery, Duration::from_millis(200), error);
            }
        };
        self.answer(&insurer, message, &reply).await;
        Verdict::Done
    }

    async fn answer(&self, insurer: &InsurerId, message: &Message, reply: &ReviewReply) {
        answer::send(
            self.bus.as_ref(),
            insurer,
            subjects::review_ack(insurer),
            message,
            reply,
            "review reply",
        )
        .await;
    }
}

fn describe(decision: &Decision) -> &'static str {
    match decision {
        Decision::Approved => "approved",
        Decision::Denied => "denied",
        Decision::Pended { .. } => "pended",
    }
}

/// Reads a command, naming the field at fault.
fn parse(payload: &[u8]) -> Result<ReviewCommand, String> {
    let mut reader = serde_json::Deserializer::from_slice(payload);
    serde_path_to_error::deserialize(&mut reader).map_err(|error| {
        let path = error.path().to_string();
        format!(
            "the message is not a valid review command: {}{}",
            if path == "." {
                String::new()
            } else {
                format!("{path}: ")
            },
            error.into_inner()
        )
    })
}
