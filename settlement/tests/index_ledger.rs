//! The settlement-index ledger in the event store: indices are handed out once, in order,
//! even to two schedulers racing for them.

use claims_adapters::event_store::{EventStore, SqliteEventStore};
use claims_domain::payout::{
    SettlementIndex, SettlementIndexCommand, SettlementIndexDecider, SettlementIndexEvent,
};
use claims_domain::{Decider, PayoutBatchId, WalletAddress};
use claims_settlement::index_ledger::{IndexLedger, stream};
use std::sync::Arc;
use uuid::Uuid;

fn contract() -> WalletAddress {
    "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        .parse()
        .expect("an address")
}

fn batch(n: u128) -> PayoutBatchId {
    PayoutBatchId::from_uuid(Uuid::from_u128(n))
}

/// Reserves `count` indices for a batch through `ledger`; `None` if another writer got
/// there first.
async fn reserve(
    store: &dyn EventStore,
    ledger: &IndexLedger,
    batch_n: u128,
    count: u64,
) -> Option<SettlementIndex> {
    let loaded = ledger.load(store).await.expect("the ledger loads");
    let events = SettlementIndexDecider::decide(
        &loaded.state,
        SettlementIndexCommand::Reserve {
            batch: batch(batch_n),
            count,
        },
    )
    .expect("a reservation");
    let append = loaded
        .append(&events, &serde_json::json!({}))
        .expect("encodable")
        .expect("an append");
    match store.append(vec![append]).await {
        Ok(_) => events
            .first()
            .map(|SettlementIndexEvent::Reserved { first, .. }| *first),
        Err(error) if error.is_conflict() => None,
        Err(error) => panic!("the store failed: {error}"),
    }
}

#[tokio::test]
async fn indices_are_handed_out_in_order_from_zero() {
    let store = SqliteEventStore::in_memory().await.expect("a store");
    let ledger = IndexLedger::new(contract());

    assert_eq!(
        reserve(&store, &ledger, 1, 3).await,
        Some(SettlementIndex::new(0))
    );
    assert_eq!(
        reserve(&store, &ledger, 2, 2).await,
        Some(SettlementIndex::new(3))
    );
    assert_eq!(
        reserve(&store, &ledger, 3, 1).await,
        Some(SettlementIndex::new(5))
    );
    assert_eq!(
        ledger.load(&store).await.expect("loads").state.next,
        SettlementIndex::new(6)
    );
}

#[tokio::test]
async fn a_second_scheduler_that_read_the_same_index_loses_and_then_gets_the_next_run() {
    let store: Arc<dyn EventStore> =
        Arc::new(SqliteEventStore::in_memory().await.expect("a store"));
    // Two processes, each with its own memory of the ledger.
    let first = IndexLedger::new(contract());
    let second = IndexLedger::new(contract());
    let stale = second.load(store.as_ref()).await.expect("loads");

    assert_eq!(
        reserve(store.as_ref(), &first, 1, 10).await,
        Some(SettlementIndex::new(0))
    );

    // The second decides on what it read before the first appended: a conflict.
    let events = SettlementIndexDecider::decide(
        &stale.state,
        SettlementIndexCommand::Reserve {
            batch: batch(2),
            count: 4,
        },
    )
    .expect("a reservation");
    let append = stale
        .append(&events, &serde_json::json!({}))
        .expect("encodable")
        .expect("an append");
    let lost = store.append(vec![append]).await;
    assert!(lost.is_err_and(|error| error.is_conflict()));

    // Read again, it gets the run after the first's.
    assert_eq!(
        reserve(store.as_ref(), &second, 2, 4).await,
        Some(SettlementIndex::new(10))
    );
    assert_eq!(
        reserve(store.as_ref(), &first, 3, 1).await,
        Some(SettlementIndex::new(14))
    );
}

#[tokio::test]
async fn each_contract_has_its_own_sequence() {
    let store = SqliteEventStore::in_memory().await.expect("a store");
    let other: WalletAddress = "0x00000000000000000000000000000000000000aa"
        .parse()
        .expect("an address");
    let ours = IndexLedger::new(contract());
    let theirs = IndexLedger::new(other);

    assert_eq!(
        reserve(&store, &ours, 1, 5).await,
        Some(SettlementIndex::new(0))
    );
    assert_eq!(
        reserve(&store, &theirs, 2, 5).await,
        Some(SettlementIndex::new(0))
    );
    assert_eq!(
        stream(contract()).as_str(),
        "settlementindex-0x5fbdb2315678afecb367f032d93f642f64180aa3"
    );
    assert_eq!(stream(contract()).category(), "settlementindex");
}
