//! Intake: turns insurers' submissions into claims.
//!
//! Every message gets an answer: `accepted` with the engine's claim id, or `rejected` with
//! every reason, sent to the message's reply subject if it has one and always to
//! `claims.ack.<insurer>`. A message that is not even a submission is also dead-lettered
//! with its reason, so an operator can see it. A failure of the engine itself (the store is
//! down) hands the message back for a later attempt; nothing is lost and no other message
//! waits on it.
//!
//! Intake takes its queue a batch at a time ([`WorkQueue::next_batch`]): whatever is
//! waiting, up to [`DEFAULT_BATCH`] messages. The plain claims of a batch (not corrections)
//! are checked together: their claim, member and provider streams in one read, the
//! members' plans in a second, each claim decided in memory, and every accepted claim
//! stored in **one** append (each claim stream expecting no stream, so a re-sent claim
//! racing its original still loses). If that append fails, each claim goes the
//! claim-by-claim path, which retries on fresh state, so one bad claim never fails the
//! others. Voids and replacements, and a claim sent twice in one batch, take the
//! claim-by-claim path at their place in the batch (the plain claims before them are
//! stored first, so the batch decides exactly as one message at a time would). All the
//! batch's answers are then published together, and only after that is each message
//! acked, rejected or handed back.
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
use crate::foresight::{Enrolment, Enrolments};
use crate::retry;
use crate::store_gate::StoreGate;
use crate::subjects;
use crate::submission::{ClaimSubmission, SubmissionError};
use crate::verdict::Verdict;
use claims_adapters::aggregate::{self, AggregateError, StreamsRead, streams};
use claims_adapters::bus::{Delivery, Message, MessageBus, WorkQueue};
use claims_adapters::event_store::{EventStore, StreamAppend};
use claims_adapters::fold_cache::FoldCache;
use claims_domain::Decider;
use claims_domain::claim::{
    Claim, ClaimCommand, ClaimDecider, ClaimError, CorrectionKind, SubmissionContext,
};
use claims_domain::member::MemberDecider;
use claims_domain::plan::PlanDecider;
use claims_domain::provider::ProviderDecider;
use claims_domain::{ClaimId, InsurerId};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tracing::{Instrument, info, warn};

/// Messages intake takes from its queue at once, unless configured otherwise.
pub const DEFAULT_BATCH: usize = 64;

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
    batch: usize,
    /// Where the members of earlier batches were enrolled, so a batch reads its plans
    /// with its claims.
    enrolments: Arc<Enrolments>,
    /// Holds submissions to be retried while the store takes no writes.
    gate: StoreGate,
    /// The members, providers and plans read before, if the process keeps them.
    folds: Option<FoldCache>,
}

/// What intake concluded about one message: the answer to send (with the insurer it goes
/// to), and what to tell the bus once it is sent.
struct Handled {
    answer: Option<(InsurerId, IntakeReply)>,
    verdict: Verdict,
}

/// A message of a batch, read.
enum Read {
    /// Concluded without the store: not a submission subject, or not a submission.
    Settled(Handled),
    /// A claim, for the batch (`plain`) or the claim-by-claim path (a correction).
    Claim {
        insurer: InsurerId,
        claim: Claim,
        plain: bool,
    },
}

impl Intake {
    /// Intake over a store and a bus, taking [`DEFAULT_BATCH`] messages at a time.
    pub fn new(store: Arc<dyn EventStore>, bus: Arc<dyn MessageBus>) -> Self {
        Self {
            gate: StoreGate::new(store.clone()),
            store,
            bus,
            batch: DEFAULT_BATCH,
            enrolments: Arc::default(),
            folds: None,
        }
    }

    /// Reads the members, providers and plans a submission is checked against through
    /// `cache` ([`FoldCache`]): the process's, shared with its adjudicators.
    pub fn with_fold_cache(mut self, cache: Option<FoldCache>) -> Self {
        self.folds = cache;
        self
    }

    /// Holds the submissions to be retried while the store takes no writes through `gate`
    /// (see [`StoreGate`]): the process's, which ends a hold at shutdown and counts what
    /// it holds, rather than one of its own.
    pub fn with_gate(mut self, gate: StoreGate) -> Self {
        self.gate = gate;
        self
    }

    /// Takes up to `batch` messages from the queue at a time (at least one).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Processes submissions until the queue closes.
    pub async fn run(self, mut queue: Box<dyn WorkQueue>) {
        loop {
            let batch = queue.next_batch(self.batch).await;
            if batch.is_empty() {
                return;
            }
            self.handle_batch(batch).await;
        }
    }

    /// Processes one delivery: answers it, then acks, dead-letters or hands it back.
    pub async fn handle(&self, delivery: Delivery) {
        self.handle_batch(vec![delivery]).await;
    }

    /// Processes a batch of deliveries (see the module docs): every answer is published,
    /// then each delivery is acked, dead-lettered or handed back on its own.
    pub async fn handle_batch(&self, deliveries: Vec<Delivery>) {
        let mut handled: Vec<Option<Handled>> = Vec::with_capacity(deliveries.len());
        let mut segment: Vec<(usize, InsurerId, Claim)> = Vec::new();
        for (index, delivery) in deliveries.iter().enumerate() {
            handled.push(None);
            match read(&delivery.message) {
                Read::Settled(done) => handled[index] = Some(done),
                Read::Claim {
                    insurer,
                    claim,
                    plain: true,
                } if !segment.iter().any(|(_, _, held)| held.id == claim.id) => {
                    segment.push((index, insurer, claim));
                }
                Read::Claim { insurer, claim, .. } => {
                    // Stored after the plain claims before it, on the state they leave.
                    self.store_segment(std::mem::take(&mut segment), &mut handled)
                        .await;
                    handled[index] = Some(self.one(insurer, claim).await);
                }
            }
        }
        self.store_segment(segment, &mut handled).await;
        self.retry_last_attempts_after_outage(&deliveries, &mut handled)
            .await;

        let mut answers = Vec::new();
        for (delivery, done) in deliveries.iter().zip(&mut handled) {
            if delivery.is_last_attempt()
                && let Some(done) = done.as_mut()
                && done.answer.is_none()
                && let Verdict::Retry { reason, .. } = &done.verdict
            {
                done.answer = not_stored(delivery, reason);
            }
            if let Some(Handled {
                answer: Some((insurer, reply)),
                ..
            }) = done
            {
                answers.extend(answer::compose(
                    insurer,
                    subjects::ack(insurer),
                    &delivery.message,
                    reply,
                    "intake reply",
                ));
            }
        }
        // Every answer is on the bus before any message is acked.
        answer::send_all(self.bus.as_ref(), answers, "intake reply").await;
        let mut concluded = Vec::with_capacity(deliveries.len());
        for (delivery, done) in deliveries.into_iter().zip(handled) {
            let verdict = match done {
                Some(done) => match done.verdict {
                    Verdict::Retry { reason, .. } => {
                        Verdict::retry(&delivery, Duration::from_millis(200), reason)
                    }
                    verdict => verdict,
                },
                // Every index is settled above; a gap would be a bug, and retrying is safe.
                None => Verdict::retry(&delivery, Duration::from_millis(200), "not processed"),
            };
            if let Verdict::Retry { reason, .. } = &verdict {
                warn!(subject = %delivery.message.subject, attempt = delivery.attempt, %reason, "intake failed; the submission will be retried");
            }
            concluded.push((delivery, verdict));
        }
        self.gate.conclude_all("intake", concluded).await;
    }

    /// Submits once more, claim by claim, the last attempts that failed while the store
    /// took no writes, once it takes them again ([`StoreGate::last_attempts_to_retry`]):
    /// otherwise the insurer would hear `not-stored` and the bus dead-letter the claim
    /// although the store is back. A failure then is answered as before.
    async fn retry_last_attempts_after_outage(
        &self,
        deliveries: &[Delivery],
        handled: &mut [Option<Handled>],
    ) {
        let again = self
            .gate
            .last_attempts_to_retry("intake", deliveries, |index| {
                matches!(
                    handled[index],
                    Some(Handled {
                        verdict: Verdict::Retry { .. },
                        ..
                    })
                )
            })
            .await;
        for index in again {
            handled[index] = Some(match read(&deliveries[index].message) {
                Read::Settled(done) => done,
                Read::Claim { insurer, claim, .. } => self.one(insurer, claim).await,
            });
        }
    }

    /// Submits one claim on the claim-by-claim path.
    async fn one(&self, insurer: InsurerId, claim: Claim) -> Handled {
        let span = tracing::info_span!("intake", claim = %claim.id, %insurer);
        match self.submit(claim).instrument(span).await {
            Ok(reply) => Handled {
                answer: Some((insurer, reply)),
                verdict: Verdict::Done,
            },
            Err(error) => Handled {
                answer: None,
                verdict: Verdict::Retry {
                    after: Duration::ZERO,
                    reason: error.to_string(),
                },
            },
        }
    }

    /// Stores a run of plain claims with distinct ids together, recording each one's
    /// answer at its index.
    async fn store_segment(
        &self,
        segment: Vec<(usize, InsurerId, Claim)>,
        handled: &mut [Option<Handled>],
    ) {
        if segment.is_empty() {
            return;
        }
        let claims: Vec<Claim> = segment.iter().map(|(_, _, claim)| claim.clone()).collect();
        let replies = self.submit_all(claims).await;
        for ((index, insurer, _), reply) in segment.into_iter().zip(replies) {
            handled[index] = Some(match reply {
                Ok(reply) => Handled {
                    answer: Some((insurer, reply)),
                    verdict: Verdict::Done,
                },
                Err(error) => Handled {
                    answer: None,
                    verdict: Verdict::Retry {
                        after: Duration::ZERO,
                        reason: error.to_string(),
                    },
                },
            });
        }
    }

    /// Submits several claims at once: one read for all their claim, member and provider
    /// streams, one for their plans, each decided in memory, and one append for every
    /// claim accepted. If that fails (a claim re-sent in between, a claim the store
    /// refuses, the store down), each claim is submitted on its own, with retries on fresh
    /// state, so each gets its own answer. Voids and replacements, and claim ids given
    /// twice, are submitted one by one in order, as [`Intake::submit`] does.
    pub async fn submit_all(&self, claims: Vec<Claim>) -> Vec<Result<IntakeReply, IntakeError>> {
        let batchable = claims.iter().all(|claim| claim.corrects.is_none())
            && claims
                .iter()
                .map(|claim| claim.id)
                .collect::<HashSet<_>>()
                .len()
                == claims.len();
        if !batchable {
            let mut replies = Vec::with_capacity(claims.len());
            for claim in claims {
                replies.push(self.submit(claim).await);
            }
            return replies;
        }
        let decided = match self.decide_all(&claims).await {
            Ok(decided) => decided,
            Err(error) => {
                warn!(%error, claims = claims.len(), "reading a batch of claims failed; submitting them one by one");
                return self.one_by_one(claims).await;
            }
        };
        let appends: Vec<StreamAppend> = decided
            .iter()
            .filter_map(|decision| decision.append.clone())
            .collect();
        if !appends.is_empty()
            && let Err(error) = self.store.append(appends).await
        {
            warn!(%error, claims = claims.len(), "storing a batch of claims failed; submitting them one by one");
            return self.one_by_one(claims).await;
        }
        claims
            .iter()
            .zip(decided)
            .map(|(claim, decision)| {
                if decision.append.is_some() {
                    tracing::info_span!("intake", claim = %claim.id, insurer = %claim.insurer)
                        .in_scope(|| info!(claim_ref = %claim.insurer_ref, "claim accepted"));
                }
                Ok(decision.reply)
            })
            .collect()
    }

    async fn one_by_one(&self, claims: Vec<Claim>) -> Vec<Result<IntakeReply, IntakeError>> {
        let mut replies = Vec::with_capacity(claims.len());
        for claim in claims {
            let span = tracing::info_span!("intake", claim = %claim.id, insurer = %claim.insurer);
            replies.push(self.submit(claim).instrument(span).await);
        }
        replies
    }

    /// Reads what the claims' submissions are checked against and decides each: its
    /// answer, and its append when it is accepted now. One read, with the plans of members
    /// met before ([`crate::foresight`]); a second for the plans of the others.
    async fn decide_all(&self, claims: &[Claim]) -> Result<Vec<Submitted>, AggregateError> {
        let store = self.store.as_ref();
        let mut read = StreamsRead::read_through(
            self.folds.clone(),
            store,
            claims.iter().flat_map(|claim| {
                [
                    Some(streams::claim(claim.id)),
                    Some(streams::member(&claim.member)),
                    Some(streams::provider(&claim.provider)),
                    self.enrolments.plan_stream(claim),
                ]
                .into_iter()
                .flatten()
            }),
        )
        .await?;
        let mut members = Vec::with_capacity(claims.len());
        for claim in claims {
            let member = read
                .load::<MemberDecider>(&streams::member(&claim.member))?
                .state
                .member;
            if let Some(member) = &member {
                self.enrolments.remember(member);
            }
            members.push(member);
        }
        read.read_more(
            store,
            members
                .iter()
                .flatten()
                .map(|member| streams::plan(&member.plan)),
        )
        .await?;
        let mut decided = Vec::with_capacity(claims.len());
        for (claim, member) in claims.iter().zip(members) {
            let loaded = read.load::<ClaimDecider>(&streams::claim(claim.id))?;
            let provider = read
                .load::<ProviderDecider>(&streams::provider(&claim.provider))?
                .state
                .provider;
            let plan = match &member {
                Some(member) => read
                    .load::<PlanDecider>(&streams::plan(&member.plan))?
                    .state
                    .current
                    .map(|(plan, _)| plan),
                None => None,
            };
            let context = SubmissionContext {
                member,
                provider,
                plan,
                original: None,
            };
            decided.push(decide_submission(&loaded, claim, context)?);
        }
        Ok(decided)
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
        // Everything the claim names in one read, then the member's plan.
        let original = claim
            .corrects
            .map(|correction| streams::claim(correction.claim));
        let read = StreamsRead::read_through(
            self.folds.clone(),
            store,
            [
                streams::claim(claim.id),
                streams::member(&claim.member),
                streams::provider(&claim.provider),
            ]
            .into_iter()
            .chain(original.clone()),
        )
        .await?;
        let loaded = read.load::<ClaimDecider>(&streams::claim(claim.id))?;
        let member = read
            .load::<MemberDecider>(&streams::member(&claim.member))?
            .state
            .member;
        let plan = match &member {
            Some(member) => aggregate::load::<PlanDecider>(store, streams::plan(&member.plan))
                .await?
                .state
                .current
                .map(|(plan, _)| plan),
            None => None,
        };
        let context = SubmissionContext {
            provider: read
                .load::<ProviderDecider>(&streams::provider(&claim.provider))?
                .state
                .provider,
            member,
            plan,
            original: match &original {
                Some(stream) => Some(Box::new(read.load::<ClaimDecider>(stream)?.state)),
                None => None,
            },
        };
        let decided = decide_submission(&loaded, &claim, context)?;
        if let Some(append) = decided.append {
            store
                .append(vec![append])
                .await
                .map_err(AggregateError::from)?;
            info!(claim_ref = %claim.insurer_ref, "claim accepted");
        }
        Ok(decided.reply)
    }
}

/// A claim's submission decided: the answer, and the claim's append when it is accepted
/// now (`None` when rejected, or accepted before).
struct Submitted {
    reply: IntakeReply,
    append: Option<StreamAppend>,
}

/// Decides a claim's submission on its stream as loaded and what it is checked against.
fn decide_submission(
    loaded: &aggregate::Loaded<ClaimDecider>,
    claim: &Claim,
    context: SubmissionContext,
) -> Result<Submitted, AggregateError> {
    let enrolment = context.member.as_ref().map(Enrolment::of);
    let command = ClaimCommand::Submit {
        claim: claim.clone(),
        context: Box::new(context),
    };
    let rejected = |reasons| Submitted {
        reply: IntakeReply::rejected(Some(claim.insurer_ref.to_string()), reasons),
        append: None,
    };
    Ok(match ClaimDecider::decide(&loaded.state, command) {
        Ok(events) => {
            let mut metadata = serde_json::json!({ "claim": claim.id });
            if let Some(enrolment) = &enrolment {
                metadata = enrolment.stamp(metadata);
            }
            match loaded.append(&events, &metadata)? {
                None => Submitted {
                    reply: IntakeReply::accepted(claim, true),
                    append: None,
                },
                Some(append) => Submitted {
                    reply: IntakeReply::accepted(claim, false),
                    append: Some(append),
                },
            }
        }
        Err(ClaimError::Rejected(rejections)) => {
            info!(claim = %claim.id, reasons = rejections.len(), "claim rejected");
            rejected(
                rejections
                    .iter()
                    .map(|rejection| ReplyReason::new(rejection.code(), rejection))
                    .collect(),
            )
        }
        Err(error) => rejected(vec![ReplyReason::new("conflicting-resubmission", error)]),
    })
}

/// The answer to a submission whose last attempt failed, which the bus dead-letters: the
/// insurer hears that the claim is not stored, and why, rather than nothing.
fn not_stored(delivery: &Delivery, reason: &str) -> Option<(InsurerId, IntakeReply)> {
    let Read::Claim { insurer, claim, .. } = read(&delivery.message) else {
        return None;
    };
    let message = answer::not_stored("this claim", delivery.attempt, &reason);
    let reply = IntakeReply::rejected(
        Some(claim.insurer_ref.to_string()),
        vec![ReplyReason::new("not-stored", message)],
    );
    Some((insurer, reply))
}

/// Reads a message as a claim, or concludes it at once when it is not one: a message on a
/// subject that is not a submission's is dead-lettered; one that is not a valid submission
/// is answered `rejected` with every reason and dead-lettered.
fn read(message: &Message) -> Read {
    let Some(insurer) = subjects::submitter(&message.subject) else {
        return Read::Settled(Handled {
            answer: None,
            verdict: Verdict::Unprocessable(format!(
                "{} is not a submission subject (claims.submit.<insurer>)",
                message.subject
            )),
        });
    };
    match parse(&insurer, message) {
        Ok(claim) => Read::Claim {
            plain: claim.corrects.is_none(),
            insurer,
            claim,
        },
        Err(reply) => {
            let reasons = reply.reasons_text();
            Read::Settled(Handled {
                answer: Some((insurer, reply)),
                verdict: Verdict::Unprocessable(reasons),
            })
        }
    }
}

/// The claim a submission carries (native JSON or FHIR R4), or the answer rejecting it.
fn parse(insurer: &InsurerId, message: &Message) -> Result<Claim, IntakeReply> {
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
    submission
        .and_then(|submission| {
            let claim_ref = Some(submission.claim_ref.to_string());
            submission.into_claim(insurer).map_err(|error| {
                let code = match error {
                    SubmissionError::Malformed(_) => "malformed",
                    SubmissionError::InsurerMismatch { .. } => "insurer-mismatch",
                };
                (claim_ref, vec![ReplyReason::new(code, &error)])
            })
        })
        .map_err(|(claim_ref, reasons)| IntakeReply::rejected(claim_ref, reasons))
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
