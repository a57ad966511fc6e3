//! A claim's life: submitted (or refused), adjudicated, put in a payout batch, paid.

mod fixtures;

use claims_domain::accumulator::Accumulated;
use claims_domain::adjudication::{AdjudicationError, Decision};
use claims_domain::claim::{
    ClaimCommand, ClaimDecider, ClaimError, ClaimEvent, ClaimStatus, ConfirmedPayout, Rejection,
    ScheduledPayout, SubmissionContext,
};
use claims_domain::testing::given;
use claims_domain::{Currency, Decider, InsurerId, Money, PayoutReference, TransactionHash};
use fixtures::*;

fn submit(claim: &claims_domain::claim::Claim, context: Box<SubmissionContext>) -> ClaimCommand {
    ClaimCommand::Submit {
        claim: claim.clone(),
        context,
    }
}

/// Deductible already met this year: the office visit is approved, the plan paying 76.00.
fn deductible_met() -> Accumulated {
    accumulated("250.00", "250.00")
}

fn adjudicate(accumulated: Accumulated) -> ClaimCommand {
    ClaimCommand::Adjudicate(adjudication_context(plan(), accumulated))
}

fn reference() -> PayoutReference {
    PayoutReference::from_bytes([1; 32])
}

fn schedule(batch_number: u128) -> ClaimCommand {
    ClaimCommand::SchedulePayout {
        batch: batch(batch_number),
        reference: reference(),
        wallet: wallet(),
        withheld: vec![],
    }
}

fn confirmation(batch_number: u128) -> ConfirmedPayout {
    ConfirmedPayout {
        batch: batch(batch_number),
        transaction: TransactionHash::from_bytes([2; 32]),
        block: 17,
    }
}

/// The office-visit claim's history up to its adjudication.
fn adjudicated_with(accumulated: Accumulated) -> Vec<ClaimEvent> {
    let claim = claim();
    let mut events = vec![submitted(&claim)];
    events.extend(
        given::<ClaimDecider>(events.clone())
            .when(adjudicate(accumulated))
            .events(),
    );
    events
}

fn approved() -> Vec<ClaimEvent> {
    adjudicated_with(deductible_met())
}

fn scheduled_in(batch_number: u128) -> Vec<ClaimEvent> {
    let mut events = approved();
    events.extend(
        given::<ClaimDecider>(events.clone())
            .when(schedule(batch_number))
            .events(),
    );
    events
}

fn paid_in(batch_number: u128) -> Vec<ClaimEvent> {
    let mut events = scheduled_in(batch_number);
    events.push(ClaimEvent::PayoutConfirmed {
        payout: confirmation(batch_number),
    });
    events
}

// Submission

#[test]
fn a_valid_claim_is_accepted() {
    let claim = claim();
    given::<ClaimDecider>([])
        .when(submit(&claim, submission_context()))
        .then([submitted(&claim)]);
}

#[test]
fn an_invalid_submission_is_refused_with_every_reason_at_once() {
    let mut after_receipt = line(1, OFFICE_VISIT, 1, "10.005");
    after_receipt.date_of_service = date("2026-04-01");
    let mut last_year = line(0, OFFICE_VISIT, 1, "50.00");
    last_year.date_of_service = date("2025-12-30");
    let claim = claim_with(
        "CLM-0002",
        vec![line(1, OFFICE_VISIT, 0, "0.00"), after_receipt, last_year],
    );
    let nobody = Box::new(SubmissionContext {
        member: None,
        provider: None,
        plan: None,
        original: None,
    });

    let error = given::<ClaimDecider>([])
        .when(submit(&claim, nobody))
        .then_error();

    assert_eq!(
        error,
        ClaimError::Rejected(vec![
            Rejection::UnknownMember(member().id),
            Rejection::UnknownProvider(provider().id),
            Rejection::ZeroUnits(1),
            Rejection::NotPositive {
                line: 1,
                billed: usd("0.00"),
            },
            Rejection::BadLineNumber(1),
            Rejection::FractionalCents {
                line: 1,
                billed: usd("10.005"),
            },
            Rejection::ServiceAfterReceipt {
                line: 1,
                date: date("2026-04-01"),
                received: date("2026-03-20"),
            },
            Rejection::BadLineNumber(0),
            Rejection::SpansBenefitYears {
                first: 2025,
                last: 2026,
            },
        ])
    );
}

#[test]
fn the_refusal_reads_as_sentences() {
    let nobody = Box::new(SubmissionContext {
        member: None,
        provider: None,
        plan: None,
        original: None,
    });
    let error = given::<ClaimDecider>([])
        .when(submit(&claim(), nobody))
        .then_error();
    assert_eq!(
        error.to_string(),
        "claim rejected: member M-1001 is not enrolled; provider clinic-a is not registered"
    );
}

#[test]
fn rejections_are_machine_readable() {
    let rejection = Rejection::UnknownMember(member().id);
    assert_eq!(
        serde_json::to_value(&rejection).unwrap(),
        serde_json::json!({"code": "unknown-member", "detail": "M-1001"})
    );
    let rejection = Rejection::ZeroUnits(3);
    assert_eq!(
        serde_json::to_value(&rejection).unwrap(),
        serde_json::json!({"code": "zero-units", "detail": 3})
    );
}

#[test]
fn a_member_of_another_insurer_is_refused() {
    let mut context = submission_context();
    if let Some(member) = context.member.as_mut() {
        member.insurer = InsurerId::new("zenith-care").unwrap();
    }
    let error = given::<ClaimDecider>([])
        .when(submit(&claim(), context))
        .then_error();
    assert_eq!(
        error,
        ClaimError::Rejected(vec![Rejection::MemberOfAnotherInsurer {
            member: member().id,
            insurer: insurer(),
        }])
    );
}

#[test]
fn a_member_whose_plan_is_not_published_is_refused() {
    let mut context = submission_context();
    context.plan = None;
    let error = given::<ClaimDecider>([])
        .when(submit(&claim(), context))
        .then_error();
    assert_eq!(
        error,
        ClaimError::Rejected(vec![Rejection::UnknownPlan("gold-ppo".to_owned())])
    );
}

#[test]
fn a_claim_without_lines_is_refused() {
    let claim = claim_with("CLM-0003", vec![]);
    let error = given::<ClaimDecider>([])
        .when(submit(&claim, submission_context()))
        .then_error();
    assert_eq!(error, ClaimError::Rejected(vec![Rejection::NoLines]));
}

#[test]
fn a_claim_of_more_than_50_lines_is_refused_and_50_are_accepted() {
    let lines = |n: u32| {
        (1..=n)
            .map(|number| line(number, OFFICE_VISIT, 1, "10.00"))
            .collect()
    };
    let fifty = claim_with("CLM-0050", lines(50));
    given::<ClaimDecider>([])
        .when(submit(&fifty, submission_context()))
        .then([submitted(&fifty)]);
    let fifty_one = claim_with("CLM-0051", lines(51));
    let error = given::<ClaimDecider>([])
        .when(submit(&fifty_one, submission_context()))
        .then_error();
    assert_eq!(
        error,
        ClaimError::Rejected(vec![Rejection::TooManyLines(51)])
    );
}

#[test]
fn a_line_in_another_currency_than_the_plan_is_refused() {
    let mut euro_line = line(1, OFFICE_VISIT, 1, "180.00");
    euro_line.billed = Money::new(euro_line.billed.amount(), Currency::EUR);
    let claim = claim_with("CLM-0004", vec![euro_line]);
    let error = given::<ClaimDecider>([])
        .when(submit(&claim, submission_context()))
        .then_error();
    assert_eq!(
        error,
        ClaimError::Rejected(vec![Rejection::CurrencyNotOfPlan {
            line: 1,
            currency: Currency::EUR,
            plan_currency: Currency::USD,
        }])
    );
}

#[test]
fn a_primary_payment_coordination_could_not_subtract_is_refused() {
    let paid = |number: u32, amount: Money| {
        let mut line = line(number, OFFICE_VISIT, 1, "180.00");
        line.primary_paid = Some(amount);
        line
    };
    let claim = claim_with(
        "CLM-0005",
        vec![
            paid(1, usd("-1.00")),
            paid(2, usd("10.005")),
            paid(3, Money::new(usd("100.00").amount(), Currency::EUR)),
            paid(4, usd("0.00")),
            paid(5, usd("180.00")),
        ],
    );
    let mut context = submission_context();
    if let Some(member) = context.member.as_mut() {
        member.primary_payer = Some(InsurerId::new("spouse-health").expect("an insurer id"));
    }
    let error = given::<ClaimDecider>([])
        .when(submit(&claim, context))
        .then_error();
    let invalid = |line: u32, paid: Money| Rejection::PrimaryPaidInvalid {
        line,
        paid,
        currency: Currency::USD,
    };
    assert_eq!(
        error,
        ClaimError::Rejected(vec![
            invalid(1, usd("-1.00")),
            invalid(2, usd("10.005")),
            invalid(3, Money::new(usd("100.00").amount(), Currency::EUR)),
        ])
    );
}

#[test]
fn primary_payments_for_a_member_without_other_coverage_are_refused() {
    let mut paid = line(1, OFFICE_VISIT, 1, "180.00");
    paid.primary_paid = Some(usd("100.00"));
    let claim = claim_with("CLM-0006", vec![paid]);
    let error = given::<ClaimDecider>([])
        .when(submit(&claim, submission_context()))
        .then_error();
    assert_eq!(
        error,
        ClaimError::Rejected(vec![Rejection::PrimaryPaidWithoutOtherCoverage {
            member: member().id,
        }])
    );
}

#[test]
fn resubmitting_the_identical_claim_decides_nothing() {
    let claim = claim();
    given::<ClaimDecider>([submitted(&claim)])
        .when(submit(&claim, submission_context()))
        .then([]);
}

#[test]
fn resubmitting_the_identical_claim_after_it_was_paid_decides_nothing() {
    given::<ClaimDecider>(paid_in(1))
        .when(submit(&claim(), submission_context()))
        .then([]);
}

#[test]
fn different_content_under_the_same_claim_reference_is_a_conflict() {
    let claim = claim();
    let changed = claim_with("CLM-0001", vec![line(1, OFFICE_VISIT, 1, "200.00")]);
    assert_eq!(changed.id, claim.id);
    let error = given::<ClaimDecider>([submitted(&claim)])
        .when(submit(&changed, submission_context()))
        .then_error();
    assert_eq!(error, ClaimError::ConflictingResubmission(claim.id));
}

// Adjudication

#[test]
fn a_claim_that_was_never_submitted_cannot_be_adjudicated() {
    let error = given::<ClaimDecider>([])
        .when(adjudicate(deductible_met()))
        .then_error();
    assert_eq!(
        error,
        ClaimError::NotSubmitted {
            action: "adjudicate"
        }
    );
}

#[test]
fn a_submitted_claim_is_adjudicated() {
    let events = given::<ClaimDecider>([submitted(&claim())])
        .when(adjudicate(deductible_met()))
        .events();
    let [ClaimEvent::Adjudicated { adjudication }] = events.as_slice() else {
        panic!("expected one adjudication, got {events:?}");
    };
    // Allowed 120.00 (CO-45 60.00); copay 25.00; coinsurance 20% of 95.00 = 19.00.
    assert_eq!(adjudication.decision, Decision::Approved);
    assert_eq!(adjudication.payer_paid, usd("76.00"));
    assert_eq!(adjudication.member_responsibility, usd("44.00"));
    assert_eq!(adjudication.contractual_adjustment, usd("60.00"));
    assert_eq!(adjudication.cost_sharing, accumulated("0.00", "44.00"));
    assert_eq!(adjudication.decided_on, date("2026-03-25"));
    assert_eq!(adjudication.plan, plan().id);
    assert_eq!(adjudication.plan_revision, 1);
    assert_eq!(adjudication.benefit_year, 2026);
    assert_eq!(adjudication.lines.len(), 1);
}

#[test]
fn a_claim_with_nothing_payable_is_denied() {
    let events = adjudicated_with(accumulated("0.00", "0.00"));
    let state = ClaimDecider::fold(&events);
    assert_eq!(state.status, Some(ClaimStatus::Denied));
    let adjudication = state.adjudication.unwrap();
    assert_eq!(adjudication.payer_paid, usd("0.00"));
    assert_eq!(adjudication.member_responsibility, usd("120.00"));
}

#[test]
fn a_claim_above_the_review_threshold_is_pended() {
    let mut plan = plan();
    plan.review_threshold = Some(usd("100.00"));
    let events = given::<ClaimDecider>([submitted(&claim())])
        .when(ClaimCommand::Adjudicate(adjudication_context(
            plan,
            deductible_met(),
        )))
        .events();
    let state = ClaimDecider::fold(std::iter::once(&submitted(&claim())).chain(&events));
    assert_eq!(state.status, Some(ClaimStatus::Pended));
}

#[test]
fn adjudicating_again_decides_nothing() {
    // Even with other totals: a redelivered command must not change a decision.
    given::<ClaimDecider>(approved())
        .when(adjudicate(accumulated("0.00", "0.00")))
        .then([]);
    given::<ClaimDecider>(adjudicated_with(accumulated("0.00", "0.00")))
        .when(adjudicate(deductible_met()))
        .then([]);
    given::<ClaimDecider>(scheduled_in(1))
        .when(adjudicate(deductible_met()))
        .then([]);
}

#[test]
fn a_claim_in_another_currency_than_the_plan_cannot_be_adjudicated() {
    let mut plan = plan();
    plan.currency = Currency::EUR;
    let error = given::<ClaimDecider>([submitted(&claim())])
        .when(ClaimCommand::Adjudicate(adjudication_context(
            plan,
            deductible_met(),
        )))
        .then_error();
    assert_eq!(
        error,
        ClaimError::Adjudication(AdjudicationError::CurrencyNotOfPlan {
            line: 1,
            line_currency: Currency::USD,
            plan: self::plan().id,
            plan_currency: Currency::EUR,
        })
    );
}

// Payout

#[test]
fn an_approved_claim_is_scheduled_for_what_the_plan_pays() {
    given::<ClaimDecider>(approved())
        .when(schedule(1))
        .then([ClaimEvent::PayoutScheduled {
            payout: ScheduledPayout {
                batch: batch(1),
                reference: reference(),
                wallet: wallet(),
                amount: usd("76.00"),
                withheld: vec![],
            },
        }]);
}

#[test]
fn only_an_approved_claim_can_be_scheduled() {
    let claim_id = claim().id;
    let wrong = |status| ClaimError::WrongStatus {
        claim: claim_id,
        status,
        action: "schedule a payout",
    };
    let denied = adjudicated_with(accumulated("0.00", "0.00"));
    assert_eq!(
        given::<ClaimDecider>(denied).when(schedule(1)).then_error(),
        wrong(ClaimStatus::Denied)
    );
    assert_eq!(
        given::<ClaimDecider>([submitted(&claim())])
            .when(schedule(1))
            .then_error(),
        wrong(ClaimStatus::Submitted)
    );
    assert_eq!(
        given::<ClaimDecider>([]).when(schedule(1)).then_error(),
        ClaimError::NotSubmitted {
            action: "schedule a payout"
        }
    );
}

#[test]
fn a_pended_claim_cannot_be_scheduled() {
    let mut plan = plan();
    plan.review_threshold = Some(usd("100.00"));
    let mut events = vec![submitted(&claim())];
    events.extend(
        given::<ClaimDecider>(events.clone())
            .when(ClaimCommand::Adjudicate(adjudication_context(
                plan,
                deductible_met(),
            )))
            .events(),
    );
    let error = given::<ClaimDecider>(events).when(schedule(1)).then_error();
    assert!(
        matches!(
            error,
            ClaimError::WrongStatus {
                status: ClaimStatus::Pended,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn scheduling_again_in_the_same_batch_decides_nothing() {
    given::<ClaimDecider>(scheduled_in(1))
        .when(schedule(1))
        .then([]);
    given::<ClaimDecider>(paid_in(1)).when(schedule(1)).then([]);
}

#[test]
fn a_scheduled_claim_cannot_move_to_another_batch() {
    let error = given::<ClaimDecider>(scheduled_in(1))
        .when(schedule(2))
        .then_error();
    assert_eq!(
        error,
        ClaimError::WrongStatus {
            claim: claim().id,
            status: ClaimStatus::PayoutScheduled,
            action: "schedule a payout",
        }
    );
}

#[test]
fn the_chain_confirms_the_payout_of_the_scheduled_batch() {
    given::<ClaimDecider>(scheduled_in(1))
        .when(ClaimCommand::ConfirmPayout(confirmation(1)))
        .then([ClaimEvent::PayoutConfirmed {
            payout: confirmation(1),
        }]);
}

#[test]
fn a_confirmation_for_another_batch_is_refused() {
    let error = given::<ClaimDecider>(scheduled_in(1))
        .when(ClaimCommand::ConfirmPayout(confirmation(2)))
        .then_error();
    assert_eq!(
        error,
        ClaimError::WrongStatus {
            claim: claim().id,
            status: ClaimStatus::PayoutScheduled,
            action: "confirm a payout",
        }
    );
    let error = given::<ClaimDecider>(paid_in(1))
        .when(ClaimCommand::ConfirmPayout(confirmation(2)))
        .then_error();
    assert!(
        matches!(
            error,
            ClaimError::WrongStatus {
                status: ClaimStatus::Paid,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_payout_that_was_never_scheduled_cannot_be_confirmed() {
    let error = given::<ClaimDecider>(approved())
        .when(ClaimCommand::ConfirmPayout(confirmation(1)))
        .then_error();
    assert!(
        matches!(
            error,
            ClaimError::WrongStatus {
                status: ClaimStatus::Approved,
                ..
            }
        ),
        "{error:?}"
    );
    let error = given::<ClaimDecider>([])
        .when(ClaimCommand::ConfirmPayout(confirmation(1)))
        .then_error();
    assert_eq!(
        error,
        ClaimError::NotSubmitted {
            action: "confirm a payout"
        }
    );
}

#[test]
fn confirming_again_decides_nothing() {
    given::<ClaimDecider>(paid_in(1))
        .when(ClaimCommand::ConfirmPayout(confirmation(1)))
        .then([]);
}

#[test]
fn the_state_follows_the_claim_through_its_life() {
    let events = paid_in(1);
    assert_eq!(
        events
            .iter()
            .map(ClaimEvent::event_type)
            .collect::<Vec<_>>(),
        [
            "ClaimSubmitted",
            "ClaimAdjudicated",
            "ClaimPayoutScheduled",
            "ClaimPayoutConfirmed"
        ]
    );
    let statuses: Vec<_> = (1..=events.len())
        .map(|n| ClaimDecider::fold(&events[..n]).status)
        .collect();
    assert_eq!(
        statuses,
        [
            Some(ClaimStatus::Submitted),
            Some(ClaimStatus::Approved),
            Some(ClaimStatus::PayoutScheduled),
            Some(ClaimStatus::Paid),
        ]
    );
    let state = ClaimDecider::fold(&events);
    assert_eq!(state.claim, Some(claim()));
    assert_eq!(state.payout.map(|payout| payout.amount), Some(usd("76.00")));
    assert_eq!(state.confirmation, Some(confirmation(1)));
}

#[test]
fn every_event_survives_storage_as_json() {
    let mut events = paid_in(1);
    let mut plan = plan();
    plan.review_threshold = Some(usd("100.00"));
    events.extend(
        given::<ClaimDecider>([submitted(&claim())])
            .when(ClaimCommand::Adjudicate(adjudication_context(
                plan,
                deductible_met(),
            )))
            .events(),
    );
    for event in events {
        let json = serde_json::to_string(&event).unwrap();
        let read: ClaimEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(read, event, "{json}");
    }
}

#[test]
fn the_same_batch_with_another_payout_reference_is_refused() {
    let other_reference = ClaimCommand::SchedulePayout {
        batch: batch(1),
        reference: PayoutReference::from_bytes([9; 32]),
        wallet: wallet(),
        withheld: vec![],
    };
    let error = given::<ClaimDecider>(scheduled_in(1))
        .when(other_reference)
        .then_error();
    assert!(
        matches!(
            error,
            ClaimError::WrongStatus {
                status: ClaimStatus::PayoutScheduled,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_paid_claim_refuses_a_second_transaction_for_its_batch() {
    let other_transaction = ConfirmedPayout {
        transaction: TransactionHash::from_bytes([7; 32]),
        ..confirmation(1)
    };
    given::<ClaimDecider>(paid_in(1))
        .when(ClaimCommand::ConfirmPayout(confirmation(1)))
        .then([]);
    let error = given::<ClaimDecider>(paid_in(1))
        .when(ClaimCommand::ConfirmPayout(other_transaction))
        .then_error();
    assert!(
        matches!(
            error,
            ClaimError::WrongStatus {
                status: ClaimStatus::Paid,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn every_rejection_code_is_the_one_it_serialises_with() {
    let member = || claims_domain::MemberId::new("M-1").unwrap();
    let rejections = [
        Rejection::UnknownMember(member()),
        Rejection::MemberOfAnotherInsurer {
            member: member(),
            insurer: insurer(),
        },
        Rejection::UnknownProvider("clinic".parse().unwrap()),
        Rejection::UnknownPlan("gold".to_owned()),
        Rejection::NoLines,
        Rejection::TooManyLines(51),
        Rejection::BadLineNumber(0),
        Rejection::ZeroUnits(1),
        Rejection::NotPositive {
            line: 1,
            billed: usd("0.00"),
        },
        Rejection::FractionalCents {
            line: 1,
            billed: usd("1.001"),
        },
        Rejection::CurrencyNotOfPlan {
            line: 1,
            currency: Currency::EUR,
            plan_currency: Currency::USD,
        },
        Rejection::ServiceAfterReceipt {
            line: 1,
            date: date("2026-03-02"),
            received: date("2026-03-01"),
        },
        Rejection::SpansBenefitYears {
            first: 2025,
            last: 2026,
        },
    ];
    for rejection in rejections {
        let serialised = serde_json::to_value(&rejection).unwrap();
        assert_eq!(serialised["code"], rejection.code(), "{rejection:?}");
    }
}
