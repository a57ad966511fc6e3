//! Recoupment netting in the settlement service, on the embedded chain: what a provider
//! owes back is withheld from its next payouts exactly once, even when two settlement
//! services schedule batches for the same provider at the same time (the loser of the race
//! schedules again on fresh state: both batches reserve from the contract's index ledger,
//! and the withholding is stored in the batch's own append), what reaches the provider is
//! what the plan paid less the debt, and reconciliation with the chain's logs stays clean.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

#[path = "anvil_support/claims.rs"]
mod claims;
mod common;

use chrono::Utc;
use claims_adapters::aggregate::{self, streams};
use claims_adapters::event_store::{EventStore, SqliteEventStore};
use claims_domain::provider_ledger::{
    ProviderLedgerCommand, ProviderLedgerDecider, ProviderLedgerEvent,
};
use claims_domain::{ClaimId, Currency, Decider, Money};
use claims_settlement::reconcile::reconcile;
use claims_settlement::service::{SettlementService, TokenDenomination};
use claims_settlement::{EmbeddedChain, SettlementChain};
use std::sync::Arc;
use uuid::Uuid;

fn usd(amount: &str) -> Money {
    format!("{amount} USD").parse().unwrap()
}

/// Records that the provider owes back `amount` for a claim paid earlier and voided.
async fn owes_back(store: &dyn EventStore, provider: &claims_domain::ProviderId, amount: &str) {
    let ledger =
        aggregate::load::<ProviderLedgerDecider>(store, streams::provider_ledger(provider))
            .await
            .unwrap();
    let events = ProviderLedgerDecider::decide(
        &ledger.state,
        ProviderLedgerCommand::Recoup {
            provider: provider.clone(),
            claim: ClaimId::from_uuid(Uuid::new_v4()),
            amount: usd(amount),
        },
    )
    .unwrap();
    store
        .append(
            ledger
                .append(&events, &serde_json::Value::Null)
                .unwrap()
                .into_iter()
                .collect(),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_racing_for_one_provider_withhold_its_debt_once() {
    let store: Arc<dyn EventStore> = Arc::new(SqliteEventStore::in_memory().await.unwrap());
    let chain = Arc::new(common::launch());
    let clinic = claims::provider("clinic-a", "Clinic A", common::clinic());
    claims::register(store.as_ref(), &clinic).await;
    // Two claims of 800.00 each (0.8 × 1,000.00), and 1,000.00 owed back.
    let (first, _) = claims::approve(store.as_ref(), &clinic, "RACE-1", "1000.00").await;
    let (second, _) = claims::approve(store.as_ref(), &clinic, "RACE-2", "1000.00").await;
    owes_back(store.as_ref(), &clinic.id, "1000.00").await;

    let service = || {
        SettlementService::new(
            store.clone(),
            chain.clone() as Arc<dyn SettlementChain>,
            TokenDenomination(Currency::USD),
        )
    };
    let (one, other) = (service(), service());
    let (firsts, seconds) = ([first], [second]);
    let (a, b) = tokio::join!(
        one.settle(&firsts, Utc::now()),
        other.settle(&seconds, Utc::now())
    );
    a.unwrap().unwrap();
    b.unwrap().unwrap();

    let ledger = aggregate::load::<ProviderLedgerDecider>(
        store.as_ref(),
        streams::provider_ledger(&clinic.id),
    )
    .await
    .unwrap();
    let withheld: Vec<Money> = store
        .read_stream(&streams::provider_ledger(&clinic.id), 1)
        .await
        .unwrap()
        .iter()
        .filter_map(
            |event| match aggregate::decode::<ProviderLedgerDecider>(event).unwrap() {
                ProviderLedgerEvent::RecoupmentWithheld { withholding, .. } => {
                    Some(withholding.amount)
                }
                ProviderLedgerEvent::RecoupmentOwed { .. } => None,
            },
        )
        .collect();
    assert_eq!(
        Money::sum(Currency::USD, withheld.iter()).unwrap(),
        usd("1000.00"),
        "the debt is withheld once, across both batches: {withheld:?}"
    );
    assert_eq!(ledger.state.owed(), None);
    // 1,600.00 paid for the two claims, less the 1,000.00 recovered.
    let (clinic_balance, _, _) = common::balances(&chain).await;
    assert_eq!(
        clinic_balance, 600_000_000,
        "600.00 USDC reaches the clinic"
    );

    let report = reconcile(store.as_ref(), chain.as_ref() as &EmbeddedChain)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.claims_paid, 2);
}
