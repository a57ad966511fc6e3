//! What the read models answer with.

use crate::read_models::projection::LineAdjustment;
use chrono::{DateTime, NaiveDate, Utc};
use claims_domain::accumulator::BenefitYear;
use claims_domain::claim::ClaimStatus;
use claims_domain::ids::{ClaimId, InsurerId, MemberId, PayoutBatchId, ProviderId};
use claims_domain::provider_ledger::Withholding;
use claims_domain::{Money, TransactionHash, WalletAddress};

/// Where a claim is, and what it comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimView {
    /// The claim.
    pub claim: ClaimId,
    /// Who submitted it.
    pub insurer: InsurerId,
    /// The insurer's own reference.
    pub insurer_ref: String,
    /// The member treated.
    pub member: MemberId,
    /// The provider to pay.
    pub provider: ProviderId,
    /// Where it is in its life.
    pub status: ClaimStatus,
    /// The day the insurer received it.
    pub received_on: NaiveDate,
    /// What the provider charged in all.
    pub billed: Money,
    /// The day it was decided, once it was.
    pub decided_on: Option<NaiveDate>,
    /// What the plan pays, once decided.
    pub payer_paid: Option<Money>,
    /// What the member owes, once decided.
    pub member_responsibility: Option<Money>,
    /// The payout batch, once scheduled.
    pub batch: Option<PayoutBatchId>,
    /// The paying transaction, once paid.
    pub transaction: Option<TransactionHash>,
}

/// A payout batch as its providers' back offices reconcile it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remittance {
    /// The batch.
    pub batch: PayoutBatchId,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// The settling transaction and its block, once the chain confirmed it.
    pub settlement: Option<(TransactionHash, u64)>,
    /// Every claim it pays, by provider then claim.
    pub claims: Vec<RemittedClaimView>,
    /// What the chain could not transfer and holds as owed, by wallet: those providers
    /// collect it by withdrawing from the contract.
    pub owed: Vec<(WalletAddress, Money)>,
}

impl Remittance {
    /// The claims paid to one provider.
    pub fn for_provider<'a>(
        &'a self,
        provider: &'a ProviderId,
    ) -> impl Iterator<Item = &'a RemittedClaimView> + 'a {
        self.claims
            .iter()
            .filter(move |claim| &claim.provider == provider)
    }
}

/// One claim in a remittance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemittedClaimView {
    /// The provider paid.
    pub provider: ProviderId,
    /// Its wallet.
    pub wallet: WalletAddress,
    /// The claim.
    pub claim: ClaimId,
    /// The insurer's reference for it (what the provider's office knows it by).
    pub insurer_ref: String,
    /// What was billed.
    pub billed: Money,
    /// What this batch pays for it.
    pub paid: Money,
    /// Why the rest was not paid: every adjustment, by line.
    pub adjustments: Vec<LineAdjustment>,
    /// What was withheld from this claim's payout to recover the provider's recouped
    /// claims (an 835 provider-level overpayment recovery): `paid` is after it.
    pub withheld: Vec<Withholding>,
}

/// A member's totals for one benefit year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccumulatorView {
    /// The member.
    pub member: MemberId,
    /// The benefit year.
    pub year: BenefitYear,
    /// Deductible paid so far.
    pub deductible_paid: Money,
    /// Out-of-pocket paid so far.
    pub out_of_pocket_paid: Money,
    /// How many claims contributed.
    pub claims: u32,
}

/// Every row of every read model, in a fixed order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every claim, by claim id.
    pub claims: Vec<ClaimView>,
    /// Every payout batch, by batch id.
    pub remittances: Vec<Remittance>,
    /// Every member's years, by member then year.
    pub accumulators: Vec<AccumulatorView>,
}
