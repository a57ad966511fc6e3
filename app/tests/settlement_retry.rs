//! A payout batch the chain refuses stays open and is sent again, unchanged, until the chain
//! takes it: its claims wait in the payout-scheduled state, nobody is paid while the
//! contract is paused, and once it is unpaused every claim is paid exactly once, in the
//! batch it was first scheduled in, with the settlement indices it was first given.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use chrono::NaiveDate;
use claims::clock::{Clock, FixedClock};
use claims::engine::{Database, EmbeddedConfig, Engine};
use claims::intake::ReplyStatus;
use claims::reference::ReferenceData;
use claims::settler::SettlerConfig;
use claims_adapters::aggregate::streams;
use claims_adapters::event_store::StreamId;
use claims_domain::claim::ClaimStatus;
use claims_domain::{ClaimId, Currency, InsurerId, Money, PayoutBatchId, WalletAddress};
use claims_settlement::embedded::RecordedTransaction;
use claims_settlement::index_ledger;
use claims_settlement::service::{SettlementService, TokenDenomination};
use claims_settlement::{EmbeddedChain, SettlementChain};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const REFERENCE: &str = r#"
[[plan]]
id = "gold-ppo"
name = "Gold PPO"
currency = "USD"
deductible = "250.00 USD"
coinsurance = "20%"
out_of_pocket_max = "3000.00 USD"
[plan.fee_schedule."29881"]
category = "surgery"
allowed_per_unit = "1000.00 USD"

[[member]]
id = "M-1001"
insurer = "acme-health"
plan = "gold-ppo"
coverage = [{ start = "2026-01-01" }]

[[provider]]
id = "hospital-b"
name = "Hospital B"
wallet = "0xde709f2102306220921060314715629080e2fb77"

[[provider]]
id = "clinic-c"
name = "Clinic C"
wallet = "0x5c0f3a0e3b1d0c3f4e2a6b7c8d9e0f1a2b3c4d5e"
"#;

/// Two claims for each provider, so the batch pays two providers two claims each.
const CLAIMS: [(&str, &str, &str); 4] = [
    ("RETRY-1", "hospital-b", "1200.00 USD"),
    ("RETRY-2", "clinic-c", "900.00 USD"),
    ("RETRY-3", "hospital-b", "1100.00 USD"),
    ("RETRY-4", "clinic-c", "1300.00 USD"),
];

/// Short enough that the test sees several resends in well under a second.
const RESEND: Duration = Duration::from_millis(100);
const PATIENCE: Duration = Duration::from_secs(20);

fn insurer() -> InsurerId {
    InsurerId::new("acme-health").unwrap()
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(FixedClock::on(
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
    ))
}

/// An engine that pays the four claims in one batch, once all four are approved, and sends
/// a refused batch again every `resend`.
async fn engine(database: Database, resend: Duration) -> Engine {
    let mut config = EmbeddedConfig::new(database, clock());
    config.settler = SettlerConfig {
        max_batch: CLAIMS.len(),
        max_wait: None,
    };
    config.retry_open_batches = resend;
    Engine::start_embedded(config).await.unwrap()
}

/// Submits the four claims and waits until the settler has put them in a batch.
async fn submit_and_schedule(engine: &Engine) -> (Vec<ClaimId>, PayoutBatchId) {
    let mut claims = Vec::new();
    for (claim_ref, provider, billed) in CLAIMS {
        let body = serde_json::to_vec(&serde_json::json!({
            "claim_ref": claim_ref,
            "member": "M-1001",
            "provider": provider,
            "received_on": "2026-03-05",
            "lines": [{ "procedure": "29881", "diagnoses": ["M23.205"], "date_of_service": "2026-03-02", "units": 1, "billed": billed }]
        }))
        .unwrap();
        let reply = engine.submit(&insurer(), body).await.unwrap();
        assert_eq!(reply.status, ReplyStatus::Accepted, "{reply:?}");
        claims.push(reply.claim_id.unwrap());
    }
    let mut batches = Vec::new();
    for claim in &claims {
        let state = engine
            .wait_for_claim(*claim, "scheduled for payout", PATIENCE, |state| {
                state.status == Some(ClaimStatus::PayoutScheduled)
            })
            .await
            .unwrap();
        batches.push(state.payout.unwrap().batch);
    }
    batches.dedup();
    assert_eq!(batches.len(), 1, "the four claims share one batch");
    (claims, batches[0])
}

/// What each provider's wallet is owed: the plan's share of its approved claims.
async fn owed_per_wallet(engine: &Engine, claims: &[ClaimId]) -> BTreeMap<WalletAddress, Money> {
    let mut owed: BTreeMap<WalletAddress, Money> = BTreeMap::new();
    for claim in claims {
        let state = engine.claim(*claim).await.unwrap();
        let payer_paid = state.adjudication.unwrap().payer_paid;
        assert!(payer_paid.is_positive(), "claim {claim} pays something");
        let wallet = state.payout.unwrap().wallet;
        let total = owed
            .entry(wallet)
            .or_insert_with(|| Money::zero(Currency::USD));
        *total = total.checked_add(payer_paid).unwrap();
    }
    assert_eq!(owed.len(), 2, "two providers");
    owed
}

/// Every settlement the chain saw, refused or not, in order.
fn settlement_attempts(chain: &EmbeddedChain) -> Vec<RecordedTransaction> {
    let contract = chain.settlement_address();
    chain
        .transactions()
        .into_iter()
        .filter(|transaction| {
            transaction.to == Some(contract) && transaction.from == chain.settler_address()
        })
        .collect()
}

/// Waits until the chain has refused at least `count` settlements.
async fn wait_for_refusals(chain: &EmbeddedChain, count: usize) -> Vec<RecordedTransaction> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let attempts = settlement_attempts(chain);
        if attempts.len() >= count {
            return attempts;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the chain saw {} settlements, expected at least {count}",
            attempts.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The `settleBatch` calldata names the batch first: a selector, then the 32-byte batch id
/// whose last 16 bytes are the payout batch's UUID.
fn assert_sends_batch(transaction: &RecordedTransaction, batch: PayoutBatchId) {
    assert_eq!(
        &transaction.calldata[4 + 16..4 + 32],
        batch.as_uuid().as_bytes(),
        "transaction {} sends batch {batch}",
        transaction.hash
    );
}

/// How many of a stream's events are of each type.
async fn event_types(engine: &Engine, stream: &StreamId) -> BTreeMap<String, usize> {
    let mut types = BTreeMap::new();
    for event in engine.store().read_stream(stream, 1).await.unwrap() {
        *types.entry(event.event_type).or_insert(0) += 1;
    }
    types
}

/// The batches the log says were scheduled but never settled.
async fn open_batches(engine: &Engine) -> Vec<PayoutBatchId> {
    let chain: Arc<dyn SettlementChain> = engine.settlement_chain().clone();
    SettlementService::new(
        engine.store().clone(),
        chain,
        TokenDenomination(Currency::USD),
    )
    .unsettled_batches()
    .await
    .unwrap()
}

/// While refused: nobody paid, every claim still scheduled in `batch`, the batch open.
async fn assert_refused_and_open(engine: &Engine, claims: &[ClaimId], batch: PayoutBatchId) {
    for wallet in owed_per_wallet(engine, claims).await.keys() {
        assert!(
            engine.balance(*wallet).await.unwrap().is_zero(),
            "{wallet} was paid"
        );
        assert!(
            engine.owed(*wallet).await.unwrap().is_zero(),
            "{wallet} is owed"
        );
    }
    for claim in claims {
        let state = engine.claim(*claim).await.unwrap();
        assert_eq!(state.status, Some(ClaimStatus::PayoutScheduled));
        assert_eq!(state.payout.unwrap().batch, batch);
    }
    let types = event_types(engine, &streams::payout_batch(batch)).await;
    assert_eq!(types.get("PayoutBatchSettled"), None, "{types:?}");
    assert_eq!(open_batches(engine).await, vec![batch]);
}

/// Once paid: each provider holds exactly what its claims were approved for, each claim and
/// the batch record the payment once, and the batch is no longer open.
async fn assert_paid_once(engine: &Engine, claims: &[ClaimId], batch: PayoutBatchId) {
    for (wallet, owed) in owed_per_wallet(engine, claims).await {
        assert_eq!(engine.balance(wallet).await.unwrap(), owed, "{wallet}");
        assert!(engine.owed(wallet).await.unwrap().is_zero());
    }
    for claim in claims {
        let types = event_types(engine, &streams::claim(*claim)).await;
        assert_eq!(
            types.get("ClaimPayoutScheduled"),
            Some(&1),
            "{claim}: {types:?}"
        );
        assert_eq!(
            types.get("ClaimPayoutConfirmed"),
            Some(&1),
            "{claim}: {types:?}"
        );
        let state = engine.claim(*claim).await.unwrap();
        assert_eq!(state.confirmation.unwrap().batch, batch);
    }
    let types = event_types(engine, &streams::payout_batch(batch)).await;
    assert_eq!(types.get("PayoutBatchCreated"), Some(&1), "{types:?}");
    assert_eq!(
        types.get("PayoutBatchSettlementIndicesAssigned"),
        Some(&1),
        "{types:?}"
    );
    assert_eq!(types.get("PayoutBatchSettled"), Some(&1), "{types:?}");
    assert!(open_batches(engine).await.is_empty());
}

async fn wait_until_paid(engine: &Engine, claims: &[ClaimId]) {
    for claim in claims {
        engine
            .wait_for_claim(*claim, "paid", PATIENCE, |state| {
                state.status == Some(ClaimStatus::Paid)
            })
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_refused_while_paused_is_sent_again_unchanged_and_paid_once_after_unpausing() {
    let engine = engine(Database::InMemory, RESEND).await;
    engine
        .load_reference_data(&ReferenceData::from_toml(REFERENCE).unwrap())
        .await
        .unwrap();
    engine.embedded_chain().unwrap().pause().unwrap();
    assert!(engine.embedded_chain().unwrap().is_paused().unwrap());

    let (claims, batch) = submit_and_schedule(&engine).await;

    // The first attempt and at least two resends, all refused, all the same batch with the
    // same settlement indices, providers and amounts.
    let refused = wait_for_refusals(engine.embedded_chain().unwrap(), 3).await;
    for attempt in &refused {
        assert!(!attempt.succeeded && attempt.block.is_none(), "{attempt:?}");
        assert_eq!(
            attempt.calldata, refused[0].calldata,
            "sent again unchanged"
        );
    }
    assert_sends_batch(&refused[0], batch);
    assert_refused_and_open(&engine, &claims, batch).await;

    engine.embedded_chain().unwrap().unpause().unwrap();
    wait_until_paid(&engine, &claims).await;

    let attempts = settlement_attempts(engine.embedded_chain().unwrap());
    let settled: Vec<_> = attempts
        .iter()
        .filter(|attempt| attempt.succeeded)
        .collect();
    assert_eq!(settled.len(), 1, "one settlement transaction");
    assert_eq!(
        settled[0].calldata, refused[0].calldata,
        "the batch as first sent"
    );
    assert_paid_once(&engine, &claims, batch).await;
    let ledger = event_types(
        &engine,
        &index_ledger::stream(engine.embedded_chain().unwrap().settlement_address()),
    )
    .await;
    assert_eq!(
        ledger.get("SettlementIndicesReserved"),
        Some(&1),
        "the resends reserved no new indices: {ledger:?}"
    );

    // A settled batch is not sent again.
    tokio::time::sleep(RESEND * 5).await;
    assert_eq!(
        settlement_attempts(engine.embedded_chain().unwrap()),
        attempts
    );
    assert_paid_once(&engine, &claims, batch).await;
    engine.shutdown().await;
}

/// A restarted engine finds the open batch in the log and sends it at once, without waiting
/// for the resend interval.
///
/// The embedded chain lives in memory and dies with the engine, so the restarted engine pays
/// on a fresh chain (unpaused, nothing settled): this shows that the settler recovers open
/// batches from the log at startup and sends them unchanged, not that a chain which outlives
/// the engine is never paid twice (the contract's own tests and the test above cover that).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_engine_sends_the_open_batch_from_the_log() {
    let directory = tempfile::tempdir().unwrap();
    let database = Database::File(directory.path().join("claims.sqlite"));
    let an_hour = Duration::from_secs(3600);

    let first = engine(database.clone(), an_hour).await;
    first
        .load_reference_data(&ReferenceData::from_toml(REFERENCE).unwrap())
        .await
        .unwrap();
    first.embedded_chain().unwrap().pause().unwrap();
    let (claims, batch) = submit_and_schedule(&first).await;
    let refused = wait_for_refusals(first.embedded_chain().unwrap(), 1).await;
    assert_sends_batch(&refused[0], batch);
    assert_refused_and_open(&first, &claims, batch).await;
    first.shutdown().await;

    let second = engine(database, an_hour).await;
    wait_until_paid(&second, &claims).await;
    let attempts = settlement_attempts(second.embedded_chain().unwrap());
    assert_eq!(attempts.len(), 1, "sent once, at startup");
    assert!(attempts[0].succeeded);
    assert_eq!(
        attempts[0].calldata, refused[0].calldata,
        "the batch as first sent, with its settlement indices"
    );
    assert_paid_once(&second, &claims, batch).await;
    second.shutdown().await;
}
