//! What each stored event changes in the read models: a pure function from one event to
//! row changes, so that the same events always give the same rows, live or rebuilt.
//!
//! Every change is idempotent (rows are keyed by the facts they record, and a claim's row
//! only moves forward in its stream), so applying a page twice leaves the read models as
//! applying it once does.

use crate::aggregate::{self, AggregateError, StoredAggregate, streams};
use crate::event_store::{RecordedEvent, StreamVersion};
use chrono::{DateTime, NaiveDate, Utc};
use claims_domain::accumulator::{AccumulatorDecider, AccumulatorEvent, BenefitYear};
use claims_domain::adjudication::Decision;
use claims_domain::claim::CorrectionKind;
use claims_domain::claim::{ClaimDecider, ClaimEvent, ClaimStatus};
use claims_domain::ids::{ClaimId, InsurerId, MemberId, PayoutBatchId, ProviderId};
use claims_domain::payout::{PayoutBatchDecider, PayoutBatchEvent};
use claims_domain::provider_ledger::Withholding;
use claims_domain::reason::Adjustment;
use claims_domain::{Money, TransactionHash, WalletAddress};

/// One change to the read models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A claim was accepted: its status row starts.
    ClaimReceived(ReceivedClaim),
    /// A claim was adjudicated: its amounts and every line's adjustments.
    ClaimDecided(DecidedClaim),
    /// A claim's payout was put in a batch.
    ClaimScheduled {
        /// The claim.
        claim: ClaimId,
        /// The event's version in the claim's stream.
        version: StreamVersion,
        /// The batch.
        batch: PayoutBatchId,
        /// What the payout withheld to recover the provider's recouped claims.
        withheld: Vec<Withholding>,
    },
    /// A claim was voided or replaced.
    ClaimVoided {
        /// The claim.
        claim: ClaimId,
        /// The event's version in the claim's stream.
        version: StreamVersion,
        /// Voided or replaced.
        status: ClaimStatus,
    },
    /// A claim was paid on chain.
    ClaimPaid {
        /// The claim.
        claim: ClaimId,
        /// The event's version in the claim's stream.
        version: StreamVersion,
        /// The paying transaction.
        transaction: TransactionHash,
    },
    /// A payout batch was opened: one remittance row per claim paid in it.
    BatchOpened {
        /// The batch.
        batch: PayoutBatchId,
        /// When.
        created_at: DateTime<Utc>,
        /// What it pays.
        payouts: Vec<RemittedClaim>,
    },
    /// The chain settled a batch's claims but could not transfer to these providers: the
    /// contract holds their amounts as owed until each withdraws.
    BatchOwed {
        /// The batch.
        batch: PayoutBatchId,
        /// Each provider's wallet and what it is owed from this batch.
        owed: Vec<(WalletAddress, Money)>,
    },
    /// The chain confirmed a payout batch.
    BatchSettled {
        /// The batch.
        batch: PayoutBatchId,
        /// The transaction.
        transaction: TransactionHash,
        /// Its block.
        block: u64,
    },
    /// One claim's cost sharing was added to a member's benefit year.
    CostShared {
        /// The member.
        member: MemberId,
        /// The benefit year.
        year: BenefitYear,
        /// The claim.
        claim: ClaimId,
        /// Added to the deductible paid.
        deductible: Money,
        /// Added to the out-of-pocket paid.
        out_of_pocket: Money,
    },
    /// One claim's cost sharing was taken back out of a member's benefit year.
    CostSharingReversed {
        /// The member.
        member: MemberId,
        /// The benefit year.
        year: BenefitYear,
        /// The claim.
        claim: ClaimId,
    },
}

/// A claim as accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedClaim {
    /// The claim.
    pub claim: ClaimId,
    /// The event's version in the claim's stream.
    pub version: StreamVersion,
    /// Who submitted it.
    pub insurer: InsurerId,
    /// The insurer's own reference.
    pub insurer_ref: String,
    /// The member treated.
    pub member: MemberId,
    /// The provider to pay.
    pub provider: ProviderId,
    /// The day the insurer received it.
    pub received_on: NaiveDate,
    /// What the provider charged in all.
    pub billed: Money,
}

/// A claim's adjudication, as the read models keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecidedClaim {
    /// The claim.
    pub claim: ClaimId,
    /// The event's version in the claim's stream.
    pub version: StreamVersion,
    /// Approved, denied or pended.
    pub status: ClaimStatus,
    /// The day it was decided.
    pub decided_on: NaiveDate,
    /// What the plan pays.
    pub payer_paid: Money,
    /// What the member owes.
    pub member_responsibility: Money,
    /// Every adjustment of every line, in line order.
    pub adjustments: Vec<LineAdjustment>,
}

/// One adjustment of one line, numbered within the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineAdjustment {
    /// The claim line.
    pub line: u32,
    /// Its place among the line's adjustments, from 1.
    pub sequence: u32,
    /// The adjustment.
    pub adjustment: Adjustment,
}

/// One claim paid in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemittedClaim {
    /// The claim.
    pub claim: ClaimId,
    /// The provider paid.
    pub provider: ProviderId,
    /// The provider's wallet.
    pub wallet: WalletAddress,
    /// How much.
    pub amount: Money,
}

/// Why an event cannot be projected.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The event does not read as its aggregate's event.
    #[error(transparent)]
    Unreadable(#[from] AggregateError),
    /// A stored fact contradicts the engine's rules (intake should have refused it).
    #[error("stream {stream}: {reason}")]
    Inconsistent {
        /// The stream.
        stream: String,
        /// What is wrong.
        reason: String,
    },
    /// The stream id does not name what its category says it names.
    #[error("stream {stream} does not name a {category}")]
    StreamName {
        /// The stream.
        stream: String,
        /// What it should name.
        category: &'static str,
    },
}

/// The changes one stored event makes. Events of plans, members and providers change no
/// read model today.
pub fn changes(event: &RecordedEvent) -> Result<Vec<Change>, ProjectionError> {
    match event.stream.category() {
        ClaimDecider::CATEGORY => claim_changes(event),
        PayoutBatchDecider::CATEGORY => batch_changes(event),
        AccumulatorDecider::CATEGORY => accumulator_changes(event),
        _ => Ok(Vec::new()),
    }
}

fn claim_changes(event: &RecordedEvent) -> Result<Vec<Change>, ProjectionError> {
    let claim = streams::claim_of(&event.stream).ok_or_else(|| misnamed(event, "claim"))?;
    let version = event.version;
    let change = match aggregate::decode::<ClaimDecider>(event)? {
        ClaimEvent::Submitted { claim: submitted } => Change::ClaimReceived(ReceivedClaim {
            claim,
            version,
            billed: submitted
                .billed_total()
                .map_err(|error| ProjectionError::Inconsistent {
                    stream: event.stream.to_string(),
                    reason: error.to_string(),
                })?,
            insurer: submitted.insurer,
            insurer_ref: submitted.insurer_ref.to_string(),
            member: submitted.member,
            provider: submitted.provider,
            received_on: submitted.received_on,
        }),
        ClaimEvent::Adjudicated { adjudication } => Change::ClaimDecided(DecidedClaim {
            claim,
            version,
            status: match adjudication.decision {
                Decision::Approved => ClaimStatus::Approved,
                Decision::Denied => ClaimStatus::Denied,
                Decision::Pended { .. } => ClaimStatus::Pended,
            },
            decided_on: adjudication.decided_on,
            payer_paid: adjudication.payer_paid,
            member_responsibility: adjudication.member_responsibility,
            adjustments: adjudication
                .lines
                .iter()
                .flat_map(|line| {
                    line.adjustments
                        .iter()
                        .zip(1..)
                        .map(|(adjustment, sequence)| LineAdjustment {
                            line: line.line,
                            sequence,
                            adjustment: *adjustment,
                        })
                })
                .collect(),
        }),
        ClaimEvent::PayoutScheduled { payout } => Change::ClaimScheduled {
            claim,
            version,
            batch: payout.batch,
            withheld: payout.withheld,
        },
        ClaimEvent::Voided { voiding } => Change::ClaimVoided {
            claim,
            version,
            status: match voiding.kind {
                CorrectionKind::Void => ClaimStatus::Voided,
                CorrectionKind::Replacement => ClaimStatus::Replaced,
            },
        },
        ClaimEvent::PayoutConfirmed { payout } => Change::ClaimPaid {
            claim,
            version,
            transaction: payout.transaction,
        },
        // The decision that follows it in the same append carries the amounts.
        ClaimEvent::Reviewed { .. } | ClaimEvent::Appealed { .. } => return Ok(vec![]),
    };
    Ok(vec![change])
}

fn batch_changes(event: &RecordedEvent) -> Result<Vec<Change>, ProjectionError> {
    let batch =
        streams::payout_batch_of(&event.stream).ok_or_else(|| misnamed(event, "payout batch"))?;
    Ok(vec![
        match aggregate::decode::<PayoutBatchDecider>(event)? {
            // The claims' on-chain names matter to reconciliation, not to a remittance.
            PayoutBatchEvent::SettlementIndicesAssigned { .. } => return Ok(Vec::new()),
            PayoutBatchEvent::PayoutsOwed { owed } => Change::BatchOwed {
                batch,
                owed: owed
                    .into_iter()
                    .map(|payout| (payout.wallet, payout.amount))
                    .collect(),
            },
            PayoutBatchEvent::Created {
                created_at,
                payouts,
                ..
            } => Change::BatchOpened {
                batch,
                created_at,
                payouts: payouts
                    .iter()
                    .map(|payout| RemittedClaim {
                        claim: payout.claim,
                        provider: payout.provider.clone(),
                        wallet: payout.wallet,
                        amount: payout.amount,
                    })
                    .collect(),
            },
            PayoutBatchEvent::Settled {
                transaction, block, ..
            } => Change::BatchSettled {
                batch,
                transaction,
                block,
            },
        },
    ])
}

fn accumulator_changes(event: &RecordedEvent) -> Result<Vec<Change>, ProjectionError> {
    let year = streams::accumulator_year_of(&event.stream)
        .ok_or_else(|| misnamed(event, "member's benefit year"))?;
    Ok(match aggregate::decode::<AccumulatorDecider>(event)? {
        AccumulatorEvent::CostSharingApplied {
            member,
            claim,
            deductible,
            out_of_pocket,
        } => vec![Change::CostShared {
            member,
            year,
            claim,
            deductible,
            out_of_pocket,
        }],
        AccumulatorEvent::CostSharingReversed { member, claim, .. } => {
            vec![Change::CostSharingReversed {
                member,
                year,
                claim,
            }]
        }
        // The accumulators view shows cost sharing only; benefits used stay in the log.
        AccumulatorEvent::BenefitsProvided { .. } | AccumulatorEvent::BenefitsReversed { .. } => {
            vec![]
        }
    })
}

fn misnamed(event: &RecordedEvent, category: &'static str) -> ProjectionError {
    ProjectionError::StreamName {
        stream: event.stream.to_string(),
        category,
    }
}
