//! A member's benefit-year accumulators: each claim's cost sharing is added once, and the
//! totals never pass the plan's deductible or out-of-pocket maximum.

mod fixtures;

use claims_domain::accumulator::{
    Accumulated, AccumulatorCommand, AccumulatorDecider, AccumulatorError, AccumulatorEvent,
};
use claims_domain::testing::given;
use claims_domain::{ClaimId, Currency, Decider, InsurerClaimRef, Money, MoneyError};
use fixtures::*;

fn claim_id(reference: &str) -> ClaimId {
    ClaimId::for_submission(
        &insurer(),
        &InsurerClaimRef::new(reference).expect("a test claim reference"),
    )
}

/// The Gold PPO's limits: deductible 250.00, out-of-pocket maximum 3,000.00.
fn limits() -> Accumulated {
    accumulated("250.00", "3000.00")
}

fn apply(reference: &str, deductible: &str, out_of_pocket: &str) -> AccumulatorCommand {
    AccumulatorCommand::ApplyCostSharing {
        member: member().id,
        claim: claim_id(reference),
        deductible: usd(deductible),
        out_of_pocket: usd(out_of_pocket),
        limits: limits(),
    }
}

fn applied(reference: &str, deductible: &str, out_of_pocket: &str) -> AccumulatorEvent {
    AccumulatorEvent::CostSharingApplied {
        member: member().id,
        claim: claim_id(reference),
        deductible: usd(deductible),
        out_of_pocket: usd(out_of_pocket),
    }
}

#[test]
fn a_claims_cost_sharing_is_added_to_the_year() {
    given::<AccumulatorDecider>([])
        .when(apply("CLM-1", "250.00", "400.00"))
        .then([applied("CLM-1", "250.00", "400.00")]);
}

#[test]
fn the_totals_are_the_sum_of_every_claim_applied() {
    let state = AccumulatorDecider::fold(&[
        applied("CLM-1", "100.00", "120.00"),
        applied("CLM-2", "150.00", "400.00"),
    ]);
    assert_eq!(state.totals, Some(accumulated("250.00", "520.00")));
    assert_eq!(state.applied_claims.len(), 2);
    assert!(state.applied_claims.contains(&claim_id("CLM-2")));
    assert_eq!(
        AccumulatorDecider::fold(&[]).accumulated(Currency::USD),
        accumulated("0.00", "0.00")
    );
}

#[test]
fn a_claim_is_applied_only_once() {
    // Even if the redelivered command carries other amounts: the first one counts.
    given::<AccumulatorDecider>([applied("CLM-1", "100.00", "120.00")])
        .when(apply("CLM-1", "100.00", "120.00"))
        .then([]);
    given::<AccumulatorDecider>([applied("CLM-1", "100.00", "120.00")])
        .when(apply("CLM-1", "150.00", "150.00"))
        .then([]);
}

#[test]
fn a_claim_may_take_the_totals_exactly_to_the_limits() {
    given::<AccumulatorDecider>([applied("CLM-1", "100.00", "2500.00")])
        .when(apply("CLM-2", "150.00", "500.00"))
        .then([applied("CLM-2", "150.00", "500.00")]);
}

#[test]
fn a_deductible_beyond_the_plans_is_refused() {
    let error = given::<AccumulatorDecider>([applied("CLM-1", "200.00", "200.00")])
        .when(apply("CLM-2", "50.01", "50.01"))
        .then_error();
    assert_eq!(
        error,
        AccumulatorError::DeductibleExceeded {
            applied: usd("50.01"),
            total: usd("250.01"),
            limit: usd("250.00"),
        }
    );
}

#[test]
fn an_out_of_pocket_beyond_the_maximum_is_refused() {
    let error = given::<AccumulatorDecider>([applied("CLM-1", "250.00", "2900.00")])
        .when(apply("CLM-2", "0.00", "100.01"))
        .then_error();
    assert_eq!(
        error,
        AccumulatorError::OutOfPocketExceeded {
            applied: usd("100.01"),
            total: usd("3000.01"),
            limit: usd("3000.00"),
        }
    );
}

#[test]
fn negative_cost_sharing_is_refused() {
    let error = given::<AccumulatorDecider>([])
        .when(apply("CLM-1", "-10.00", "0.00"))
        .then_error();
    assert_eq!(error, AccumulatorError::Negative(usd("-10.00")));
    let error = given::<AccumulatorDecider>([])
        .when(apply("CLM-1", "0.00", "-0.01"))
        .then_error();
    assert_eq!(error, AccumulatorError::Negative(usd("-0.01")));
}

#[test]
fn cost_sharing_in_another_currency_is_refused() {
    let command = AccumulatorCommand::ApplyCostSharing {
        member: member().id,
        claim: claim_id("CLM-2"),
        deductible: Money::new(usd("10.00").amount(), Currency::EUR),
        out_of_pocket: Money::new(usd("10.00").amount(), Currency::EUR),
        limits: limits(),
    };
    let error = given::<AccumulatorDecider>([applied("CLM-1", "10.00", "10.00")])
        .when(command)
        .then_error();
    assert_eq!(
        error,
        AccumulatorError::Money(MoneyError::CurrencyMismatch {
            left: Currency::USD,
            right: Currency::EUR,
        })
    );
}

#[test]
fn totals_already_past_a_lowered_limit_still_take_claims_that_add_nothing_to_it() {
    // The member paid 400.00 of deductible under a plan revision with a 500.00 deductible;
    // the plan was then revised to 250.00. Adjudication sees no deductible left and applies
    // none, but the member still owes coinsurance: that claim must be recorded, or it can
    // never be decided.
    given::<AccumulatorDecider>([applied("CLM-1", "400.00", "400.00")])
        .when(apply("CLM-2", "0.00", "30.00"))
        .then([applied("CLM-2", "0.00", "30.00")]);
    // Adding to the deductible that is already past the limit is still refused.
    let error = given::<AccumulatorDecider>([applied("CLM-1", "400.00", "400.00")])
        .when(apply("CLM-2", "0.01", "0.01"))
        .then_error();
    assert!(
        matches!(error, AccumulatorError::DeductibleExceeded { .. }),
        "{error:?}"
    );
}

#[test]
fn totals_already_past_a_lowered_out_of_pocket_maximum_take_claims_that_add_nothing() {
    given::<AccumulatorDecider>([applied("CLM-1", "250.00", "3500.00")])
        .when(apply("CLM-2", "0.00", "0.00"))
        .then([applied("CLM-2", "0.00", "0.00")]);
}

#[test]
fn events_survive_storage_as_json() {
    let event = applied("CLM-1", "250.00", "400.00");
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["type"], "CostSharingApplied");
    assert_eq!(json["deductible"], "250.00 USD");
    assert_eq!(
        serde_json::from_value::<AccumulatorEvent>(json).unwrap(),
        event
    );
}
