//! The API's JSON shapes. Money is a decimal string with its currency (`"400.00 USD"`),
//! never a JSON number, so no client reads it through a float.

use claims_adapters::read_models::{AccumulatorView, ClaimView, Remittance, RemittedClaimView};
use claims_domain::{Money, TransactionHash, WalletAddress};
use serde::Serialize;

/// A claim's status, from the read models.
#[derive(Debug, Serialize)]
pub struct ClaimStatusJson {
    pub claim: String,
    pub insurer: String,
    pub insurer_ref: String,
    pub member: String,
    pub provider: String,
    pub status: String,
    pub received_on: String,
    pub billed: Money,
    pub decided_on: Option<String>,
    pub payer_paid: Option<Money>,
    pub member_responsibility: Option<Money>,
    pub batch: Option<String>,
    pub transaction: Option<TransactionHash>,
}

impl From<&ClaimView> for ClaimStatusJson {
    fn from(view: &ClaimView) -> Self {
        Self {
            claim: view.claim.to_string(),
            insurer: view.insurer.to_string(),
            insurer_ref: view.insurer_ref.clone(),
            member: view.member.to_string(),
            provider: view.provider.to_string(),
            status: view.status.to_string(),
            received_on: view.received_on.to_string(),
            billed: view.billed,
            decided_on: view.decided_on.map(|date| date.to_string()),
            payer_paid: view.payer_paid,
            member_responsibility: view.member_responsibility,
            batch: view.batch.map(|batch| batch.to_string()),
            transaction: view.transaction,
        }
    }
}

/// One event of a claim's stream.
#[derive(Debug, Serialize)]
pub struct TimelineEntry {
    pub version: u64,
    pub event_type: String,
    pub recorded_at: String,
}

/// A payout batch: its transaction, once confirmed, and what it paid.
#[derive(Debug, Serialize)]
pub struct PayoutJson {
    pub batch: String,
    pub created_at: String,
    pub transaction: Option<TransactionHash>,
    pub block: Option<u64>,
    /// Blocks on top of the transaction's, itself included, on this process's chain.
    pub confirmations: Option<u64>,
    pub claims: usize,
    pub paid: Vec<Money>,
    pub owed: Vec<OwedJson>,
}

/// What the contract holds for a provider whose transfer failed.
#[derive(Debug, Serialize)]
pub struct OwedJson {
    pub wallet: WalletAddress,
    pub amount: Money,
}

impl PayoutJson {
    /// The batch's summary; `head` is the chain's current block, if known.
    pub fn of(remittance: &Remittance, head: Option<u64>) -> Self {
        let block = remittance.settlement.as_ref().map(|(_, block)| *block);
        Self {
            batch: remittance.batch.to_string(),
            created_at: remittance.created_at.to_rfc3339(),
            transaction: remittance.settlement.as_ref().map(|(hash, _)| *hash),
            block,
            confirmations: block
                .zip(head)
                .and_then(|(block, head)| head.checked_sub(block))
                .map(|depth| depth + 1),
            claims: remittance.claims.len(),
            paid: totals(remittance.claims.iter().map(|claim| claim.paid)),
            owed: remittance
                .owed
                .iter()
                .map(|(wallet, amount)| OwedJson {
                    wallet: *wallet,
                    amount: *amount,
                })
                .collect(),
        }
    }
}

/// A provider's remittance advice for one batch.
#[derive(Debug, Serialize)]
pub struct RemittanceJson {
    pub batch: String,
    pub created_at: String,
    pub transaction: Option<TransactionHash>,
    pub block: Option<u64>,
    pub paid: Vec<Money>,
    pub claims: Vec<RemittedClaimJson>,
}

/// One claim in a remittance advice.
#[derive(Debug, Serialize)]
pub struct RemittedClaimJson {
    pub claim: String,
    pub insurer_ref: String,
    pub wallet: WalletAddress,
    pub billed: Money,
    pub paid: Money,
    pub adjustments: Vec<AdjustmentJson>,
    /// What was withheld from this claim's payout to recover the provider's recouped
    /// claims (an 835 provider-level overpayment recovery, `WO`); `paid` is after it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<WithheldJson>,
}

/// A withholding from a payout: which recouped claim it recovers, how much, and why.
#[derive(Debug, Serialize)]
pub struct WithheldJson {
    pub recouped_claim: String,
    pub amount: Money,
    pub reason: String,
}

/// Why part of a line was not paid: group and CARC (`PR-1`), and how much.
#[derive(Debug, Serialize)]
pub struct AdjustmentJson {
    pub line: u32,
    pub code: String,
    pub amount: Money,
}

impl From<&RemittedClaimView> for RemittedClaimJson {
    fn from(view: &RemittedClaimView) -> Self {
        Self {
            claim: view.claim.to_string(),
            insurer_ref: view.insurer_ref.clone(),
            wallet: view.wallet,
            billed: view.billed,
            paid: view.paid,
            adjustments: view
                .adjustments
                .iter()
                .map(|adjusted| AdjustmentJson {
                    line: adjusted.line,
                    code: adjusted.adjustment.code(),
                    amount: adjusted.adjustment.amount,
                })
                .collect(),
            withheld: view
                .withheld
                .iter()
                .map(|withholding| WithheldJson {
                    recouped_claim: withholding.recouped_claim.to_string(),
                    amount: withholding.amount,
                    reason: format!(
                        "WO overpayment recovery: claim {} was voided or replaced after it was paid",
                        withholding.recouped_claim
                    ),
                })
                .collect(),
        }
    }
}

/// A member's totals for one benefit year.
#[derive(Debug, Serialize)]
pub struct AccumulatorJson {
    pub year: i32,
    pub deductible_paid: Money,
    pub out_of_pocket_paid: Money,
    pub claims: u32,
}

impl From<&AccumulatorView> for AccumulatorJson {
    fn from(view: &AccumulatorView) -> Self {
        Self {
            year: view.year,
            deductible_paid: view.deductible_paid,
            out_of_pocket_paid: view.out_of_pocket_paid,
            claims: view.claims,
        }
    }
}

/// Sums by currency, in the order currencies first appear (a batch is normally one).
pub fn totals(amounts: impl IntoIterator<Item = Money>) -> Vec<Money> {
    let mut sums: Vec<Money> = Vec::new();
    for amount in amounts {
        match sums
            .iter_mut()
            .find(|sum| sum.currency() == amount.currency())
        {
            Some(sum) => *sum = Money::new(sum.amount() + amount.amount(), sum.currency()),
            None => sums.push(amount),
        }
    }
    sums
}
