//! The contract's safety controls on the embedded EVM: pause, caps, per-claim idempotency,
//! netting per provider, owed balances for failed transfers, and what reaches the chain.

mod common;

use alloy_primitives::{Address, B256};
use alloy_sol_types::{SolEvent, SolEventInterface, SolInterface};
use claims_settlement::contracts::{ClaimsSettlement, MockStablecoin};
use claims_settlement::embedded::RecordedTransaction;
use claims_settlement::{
    ChainBatch, ChainError, Delivery, NettedClaim, ProviderPayout, SettlementCaps, SettlementChain,
    payouts,
};
use common::*;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

fn token_transfers(transaction: &RecordedTransaction) -> usize {
    transaction
        .logs
        .iter()
        .filter(|log| log.topics.first() == Some(&MockStablecoin::Transfer::SIGNATURE_HASH.0))
        .count()
}

fn last_committed(chain: &claims_settlement::EmbeddedChain) -> RecordedTransaction {
    committed(chain).pop().expect("a transaction")
}

// ----------------------------------------------------------------------------------------
// Pause

#[tokio::test]
async fn a_paused_contract_refuses_every_batch_until_the_admin_unpauses_it() {
    let chain = launch();
    chain.pause().expect("the pauser may pause");
    assert!(chain.is_paused().expect("an answer"));

    let refused = chain.settle_batch(&four_claims_for_two_providers()).await;

    assert!(
        matches!(refused, Err(ChainError::Paused)),
        "got {refused:?}"
    );
    assert_eq!(balances(&chain).await, (0, 0, FLOAT));
    assert!(!is_settled(&chain, 0).await);

    let pauser = chain.pauser_address();
    let settler = chain.settler_address();
    for caller in [pauser, settler, stranger()] {
        let refused = chain.unpause_as(caller);
        assert!(
            matches!(&refused, Err(ChainError::Reverted(reason)) if reason.starts_with("AccessControlUnauthorizedAccount(")),
            "{caller} may not unpause: {refused:?}"
        );
    }
    chain.unpause().expect("the admin may unpause");

    chain
        .settle_batch(&four_claims_for_two_providers())
        .await
        .expect("settled once unpaused");
    assert!(is_settled(&chain, 0).await);
}

#[tokio::test]
async fn only_the_pauser_may_pause() {
    let chain = launch();
    for caller in [chain.settler_address(), chain.admin_address(), stranger()] {
        let refused = chain.pause_as(caller);
        assert!(
            matches!(&refused, Err(ChainError::Reverted(reason)) if reason.starts_with("AccessControlUnauthorizedAccount(")),
            "{caller} may not pause: {refused:?}"
        );
    }
    assert!(!chain.is_paused().expect("an answer"));
}

// ----------------------------------------------------------------------------------------
// Caps

#[tokio::test]
async fn a_claim_above_the_per_claim_cap_refuses_the_whole_batch() {
    let chain = launch_with_caps(1_000 * USDC, 100_000 * USDC);
    let batch = batch(
        "batch-1",
        vec![
            claim(0, clinic(), 1_000 * USDC),
            claim(1, hospital(), 1_000 * USDC + 1),
        ],
    );

    let refused = chain.settle_batch(&batch).await;

    match refused {
        Err(ChainError::ClaimAboveCap {
            index: i,
            amount,
            cap,
        }) => {
            assert_eq!(i, index(1));
            assert_eq!(amount.base_units(), 1_000 * USDC + 1);
            assert_eq!(cap.base_units(), 1_000 * USDC);
        }
        other => panic!("expected ClaimAboveCap, got {other:?}"),
    }
    assert_eq!(balances(&chain).await, (0, 0, FLOAT));
    assert!(
        !is_settled(&chain, 0).await,
        "a claim at the cap is refused with its batch"
    );
}

#[tokio::test]
async fn the_daily_cap_refuses_a_batch_that_would_exceed_it_until_the_next_day() {
    let chain = launch_with_caps(1_000 * USDC, 1_500 * USDC);
    chain
        .settle_batch(&batch("batch-1", vec![claim(0, clinic(), 1_000 * USDC)]))
        .await
        .expect("within today's cap");
    assert_eq!(
        chain.remaining_today().expect("an answer").base_units(),
        500 * USDC
    );

    let second = batch(
        "batch-2",
        vec![
            claim(1, clinic(), 300 * USDC),
            claim(2, hospital(), 300 * USDC),
        ],
    );
    let refused = chain.settle_batch(&second).await;

    match refused {
        Err(ChainError::DailyCapExceeded {
            requested,
            remaining,
        }) => assert_eq!(
            (requested.base_units(), remaining.base_units()),
            (600 * USDC, 500 * USDC)
        ),
        other => panic!("expected DailyCapExceeded, got {other:?}"),
    }
    assert!(!is_settled(&chain, 1).await);

    chain.advance_time(DAY).expect("time moves");
    assert_eq!(
        chain.remaining_today().expect("an answer").base_units(),
        1_500 * USDC
    );
    chain
        .settle_batch(&second)
        .await
        .expect("the next day's cap allows it");
    assert!(is_settled(&chain, 1).await && is_settled(&chain, 2).await);
}

#[tokio::test]
async fn only_the_admin_may_change_the_caps_and_never_to_zero() {
    let chain = launch_with_caps(1_000 * USDC, 1_500 * USDC);
    let raised = SettlementCaps {
        per_claim: usdc(5_000 * USDC),
        per_day: usdc(50_000 * USDC),
    };
    for caller in [chain.settler_address(), chain.pauser_address(), stranger()] {
        let refused = chain.set_caps_as(caller, raised);
        assert!(
            matches!(&refused, Err(ChainError::Reverted(reason)) if reason.starts_with("AccessControlUnauthorizedAccount(")),
            "{caller} may not set caps: {refused:?}"
        );
    }
    let zero = chain.set_caps(SettlementCaps {
        per_claim: usdc(0),
        per_day: usdc(1),
    });
    assert!(
        matches!(&zero, Err(ChainError::Reverted(reason)) if reason == "ZeroCap()"),
        "got {zero:?}"
    );

    chain.set_caps(raised).expect("the admin may");

    assert_eq!(chain.caps().expect("the caps"), raised);
    chain
        .settle_batch(&batch("batch-1", vec![claim(0, clinic(), 4_000 * USDC)]))
        .await
        .expect("within the raised cap");
}

// ----------------------------------------------------------------------------------------
// Idempotency per claim

#[tokio::test]
async fn a_claim_index_settled_once_is_refused_in_every_later_batch() {
    let chain = launch();
    chain
        .settle_batch(&batch("batch-1", vec![claim(300, clinic(), 10 * USDC)]))
        .await
        .expect("settled once");

    // Under another batch id, to another provider, for another amount: still refused.
    for (label, provider, amount) in [
        ("batch-2", clinic(), 10 * USDC),
        ("batch-3", hospital(), 10 * USDC),
        ("batch-4", clinic(), 1),
    ] {
        let refused = chain
            .settle_batch(&batch(
                label,
                vec![claim(301, clinic(), 5), claim(300, provider, amount)],
            ))
            .await;
        assert!(
            matches!(refused, Err(ChainError::ClaimAlreadySettled(i)) if i == index(300)),
            "{label}: got {refused:?}"
        );
    }
    assert_eq!(balances(&chain).await.0, 10 * USDC, "paid exactly once");
    assert!(!is_settled(&chain, 301).await);
}

#[tokio::test]
async fn a_range_across_bitmap_words_is_settled_once_in_each_word() {
    let chain = launch();
    // Indices 250 to 521 span three 256-bit words of the bitmap.
    chain
        .settle_batch(&batch(
            "batch-1",
            (250..522).map(|n| claim(n, clinic(), 1)).collect(),
        ))
        .await
        .expect("settled");
    for (n, settled) in [
        (249, false),
        (250, true),
        (255, true),
        (256, true),
        (511, true),
        (512, true),
        (521, true),
        (522, false),
    ] {
        assert_eq!(is_settled(&chain, n).await, settled, "index {n}");
    }

    // A later range overlapping only in the middle word is refused on its first clash.
    let refused = chain
        .settle_batch(&batch(
            "batch-2",
            (522..530)
                .chain(300..310)
                .map(|n| claim(n, hospital(), 1))
                .collect(),
        ))
        .await;

    assert!(
        matches!(refused, Err(ChainError::ClaimAlreadySettled(i)) if i == index(300)),
        "got {refused:?}"
    );
    assert!(
        !is_settled(&chain, 522).await,
        "the refused batch set nothing"
    );
    assert_eq!(balances(&chain).await.0, 272);
}

// ----------------------------------------------------------------------------------------
// Netting

#[tokio::test]
async fn fifty_claims_for_one_provider_make_one_transfer() {
    let chain = launch();
    let claims: Vec<_> = (0..50)
        .map(|n| claim(n, clinic(), (n as u128 + 1) * USDC))
        .collect();
    let expected: u128 = (1..=50).map(|n| n * USDC).sum();

    let receipt = chain
        .settle_batch(&batch("batch-1", claims))
        .await
        .expect("settled");

    let transaction = last_committed(&chain);
    assert_eq!(
        token_transfers(&transaction),
        1,
        "one transfer for fifty claims"
    );
    assert_eq!(receipt.claims.len(), 50);
    assert_eq!(receipt.providers.len(), 1);
    assert_eq!(receipt.providers[0].amount.base_units(), expected);
    assert_eq!(receipt.providers[0].claims, 50);
    assert_eq!(balances(&chain).await.0, expected);
    println!(
        "gas for 50 claims netted to one new provider: {} ({} per claim)",
        receipt.gas_used,
        receipt.gas_used / 50
    );
}

#[tokio::test]
async fn claims_of_many_providers_make_one_transfer_per_provider() {
    let chain = launch();
    let claims: Vec<_> = (0..30)
        .map(|n| claim(n, if n % 3 == 0 { hospital() } else { clinic() }, USDC))
        .collect();

    let receipt = chain
        .settle_batch(&batch("batch-1", claims))
        .await
        .expect("settled");

    assert_eq!(token_transfers(&last_committed(&chain)), 2);
    let providers: Vec<_> = receipt
        .providers
        .iter()
        .map(|p| (p.provider, p.claims, p.amount.base_units()))
        .collect();
    assert_eq!(
        providers,
        vec![(clinic(), 20, 20 * USDC), (hospital(), 10, 10 * USDC)]
    );
}

#[tokio::test]
async fn the_contract_refuses_a_provider_named_twice_in_a_batch() {
    let chain = launch();
    let payout = |provider, n| ProviderPayout {
        provider,
        claims: vec![NettedClaim {
            index: index(n),
            amount: usdc(USDC),
        }],
    };
    for (label, providers) in [
        (
            "named again after another",
            vec![
                payout(clinic(), 0),
                payout(hospital(), 1),
                payout(clinic(), 2),
            ],
        ),
        ("unsorted", vec![payout(hospital(), 0), payout(clinic(), 1)]),
    ] {
        let unnetted = ChainBatch {
            batch: batch_id(label),
            providers,
        };
        let kept_off_chain = chain.settle_batch(&unnetted).await;
        assert!(
            matches!(kept_off_chain, Err(ChainError::InvalidBatch(_))),
            "{label}: {kept_off_chain:?}"
        );

        let refused = chain.settle_unvalidated_batch(&unnetted);

        assert!(
            matches!(&refused, Err(ChainError::Reverted(reason)) if reason.starts_with("ProvidersNotAscending(")),
            "{label}: got {refused:?}"
        );
    }
    assert_eq!(balances(&chain).await, (0, 0, FLOAT));
}

#[tokio::test]
async fn runs_of_one_provider_next_to_each_other_are_netted_into_one_transfer() {
    let chain = launch();
    // Indices 0, 1 and 7 of one provider: two runs, as a gap in the indices needs.
    let unnetted = ChainBatch {
        batch: batch_id("batch-1"),
        providers: vec![
            ProviderPayout {
                provider: clinic(),
                claims: vec![
                    NettedClaim {
                        index: index(0),
                        amount: usdc(USDC),
                    },
                    NettedClaim {
                        index: index(1),
                        amount: usdc(2 * USDC),
                    },
                ],
            },
            ProviderPayout {
                provider: clinic(),
                claims: vec![NettedClaim {
                    index: index(7),
                    amount: usdc(4 * USDC),
                }],
            },
        ],
    };

    let receipt = chain.settle_unvalidated_batch(&unnetted).expect("settled");

    assert_eq!(token_transfers(&last_committed(&chain)), 1);
    assert_eq!(receipt.providers.len(), 1);
    assert_eq!(receipt.providers[0].amount, usdc(7 * USDC));
    assert_eq!(receipt.providers[0].claims, 3);
    assert_eq!(balances(&chain).await.0, 7 * USDC);
    for (n, settled) in [(0, true), (1, true), (2, false), (6, false), (7, true)] {
        assert_eq!(is_settled(&chain, n).await, settled, "index {n}");
    }
}

// ----------------------------------------------------------------------------------------
// Owed balances

#[tokio::test]
async fn a_failed_transfer_is_owed_to_the_provider_who_withdraws_it_later() {
    let chain = launch();
    chain
        .set_transfers_blocked(hospital(), true)
        .expect("the token's owner blocks the hospital");
    let hospital_total = 2_500_000_000 + 1;
    let clinic_total = 100_000_000 + 23_450_000;

    let receipt = chain
        .settle_batch(&four_claims_for_two_providers())
        .await
        .expect("the batch survives the blocked provider");

    let deliveries: Vec<_> = receipt
        .providers
        .iter()
        .map(|p| (p.provider, p.delivery))
        .collect();
    assert_eq!(
        deliveries,
        vec![
            (clinic(), Delivery::Transferred),
            (hospital(), Delivery::Owed)
        ]
    );
    assert_eq!(receipt.owed.base_units(), hospital_total);
    for n in 0..4 {
        assert!(
            is_settled(&chain, n).await,
            "claim {n} is settled, owed or not"
        );
    }
    assert_eq!(
        balances(&chain).await,
        (clinic_total, 0, FLOAT - clinic_total),
        "the owed amount stays in the contract"
    );
    assert_eq!(
        chain
            .owed(hospital())
            .await
            .expect("an answer")
            .base_units(),
        hospital_total
    );

    // The owed amount is not float: a batch cannot spend it.
    let spend_all = batch("batch-2", vec![claim(10, clinic(), FLOAT - clinic_total)]);
    let refused = chain.settle_batch(&spend_all).await;
    assert!(
        matches!(refused, Err(ChainError::InsufficientFloat { available, .. })
            if available.base_units() == FLOAT - clinic_total - hospital_total),
        "got {refused:?}"
    );

    // Still blocked: the withdrawal fails and the balance stays owed.
    let refused = chain.withdraw_as(hospital());
    assert!(
        matches!(&refused, Err(ChainError::Reverted(reason)) if reason.starts_with("AccountBlocked(")),
        "got {refused:?}"
    );
    assert_eq!(
        chain
            .owed(hospital())
            .await
            .expect("an answer")
            .base_units(),
        hospital_total
    );

    chain
        .set_transfers_blocked(hospital(), false)
        .expect("unblocked");
    let withdrawal = chain.withdraw_as(hospital()).expect("withdrawn");

    assert_eq!(withdrawal.provider, hospital());
    assert_eq!(withdrawal.amount.base_units(), hospital_total);
    assert_eq!(
        balances(&chain).await,
        (
            clinic_total,
            hospital_total,
            FLOAT - clinic_total - hospital_total
        )
    );
    assert_eq!(
        chain
            .owed(hospital())
            .await
            .expect("an answer")
            .base_units(),
        0
    );
    let again = chain.withdraw_as(hospital());
    assert!(
        matches!(&again, Err(ChainError::Reverted(reason)) if reason.starts_with("NothingOwed(")),
        "got {again:?}"
    );
}

#[tokio::test]
async fn withdrawing_is_paused_with_every_other_outflow() {
    let chain = launch();
    chain
        .set_transfers_blocked(clinic(), true)
        .expect("blocked");
    chain
        .settle_batch(&batch("batch-1", vec![claim(0, clinic(), 5 * USDC)]))
        .await
        .expect("settled, owed");
    chain
        .set_transfers_blocked(clinic(), false)
        .expect("unblocked");
    chain.pause().expect("paused");

    let refused = chain.withdraw_as(clinic());

    assert!(
        matches!(refused, Err(ChainError::Paused)),
        "got {refused:?}"
    );
    chain.unpause().expect("unpaused");
    assert_eq!(
        chain
            .withdraw_as(clinic())
            .expect("withdrawn")
            .amount
            .base_units(),
        5 * USDC
    );
}

// ----------------------------------------------------------------------------------------
// Privacy: an allow-list of everything that reached the chain

/// What a settlement run may put on chain: contract code and constructor arguments, role
/// and token administration, and batches made only of batch ids, wallets, settlement
/// indices and amounts. Every calldata and every log of the run must decode as one of
/// these and re-encode to the very same bytes, so no other byte can hide in them.
#[tokio::test]
async fn a_run_puts_nothing_on_chain_but_batch_ids_wallets_indices_and_amounts() {
    let chain = launch_with_caps(10_000 * USDC, 100_000 * USDC);
    chain
        .set_transfers_blocked(hospital(), true)
        .expect("blocked");
    chain
        .settle_batch(&four_claims_for_two_providers())
        .await
        .expect("settled");
    let _ = chain.settle_batch(&four_claims_for_two_providers()).await;
    chain.pause().expect("paused");
    let _ = chain
        .settle_batch(&batch("batch-2", vec![claim(4, clinic(), USDC)]))
        .await;
    chain.unpause().expect("unpaused");
    chain
        .set_transfers_blocked(hospital(), false)
        .expect("unblocked");
    chain.withdraw_as(hospital()).expect("withdrawn");
    chain
        .settle_batch(&batch(
            "batch-3",
            (5..40).map(|n| claim(n, clinic(), USDC)).collect(),
        ))
        .await
        .expect("settled");

    let wallets: Vec<Address> = [
        clinic(),
        hospital(),
        chain.admin_address(),
        chain.settler_address(),
        chain.pauser_address(),
        chain.settlement_address(),
        chain.token_address(),
    ]
    .iter()
    .map(|wallet| Address::from(*wallet.as_bytes()))
    .collect();
    let batch_ids: Vec<B256> = ["batch-1", "batch-2", "batch-3"]
        .iter()
        .map(|label| B256::from(batch_id(label)))
        .collect();
    let settlement = Address::from(*chain.settlement_address().as_bytes());
    let token = Address::from(*chain.token_address().as_bytes());

    let transactions = chain.transactions();
    assert!(
        transactions.len() >= 10,
        "{} transactions",
        transactions.len()
    );
    for transaction in &transactions {
        match transaction.to.map(|to| Address::from(*to.as_bytes())) {
            None => {
                let code_is_an_artifact = transaction
                    .calldata
                    .starts_with(&ClaimsSettlement::BYTECODE)
                    || transaction.calldata == MockStablecoin::BYTECODE.to_vec();
                assert!(code_is_an_artifact, "a deployment of unknown code");
            }
            Some(to) if to == settlement => {
                let call =
                    ClaimsSettlement::ClaimsSettlementCalls::abi_decode(&transaction.calldata)
                        .expect("a settlement call");
                assert_eq!(call.abi_encode(), transaction.calldata, "no stray bytes");
                use ClaimsSettlement::ClaimsSettlementCalls as Call;
                match call {
                    Call::settleBatch(settle) => {
                        assert!(batch_ids.contains(&settle.batch));
                        assert_only_wallets_indices_and_amounts(&settle.payouts, &wallets);
                    }
                    Call::pause(_) | Call::unpause(_) | Call::withdraw(_) => {}
                    other => panic!("unexpected call {other:?}"),
                }
            }
            Some(to) if to == token => {
                let call = MockStablecoin::MockStablecoinCalls::abi_decode(&transaction.calldata)
                    .expect("a token call");
                assert_eq!(call.abi_encode(), transaction.calldata, "no stray bytes");
                use MockStablecoin::MockStablecoinCalls as Call;
                match call {
                    Call::mint(mint) => assert!(wallets.contains(&mint.to)),
                    Call::setBlocked(block) => assert!(wallets.contains(&block.account)),
                    other => panic!("unexpected call {other:?}"),
                }
            }
            Some(other) => panic!("a transaction to an unknown contract {other}"),
        }

        for log in &transaction.logs {
            let topics: Vec<B256> = log.topics.iter().map(|topic| B256::from(*topic)).collect();
            let emitter = Address::from(*log.address.as_bytes());
            if emitter == settlement {
                let event =
                    ClaimsSettlement::ClaimsSettlementEvents::decode_raw_log(&topics, &log.data)
                        .expect("a settlement event");
                use ClaimsSettlement::ClaimsSettlementEvents as Event;
                match event {
                    Event::ProviderOwed(e) => {
                        assert!(batch_ids.contains(&e.batch) && wallets.contains(&e.provider));
                        assert_eq!(log.data, e.encode_data(), "no stray bytes");
                    }
                    Event::BatchSettled(e) => {
                        assert!(batch_ids.contains(&e.batch));
                        assert_only_wallets_indices_and_amounts(&e.payouts, &wallets);
                        assert_eq!(log.data, e.encode_data(), "no stray bytes");
                    }
                    Event::OwedWithdrawn(e) => assert!(wallets.contains(&e.provider)),
                    Event::RoleGranted(e) => assert!(wallets.contains(&e.account)),
                    Event::CapsChanged(_) | Event::Paused(_) | Event::Unpaused(_) => {}
                    other => panic!("unexpected event {other:?}"),
                }
            } else if emitter == token {
                let event =
                    MockStablecoin::MockStablecoinEvents::decode_raw_log(&topics, &log.data)
                        .expect("a token event");
                use MockStablecoin::MockStablecoinEvents as Event;
                match event {
                    Event::Transfer(e) => {
                        assert!(wallets.contains(&e.to));
                        assert!(e.from == Address::ZERO || wallets.contains(&e.from));
                    }
                    Event::OwnershipTransferred(_) | Event::BlockedChanged(_) => {}
                    other => panic!("unexpected event {other:?}"),
                }
            } else {
                panic!("a log from an unknown contract {emitter}");
            }
        }
    }
}

/// Packed payouts must decode, claim by claim, into known wallets, small indices and
/// amounts, and re-encode to the very same bytes: no other byte can hide in them.
fn assert_only_wallets_indices_and_amounts(packed: &[u8], wallets: &[Address]) {
    let claims = payouts::decode(packed).expect("packed payouts");
    assert!(!claims.is_empty());
    let mut netted = ChainBatch {
        batch: [0; 32],
        providers: Vec::new(),
    };
    for claim in &claims {
        assert!(wallets.contains(&Address::from(*claim.provider.as_bytes())));
        assert!(claim.index.get() < 1 << 32, "an index");
        assert!(claim.amount.base_units() <= FLOAT, "an amount");
        let next = NettedClaim {
            index: claim.index,
            amount: claim.amount,
        };
        match netted.providers.last_mut() {
            Some(last) if last.provider == claim.provider => last.claims.push(next),
            _ => netted.providers.push(ProviderPayout {
                provider: claim.provider,
                claims: vec![next],
            }),
        }
    }
    assert_eq!(
        payouts::encode(&netted).expect("re-encoded"),
        packed,
        "no stray bytes"
    );
}
