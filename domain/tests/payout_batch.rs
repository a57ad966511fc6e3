//! Payout batches: approved claims paid together in one on-chain transaction.

mod fixtures;

use chrono::{DateTime, Utc};
use claims_domain::payout::{
    BatchPayout, PayoutBatchCommand, PayoutBatchDecider, PayoutBatchError, PayoutBatchEvent,
};
use claims_domain::testing::given;
use claims_domain::{ClaimId, Decider, InsurerClaimRef, PayoutReference, TransactionHash};
use fixtures::*;

fn created_at() -> DateTime<Utc> {
    "2026-03-31T18:00:00Z".parse().expect("a test time")
}

fn claim_id(reference: &str) -> ClaimId {
    ClaimId::for_submission(
        &insurer(),
        &InsurerClaimRef::new(reference).expect("a test claim reference"),
    )
}

fn payout(reference: &str, amount: &str) -> BatchPayout {
    let claim = claim_id(reference);
    // A distinct payout reference per claim.
    let mut reference_bytes = [0; 32];
    reference_bytes[..16].copy_from_slice(claim.as_uuid().as_bytes());
    BatchPayout {
        claim,
        provider: provider().id,
        wallet: wallet(),
        amount: usd(amount),
        reference: PayoutReference::from_bytes(reference_bytes),
    }
}

fn payouts() -> Vec<BatchPayout> {
    vec![payout("CLM-1", "600.00"), payout("CLM-22", "95.00")]
}

fn create(payouts: Vec<BatchPayout>) -> PayoutBatchCommand {
    PayoutBatchCommand::Create {
        batch: batch(1),
        created_at: created_at(),
        payouts,
    }
}

fn created() -> PayoutBatchEvent {
    PayoutBatchEvent::Created {
        batch: batch(1),
        created_at: created_at(),
        payouts: payouts(),
    }
}

fn transaction(byte: u8) -> TransactionHash {
    TransactionHash::from_bytes([byte; 32])
}

fn settle(byte: u8) -> PayoutBatchCommand {
    PayoutBatchCommand::RecordSettlement {
        transaction: transaction(byte),
        block: 42,
        gas_used: 120_000,
    }
}

fn settled(byte: u8) -> PayoutBatchEvent {
    PayoutBatchEvent::Settled {
        transaction: transaction(byte),
        block: 42,
        gas_used: 120_000,
    }
}

#[test]
fn a_batch_is_created_with_its_payouts() {
    given::<PayoutBatchDecider>([])
        .when(create(payouts()))
        .then([created()]);
}

#[test]
fn creating_the_same_batch_again_decides_nothing() {
    given::<PayoutBatchDecider>([created()])
        .when(create(payouts()))
        .then([]);
}

#[test]
fn the_batch_id_cannot_name_other_payouts() {
    let error = given::<PayoutBatchDecider>([created()])
        .when(create(vec![payout("CLM-1", "600.00")]))
        .then_error();
    assert_eq!(error, PayoutBatchError::AlreadyCreated(batch(1)));
}

#[test]
fn an_empty_batch_is_refused() {
    let error = given::<PayoutBatchDecider>([])
        .when(create(vec![]))
        .then_error();
    assert_eq!(error, PayoutBatchError::Empty);
}

#[test]
fn a_claim_paid_twice_in_one_batch_is_refused() {
    let error = given::<PayoutBatchDecider>([])
        .when(create(vec![
            payout("CLM-1", "600.00"),
            payout("CLM-22", "95.00"),
            payout("CLM-1", "600.00"),
        ]))
        .then_error();
    assert_eq!(error, PayoutBatchError::BadPayout(claim_id("CLM-1")));
}

#[test]
fn a_payout_of_zero_or_less_is_refused() {
    for amount in ["0.00", "-1.00"] {
        let error = given::<PayoutBatchDecider>([])
            .when(create(vec![
                payout("CLM-1", "600.00"),
                payout("CLM-22", amount),
            ]))
            .then_error();
        assert_eq!(
            error,
            PayoutBatchError::BadPayout(claim_id("CLM-22")),
            "{amount}"
        );
    }
}

#[test]
fn the_chains_confirmation_settles_the_batch() {
    given::<PayoutBatchDecider>([created()])
        .when(settle(9))
        .then([settled(9)]);
    let state = PayoutBatchDecider::fold(&[created(), settled(9)]);
    assert_eq!(state.batch, Some(batch(1)));
    assert_eq!(state.payouts, payouts());
    assert_eq!(state.settlement, Some((transaction(9), 42)));
}

#[test]
fn a_batch_that_does_not_exist_cannot_be_settled() {
    let error = given::<PayoutBatchDecider>([]).when(settle(9)).then_error();
    assert_eq!(error, PayoutBatchError::NotCreated);
}

#[test]
fn the_same_confirmation_again_decides_nothing() {
    given::<PayoutBatchDecider>([created(), settled(9)])
        .when(settle(9))
        .then([]);
}

#[test]
fn a_second_transaction_for_a_settled_batch_is_refused() {
    let error = given::<PayoutBatchDecider>([created(), settled(9)])
        .when(settle(10))
        .then_error();
    assert_eq!(error, PayoutBatchError::AlreadySettled(transaction(9)));
}

#[test]
fn events_survive_storage_as_json() {
    for event in [created(), settled(9)] {
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            serde_json::from_str::<PayoutBatchEvent>(&json).unwrap(),
            event,
            "{json}"
        );
    }
    assert_eq!(created().event_type(), "PayoutBatchCreated");
    assert_eq!(settled(9).event_type(), "PayoutBatchSettled");
}
