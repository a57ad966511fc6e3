//! Recoupment netting: what a payout batch withholds from a provider's claims to recover
//! what the provider owes back for claims voided or replaced after they were paid.
//!
//! Called by the settlement service while it schedules a batch, so that the providers'
//! `RecoupmentWithheld` events are stored in the same atomic append as the batch: a
//! withholding is recorded if and only if the batch that withholds it exists. Each claim's
//! amount on chain is what is actually transferred for it (what the plan pays, less what is
//! withheld), so the contract, the batch and reconciliation all see the same net amounts.
//! A provider who owes nothing is not read further and its ledger is not appended to.

use crate::service::SettlementError;
use claims_adapters::aggregate::{self, streams};
use claims_adapters::event_store::{EventStore, StreamAppend};
use claims_domain::payout::BatchPayout;
use claims_domain::provider_ledger::{
    GrossPayout, ProviderLedgerCommand, ProviderLedgerDecider, ProviderLedgerEvent, Withholding,
};
use claims_domain::{ClaimId, Decider, PayoutBatchId, ProviderId};
use std::collections::{BTreeMap, BTreeSet};
use tracing::info;

/// What a batch withholds.
#[derive(Debug, Default)]
pub(crate) struct Withheld {
    /// Each claim's withholdings, for its `ClaimPayoutScheduled`.
    pub by_claim: BTreeMap<ClaimId, Vec<Withholding>>,
    /// The providers' ledger appends, at the versions read.
    pub appends: Vec<StreamAppend>,
}

/// Withholds what each provider of the batch owes from its claims in it, lowering each
/// payout's amount to what is transferred.
pub(crate) async fn withhold(
    store: &dyn EventStore,
    batch: PayoutBatchId,
    payouts: &mut [BatchPayout],
) -> Result<Withheld, SettlementError> {
    let providers: BTreeSet<ProviderId> = payouts
        .iter()
        .map(|payout| payout.provider.clone())
        .collect();
    let mut withheld = Withheld::default();
    for provider in providers {
        let ledger =
            aggregate::load::<ProviderLedgerDecider>(store, streams::provider_ledger(&provider))
                .await?;
        if ledger.state.outstanding.is_empty() {
            continue;
        }
        let gross = payouts
            .iter()
            .filter(|payout| payout.provider == provider)
            .map(|payout| GrossPayout {
                claim: payout.claim,
                amount: payout.amount,
            })
            .collect();
        let events = ProviderLedgerDecider::decide(
            &ledger.state,
            ProviderLedgerCommand::Withhold {
                batch,
                payouts: gross,
            },
        )
        .map_err(|error| SettlementError::Domain(error.to_string()))?;
        for event in &events {
            let ProviderLedgerEvent::RecoupmentWithheld {
                from_claim,
                withholding,
                ..
            } = event
            else {
                continue;
            };
            if let Some(payout) = payouts
                .iter_mut()
                .find(|payout| payout.claim == *from_claim)
            {
                payout.amount = payout
                    .amount
                    .checked_sub(withholding.amount)
                    .map_err(|error| SettlementError::Domain(error.to_string()))?;
            }
            info!(%provider, claim = %from_claim, recouped = %withholding.recouped_claim, amount = %withholding.amount, "recoupment withheld from payout");
            withheld
                .by_claim
                .entry(*from_claim)
                .or_default()
                .push(*withholding);
        }
        withheld.appends.extend(
            ledger
                .append(&events, &serde_json::json!({ "batch": batch }))
                .map_err(SettlementError::from)?,
        );
    }
    Ok(withheld)
}
