//! The claim: a provider's bill for care given to a member, submitted by the member's
//! insurer, and its life from submission to payout.
//!
//! ```text
//! submitted ──adjudicate──▶ approved ──schedule──▶ payout scheduled ──confirm──▶ paid
//!                      ├──▶ denied
//!                      └──▶ pended ──review──▶ approved or denied
//! denied ──appeal──▶ decided again (what the denial used is given back first)
//! any of them ──void (frequency 8) or replacement (frequency 7)──▶ voided / replaced
//! ```
//!
//! A void or a replacement gives back what the claim used of the member's benefit year
//! (the caller appends the year's reversing events with it). Voiding a claim whose payout
//! was already scheduled or paid records what the provider owes back
//! ([`Voiding::recoup`]); it is withheld from the provider's next payouts
//! ([`crate::provider_ledger`]).
//!
//! A submission that is not a valid claim (unknown member, malformed lines) is refused by
//! [`ClaimDecider::decide`] with every reason at once and never becomes a claim.

use crate::accumulator::BenefitYear;
use crate::adjudication::{self, Adjudication, AdjudicationContext, AdjudicationError, Decision};
use crate::chain_values::{PayoutReference, TransactionHash, WalletAddress};
use crate::coding::{AuthorizationNumber, LineCoding, Modifier};
use crate::decider::Decider;
use crate::ids::{
    ClaimId, DiagnosisCode, InsurerClaimRef, InsurerId, MemberId, PayoutBatchId, ProcedureCode,
    ProviderId,
};
use crate::member::Member;
use crate::money::{Money, MoneyError};
use crate::plan::BenefitPlan;
use crate::provider::Provider;
use crate::provider_ledger::Withholding;
use crate::rules::coordination::Coordination;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The most service lines one claim may carry (as on an X12 837 professional claim).
pub const MAX_LINES: usize = 50;

/// A claim as submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// The engine's id, derived from the insurer and its claim reference.
    pub id: ClaimId,
    /// The insurer that submitted it.
    pub insurer: InsurerId,
    /// The insurer's own reference for it.
    pub insurer_ref: InsurerClaimRef,
    /// The member who received the care.
    pub member: MemberId,
    /// The provider who gave it and is to be paid.
    pub provider: ProviderId,
    /// The day the insurer received it.
    pub received_on: NaiveDate,
    /// The services billed.
    pub lines: Vec<ServiceLine>,
    /// The earlier claim this one replaces, when it is a replacement (frequency code 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrects: Option<Correction>,
}

/// A correction of an earlier claim of the same insurer, as the X12 837 claim frequency
/// code (CLM05-3) and FHIR `Claim.related` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    /// The claim corrected.
    pub claim: ClaimId,
    /// Void or replacement.
    pub kind: CorrectionKind,
}

/// How a correction treats the claim it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CorrectionKind {
    /// Frequency code 8: the earlier claim is cancelled; nothing replaces it.
    Void,
    /// Frequency code 7: the earlier claim is cancelled and this one is decided instead,
    /// on the member's benefits as they were before the earlier claim.
    Replacement,
}

impl fmt::Display for CorrectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CorrectionKind::Void => "void",
            CorrectionKind::Replacement => "replacement",
        })
    }
}

/// How a claim was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voiding {
    /// Voided, or replaced by another claim.
    pub kind: CorrectionKind,
    /// The correcting submission: the void's or the replacement's claim id.
    pub by: ClaimId,
    /// What the provider owes back, when the claim's payout was already scheduled or paid:
    /// the whole of what the plan paid for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recoup: Option<Money>,
}

/// One service on a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceLine {
    /// The line's number on the claim, from 1.
    pub number: u32,
    /// What was done.
    pub procedure: ProcedureCode,
    /// Why (ICD-10 codes).
    #[serde(default)]
    pub diagnoses: Vec<DiagnosisCode>,
    /// When.
    pub date_of_service: NaiveDate,
    /// How many units of the procedure.
    pub units: u32,
    /// What the provider charges for the line.
    pub billed: Money,
    /// Procedure modifiers, such as `59` (a distinct service).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub modifiers: BTreeSet<Modifier>,
    /// The prior authorisation the line quotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationNumber>,
    /// What the member's primary payer paid for the line, when this plan pays second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_paid: Option<Money>,
}

impl ServiceLine {
    /// The line's modifiers and authorisation number, as the rules read them.
    pub fn coding(&self) -> LineCoding {
        LineCoding {
            modifiers: self.modifiers.clone(),
            authorization: self.authorization.clone(),
        }
    }
}

impl Claim {
    /// The benefit year: the calendar year of the first line's date of service (a valid
    /// claim's lines all fall in one year).
    pub fn benefit_year(&self) -> BenefitYear {
        self.lines
            .iter()
            .map(|line| line.date_of_service)
            .min()
            .unwrap_or(self.received_on)
            .year()
    }

    /// Every line's modifiers and authorisation number, by line number (lines with
    /// neither are left out).
    pub fn coding(&self) -> BTreeMap<u32, LineCoding> {
        self.lines
            .iter()
            .map(|line| (line.number, line.coding()))
            .filter(|(_, coding)| *coding != LineCoding::default())
            .collect()
    }

    /// Whether the plan pays first or second for this claim: second when the member has
    /// a primary payer, with that payer's payment on each line that reports one.
    pub fn coordination(&self, member: &Member) -> Coordination {
        if member.primary_payer.is_none() {
            return Coordination::Primary;
        }
        Coordination::Secondary {
            primary_paid: self
                .lines
                .iter()
                .filter_map(|line| line.primary_paid.map(|paid| (line.number, paid)))
                .collect(),
        }
    }

    /// The sum of every line's billed amount.
    pub fn billed_total(&self) -> Result<Money, MoneyError> {
        let currency = self
            .lines
            .first()
            .map_or(crate::money::Currency::USD, |line| line.billed.currency());
        Money::sum(currency, self.lines.iter().map(|line| &line.billed))
    }
}

/// What the engine knows, at submission, about the parties the claim names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionContext {
    /// The member, if enrolled.
    pub member: Option<Member>,
    /// The provider, if registered.
    pub provider: Option<Provider>,
    /// The member's plan, if published.
    pub plan: Option<BenefitPlan>,
    /// The claim a replacement names, as the engine knows it (`None` when the submission
    /// corrects nothing, or names a claim the engine never accepted).
    pub original: Option<Box<ClaimState>>,
}

/// Where a claim is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClaimStatus {
    /// Accepted, waiting for adjudication.
    Submitted,
    /// The plan pays more than zero.
    Approved,
    /// Nothing is payable.
    Denied,
    /// Waiting for a reviewer.
    Pended,
    /// In a payout batch on its way to the chain.
    PayoutScheduled,
    /// Paid on chain.
    Paid,
    /// Cancelled by a void (frequency code 8).
    Voided,
    /// Cancelled by a replacement claim (frequency code 7).
    Replaced,
}

impl fmt::Display for ClaimStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClaimStatus::Submitted => "submitted",
            ClaimStatus::Approved => "approved",
            ClaimStatus::Denied => "denied",
            ClaimStatus::Pended => "pended",
            ClaimStatus::PayoutScheduled => "payout scheduled",
            ClaimStatus::Paid => "paid",
            ClaimStatus::Voided => "voided",
            ClaimStatus::Replaced => "replaced",
        })
    }
}

/// A payout scheduled for a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledPayout {
    /// The batch it is paid in.
    pub batch: PayoutBatchId,
    /// The claim's opaque name on chain.
    pub reference: PayoutReference,
    /// Where the money goes.
    pub wallet: WalletAddress,
    /// How much is transferred for it: what the plan pays, less what was withheld.
    pub amount: Money,
    /// What was withheld from it to recover the provider's earlier, recouped payouts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<Withholding>,
}

/// A payout confirmed on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmedPayout {
    /// The batch.
    pub batch: PayoutBatchId,
    /// The transaction that paid it.
    pub transaction: TransactionHash,
    /// The block it was included in.
    pub block: u64,
}

/// Commands on a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimCommand {
    /// Accepts a submitted claim, or refuses it with every reason.
    Submit {
        /// The claim.
        claim: Claim,
        /// The parties it names, as the engine knows them.
        context: Box<SubmissionContext>,
    },
    /// Applies the plan's rules.
    Adjudicate(Box<AdjudicationContext>),
    /// The provider appeals a denied claim: it is decided again on today's inputs.
    Appeal {
        /// Who appeals, and why.
        appeal: Appeal,
        /// The inputs to apply the plan's rules with.
        context: Box<AdjudicationContext>,
        /// Whether the context's benefit years already exclude what the denial used
        /// (the caller reverses it in the same append). Without it, a denial that used
        /// benefits is refused: deciding it again would count them twice.
        benefits_restored: bool,
    },
    /// Cancels the claim: a void, or a replacement by another claim.
    Void {
        /// Void or replacement.
        kind: CorrectionKind,
        /// The correcting submission.
        by: ClaimId,
    },
    /// A reviewer decides a pended claim.
    Review {
        /// Who decided, and what.
        review: Review,
        /// The inputs to apply the plan's rules with, when the reviewer approves.
        context: Box<AdjudicationContext>,
    },
    /// Puts an approved claim in a payout batch.
    SchedulePayout {
        /// The batch.
        batch: PayoutBatchId,
        /// The claim's opaque name on chain, chosen by the caller.
        reference: PayoutReference,
        /// The provider's wallet at scheduling time.
        wallet: WalletAddress,
        /// What is withheld from the payout to recover the provider's recouped claims.
        withheld: Vec<Withholding>,
    },
    /// Records that the chain paid the claim.
    ConfirmPayout(ConfirmedPayout),
}

/// A reviewer's decision on a pended claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Who decided.
    pub reviewer: String,
    /// What they decided.
    pub verdict: ReviewVerdict,
}

/// What a reviewer decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum ReviewVerdict {
    /// Release the claim: the plan's rules decide its amounts, without the review threshold
    /// that pended it.
    Approve,
    /// Nothing is payable.
    Deny {
        /// Why, in the reviewer's words.
        reason: String,
    },
}

/// An appeal of a denied claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appeal {
    /// Who appeals (the provider, usually).
    pub by: String,
    /// Why the denial should be reconsidered.
    pub reason: String,
}

/// What happened to a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClaimEvent {
    /// The claim was accepted for adjudication.
    Submitted {
        /// The claim as submitted.
        claim: Claim,
    },
    /// The plan's rules were applied.
    Adjudicated {
        /// The result.
        adjudication: Adjudication,
    },
    /// A reviewer decided the pended claim; the `Adjudicated` event stored with it carries
    /// the amounts.
    Reviewed {
        /// The decision.
        review: Review,
    },
    /// The denied claim was appealed; the `Adjudicated` event stored with it carries the
    /// new decision.
    Appealed {
        /// The appeal.
        appeal: Appeal,
    },
    /// The claim was voided or replaced; the member's benefit-year events stored with it
    /// give back what it used.
    Voided {
        /// How, by what, and what the provider owes back.
        voiding: Voiding,
    },
    /// The claim's payout was put in a batch.
    PayoutScheduled {
        /// The payout.
        payout: ScheduledPayout,
    },
    /// The chain paid the claim.
    PayoutConfirmed {
        /// The confirmation.
        payout: ConfirmedPayout,
    },
}

impl ClaimEvent {
    /// The event's stored type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            ClaimEvent::Submitted { .. } => "ClaimSubmitted",
            ClaimEvent::Adjudicated { .. } => "ClaimAdjudicated",
            ClaimEvent::Reviewed { .. } => "ClaimReviewed",
            ClaimEvent::Appealed { .. } => "ClaimAppealed",
            ClaimEvent::Voided { .. } => "ClaimVoided",
            ClaimEvent::PayoutScheduled { .. } => "ClaimPayoutScheduled",
            ClaimEvent::PayoutConfirmed { .. } => "ClaimPayoutConfirmed",
        }
    }
}

/// What is known of a claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimState {
    /// The claim, once submitted.
    pub claim: Option<Claim>,
    /// Where it is in its life.
    pub status: Option<ClaimStatus>,
    /// The adjudication, once made.
    pub adjudication: Option<Adjudication>,
    /// The payout, once scheduled.
    pub payout: Option<ScheduledPayout>,
    /// The chain's confirmation, once paid.
    pub confirmation: Option<ConfirmedPayout>,
    /// The reviewer's decision, once a pended claim was reviewed.
    pub review: Option<Review>,
    /// The latest appeal, once the claim was appealed.
    pub appeal: Option<Appeal>,
    /// How the claim was cancelled, once voided or replaced.
    pub voiding: Option<Voiding>,
}

impl ClaimState {
    /// Where the claim's money stands, whatever happened to the claim since: paid once the
    /// chain confirmed it, scheduled once in a batch, otherwise its status. A claim voided
    /// after it was paid was still paid (its recoupment is a separate debt).
    pub fn payout_status(&self) -> Option<ClaimStatus> {
        if self.confirmation.is_some() {
            Some(ClaimStatus::Paid)
        } else if self.payout.is_some() {
            Some(ClaimStatus::PayoutScheduled)
        } else {
            self.status
        }
    }

    /// Whether the claim's decision used any of the member's benefits: cost sharing, or a
    /// line the plan allowed (a visit, a service duplicates are checked against).
    pub fn used_benefits(&self) -> bool {
        self.adjudication.as_ref().is_some_and(|decided| {
            decided.cost_sharing.deductible.is_positive()
                || decided.cost_sharing.out_of_pocket.is_positive()
                || decided.lines.iter().any(|line| line.allowed.is_positive())
        })
    }
}

/// One reason a submission is not a valid claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", content = "detail", rename_all = "kebab-case")]
pub enum Rejection {
    /// The member is not enrolled.
    #[error("member {0} is not enrolled")]
    UnknownMember(MemberId),
    /// The member is enrolled with another insurer.
    #[error("member {member} is not insured by {insurer}")]
    MemberOfAnotherInsurer {
        /// The member.
        member: MemberId,
        /// The submitting insurer.
        insurer: InsurerId,
    },
    /// The provider is not registered.
    #[error("provider {0} is not registered")]
    UnknownProvider(ProviderId),
    /// The member's plan has not been published.
    #[error("the member's plan {0} has not been published")]
    UnknownPlan(String),
    /// No lines.
    #[error("the claim has no service lines")]
    NoLines,
    /// Too many lines.
    #[error("the claim has {0} service lines; at most 50 are allowed")]
    TooManyLines(usize),
    /// Two lines share a number, or a number is 0.
    #[error("line number {0} is zero or used twice")]
    BadLineNumber(u32),
    /// A line has no units.
    #[error("line {0} has zero units")]
    ZeroUnits(u32),
    /// A line's billed amount is zero or negative.
    #[error("line {line} bills {billed}; a line must bill more than zero")]
    NotPositive {
        /// The line.
        line: u32,
        /// Its billed amount.
        billed: Money,
    },
    /// A line's billed amount has fractions of a cent.
    #[error("line {line} bills {billed}, which is not a whole number of cents")]
    FractionalCents {
        /// The line.
        line: u32,
        /// Its billed amount.
        billed: Money,
    },
    /// A line's currency is not the plan's.
    #[error("line {line} is billed in {currency}, but the member's plan pays in {plan_currency}")]
    CurrencyNotOfPlan {
        /// The line.
        line: u32,
        /// Its currency.
        currency: crate::money::Currency,
        /// The plan's currency.
        plan_currency: crate::money::Currency,
    },
    /// Lines say what a primary payer paid, but the member's enrolment names no other
    /// coverage that pays first: paying as primary would pay what the other payer already
    /// paid, and ignoring the amounts would silently drop what the insurer said.
    #[error(
        "lines say what a primary payer paid, but member {member} has no other coverage on file that pays first; enrol the member with their primary payer, or send the claim without primary_paid"
    )]
    PrimaryPaidWithoutOtherCoverage {
        /// The member.
        member: MemberId,
    },
    /// What a line says the primary payer paid is negative, has fractions of a cent, or
    /// is in another currency than the line's: coordination could not subtract it.
    #[error(
        "line {line} says the primary payer paid {paid}; send an amount of at least zero, in whole cents, in the line's currency ({currency})"
    )]
    PrimaryPaidInvalid {
        /// The line.
        line: u32,
        /// What it says the primary payer paid.
        paid: Money,
        /// The line's currency.
        currency: crate::money::Currency,
    },
    /// A line's service date is after the claim was received.
    #[error("line {line} has a date of service ({date}) after the claim was received ({received})")]
    ServiceAfterReceipt {
        /// The line.
        line: u32,
        /// Its date of service.
        date: NaiveDate,
        /// The day the claim was received.
        received: NaiveDate,
    },
    /// The replacement names a claim the engine never accepted.
    #[error("claim {0} to be replaced was never accepted")]
    UnknownOriginal(ClaimId),
    /// The replacement is for another member, insurer or benefit year than its original.
    #[error(
        "the replacement must be for the original claim's insurer, member and benefit year; void claim {0} and submit a new claim instead"
    )]
    ReplacementMismatch(ClaimId),
    /// The claim named was already voided or replaced.
    #[error("claim {claim} was already {status}")]
    AlreadyCorrected {
        /// The claim named.
        claim: ClaimId,
        /// Voided or replaced.
        status: ClaimStatus,
    },
    /// A submission cannot void a claim: a void is its own command.
    #[error("a submission can only replace a claim; voids are sent as voids")]
    VoidAsSubmission,
    /// Lines fall in more than one benefit year.
    #[error(
        "the lines fall in benefit years {first} and {last}; submit one claim per benefit year"
    )]
    SpansBenefitYears {
        /// The earliest year.
        first: BenefitYear,
        /// The latest year.
        last: BenefitYear,
    },
}

impl Rejection {
    /// A stable, kebab-case code for machines, the same as the serialised `code`, such as
    /// `unknown-member`.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::UnknownMember(_) => "unknown-member",
            Rejection::MemberOfAnotherInsurer { .. } => "member-of-another-insurer",
            Rejection::UnknownProvider(_) => "unknown-provider",
            Rejection::UnknownPlan(_) => "unknown-plan",
            Rejection::NoLines => "no-lines",
            Rejection::TooManyLines(_) => "too-many-lines",
            Rejection::BadLineNumber(_) => "bad-line-number",
            Rejection::ZeroUnits(_) => "zero-units",
            Rejection::NotPositive { .. } => "not-positive",
            Rejection::FractionalCents { .. } => "fractional-cents",
            Rejection::CurrencyNotOfPlan { .. } => "currency-not-of-plan",
            Rejection::PrimaryPaidInvalid { .. } => "primary-paid-invalid",
            Rejection::PrimaryPaidWithoutOtherCoverage { .. } => "no-other-coverage",
            Rejection::ServiceAfterReceipt { .. } => "service-after-receipt",
            Rejection::SpansBenefitYears { .. } => "spans-benefit-years",
            Rejection::UnknownOriginal(_) => "unknown-original",
            Rejection::ReplacementMismatch(_) => "replacement-mismatch",
            Rejection::AlreadyCorrected { .. } => "already-corrected",
            Rejection::VoidAsSubmission => "void-as-submission",
        }
    }
}

/// Why a claim command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// The submission is not a valid claim.
    #[error("claim rejected: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Rejected(Vec<Rejection>),
    /// The same claim id was already submitted with different content (an insurer reused
    /// its claim reference).
    #[error("claim {0} was already submitted with different content; use a new claim reference")]
    ConflictingResubmission(ClaimId),
    /// The command needs a submitted claim, and there is none under this id.
    #[error("there is no such claim; cannot {action}")]
    NotSubmitted {
        /// What was asked.
        action: &'static str,
    },
    /// The command does not apply to a claim in this status.
    #[error("claim {claim} is {status}; cannot {action}")]
    WrongStatus {
        /// The claim.
        claim: ClaimId,
        /// Its status.
        status: ClaimStatus,
        /// What was asked.
        action: &'static str,
    },
    /// A denial that used some of the member's benefits (a deductible, an allowed service)
    /// is not re-decided in place: deciding it again would count them twice.
    #[error(
        "claim {0} cannot be appealed: its denial applied cost sharing or allowed a service; submit a replacement claim instead"
    )]
    NotAppealable(ClaimId),
    /// The claim was already voided or replaced by another correction.
    #[error("claim {claim} was already {} by claim {}", .voiding.kind, .voiding.by)]
    AlreadyCorrected {
        /// The claim.
        claim: ClaimId,
        /// How it was cancelled.
        voiding: Voiding,
    },
    /// What is withheld from a payout would leave nothing to pay.
    #[error("claim {claim} pays {paid}; withholding {withheld} from it would leave nothing")]
    WithheldTooMuch {
        /// The claim.
        claim: ClaimId,
        /// What would be withheld.
        withheld: Money,
        /// What the plan pays for it.
        paid: Money,
    },
    /// The claim could not be adjudicated.
    #[error(transparent)]
    Adjudication(#[from] AdjudicationError),
}

/// The claim aggregate.
pub struct ClaimDecider;

impl Decider for ClaimDecider {
    type State = ClaimState;
    type Command = ClaimCommand;
    type Event = ClaimEvent;
    type Error = ClaimError;

    fn decide(state: &ClaimState, command: ClaimCommand) -> Result<Vec<ClaimEvent>, ClaimError> {
        match command {
            ClaimCommand::Submit { claim, context } => submit(state, claim, &context),
            ClaimCommand::Adjudicate(context) => adjudicate(state, &context),
            ClaimCommand::Review { review, context } => review_claim(state, review, &context),
            ClaimCommand::Appeal {
                appeal,
                context,
                benefits_restored,
            } => appeal_claim(state, appeal, &context, benefits_restored),
            ClaimCommand::Void { kind, by } => void(state, kind, by),
            ClaimCommand::SchedulePayout {
                batch,
                reference,
                wallet,
                withheld,
            } => schedule_payout(state, batch, reference, wallet, withheld),
            ClaimCommand::ConfirmPayout(confirmation) => confirm_payout(state, confirmation),
        }
    }

    fn evolve(mut state: ClaimState, event: &ClaimEvent) -> ClaimState {
        match event {
            ClaimEvent::Submitted { claim } => {
                state.claim = Some(claim.clone());
                state.status = Some(ClaimStatus::Submitted);
            }
            ClaimEvent::Adjudicated { adjudication } => {
                state.status = Some(match adjudication.decision {
                    Decision::Approved => ClaimStatus::Approved,
                    Decision::Denied => ClaimStatus::Denied,
                    Decision::Pended { .. } => ClaimStatus::Pended,
                });
                state.adjudication = Some(adjudication.clone());
            }
            ClaimEvent::Reviewed { review } => {
                state.review = Some(review.clone());
            }
            ClaimEvent::Appealed { appeal } => {
                state.appeal = Some(appeal.clone());
            }
            ClaimEvent::Voided { voiding } => {
                state.status = Some(match voiding.kind {
                    CorrectionKind::Void => ClaimStatus::Voided,
                    CorrectionKind::Replacement => ClaimStatus::Replaced,
                });
                state.voiding = Some(*voiding);
            }
            ClaimEvent::PayoutScheduled { payout } => {
                state.status = Some(ClaimStatus::PayoutScheduled);
                state.payout = Some(payout.clone());
            }
            ClaimEvent::PayoutConfirmed { payout } => {
                // A claim voided while its batch was on its way stays voided once paid.
                if state.voiding.is_none() {
                    state.status = Some(ClaimStatus::Paid);
                }
                state.confirmation = Some(*payout);
            }
        }
        state
    }
}

fn submit(
    state: &ClaimState,
    claim: Claim,
    context: &SubmissionContext,
) -> Result<Vec<ClaimEvent>, ClaimError> {
    if let Some(existing) = &state.claim {
        return if *existing == claim {
            Ok(vec![])
        } else {
            Err(ClaimError::ConflictingResubmission(claim.id))
        };
    }
    let mut rejections = validate(&claim, context);
    rejections.extend(validate_correction(&claim, context));
    if rejections.is_empty() {
        Ok(vec![ClaimEvent::Submitted { claim }])
    } else {
        Err(ClaimError::Rejected(rejections))
    }
}

/// Every reason the submission is not a valid claim; empty when it is one.
fn validate(claim: &Claim, context: &SubmissionContext) -> Vec<Rejection> {
    let mut rejections = Vec::new();
    match &context.member {
        None => rejections.push(Rejection::UnknownMember(claim.member.clone())),
        Some(member) if member.insurer != claim.insurer => {
            rejections.push(Rejection::MemberOfAnotherInsurer {
                member: claim.member.clone(),
                insurer: claim.insurer.clone(),
            });
        }
        Some(member) if context.plan.is_none() => {
            rejections.push(Rejection::UnknownPlan(member.plan.to_string()));
        }
        Some(_) => {}
    }
    if let Some(member) = &context.member
        && member.primary_payer.is_none()
        && claim.lines.iter().any(|line| line.primary_paid.is_some())
    {
        rejections.push(Rejection::PrimaryPaidWithoutOtherCoverage {
            member: member.id.clone(),
        });
    }
    if context.provider.is_none() {
        rejections.push(Rejection::UnknownProvider(claim.provider.clone()));
    }
    if claim.lines.is_empty() {
        rejections.push(Rejection::NoLines);
    }
    if claim.lines.len() > MAX_LINES {
        rejections.push(Rejection::TooManyLines(claim.lines.len()));
    }
    let mut numbers = BTreeSet::new();
    for line in &claim.lines {
        if line.number == 0 || !numbers.insert(line.number) {
            rejections.push(Rejection::BadLineNumber(line.number));
        }
        if line.units == 0 {
            rejections.push(Rejection::ZeroUnits(line.number));
        }
        if !line.billed.is_positive() {
            rejections.push(Rejection::NotPositive {
                line: line.number,
                billed: line.billed,
            });
        } else if !line.billed.is_in_minor_units() {
            rejections.push(Rejection::FractionalCents {
                line: line.number,
                billed: line.billed,
            });
        }
        if let Some(plan) = &context.plan
            && line.billed.currency() != plan.currency
        {
            rejections.push(Rejection::CurrencyNotOfPlan {
                line: line.number,
                currency: line.billed.currency(),
                plan_currency: plan.currency,
            });
        }
        if let Some(paid) = line.primary_paid
            && (paid.is_negative()
                || !paid.is_in_minor_units()
                || paid.currency() != line.billed.currency())
        {
            rejections.push(Rejection::PrimaryPaidInvalid {
                line: line.number,
                paid,
                currency: line.billed.currency(),
            });
        }
        if line.date_of_service > claim.received_on {
            rejections.push(Rejection::ServiceAfterReceipt {
                line: line.number,
                date: line.date_of_service,
                received: claim.received_on,
            });
        }
    }
    let years: BTreeSet<_> = claim
        .lines
        .iter()
        .map(|line| line.date_of_service.year())
        .collect();
    if let (Some(first), Some(last)) = (years.first(), years.last())
        && first != last
    {
        rejections.push(Rejection::SpansBenefitYears {
            first: *first,
            last: *last,
        });
    }
    rejections
}

/// A replacement must name a claim the engine accepted, of the same insurer, member and
/// benefit year, that no other correction cancelled yet.
fn validate_correction(claim: &Claim, context: &SubmissionContext) -> Vec<Rejection> {
    let Some(correction) = claim.corrects else {
        return vec![];
    };
    if correction.kind == CorrectionKind::Void {
        return vec![Rejection::VoidAsSubmission];
    }
    let Some(original) = context.original.as_deref().and_then(|state| {
        state
            .claim
            .as_ref()
            .filter(|original| original.id == correction.claim)
            .map(|original| (original, state))
    }) else {
        return vec![Rejection::UnknownOriginal(correction.claim)];
    };
    let (original, state) = original;
    if original.insurer != claim.insurer
        || original.member != claim.member
        || original.benefit_year() != claim.benefit_year()
    {
        return vec![Rejection::ReplacementMismatch(correction.claim)];
    }
    match state.voiding {
        Some(voiding) if voiding.by != claim.id => vec![Rejection::AlreadyCorrected {
            claim: correction.claim,
            status: state.status.unwrap_or(ClaimStatus::Voided),
        }],
        _ => vec![],
    }
}

fn wrong_status(state: &ClaimState, action: &'static str) -> ClaimError {
    match (&state.claim, state.status) {
        (Some(claim), Some(status)) => ClaimError::WrongStatus {
            claim: claim.id,
            status,
            action,
        },
        _ => ClaimError::NotSubmitted { action },
    }
}

fn adjudicate(
    state: &ClaimState,
    context: &AdjudicationContext,
) -> Result<Vec<ClaimEvent>, ClaimError> {
    let Some(claim) = &state.claim else {
        return Err(ClaimError::NotSubmitted {
            action: "adjudicate",
        });
    };
    match state.status {
        Some(ClaimStatus::Submitted) => {
            let adjudication = adjudication::adjudicate(claim, context)?;
            Ok(vec![ClaimEvent::Adjudicated { adjudication }])
        }
        // Already decided: a redelivered command changes nothing.
        _ => Ok(vec![]),
    }
}

/// A reviewer's decision on a pended claim: recorded, then the claim decided again. An
/// approval applies the plan's rules without the review threshold (every other rule still
/// applies); a denial makes nothing payable. The same review again decides nothing.
fn review_claim(
    state: &ClaimState,
    review: Review,
    context: &AdjudicationContext,
) -> Result<Vec<ClaimEvent>, ClaimError> {
    let (Some(claim), Some(pended)) = (&state.claim, &state.adjudication) else {
        return Err(wrong_status(state, "review"));
    };
    if state.review.as_ref() == Some(&review) {
        return Ok(vec![]);
    }
    if state.status != Some(ClaimStatus::Pended) {
        return Err(wrong_status(state, "review"));
    }
    let adjudication = match &review.verdict {
        ReviewVerdict::Approve => {
            let mut released = context.clone();
            released.plan.review_threshold = None;
            adjudication::adjudicate(claim, &released)?
        }
        // A pended claim has no line results and no amounts; the reason is in the review.
        ReviewVerdict::Deny { .. } => Adjudication {
            decision: Decision::Denied,
            decided_on: context.decided_on,
            ..pended.clone()
        },
    };
    Ok(vec![
        ClaimEvent::Reviewed { review },
        ClaimEvent::Adjudicated { adjudication },
    ])
}

/// **Appeal.** A denied claim is decided again on today's inputs (an authorisation put on
/// file since, a corrected enrolment), and the appeal recorded with the new decision. A
/// denial that used some of the member's benefits (cost sharing, an allowed line) is
/// decided again only on benefit years that no longer count it (`benefits_restored`: the
/// caller stores their reversing events with the decision), so nothing is counted twice.
/// The same appeal again decides nothing.
fn appeal_claim(
    state: &ClaimState,
    appeal: Appeal,
    context: &AdjudicationContext,
    benefits_restored: bool,
) -> Result<Vec<ClaimEvent>, ClaimError> {
    let (Some(claim), Some(denied)) = (&state.claim, &state.adjudication) else {
        return Err(wrong_status(state, "appeal"));
    };
    if state.appeal.as_ref() == Some(&appeal) {
        return Ok(vec![]);
    }
    if state.status != Some(ClaimStatus::Denied) {
        return Err(wrong_status(state, "appeal"));
    }
    let _ = denied;
    if state.used_benefits() && !benefits_restored {
        return Err(ClaimError::NotAppealable(claim.id));
    }
    let adjudication = adjudication::adjudicate(claim, context)?;
    Ok(vec![
        ClaimEvent::Appealed { appeal },
        ClaimEvent::Adjudicated { adjudication },
    ])
}

/// **Void and replacement (frequency codes 8 and 7).** The claim is cancelled, whatever
/// its status. When its payout was already scheduled or paid, the provider owes back what
/// the plan paid for it ([`Voiding::recoup`]). The same correction again decides nothing;
/// another one is refused.
fn void(
    state: &ClaimState,
    kind: CorrectionKind,
    by: ClaimId,
) -> Result<Vec<ClaimEvent>, ClaimError> {
    let Some(claim) = &state.claim else {
        return Err(ClaimError::NotSubmitted { action: "void" });
    };
    if let Some(voiding) = state.voiding {
        return if voiding.by == by && voiding.kind == kind {
            Ok(vec![])
        } else {
            Err(ClaimError::AlreadyCorrected {
                claim: claim.id,
                voiding,
            })
        };
    }
    let recoup = state
        .payout
        .as_ref()
        .and(state.adjudication.as_ref())
        .map(|adjudication| adjudication.payer_paid);
    Ok(vec![ClaimEvent::Voided {
        voiding: Voiding { kind, by, recoup },
    }])
}

fn schedule_payout(
    state: &ClaimState,
    batch: PayoutBatchId,
    reference: PayoutReference,
    wallet: WalletAddress,
    withheld: Vec<Withholding>,
) -> Result<Vec<ClaimEvent>, ClaimError> {
    match (
        state.status,
        &state.adjudication,
        &state.payout,
        &state.claim,
    ) {
        (Some(ClaimStatus::Approved), Some(adjudication), None, Some(claim)) => {
            let currency = adjudication.payer_paid.currency();
            let withholding = Money::sum(
                currency,
                withheld.iter().map(|withholding| &withholding.amount),
            )
            .map_err(|error| ClaimError::Adjudication(error.into()))?;
            let amount = adjudication
                .payer_paid
                .checked_sub(withholding)
                .map_err(|error| ClaimError::Adjudication(error.into()))?;
            if !amount.is_positive() {
                return Err(ClaimError::WithheldTooMuch {
                    claim: claim.id,
                    withheld: withholding,
                    paid: adjudication.payer_paid,
                });
            }
            Ok(vec![ClaimEvent::PayoutScheduled {
                payout: ScheduledPayout {
                    batch,
                    reference,
                    wallet,
                    amount,
                    withheld,
                },
            }])
        }
        // The same scheduling again changes nothing; the same batch with another reference
        // or wallet would disagree with what the chain is told, so it is refused.
        (_, _, Some(payout), _)
            if payout.batch == batch
                && payout.reference == reference
                && payout.wallet == wallet =>
        {
            Ok(vec![])
        }
        _ => Err(wrong_status(state, "schedule a payout")),
    }
}

fn confirm_payout(
    state: &ClaimState,
    confirmation: ConfirmedPayout,
) -> Result<Vec<ClaimEvent>, ClaimError> {
    let voided_on_its_way = state.voiding.is_some() && state.confirmation.is_none();
    match (state.status, &state.payout) {
        (Some(ClaimStatus::PayoutScheduled), Some(payout))
            if payout.batch == confirmation.batch =>
        {
            Ok(vec![ClaimEvent::PayoutConfirmed {
                payout: confirmation,
            }])
        }
        // Voided after its batch was scheduled: the chain paid it all the same, and the
        // provider owes it back (recorded with the void).
        (_, Some(payout)) if voided_on_its_way && payout.batch == confirmation.batch => {
            Ok(vec![ClaimEvent::PayoutConfirmed {
                payout: confirmation,
            }])
        }
        // The same confirmation again changes nothing; a different transaction for a paid
        // claim would mean it was paid twice, so it is refused.
        (_, _) if state.confirmation == Some(confirmation) => Ok(vec![]),
        _ => Err(wrong_status(state, "confirm a payout")),
    }
}
