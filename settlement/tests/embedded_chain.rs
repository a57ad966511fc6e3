//! The `ClaimsSettlement` contract, run by the embedded EVM: a batch pays each provider
//! exactly what it is owed, and the contract on its own refuses to pay any claim twice.

use claims_domain::{PayoutReference, WalletAddress};
use claims_settlement::embedded::{EmbeddedChainConfig, RecordedTransaction};
use claims_settlement::{
    ChainBatch, ChainError, ChainPayout, EmbeddedChain, SettlementChain, TokenAmount,
};

/// One million USDC, in base units.
const FLOAT: u128 = 1_000_000 * 1_000_000;

fn launch() -> EmbeddedChain {
    launch_with_float(FLOAT)
}

fn launch_with_float(units: u128) -> EmbeddedChain {
    EmbeddedChain::launch(EmbeddedChainConfig {
        float: TokenAmount::from_base_units(units),
    })
    .expect("the embedded chain launches")
}

fn reference(label: &str) -> PayoutReference {
    let mut bytes = [0u8; 32];
    bytes[..label.len()].copy_from_slice(label.as_bytes());
    PayoutReference::from_bytes(bytes)
}

fn batch_id(label: &str) -> [u8; 32] {
    *reference(label).as_bytes()
}

fn clinic() -> WalletAddress {
    "0x1111111111111111111111111111111111111111"
        .parse()
        .expect("an address")
}

fn hospital() -> WalletAddress {
    "0x2222222222222222222222222222222222222222"
        .parse()
        .expect("an address")
}

fn usdc(units: u128) -> TokenAmount {
    TokenAmount::from_base_units(units)
}

fn payout(reference_label: &str, provider: WalletAddress, units: u128) -> ChainPayout {
    ChainPayout {
        reference: reference(reference_label),
        provider,
        amount: usdc(units),
    }
}

fn batch(label: &str, payouts: Vec<ChainPayout>) -> ChainBatch {
    ChainBatch {
        batch: batch_id(label),
        payouts,
    }
}

/// Balances of the clinic, the hospital and the settlement contract.
async fn balances(chain: &EmbeddedChain) -> (u128, u128, u128) {
    let clinic = chain.token_balance(clinic()).await.expect("a balance");
    let hospital = chain.token_balance(hospital()).await.expect("a balance");
    let contract = chain
        .token_balance(chain.settlement_address())
        .await
        .expect("a balance");
    (
        clinic.base_units(),
        hospital.base_units(),
        contract.base_units(),
    )
}

fn committed(chain: &EmbeddedChain) -> Vec<RecordedTransaction> {
    chain
        .transactions()
        .into_iter()
        .filter(|tx| tx.block.is_some())
        .collect()
}

fn four_payouts_to_two_providers() -> ChainBatch {
    batch(
        "batch-1",
        vec![
            payout("claim-a", clinic(), 100_000_000),
            payout("claim-b", hospital(), 2_500_000_000),
            payout("claim-c", clinic(), 23_450_000),
            payout("claim-d", hospital(), 1),
        ],
    )
}

#[tokio::test]
async fn the_chain_pays_in_the_six_decimal_mock_usdc_from_its_float() {
    let chain = launch();

    assert_eq!(chain.token().symbol, "USDC");
    assert_eq!(chain.token().decimals, 6);
    assert_eq!(balances(&chain).await, (0, 0, FLOAT));
    assert_ne!(chain.settlement_address(), chain.token_address());
    assert_ne!(chain.admin_address(), chain.settler_address());
}

#[tokio::test]
async fn a_batch_pays_each_provider_exactly_the_sum_of_its_payouts() {
    let chain = launch();
    let batch = four_payouts_to_two_providers();

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
    assert_eq!(
        receipt.paid, batch.payouts,
        "the receipt reports every payout, in order"
    );
    assert!(receipt.gas_used > 21_000, "gas used: {}", receipt.gas_used);
}

#[tokio::test]
async fn a_receipt_names_its_transaction_and_block() {
    let chain = launch();
    let launched_at = chain.block_number().expect("a block number");

    let first = chain
        .settle_batch(&four_payouts_to_two_providers())
        .await
        .expect("paid");
    let second = chain
        .settle_batch(&batch("batch-2", vec![payout("claim-e", clinic(), 5)]))
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
async fn a_three_payout_batch_costs_a_bounded_amount_of_gas() {
    let chain = launch();
    let batch = batch(
        "batch-gas",
        vec![
            payout("claim-a", clinic(), 100_000_000),
            payout("claim-b", hospital(), 250_000_000),
            payout("claim-c", clinic(), 23_450_000),
        ],
    );

    let receipt = chain.settle_batch(&batch).await.expect("paid");

    println!(
        "gas used by a 3-payout batch to 2 providers: {}",
        receipt.gas_used
    );
    // Each payout writes a paid marker and moves tokens (two balance slots): about 50k gas
    // for a first payment. A large rise means the contract got more expensive per claim.
    assert!(
        (60_000..250_000).contains(&receipt.gas_used),
        "gas used: {}",
        receipt.gas_used
    );
}

#[tokio::test]
async fn the_same_batch_sent_again_is_refused_and_pays_nothing() {
    let chain = launch();
    let batch = four_payouts_to_two_providers();
    chain.settle_batch(&batch).await.expect("paid once");
    let paid_once = balances(&chain).await;
    let transactions = committed(&chain).len();

    let again = chain.settle_batch(&batch).await;

    match again {
        Err(ChainError::Reverted(reason)) => {
            assert_eq!(
                reason,
                format!("BatchAlreadySettled({})", reference("batch-1"))
            );
        }
        other => panic!("expected BatchAlreadySettled, got {other:?}"),
    }
    assert_eq!(balances(&chain).await, paid_once);
    assert_eq!(
        committed(&chain).len(),
        transactions,
        "a refused batch is never sent"
    );
}

#[tokio::test]
async fn a_new_batch_with_an_already_paid_reference_is_refused_as_already_paid() {
    let chain = launch();
    chain
        .settle_batch(&batch(
            "batch-1",
            vec![payout("claim-a", clinic(), 100_000_000)],
        ))
        .await
        .expect("paid once");
    let paid_once = balances(&chain).await;

    let second = batch(
        "batch-2",
        vec![
            payout("claim-new", hospital(), 7_000_000),
            payout("claim-a", clinic(), 100_000_000),
        ],
    );
    let refused = chain.settle_batch(&second).await;

    match refused {
        Err(ChainError::AlreadyPaid(paid)) => assert_eq!(paid, reference("claim-a")),
        other => panic!("expected AlreadyPaid(claim-a), got {other:?}"),
    }
    assert_eq!(
        balances(&chain).await,
        paid_once,
        "nothing of the batch is paid"
    );
    assert!(
        !chain
            .is_paid(reference("claim-new"))
            .await
            .expect("an answer")
    );
}

#[tokio::test]
async fn the_same_reference_twice_in_one_batch_is_refused_as_already_paid() {
    let chain = launch();
    let twice = batch(
        "batch-1",
        vec![
            payout("claim-a", clinic(), 100_000_000),
            payout("claim-a", clinic(), 100_000_000),
        ],
    );

    let refused = chain.settle_batch(&twice).await;

    assert!(
        matches!(refused, Err(ChainError::AlreadyPaid(paid)) if paid == reference("claim-a")),
        "got {refused:?}"
    );
    assert_eq!(balances(&chain).await, (0, 0, FLOAT));
    assert!(
        !chain
            .is_paid(reference("claim-a"))
            .await
            .expect("an answer")
    );
}

#[tokio::test]
async fn is_paid_turns_true_once_the_reference_is_paid() {
    let chain = launch();
    let batch = four_payouts_to_two_providers();
    for payout in &batch.payouts {
        assert!(!chain.is_paid(payout.reference).await.expect("an answer"));
    }

    chain.settle_batch(&batch).await.expect("paid");

    for payout in &batch.payouts {
        assert!(chain.is_paid(payout.reference).await.expect("an answer"));
    }
    assert!(
        !chain
            .is_paid(reference("claim-other"))
            .await
            .expect("an answer")
    );
}

#[tokio::test]
async fn a_caller_without_the_settler_role_is_refused() {
    let chain = launch();
    let batch = four_payouts_to_two_providers();
    let stranger: WalletAddress = "0x3333333333333333333333333333333333333333"
        .parse()
        .expect("an address");

    for caller in [chain.admin_address(), stranger] {
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
    assert!(
        !chain
            .is_paid(reference("claim-a"))
            .await
            .expect("an answer")
    );

    chain
        .settle_batch_as(chain.settler_address(), &batch)
        .expect("the settler may settle it");
    assert!(
        chain
            .is_paid(reference("claim-a"))
            .await
            .expect("an answer")
    );
}

#[tokio::test]
async fn an_empty_batch_or_a_zero_payout_is_refused_before_reaching_the_chain() {
    let chain = launch();
    let before = chain.transactions().len();

    let empty = chain.settle_batch(&batch("batch-1", vec![])).await;
    let zero = chain
        .settle_batch(&batch("batch-2", vec![payout("claim-a", clinic(), 0)]))
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
        vec![
            payout("claim-a", clinic(), 600_000),
            payout("claim-b", hospital(), 600_000),
        ],
    );

    let refused = chain.settle_batch(&too_large).await;

    match refused {
        Err(ChainError::Reverted(reason)) => {
            assert!(
                reason.starts_with("ERC20InsufficientBalance("),
                "reason: {reason}"
            );
        }
        other => panic!("expected ERC20InsufficientBalance, got {other:?}"),
    }
    assert_eq!(balances(&chain).await, (0, 0, 1_000_000));
    assert!(
        !chain
            .is_paid(reference("claim-a"))
            .await
            .expect("an answer")
    );
}

#[tokio::test]
async fn every_transaction_and_log_that_reached_the_chain_is_recorded() {
    let chain = launch();
    let batch = four_payouts_to_two_providers();
    let receipt = chain.settle_batch(&batch).await.expect("paid");
    let refused = chain.settle_batch(&batch).await;
    assert!(refused.is_err());

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
    for payout in &batch.payouts {
        let reference = payout.reference.as_bytes();
        assert!(
            settled
                .calldata
                .windows(32)
                .any(|window| window == reference),
            "the calldata carries {}",
            payout.reference
        );
        assert!(
            settled
                .logs
                .iter()
                .any(|log| log.topics.get(1) == Some(reference)),
            "a PayoutPaid log is indexed by {}",
            payout.reference
        );
    }
    let resend = &transactions[4];
    assert_eq!(
        resend.block, None,
        "refused in simulation, never in a block"
    );
    assert!(!resend.succeeded);
    assert_eq!(resend.calldata, settled.calldata);
    assert!(resend.logs.is_empty());
}
