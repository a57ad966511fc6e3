//! A reviewer's decision on a pended claim, and an appeal of a denied one: each recorded
//! with the claim's new decision.

mod fixtures;

use claims_domain::Decider;
use claims_domain::adjudication::Decision;
use claims_domain::claim::{
    Appeal, ClaimCommand, ClaimDecider, ClaimError, ClaimEvent, ClaimStatus, Review, ReviewVerdict,
};
use fixtures::*;

/// The Gold PPO with a review threshold below the fixture claim's 180.00.
fn strict_plan() -> claims_domain::plan::BenefitPlan {
    claims_domain::plan::BenefitPlan {
        review_threshold: Some(usd("100.00")),
        ..plan()
    }
}

fn pended() -> Vec<ClaimEvent> {
    let mut events = vec![submitted(&claim())];
    let state = ClaimDecider::fold(&events);
    events.extend(
        ClaimDecider::decide(
            &state,
            ClaimCommand::Adjudicate(adjudication_context(
                strict_plan(),
                accumulated("250.00", "250.00"),
            )),
        )
        .expect("a decision"),
    );
    events
}

fn review(verdict: ReviewVerdict) -> ClaimCommand {
    ClaimCommand::Review {
        review: Review {
            reviewer: "Dr Rao".to_owned(),
            verdict,
        },
        context: adjudication_context(strict_plan(), accumulated("250.00", "250.00")),
    }
}

fn decide(history: &[ClaimEvent], command: ClaimCommand) -> Result<Vec<ClaimEvent>, ClaimError> {
    ClaimDecider::decide(&ClaimDecider::fold(history), command)
}

#[test]
fn an_approval_is_recorded_and_the_rules_decide_without_the_threshold() {
    let history = pended();
    assert_eq!(
        ClaimDecider::fold(&history).status,
        Some(ClaimStatus::Pended)
    );
    let events = decide(&history, review(ReviewVerdict::Approve)).expect("reviewed");
    let [
        ClaimEvent::Reviewed { review },
        ClaimEvent::Adjudicated { adjudication },
    ] = events.as_slice()
    else {
        panic!("expected the review and a decision, got {events:?}");
    };
    assert_eq!(review.reviewer, "Dr Rao");
    assert_eq!(adjudication.decision, Decision::Approved);
    // Office visit: allowed 120.00, copay 25.00, deductible met, 20% of 95.00 = 19.00.
    assert_eq!(adjudication.payer_paid, usd("76.00"));
    let state = ClaimDecider::fold(&[history, events].concat());
    assert_eq!(state.status, Some(ClaimStatus::Approved));
    assert!(state.review.is_some());
}

#[test]
fn a_denial_makes_nothing_payable() {
    let events = decide(
        &pended(),
        review(ReviewVerdict::Deny {
            reason: "no medical necessity documented".to_owned(),
        }),
    )
    .expect("reviewed");
    let state = ClaimDecider::fold(&[pended(), events].concat());
    assert_eq!(state.status, Some(ClaimStatus::Denied));
    let adjudication = state.adjudication.expect("a decision");
    assert_eq!(adjudication.payer_paid, usd("0.00"));
}

#[test]
fn the_same_review_again_decides_nothing() {
    let mut history = pended();
    history.extend(decide(&history, review(ReviewVerdict::Approve)).expect("reviewed"));
    assert_eq!(decide(&history, review(ReviewVerdict::Approve)), Ok(vec![]));
}

#[test]
fn only_a_pended_claim_can_be_reviewed() {
    let history = vec![submitted(&claim())];
    let decided = decide(
        &history,
        ClaimCommand::Adjudicate(adjudication_context(
            plan(),
            accumulated("250.00", "250.00"),
        )),
    )
    .expect("a decision");
    let approved = [history, decided].concat();
    assert!(matches!(
        decide(&approved, review(ReviewVerdict::Approve)),
        Err(ClaimError::WrongStatus {
            status: ClaimStatus::Approved,
            ..
        })
    ));
}

fn appeal() -> ClaimCommand {
    ClaimCommand::Appeal {
        appeal: Appeal {
            by: "Clinic A".to_owned(),
            reason: "the service is covered".to_owned(),
        },
        context: adjudication_context(plan(), accumulated("250.00", "250.00")),
        benefits_restored: false,
    }
}

/// The fixture claim denied by an edit: the member was not covered on the day.
fn denied_by_an_edit() -> Vec<ClaimEvent> {
    let history = vec![submitted(&claim())];
    let mut context = adjudication_context(plan(), accumulated("250.00", "250.00"));
    context.member.coverage[0].start = date("2026-06-01");
    let decided = decide(&history, ClaimCommand::Adjudicate(context)).expect("a decision");
    [history, decided].concat()
}

#[test]
fn an_appealed_denial_is_decided_again_on_todays_inputs() {
    let history = denied_by_an_edit();
    assert_eq!(
        ClaimDecider::fold(&history).status,
        Some(ClaimStatus::Denied)
    );
    let events = decide(&history, appeal()).expect("appealed");
    let [
        ClaimEvent::Appealed { .. },
        ClaimEvent::Adjudicated { adjudication },
    ] = events.as_slice()
    else {
        panic!("expected the appeal and a decision, got {events:?}");
    };
    assert_eq!(adjudication.payer_paid, usd("76.00"));
    let appealed = [history, events].concat();
    assert_eq!(decide(&appealed, appeal()), Ok(vec![]));
}

#[test]
fn a_denial_that_applied_the_deductible_is_not_decided_again_on_years_that_still_count_it() {
    // Office visit: allowed 120.00, copay 25.00, all 95.00 to the deductible: denied.
    let history = vec![submitted(&claim())];
    let decided = decide(
        &history,
        ClaimCommand::Adjudicate(adjudication_context(plan(), accumulated("0.00", "0.00"))),
    )
    .expect("a decision");
    let denied = [history, decided].concat();
    assert_eq!(
        ClaimDecider::fold(&denied).status,
        Some(ClaimStatus::Denied)
    );
    assert!(matches!(
        decide(&denied, appeal()),
        Err(ClaimError::NotAppealable(_))
    ));
}
