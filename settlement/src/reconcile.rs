//! Reconciliation: the claims in the contract's `BatchSettled` logs against the event store.
//!
//! The event store says which claims were approved, which settlement index each payout
//! batch gave each claim, and which batches were recorded as settled. The chain says which
//! indices the contract settled. Any difference is a discrepancy someone must look at:
//!
//! - **paid twice**: an index settled by more than one log, or a claim given two
//!   indices that were both settled (the contract's bitmap and the claim's single batch
//!   should make both impossible);
//! - **paid but not recorded**: an index settled on chain whose batch the store has not
//!   recorded as settled (a crash between the receipt and the append), or an index the
//!   store never gave out;
//! - **recorded but not on chain**: a claim the store records as paid whose index has no
//!   log (a reorg deeper than the confirmations waited for);
//! - **approved and never paid**: a claim approved, or scheduled in a batch, with no log.
//!   Claims still on their way are reported too; the caller decides how old is too old.
//!
//! One event store settles through one contract: indices are that contract's sequence.

use crate::chain::{ChainError, SettlementChain, SettlementLog};
use claims_adapters::aggregate::{self, AggregateError, streams};
use claims_adapters::event_store::{EventStore, LogPosition};
use claims_domain::claim::{ClaimDecider, ClaimStatus};
use claims_domain::payout::{PayoutBatchDecider, SettlementIndex};
use claims_domain::{ClaimId, Decider, PayoutBatchId};
use std::collections::{BTreeMap, BTreeSet};

/// Every discrepancy found, each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconciliationReport {
    /// Claims (or bare indices) the chain settled more than once.
    pub paid_twice: Vec<PaidTwice>,
    /// Indices settled on chain that the store does not record as paid.
    pub paid_not_recorded: Vec<PaidNotRecorded>,
    /// Claims the store records as paid that no `BatchSettled` log settled.
    pub recorded_not_on_chain: Vec<ClaimId>,
    /// Claims approved or scheduled and not settled on chain.
    pub approved_never_paid: Vec<ClaimId>,
    /// How many settled claims the `BatchSettled` logs read carry.
    pub logs_read: usize,
    /// How many claims the store has recorded as paid.
    pub claims_paid: usize,
}

impl ReconciliationReport {
    /// True if the store and the chain agree.
    pub fn is_clean(&self) -> bool {
        self.discrepancies() == 0
    }

    /// How many discrepancies there are.
    pub fn discrepancies(&self) -> usize {
        self.paid_twice.len()
            + self.paid_not_recorded.len()
            + self.recorded_not_on_chain.len()
            + self.approved_never_paid.len()
    }
}

/// A claim settled more than once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PaidTwice {
    /// The claim, if the store knows the indices.
    pub claim: Option<ClaimId>,
    /// Every index under which it was settled (repeated if one index was settled twice).
    pub indices: Vec<SettlementIndex>,
}

/// An index settled on chain that the store does not record as paid.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PaidNotRecorded {
    /// The index.
    pub index: SettlementIndex,
    /// Its claim and batch, if the store gave the index out.
    pub claim: Option<(ClaimId, PayoutBatchId)>,
}

/// Why reconciliation could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] AggregateError),
    /// The chain's logs could not be read.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// What the store knows about payouts.
#[derive(Default)]
struct StoreView {
    /// Each claim's latest status.
    status: BTreeMap<ClaimId, ClaimStatus>,
    /// Which claim and batch each index was given to.
    indices: BTreeMap<SettlementIndex, (ClaimId, PayoutBatchId)>,
    /// Batches recorded as settled.
    settled_batches: BTreeSet<PayoutBatchId>,
}

/// Compares the claims of the chain's `BatchSettled` logs with the event store.
pub async fn reconcile(
    store: &dyn EventStore,
    chain: &dyn SettlementChain,
) -> Result<ReconciliationReport, ReconcileError> {
    let logs = chain.settlement_logs().await?;
    reconcile_logs(store, &logs).await
}

/// Compares logs already read (by [`SettlementChain::settlement_logs`] or
/// [`crate::json_rpc::read_settlement_logs`], which needs no key) with the event store.
///
/// The store is read after the logs, so a batch settled in between shows as paid but not
/// yet recorded, never as recorded but not on chain; and a batch recorded a moment before
/// can still be hidden behind a transaction in flight (the log is read below the oldest
/// one). So while the chain shows payouts the store does not, the store is read again, up
/// to [`SETTLING_READS`] times [`SETTLING_PAUSE`] apart: what a crash left unrecorded is
/// still reported, what was only on its way is not.
pub async fn reconcile_logs(
    store: &dyn EventStore,
    logs: &[SettlementLog],
) -> Result<ReconciliationReport, ReconcileError> {
    let mut report = compare(&read_store(store).await?, logs);
    for _ in 0..SETTLING_READS {
        if report.paid_not_recorded.is_empty() {
            break;
        }
        tokio::time::sleep(SETTLING_PAUSE).await;
        report = compare(&read_store(store).await?, logs);
    }
    Ok(report)
}

/// How many times the store is read again while payouts on chain are not recorded.
pub const SETTLING_READS: u32 = 3;

/// How long to wait before each of those reads.
pub const SETTLING_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

async fn read_store(store: &dyn EventStore) -> Result<StoreView, AggregateError> {
    let mut claims: BTreeMap<ClaimId, <ClaimDecider as Decider>::State> = BTreeMap::new();
    let mut batches: BTreeMap<PayoutBatchId, <PayoutBatchDecider as Decider>::State> =
        BTreeMap::new();
    let mut after = LogPosition::START;
    loop {
        let events = store.read_all(after, 1024).await?;
        let Some(last) = events.last() else { break };
        after = last.position;
        for event in &events {
            if let Some(claim) = streams::claim_of(&event.stream) {
                let decoded = aggregate::decode::<ClaimDecider>(event)?;
                let state = claims.remove(&claim).unwrap_or_default();
                claims.insert(claim, ClaimDecider::evolve(state, &decoded));
            } else if let Some(batch) = streams::payout_batch_of(&event.stream) {
                let decoded = aggregate::decode::<PayoutBatchDecider>(event)?;
                let state = batches.remove(&batch).unwrap_or_default();
                batches.insert(batch, PayoutBatchDecider::evolve(state, &decoded));
            }
        }
    }
    let mut view = StoreView::default();
    for (claim, state) in claims {
        // Where the claim's money stands: a claim voided after it was paid was still paid.
        if let Some(status) = state.payout_status() {
            view.status.insert(claim, status);
        }
    }
    for (batch, state) in batches {
        if state.settlement.is_some() {
            view.settled_batches.insert(batch);
        }
        for (index, payout) in state.indexed_payouts() {
            view.indices.insert(index, (payout.claim, batch));
        }
    }
    Ok(view)
}

fn compare(view: &StoreView, logs: &[SettlementLog]) -> ReconciliationReport {
    let mut report = ReconciliationReport {
        logs_read: logs.len(),
        ..ReconciliationReport::default()
    };
    let mut by_index: BTreeMap<SettlementIndex, usize> = BTreeMap::new();
    for log in logs {
        *by_index.entry(log.index).or_default() += 1;
    }
    let mut by_claim: BTreeMap<ClaimId, Vec<SettlementIndex>> = BTreeMap::new();
    for (&index, &count) in &by_index {
        let known = view.indices.get(&index);
        match known {
            Some((claim, _)) => by_claim
                .entry(*claim)
                .or_default()
                .extend(std::iter::repeat_n(index, count)),
            None if count > 1 => report.paid_twice.push(PaidTwice {
                claim: None,
                indices: vec![index; count],
            }),
            None => {}
        }
        let recorded = known.is_some_and(|(claim, batch)| {
            view.settled_batches.contains(batch)
                && view.status.get(claim) == Some(&ClaimStatus::Paid)
        });
        if !recorded {
            report.paid_not_recorded.push(PaidNotRecorded {
                index,
                claim: known.copied(),
            });
        }
    }
    for (claim, indices) in &by_claim {
        if indices.len() > 1 {
            report.paid_twice.push(PaidTwice {
                claim: Some(*claim),
                indices: indices.clone(),
            });
        }
    }
    for (claim, status) in &view.status {
        let on_chain = by_claim.contains_key(claim);
        match status {
            ClaimStatus::Paid if !on_chain => report.recorded_not_on_chain.push(*claim),
            ClaimStatus::Approved | ClaimStatus::PayoutScheduled if !on_chain => {
                report.approved_never_paid.push(*claim)
            }
            _ => {}
        }
    }
    report.claims_paid = view
        .status
        .values()
        .filter(|status| **status == ClaimStatus::Paid)
        .count();
    report.paid_twice.sort();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenAmount;
    use claims_domain::{TransactionHash, WalletAddress};

    fn claim(n: u128) -> ClaimId {
        ClaimId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn batch(n: u128) -> PayoutBatchId {
        PayoutBatchId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn log(index: u64) -> SettlementLog {
        SettlementLog {
            index: SettlementIndex::new(index),
            provider: WalletAddress::from_bytes([7; 20]),
            amount: TokenAmount::from_base_units(1),
            transaction: TransactionHash::from_bytes([9; 32]),
            block: 1,
        }
    }

    /// Claim 1 paid and recorded (index 0), claim 2 scheduled (index 1), claim 3 approved.
    fn view() -> StoreView {
        let mut view = StoreView::default();
        view.status.insert(claim(1), ClaimStatus::Paid);
        view.status.insert(claim(2), ClaimStatus::PayoutScheduled);
        view.status.insert(claim(3), ClaimStatus::Approved);
        view.indices
            .insert(SettlementIndex::new(0), (claim(1), batch(1)));
        view.indices
            .insert(SettlementIndex::new(1), (claim(2), batch(2)));
        view.settled_batches.insert(batch(1));
        view
    }

    #[test]
    fn agreement_is_clean() {
        let mut view = view();
        view.status.remove(&claim(2));
        view.status.remove(&claim(3));
        let report = compare(&view, &[log(0)]);
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(report.claims_paid, 1);
    }

    #[test]
    fn every_kind_of_discrepancy_is_reported() {
        // Index 0 twice, index 1 settled but its batch unrecorded, index 9 never given out.
        let report = compare(&view(), &[log(0), log(0), log(1), log(9)]);
        assert_eq!(
            report.paid_twice,
            vec![PaidTwice {
                claim: Some(claim(1)),
                indices: vec![SettlementIndex::new(0); 2],
            }]
        );
        assert_eq!(
            report.paid_not_recorded,
            vec![
                PaidNotRecorded {
                    index: SettlementIndex::new(1),
                    claim: Some((claim(2), batch(2))),
                },
                PaidNotRecorded {
                    index: SettlementIndex::new(9),
                    claim: None,
                },
            ]
        );
        assert_eq!(report.approved_never_paid, vec![claim(3)]);
        assert!(report.recorded_not_on_chain.is_empty());
    }

    #[test]
    fn a_payment_recorded_but_missing_on_chain_is_reported() {
        let report = compare(&view(), &[]);
        assert_eq!(report.recorded_not_on_chain, vec![claim(1)]);
        assert_eq!(report.approved_never_paid, vec![claim(2), claim(3)]);
    }
}
