//! The `ClaimsSettlement` contract, run by the embedded EVM: a batch pays each provider
//! exactly what it is owed, and the contract on its own refuses to settle any claim twice.

mod common;

use claims_settlement::{ChainError, Delivery, SettledClaim, SettlementChain};
use common::*;

#[tokio::test]
async fn the_chain_pays_in_the_six_decimal_mock_usdc_from_its_float() {
    let chain = launch();

    assert_eq!(chain.token().symbol, "USDC");
    assert_eq!(chain.token().decimals, 6);
    assert_eq!(balances(&chain).await, (0, 0, FLOAT));
    assert_ne!(chain.settlement_address(), chain.token_address());
    assert_eq!(chain.contract(), chain.settlement_address());
    let roles = [
        chain.admin_address(),
        chain.settler_address(),
        chain.pauser_address(),
    ];
    assert!(roles[0] != roles[1] && roles[1] != roles[2] && roles[0] != roles[2]);
}

#[tokio::test]
async fn a_batch_pays_each_provider_exactly_the_sum_of_its_claims() {
    let chain = launch();
    let batch = four_claims_for_two_providers();

    let receipt = chain.settle_batch(&batch).await.expect("the batch is paid");

    let clinic_owed = 100_000_000 + 23_450_000;
    let hospital_owed = 2_500_000_000 + 1;
    assert_eq!(
        balances(&chain).await,
        (
            clinic_owed,
            hospital_owed,
            FLOAT - clinic_owed - hospital_owed
        )
    );
    let settled: Vec<SettledClaim> = batch
        .providers
        .iter()
        .flat_map(|payout| {
            payout.claims.iter().map(|claim| SettledClaim {
                index: claim.index,
                provider: payout.provider,
                amount: claim.amount,
            })
        })
        .collect();
    assert_eq!(receipt.claims, settled, "every claim, in calldata order");
    let providers: Vec<_> = receipt
        .providers
        .iter()
        .map(|p| (p.provider, p.amount.base_units(), p.claims, p.delivery))
        .collect();
    assert_eq!(
        providers,
        vec![
            (clinic(), clinic_owed, 2, Delivery::Transferred),
            (hospital(), hospital_owed, 2, Delivery::Transferred)
        ]
    );
    assert_eq!(receipt.total.base_units(), clinic_owed + hospital_owed);
    assert_eq!(receipt.owed.base_units(), 0);
}

#[tokio::test]
async fn a_receipt_names_its_transaction_and_block() {
    let chain = launch();
    let launched_at = chain.block_number().expect("a block number");

    let first = chain
        .settle_batch(&four_claims_for_two_providers())
        .await
        .expect("paid");
    let second = chain
        .settle_batch(&batch("batch-2", vec![claim(4, clinic(), 5)]))
        .await
        .expect("paid");

    assert_eq!(first.block, launched_at + 1);
    assert_eq!(second.block, first.block + 1, "one transaction per block");
    assert_ne!(first.transaction, second.transaction);
    let recorded = committed(&chain);
    let last = recorded.last().expect("a transaction");
    assert_eq!(last.hash, second.transaction);
    assert_eq!(last.block, Some(second.block));
    assert_eq!(last.from, chain.settler_address());
    assert_eq!(last.to, Some(chain.settlement_address()));
}

#[tokio::test]
async fn a_four_claim_batch_to_two_providers_costs_a_bounded_amount_of_gas() {
    let chain = launch();

    let receipt = chain
        .settle_batch(&four_claims_for_two_providers())
        .await
        .expect("paid");

    println!(
        "gas used by a 4-claim batch to 2 new providers: {}",
        receipt.gas_used
    );
    // The batch marker, the first bitmap word and the day's total (about 22k each), two
    // transfers to new holders (about 30k each), one BatchSettled log: a large rise means
    // the contract got more expensive per claim or per provider.
    assert!(
        (90_000..200_000).contains(&receipt.gas_used),
        "gas used: {}",
        receipt.gas_used
    );
}

#[tokio::test]
async fn the_same_batch_sent_again_pays_nothing_and_returns_the_first_receipt() {
    let chain = launch();
    let batch = four_claims_for_two_providers();
    let first = chain.settle_batch(&batch).await.expect("paid once");
    let paid_once = balances(&chain).await;
    let transactions = committed(&chain).len();

    // As after a crash between settling and recording: the contract refuses the batch in
    // simulation, and its BatchSettled log gives back the receipt of the first send.
    let again = chain.settle_batch(&batch).await.expect("the first receipt");

    assert_eq!(again, first);
    assert_eq!(balances(&chain).await, paid_once);
    assert_eq!(
        committed(&chain).len(),
        transactions,
        "a settled batch is never sent again"
    );
}

#[tokio::test]
async fn a_new_batch_with_an_already_settled_index_is_refused_as_a_whole() {
    let chain = launch();
    chain
        .settle_batch(&batch("batch-1", vec![claim(0, clinic(), 100_000_000)]))
        .await
        .expect("paid once");
    let paid_once = balances(&chain).await;

    let second = batch(
        "batch-2",
        vec![
            claim(1, hospital(), 7_000_000),
            claim(0, clinic(), 100_000_000),
        ],
    );
    let refused = chain.settle_batch(&second).await;

    assert!(
        matches!(refused, Err(ChainError::ClaimAlreadySettled(i)) if i == index(0)),
        "got {refused:?}"
    );
    assert_eq!(
        balances(&chain).await,
        paid_once,
        "nothing of the batch is paid"
    );
    assert!(!is_settled(&chain, 1).await);
}

#[tokio::test]
async fn the_same_index_twice_in_one_batch_is_refused() {
    let chain = launch();
    for twice in [
        // For one provider, netted into one payout.
        batch(
            "batch-1",
            vec![
                claim(0, clinic(), 100_000_000),
                claim(0, clinic(), 100_000_000),
            ],
        ),
        // For two providers.
        batch(
            "batch-2",
            vec![claim(7, clinic(), 100_000_000), claim(7, hospital(), 5)],
        ),
    ] {
        let refused = chain.settle_batch(&twice).await;

        assert!(
            matches!(refused, Err(ChainError::ClaimAlreadySettled(_))),
            "got {refused:?}"
        );
    }
    assert_eq!(balances(&chain).await, (0, 0, FLOAT));
    assert!(!is_settled(&chain, 0).await);
    assert!(!is_settled(&chain, 7).await);
}

#[tokio::test]
async fn is_claim_settled_turns_true_once_the_index_is_settled() {
    let chain = launch();
    for n in 0..4 {
        assert!(!is_settled(&chain, n).await);
    }

    chain
        .settle_batch(&four_claims_for_two_providers())
        .await
        .expect("paid");

    for n in 0..4 {
        assert!(is_settled(&chain, n).await, "index {n}");
    }
    assert!(!is_settled(&chain, 4).await);
    assert!(!is_settled(&chain, 256).await, "the next bitmap word");
}

#[tokio::test]
async fn a_caller_without_the_settler_role_is_refused() {
    let chain = launch();
    let batch = four_claims_for_two_providers();

    for caller in [chain.admin_address(), chain.pauser_address(), stranger()] {
        let refused = chain.settle_batch_as(caller, &batch);
        match refused {
            Err(ChainError::Reverted(reason)) => assert!(
                reason.starts_with(&format!("AccessControlUnauthorizedAccount({caller}, ")),
                "reason: {reason}"
            ),
            other => panic!("expected AccessControlUnauthorizedAccount, got {other:?}"),
        }
    }
    assert_eq!(balances(&chain).await, (0, 0, FLOAT));
    assert!(!is_settled(&chain, 0).await);

    chain
        .settle_batch_as(chain.settler_address(), &batch)
        .expect("the settler may settle it");
    assert!(is_settled(&chain, 0).await);
}

#[tokio::test]
async fn an_empty_batch_or_a_zero_claim_is_refused_before_reaching_the_chain() {
    let chain = launch();
    let before = chain.transactions().len();

    let empty = chain.settle_batch(&batch("batch-1", vec![])).await;
    let zero = chain
        .settle_batch(&batch("batch-2", vec![claim(0, clinic(), 0)]))
        .await;

    assert!(
        matches!(empty, Err(ChainError::InvalidBatch(_))),
        "got {empty:?}"
    );
    assert!(
        matches!(zero, Err(ChainError::InvalidBatch(_))),
        "got {zero:?}"
    );
    assert_eq!(chain.transactions().len(), before);
}

#[tokio::test]
async fn a_batch_larger_than_the_float_is_refused_and_pays_nothing() {
    let chain = launch_with_float(1_000_000);
    let too_large = batch(
        "batch-1",
        vec![claim(0, clinic(), 600_000), claim(1, hospital(), 600_000)],
    );

    let refused = chain.settle_batch(&too_large).await;

    match refused {
        Err(ChainError::InsufficientFloat {
            requested,
            available,
        }) => {
            assert_eq!(
                (requested.base_units(), available.base_units()),
                (1_200_000, 1_000_000)
            );
        }
        other => panic!("expected InsufficientFloat, got {other:?}"),
    }
    assert_eq!(balances(&chain).await, (0, 0, 1_000_000));
    assert!(!is_settled(&chain, 0).await);
}

#[tokio::test]
async fn every_transaction_and_log_that_reached_the_chain_is_recorded() {
    let chain = launch();
    let batch = four_claims_for_two_providers();
    let receipt = chain.settle_batch(&batch).await.expect("paid");
    let resent = chain.settle_batch(&batch).await.expect("the first receipt");
    assert_eq!(resent, receipt);

    let transactions = chain.transactions();

    // Two deployments and the float's mint, the batch, and the refused re-send.
    assert_eq!(transactions.len(), 5, "{transactions:#?}");
    assert!(
        transactions[..2]
            .iter()
            .all(|tx| tx.to.is_none() && tx.succeeded)
    );
    let settled = &transactions[3];
    assert_eq!(settled.hash, receipt.transaction);
    assert!(settled.succeeded);
    // Two token Transfers and one BatchSettled, which carries every claim.
    assert_eq!(settled.logs.len(), 3, "{:#?}", settled.logs);
    let mut logged: Vec<u64> = chain
        .settlement_logs()
        .await
        .expect("logs")
        .iter()
        .map(|log| log.index.get())
        .collect();
    logged.sort_unstable();
    assert_eq!(
        logged,
        vec![0, 1, 2, 3],
        "every claim read back from the logs"
    );
    let resend = &transactions[4];
    assert_eq!(
        resend.block, None,
        "refused in simulation, never in a block"
    );
    assert!(!resend.succeeded);
    assert_eq!(resend.calldata, settled.calldata);
    assert!(resend.logs.is_empty());
}
