//! The settlement service on a real chain (anvil, through the JSON-RPC adapter), under the
//! faults money must survive: reorgs of depth 1 to 3, a dropped transaction, a stuck one, a
//! crash between broadcast and recording, a paused contract, a cap exceeded and a provider
//! whose transfer fails. Every test ends by checking on chain that each approved claim was
//! paid exactly once, and that reconciliation finds no discrepancy.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A failed unwrap is a failed test.

mod anvil_support;

use anvil_support::claims::{self, DIAGNOSIS, INSURER, MEMBER, PLAN, PROCEDURE};
use anvil_support::{Harness, USDC, clinic_key, eventually, generous_caps, hospital_key, pauser};
use chrono::{TimeZone, Utc};
use claims_domain::claim::ClaimStatus;
use claims_domain::{ClaimId, WalletAddress};
use claims_settlement::json_rpc::ledger::SubmissionEvent;
use claims_settlement::reconcile::reconcile;
use claims_settlement::service::SettlementError;
use claims_settlement::{ChainError, JsonRpcChain, SettlementCaps, SettlementChain, TokenAmount};
use std::sync::Arc;
use std::time::Duration;

/// Four claims for two providers: the clinic's pay 800.00 and 400.00, the hospital's
/// 640.00 and 0.80.
async fn four_claims(harness: &Harness) -> (Vec<ClaimId>, Vec<(WalletAddress, u128)>) {
    let store = harness.store.as_ref();
    let clinic = claims::provider(
        "clinic-north",
        "North Street Clinic",
        clinic_key().address(),
    );
    let hospital = claims::provider(
        "hospital-south",
        "Saint Jude Hospital",
        hospital_key().address(),
    );
    claims::register(store, &clinic).await;
    claims::register(store, &hospital).await;
    let mut ids = Vec::new();
    let mut expected = Vec::new();
    for (provider, reference, billed) in [
        (&clinic, "CLM-A-1", "1000.00"),
        (&hospital, "CLM-B-1", "800.00"),
        (&clinic, "CLM-A-2", "500.00"),
        (&hospital, "CLM-B-2", "1.00"),
    ] {
        let (id, units) = claims::approve(store, provider, reference, billed).await;
        ids.push(id);
        expected.push((provider.wallet, units));
    }
    assert_eq!(
        expected.iter().map(|(_, units)| units).sum::<u128>(),
        (800 + 640 + 400) * USDC + 800_000
    );
    (ids, expected)
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap()
}

/// A chain to read logs through, for reconciling while no settler runs.
async fn chain_reader(harness: &Harness) -> Arc<JsonRpcChain> {
    harness.chain(harness.config(1)).await
}

/// Settles in a task and returns the handle.
fn settle_in_background(
    service: Arc<claims_settlement::service::SettlementService>,
    claims: Vec<ClaimId>,
) -> tokio::task::JoinHandle<
    Result<Option<claims_settlement::service::SettledBatch>, SettlementError>,
> {
    tokio::spawn(async move { service.settle(&claims, now()).await })
}

async fn reorg_test(depth: u64) {
    let harness = Harness::start(generous_caps()).await;
    let (claims, expected) = four_claims(&harness).await;
    // Deeper than the reorg: the settler must not call the batch settled before it.
    let chain = harness.chain(harness.config(depth + 2)).await;
    let service = Arc::new(harness.service(chain.clone()));
    let head = harness.anvil.head().await;

    let settling = settle_in_background(service.clone(), claims.clone());
    // Automine includes the transaction at once; nothing else mines, so it waits there.
    eventually("the batch's transaction to be mined", || async {
        harness.anvil.head().await > head
    })
    .await;
    assert_eq!(chain.settlement_logs().await.unwrap().len(), claims.len());
    harness
        .anvil
        .rpc_call("anvil_reorg", serde_json::json!([depth, []]))
        .await;
    assert!(
        chain.settlement_logs().await.unwrap().is_empty(),
        "the reorg of depth {depth} took the settlement out of the chain"
    );

    let miner = harness.anvil.keep_mining(Duration::from_millis(100));
    let settled = tokio::time::timeout(Duration::from_secs(60), settling)
        .await
        .expect("the batch settles after the reorg")
        .unwrap()
        .unwrap()
        .expect("a batch");
    miner.abort();

    assert_eq!(settled.claims.len(), claims.len());
    harness.assert_paid_exactly_once(&chain, &expected).await;
    // The very same signed transaction was broadcast again: one signature, one nonce.
    let signed: Vec<_> = ledger_events_of(&harness, &chain)
        .await
        .into_iter()
        .filter(|event| matches!(event, SubmissionEvent::TransactionSigned { .. }))
        .collect();
    assert_eq!(signed.len(), 1, "{signed:?}");
    for claim in claims {
        assert_eq!(status(&harness, claim).await, ClaimStatus::Paid);
    }
}

/// The settler key's ledger, event by event: what was signed, replaced and confirmed.
async fn ledger_events_of(harness: &Harness, chain: &JsonRpcChain) -> Vec<SubmissionEvent> {
    let ledger = chain.ledger().await.unwrap();
    harness
        .store
        .read_stream(&ledger.stream, 1)
        .await
        .unwrap()
        .iter()
        .map(|recorded| {
            claims_adapters::aggregate::decode::<
                claims_settlement::json_rpc::ledger::SubmissionDecider,
            >(recorded)
            .unwrap()
        })
        .collect()
}

async fn status(harness: &Harness, claim: ClaimId) -> ClaimStatus {
    claims_adapters::aggregate::load::<claims_domain::claim::ClaimDecider>(
        harness.store.as_ref(),
        claims_adapters::aggregate::streams::claim(claim),
    )
    .await
    .unwrap()
    .state
    .status
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_of_depth_1_takes_the_payment_out_and_the_stored_transaction_puts_it_back_once() {
    reorg_test(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_of_depth_2_takes_the_payment_out_and_the_stored_transaction_puts_it_back_once() {
    reorg_test(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_of_depth_3_takes_the_payment_out_and_the_stored_transaction_puts_it_back_once() {
    reorg_test(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_is_broadcast_again_from_its_stored_bytes() {
    let harness = Harness::start(generous_caps()).await;
    let (claims, expected) = four_claims(&harness).await;
    harness.anvil.set_automine(false).await;
    let chain = harness.chain(harness.config(2)).await;
    let service = Arc::new(harness.service(chain.clone()));

    let settling = settle_in_background(service, claims.clone());
    // Signed, stored and in the node's pool, but not mined (automine is off).
    let started = std::time::Instant::now();
    let hash = loop {
        let signed = ledger_events_of(&harness, &chain)
            .await
            .into_iter()
            .find_map(|event| match event {
                SubmissionEvent::TransactionSigned { transaction } => Some(transaction.hash),
                _ => None,
            });
        if let Some(hash) = signed {
            let pooled = harness
                .anvil
                .rpc_call(
                    "eth_getTransactionByHash",
                    serde_json::json!([hash.to_string()]),
                )
                .await;
            if !pooled.is_null() {
                break hash;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the transaction never reached the pool"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let hash = hash.to_string();
    harness
        .anvil
        .rpc_call("anvil_dropTransaction", serde_json::json!([hash]))
        .await;
    let miner = harness.anvil.keep_mining(Duration::from_millis(100));
    let settled = tokio::time::timeout(Duration::from_secs(60), settling)
        .await
        .expect("the batch settles after the drop")
        .unwrap()
        .unwrap()
        .expect("a batch");
    miner.abort();

    assert_eq!(
        settled.transaction.to_string(),
        hash,
        "the same transaction, not a new one"
    );
    harness.assert_paid_exactly_once(&chain, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_transaction_is_replaced_with_both_fees_raised_and_pays_once() {
    let harness = Harness::start(generous_caps()).await;
    let (claims, expected) = four_claims(&harness).await;
    harness.anvil.set_automine(false).await;
    let mut config = harness.config(1);
    config.replace_after = Duration::from_millis(400);
    let chain = harness.chain(config).await;
    let service = Arc::new(harness.service(chain.clone()));

    let settling = settle_in_background(service, claims.clone());
    eventually("a replacement to be signed", || async {
        ledger_events_of(&harness, &chain)
            .await
            .iter()
            .any(|event| matches!(event, SubmissionEvent::TransactionReplaced { .. }))
    })
    .await;
    let miner = harness.anvil.keep_mining(Duration::from_millis(100));
    let settled = tokio::time::timeout(Duration::from_secs(60), settling)
        .await
        .expect("the batch settles")
        .unwrap()
        .unwrap()
        .expect("a batch");
    miner.abort();

    let events = ledger_events_of(&harness, &chain).await;
    let mut attempts = Vec::new();
    for event in &events {
        match event {
            SubmissionEvent::TransactionSigned { transaction }
            | SubmissionEvent::TransactionReplaced { transaction, .. } => {
                attempts.push(transaction.clone())
            }
            SubmissionEvent::TransactionConfirmed { .. } => {}
        }
    }
    assert!(attempts.len() >= 2, "{attempts:?}");
    for pair in attempts.windows(2) {
        assert_eq!(
            pair[0].nonce, pair[1].nonce,
            "a replacement reuses the nonce"
        );
        assert!(pair[1].fees.max_fee_per_gas * 10 >= pair[0].fees.max_fee_per_gas * 11);
        assert!(
            pair[1].fees.max_priority_fee_per_gas * 10
                >= pair[0].fees.max_priority_fee_per_gas * 11
        );
    }
    assert!(
        attempts
            .iter()
            .any(|attempt| attempt.hash == settled.transaction)
    );
    harness.assert_paid_exactly_once(&chain, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_broadcast_and_recording_resumes_from_the_store_without_paying_twice() {
    let harness = Harness::start(generous_caps()).await;
    let (claims, expected) = four_claims(&harness).await;
    let mut config = harness.config(3);
    config.confirmation_timeout = Duration::from_secs(2);

    // The first settler signs, stores and broadcasts; the transaction is mined, but no
    // more blocks come, and the settler gives up (as a crash would) before recording.
    let first = harness.chain(config.clone()).await;
    let error = harness
        .service(first.clone())
        .settle(&claims, now())
        .await
        .expect_err("no confirmations: the settler gives up");
    assert!(
        matches!(
            error,
            SettlementError::Chain {
                source: ChainError::Unavailable(_),
                ..
            }
        ),
        "{error}"
    );
    drop(first);
    for claim in &claims {
        assert_eq!(status(&harness, *claim).await, ClaimStatus::PayoutScheduled);
    }
    // Reconciliation sees the gap: paid on chain, not recorded in the store.
    let gap = reconcile(
        harness.store.as_ref(),
        chain_reader(&harness).await.as_ref(),
    )
    .await
    .unwrap();
    assert_eq!(gap.paid_not_recorded.len(), claims.len(), "{gap:?}");
    assert!(
        gap.paid_not_recorded
            .iter()
            .all(|unrecorded| unrecorded.claim.is_some())
    );
    assert!(gap.paid_twice.is_empty() && gap.recorded_not_on_chain.is_empty());

    // A new settler on the same store finds the open batch and its stored transaction.
    config.confirmation_timeout = Duration::from_secs(60);
    let chain = harness.chain(config).await;
    let service = harness.service(chain.clone());
    assert!(
        service.settle(&claims, now()).await.unwrap().is_none(),
        "scheduled claims never enter a second batch"
    );
    let open = service.unsettled_batches().await.unwrap();
    assert_eq!(open.len(), 1);
    let miner = harness.anvil.keep_mining(Duration::from_millis(100));
    let settled = service.resume(open[0]).await.unwrap().expect("resumed");
    miner.abort();

    assert_eq!(settled.claims.len(), claims.len());
    let signed = ledger_events_of(&harness, &chain)
        .await
        .into_iter()
        .filter(|event| matches!(event, SubmissionEvent::TransactionSigned { .. }))
        .count();
    assert_eq!(signed, 1, "the restarted settler signed nothing new");
    harness.assert_paid_exactly_once(&chain, &expected).await;
    assert!(service.unsettled_batches().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_contract_refuses_in_simulation_and_the_batch_pays_once_after_unpausing() {
    let harness = Harness::start(generous_caps()).await;
    let (claims, expected) = four_claims(&harness).await;
    harness
        .operator(pauser())
        .await
        .pause(harness.deployment.settlement)
        .await
        .unwrap();
    let chain = harness.chain(harness.config(1)).await;
    let service = harness.service(chain.clone());

    let error = service.settle(&claims, now()).await.unwrap_err();
    assert!(
        matches!(
            error,
            SettlementError::Chain {
                source: ChainError::Paused,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        ledger_events_of(&harness, &chain).await.is_empty(),
        "nothing is signed for a batch the simulation refuses"
    );
    assert!(
        service
            .resume(service.unsettled_batches().await.unwrap()[0])
            .await
            .is_err()
    );
    let unpaid = reconcile(harness.store.as_ref(), chain.as_ref())
        .await
        .unwrap();
    assert_eq!(unpaid.approved_never_paid.len(), claims.len(), "{unpaid:?}");
    assert_eq!(unpaid.discrepancies(), claims.len());

    harness
        .admin
        .unpause(harness.deployment.settlement)
        .await
        .unwrap();
    let batch = service.unsettled_batches().await.unwrap()[0];
    let settled = service.resume(batch).await.unwrap().expect("resumed");
    assert_eq!(settled.batch, batch);
    harness.assert_paid_exactly_once(&chain, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_above_the_cap_is_refused_and_pays_once_after_the_cap_is_raised() {
    let harness = Harness::start(SettlementCaps {
        per_claim: TokenAmount::from_base_units(500 * USDC),
        per_day: TokenAmount::from_base_units(100_000 * USDC),
    })
    .await;
    let (claims, expected) = four_claims(&harness).await;
    let chain = harness.chain(harness.config(1)).await;
    let service = harness.service(chain.clone());

    let error = service.settle(&claims, now()).await.unwrap_err();
    match error {
        SettlementError::Chain {
            source: ChainError::ClaimAboveCap { amount, cap, .. },
            ..
        } => {
            assert_eq!(cap.base_units(), 500 * USDC);
            assert!(amount.base_units() > cap.base_units());
        }
        other => panic!("expected the per-claim cap, got {other}"),
    }
    assert!(chain.settlement_logs().await.unwrap().is_empty());

    harness
        .admin
        .set_caps(harness.deployment.settlement, generous_caps())
        .await
        .unwrap();
    let batch = service.unsettled_batches().await.unwrap()[0];
    service.resume(batch).await.unwrap().expect("resumed");
    harness.assert_paid_exactly_once(&chain, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_whose_transfer_fails_is_owed_then_withdraws_and_nothing_health_related_reaches_the_chain()
 {
    let harness = Harness::start(generous_caps()).await;
    let (claims, expected) = four_claims(&harness).await;
    let clinic = clinic_key().address();
    harness
        .admin
        .set_transfers_blocked(harness.deployment.token, clinic, true)
        .await
        .unwrap();
    let chain = harness.chain(harness.config(1)).await;
    let service = harness.service(chain.clone());

    let settled = service
        .settle(&claims, now())
        .await
        .unwrap()
        .expect("a batch");
    assert_eq!(settled.owed.len(), 1, "{settled:?}");
    assert_eq!(settled.owed[0].wallet, clinic);
    let clinic_sum: u128 = expected
        .iter()
        .filter(|(wallet, _)| *wallet == clinic)
        .map(|(_, units)| units)
        .sum();
    assert_eq!(harness.balance(&chain, clinic).await, 0);
    assert_eq!(chain.owed(clinic).await.unwrap().base_units(), clinic_sum);
    harness.assert_paid_exactly_once(&chain, &expected).await;

    harness
        .admin
        .set_transfers_blocked(harness.deployment.token, clinic, false)
        .await
        .unwrap();
    let withdrawal = harness
        .operator(clinic_key())
        .await
        .withdraw(harness.deployment.settlement)
        .await
        .unwrap();
    assert_eq!(withdrawal.amount.base_units(), clinic_sum);
    assert_eq!(harness.balance(&chain, clinic).await, clinic_sum);
    assert_eq!(chain.owed(clinic).await.unwrap(), TokenAmount::ZERO);
    // Withdrawn money is not paid again.
    harness.assert_paid_exactly_once(&chain, &expected).await;

    // Invariant 5: every transaction's calldata and every log of the whole run.
    let mut forbidden: Vec<(String, Vec<u8>)> = [
        MEMBER,
        PROCEDURE,
        DIAGNOSIS,
        PLAN,
        INSURER,
        "CLM-A-1",
        "North Street Clinic",
        "Saint Jude Hospital",
        "clinic-north",
        "hospital-south",
    ]
    .iter()
    .map(|text| (text.to_string(), text.as_bytes().to_vec()))
    .collect();
    for claim in &claims {
        forbidden.push((
            format!("claim id {claim}"),
            claim.as_uuid().as_bytes().to_vec(),
        ));
        forbidden.push((
            format!("claim id text {claim}"),
            claim.to_string().into_bytes(),
        ));
    }
    let head = harness.anvil.head().await;
    let mut scanned = Vec::new();
    for number in 0..=head {
        let block = harness
            .anvil
            .rpc_call(
                "eth_getBlockByNumber",
                serde_json::json!([format!("0x{number:x}"), true]),
            )
            .await;
        for transaction in block["transactions"].as_array().unwrap() {
            scanned.push(hex_bytes(transaction["input"].as_str().unwrap()));
        }
    }
    let transactions = scanned.len();
    let logs = harness
        .anvil
        .rpc_call(
            "eth_getLogs",
            serde_json::json!([{ "fromBlock": "0x0", "toBlock": "latest" }]),
        )
        .await;
    for log in logs.as_array().unwrap() {
        scanned.push(hex_bytes(log["data"].as_str().unwrap()));
        for topic in log["topics"].as_array().unwrap() {
            scanned.push(hex_bytes(topic.as_str().unwrap()));
        }
    }
    assert!(
        transactions >= 5 && scanned.len() > transactions,
        "the scan saw the run"
    );
    for bytes in &scanned {
        let lowercase = String::from_utf8_lossy(bytes).to_lowercase();
        for (what, needle) in &forbidden {
            assert!(
                !bytes
                    .windows(needle.len())
                    .any(|window| window == needle.as_slice()),
                "{what} reached the chain"
            );
            assert!(
                !lowercase.contains(&String::from_utf8_lossy(needle).to_lowercase()),
                "{what} reached the chain"
            );
        }
    }
}

fn hex_bytes(text: &str) -> Vec<u8> {
    let digits = text.trim_start_matches("0x");
    (0..digits.len() / 2)
        .map(|at| u8::from_str_radix(&digits[at * 2..at * 2 + 2], 16).unwrap())
        .collect()
}
