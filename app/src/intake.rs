//! Intake: turns insurers' submissions into claims.
//!
//! Every message gets an answer: `accepted` with the engine's claim id, or `rejected` with
//! every reason, sent to the message's reply subject if it has one and always to
//! `claims.ack.<insurer>`. A message that is not even a submission is also dead-lettered
//! with its reason, so an operator can see it. A failure of the engine itself (the store is
//! down) hands the message back for a later attempt; nothing is lost and no other message
//! waits on it.
//!
//! Submission is idempotent: the claim id is derived from the insurer and its claim
//! reference, so the same submission twice is `accepted` twice with the same claim id and
//! `duplicate: true` the second time, and never becomes a second claim.
//!
//! A void (`corrects.kind: "void"`, frequency code 8) is not a claim of its own: intake
//! cancels the claim it names (`crate::corrections`) and answers `accepted` with the voided
//! claim's id in `voided`. A replacement (frequency code 7) is accepted as a claim like any
//! other, once the claim it names is known, of the same member and benefit year, and not
//! already cancelled; the adjudicator cancels the original when it decides the replacement.

use crate::answer;
use crate::corrections::{Corrected, CorrectionError, Corrections};
use crate::fhir::{self, FHIR_CONTENT_TYPE};
use crate::retry;
use crate::subjects;
use crate::submission::{ClaimSubmission, SubmissionError};
use crate::verdict::{Verdict, conclude};
use claims_adapters::aggregate::{self, AggregateError, streams};
use claims_adapters::bus::{Delivery, Message, MessageBus, WorkQueue};
use claims_adapters::event_store::EventStore;
use claims_domain::Decider;
use claims_domain::claim::{
    Claim, ClaimCommand, ClaimDecider, ClaimError, CorrectionKind, SubmissionContext,
};
use claims_domain::member::MemberDecider;
use claims_domain::plan::PlanDecider;
use claims_domain::provider::ProviderDecider;
use claims_domain::{ClaimId, InsurerId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tracing::{Instrument, info, warn};

/// The content type of a native submission; also assumed when none is given.
pub const NATIVE_CONTENT_TYPE: &str = "application/json";

/// The engine's answer to a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeReply {
    /// Accepted or rejected.
    pub status: ReplyStatus,
    /// The insurer's claim reference, when the message had a readable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_ref: Option<String>,
    /// The engine's claim id, when accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_id: Option<ClaimId>,
    /// True when the claim had already been accepted before (a re-submission).
    #[serde(default)]
    pub duplicate: bool,
    /// The claim a void cancelled, when the submission was a void.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voided: Option<ClaimId>,
    /// Why it was rejected (empty when accepted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<ReplyReason>,
}

/// Accepted or rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyStatus {
    /// The claim is in and will be adjudicated.
    Accepted,
    /// It is not, for the reasons given.
    Rejected,
}

/// One reason a submission was rejected: a stable code for machines, a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyReason {
    /// Stable, kebab-case code, such as `unknown-member` or `malformed`.
    pub code: String,
    /// What is wrong, in words.
    pub message: String,
    /// The element at fault in a FHIR message, such as `item[0].unitPrice.value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The longest reason message, in characters: an error may quote the hostile input it
/// refuses, and an answer must stay far below the bus's message size limit.
pub const MAX_REASON_CHARS: usize = 500;

/// The most reasons one answer lists; the rest are counted in a last reason.
pub const MAX_REASONS: usize = 50;

impl ReplyReason {
    fn new(code: &str, message: impl ToString) -> Self {
        Self {
            code: code.to_owned(),
            message: bounded(message.to_string()),
            path: None,
        }
    }
}

/// The text cut at [`MAX_REASON_CHARS`], saying so.
fn bounded(text: String) -> String {
    match text.char_indices().nth(MAX_REASON_CHARS) {
        None => text,
        Some((cut, _)) => format!("{}… (cut)", &text[..cut]),
    }
}

impl From<&fhir::claim::FhirProblem> for ReplyReason {
    fn from(problem: &fhir::claim::FhirProblem) -> Self {
        Self {
            code: problem.kind.code().to_owned(),
            message: bounded(problem.to_string()),
            path: Some(bounded(problem.path.clone())).filter(|path| !path.is_empty()),
        }
    }
}

impl IntakeReply {
    fn accepted(claim: &Claim, duplicate: bool) -> Self {
        Self {
            status: ReplyStatus::Accepted,
            claim_ref: Some(claim.insurer_ref.to_string()),
            claim_id: Some(claim.id),
            duplicate,
            voided: None,
            reasons: vec![],
        }
    }

    fn voided(void: &Claim, original: ClaimId, duplicate: bool) -> Self {
        Self {
            voided: Some(original),
            ..Self::accepted(void, duplicate)
        }
    }

    fn rejected(claim_ref: Option<String>, mut reasons: Vec<ReplyReason>) -> Self {
        if reasons.len() > MAX_REASONS {
            let more = reasons.len() - (MAX_REASONS - 1);
            reasons.truncate(MAX_REASONS - 1);
            reasons.push(ReplyReason::new(
                "more-reasons",
                format!("and {more} more reasons; correct these and send it again"),
            ));
        }
        Self {
            status: ReplyStatus::Rejected,
            claim_ref,
            claim_id: None,
            duplicate: false,
            voided: None,
            reasons,
        }
    }

    /// The reasons as one sentence.
    pub fn reasons_text(&self) -> String {
        self.reasons
            .iter()
            .map(|reason| reason.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Why intake could not process a submission right now. The message is handed back.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] AggregateError),
}

/// The intake role.
#[derive(Clone)]
pub struct Intake {
    store: Arc<dyn EventStore>,
    bus: Arc<dyn MessageBus>,
}

impl Intake {
    /// Intake over a store and a bus.
    pub fn new(store: Arc<dyn EventStore>, bus: Arc<dyn MessageBus>) -> Self {
        Self { store, bus }
    }

    /// Processes submissions until the queue closes.
    pub async fn run(self, mut queue: Box<dyn WorkQueue>) {
        while let Some(delivery) = queue.next().await {
            self.handle(delivery).await;
        }
    }

    /// Processes one delivery: answers it, then acks, dead-letters or hands it back.
    pub async fn handle(&self, delivery: Delivery) {
        let verdict = self.verdict(&delivery).await;
        conclude(delivery, verdict).await;
    }

    async fn verdict(&self, delivery: &Delivery) -> Verdict {
        let message = &delivery.message;
        let Some(insurer) = subjects::submitter(&message.subject) else {
            return Verdict::Unprocessable(format!(
                "{} is not a submission subject (claims.submit.<insurer>)",
                message.subject
            ));
        };
        match self.process(&insurer, message).await {
            Ok((reply, dead_letter)) => {
                self.answer(&insurer, message, &reply).await;
                dead_letter.map_or(Verdict::Done, Verdict::Unprocessable)
            }
            Err(error) => {
                warn!(%insurer, %error, attempt = delivery.attempt, "intake failed; the submission will be retried");
                Verdict::retry(delivery, Duration::from_millis(200), error)
            }
        }
    }

    /// Decides what to answer, and whether the message is also dead-lettered (and why).
    async fn process(
        &self,
        insurer: &InsurerId,
        message: &Message,
    ) -> Result<(IntakeReply, Option<String>), IntakeError> {
        let content_type = message
            .header("Content-Type")
            .unwrap_or(NATIVE_CONTENT_TYPE);
        let submission = if fhir::is_fhir(content_type) {
            fhir::claim::to_submission(&message.payload).map_err(|problems| {
                let reasons: Vec<ReplyReason> = problems.iter().map(ReplyReason::from).collect();
                (fhir_claim_ref_of(&message.payload), reasons)
            })
        } else if is_native(content_type) {
            ClaimSubmission::parse(&message.payload).map_err(|error| {
                (
                    claim_ref_of(&message.payload),
                    vec![ReplyReason::new("malformed", &error)],
                )
            })
        } else {
            let reason = ReplyReason::new(
                "unsupported-content-type",
                format!(
                    "content type {content_type:?} is not accepted; send native JSON ({NATIVE_CONTENT_TYPE}) or FHIR R4 ({FHIR_CONTENT_TYPE})"
                ),
            );
            Err((None, vec![reason]))
        };
        let submitted = submission.and_then(|submission| {
            let claim_ref = Some(submission.claim_ref.to_string());
            submission.into_claim(insurer).map_err(|error| {
                let code = match error {
                    SubmissionError::Malformed(_) => "malformed",
                    SubmissionError::InsurerMismatch { .. } => "insurer-mismatch",
                };
                (claim_ref, vec![ReplyReason::new(code, &error)])
            })
        });
        let submitted = match submitted {
            Ok(submitted) => submitted,
            Err((claim_ref, reasons)) => {
                let reply = IntakeReply::rejected(claim_ref, reasons);
                let text = reply.reasons_text();
                return Ok((reply, Some(text)));
            }
        };
        let span = tracing::info_span!("intake", claim = %submitted.id, %insurer);
        self.submit(submitted)
            .instrument(span)
            .await
            .map(|reply| (reply, None))
    }

    /// Submits a parsed claim: accepted, accepted again (duplicate) or rejected with reasons.
    /// A void cancels the claim it names instead.
    pub async fn submit(&self, claim: Claim) -> Result<IntakeReply, IntakeError> {
        if let Some(correction) = claim.corrects
            && correction.kind == CorrectionKind::Void
        {
            return self.void(&claim, correction.claim).await;
        }
        retry::on_conflict(|| self.try_submit(claim.clone()), is_conflict).await
    }

    /// Cancels the claim a void names, if it is one of the same insurer's.
    async fn void(&self, void: &Claim, original: ClaimId) -> Result<IntakeReply, IntakeError> {
        let rejected = |code: &str, message: String| {
            IntakeReply::rejected(
                Some(void.insurer_ref.to_string()),
                vec![ReplyReason::new(code, message)],
            )
        };
        let known = aggregate::load::<ClaimDecider>(self.store.as_ref(), streams::claim(original))
            .await?
            .state
            .claim
            .is_some_and(|claim| claim.insurer == void.insurer);
        if !known {
            return Ok(rejected(
                "unknown-original",
                format!("claim {original} to be voided was never accepted from this insurer"),
            ));
        }
        match Corrections::new(self.store.clone())
            .void(original, void.id)
            .await
        {
            Ok(Corrected::Voided { .. }) => Ok(IntakeReply::voided(void, original, false)),
            Ok(Corrected::AlreadyVoided) => Ok(IntakeReply::voided(void, original, true)),
            Err(CorrectionError::Store(error)) => Err(error.into()),
            Err(CorrectionError::Refused(error @ ClaimError::AlreadyCorrected { .. })) => {
                Ok(rejected("already-corrected", error.to_string()))
            }
            Err(error) => Ok(rejected("not-voidable", error.to_string())),
        }
    }

    async fn try_submit(&self, claim: Claim) -> Result<IntakeReply, IntakeError> {
        let store = self.store.as_ref();
        let loaded = aggregate::load::<ClaimDecider>(store, streams::claim(claim.id)).await?;
        let context = self.submission_context(&claim).await?;
        let command = ClaimCommand::Submit {
            claim: claim.clone(),
            context: Box::new(context),
        };
        match ClaimDecider::decide(&loaded.state, command) {
            Ok(events) => {
                let metadata = serde_json::json!({ "claim": claim.id });
                match loaded.append(&events, &metadata)? {
                    None => Ok(IntakeReply::accepted(&claim, true)),
                    Some(append) => {
                        store
                            .append(vec![append])
                            .await
                            .map_err(AggregateError::from)?;
                        info!(claim_ref = %claim.insurer_ref, "claim accepted");
                        Ok(IntakeReply::accepted(&claim, false))
                    }
                }
            }
            Err(ClaimError::Rejected(rejections)) => {
                info!(reasons = rejections.len(), "claim rejected");
                let reasons = rejections
                    .iter()
                    .map(|rejection| ReplyReason::new(rejection.code(), rejection))
                    .collect();
                Ok(IntakeReply::rejected(
                    Some(claim.insurer_ref.to_string()),
                    reasons,
                ))
            }
            Err(error) => Ok(IntakeReply::rejected(
                Some(claim.insurer_ref.to_string()),
                vec![ReplyReason::new("conflicting-resubmission", error)],
            )),
        }
    }

    async fn submission_context(&self, claim: &Claim) -> Result<SubmissionContext, AggregateError> {
        let store = self.store.as_ref();
        let member = aggregate::load::<MemberDecider>(store, streams::member(&claim.member))
            .await?
            .state
            .member;
        let provider =
            aggregate::load::<ProviderDecider>(store, streams::provider(&claim.provider))
                .await?
                .state
                .provider;
        let plan = match &member {
            Some(member) => aggregate::load::<PlanDecider>(store, streams::plan(&member.plan))
                .await?
                .state
                .current
                .map(|(plan, _)| plan),
            None => None,
        };
        let original = match claim.corrects {
            Some(correction) => Some(Box::new(
                aggregate::load::<ClaimDecider>(store, streams::claim(correction.claim))
                    .await?
                    .state,
            )),
            None => None,
        };
        Ok(SubmissionContext {
            member,
            provider,
            plan,
            original,
        })
    }

    async fn answer(&self, insurer: &InsurerId, message: &Message, reply: &IntakeReply) {
        answer::send(
            self.bus.as_ref(),
            subjects::ack(insurer),
            message,
            reply,
            "intake reply",
        )
        .await;
    }
}

fn is_conflict(error: &IntakeError) -> bool {
    matches!(error, IntakeError::Store(AggregateError::Store(store)) if store.is_conflict())
}

/// True for native JSON, with or without parameters (`application/json; charset=utf-8`).
fn is_native(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(NATIVE_CONTENT_TYPE))
}

/// The first identifier value of a FHIR body that is JSON but not a claim the engine can
/// map, so the rejection can name the claim the insurer meant.
fn fhir_claim_ref_of(payload: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()?
        .get("identifier")?
        .as_array()?
        .iter()
        .find_map(|identifier| identifier.get("value")?.as_str())
        .map(|text| text.chars().take(64).collect())
}

/// The `claim_ref` of a body that is JSON but not a valid submission, so the rejection can
/// name the claim the insurer meant.
fn claim_ref_of(payload: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()?
        .get("claim_ref")?
        .as_str()
        .map(|text| text.chars().take(64).collect())
}
