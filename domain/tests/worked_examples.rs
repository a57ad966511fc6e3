//! The worked examples A–F of `shared/domain/README.md`, with exactly its numbers, and one
//! example for each other rule implemented so far (coverage, non-covered procedure, review
//! threshold).
//!
//! Examples G–K need rules that do not exist yet (family deductible, bundling, visit
//! limits, coordination of benefits, timely filing).

mod fixtures;

use claims_domain::Decider;
use claims_domain::accumulator::{
    Accumulated, AccumulatorCommand, AccumulatorDecider, AccumulatorEvent,
};
use claims_domain::adjudication::{self, AdjudicatedLine, Adjudication, Decision};
use claims_domain::claim::{Claim, ServiceLine};
use claims_domain::plan::BenefitPlan;
use claims_domain::testing::given;
use fixtures::*;

/// Adjudicates `claim` for [`member`] under `plan`, with `accumulated` already paid.
fn adjudicate(plan: &BenefitPlan, accumulated: Accumulated, claim: &Claim) -> Adjudication {
    adjudication::adjudicate(claim, &adjudication_context(plan.clone(), accumulated))
        .expect("the claim can be adjudicated")
}

fn one_line(line: ServiceLine) -> Claim {
    claim_with("CLM-0001", vec![line])
}

/// A line's adjustments as a remittance advice prints them.
fn adjustments(line: &AdjudicatedLine) -> Vec<String> {
    line.adjustments.iter().map(ToString::to_string).collect()
}

/// The year's totals after `adjudication`'s cost sharing is applied to `before`.
fn totals_after(
    plan: &BenefitPlan,
    before: Accumulated,
    adjudication: &Adjudication,
) -> Accumulated {
    let history = [AccumulatorEvent::CostSharingApplied {
        member: member().id,
        claim: claim_with("CLM-EARLIER", vec![]).id,
        deductible: before.deductible,
        out_of_pocket: before.out_of_pocket,
    }];
    let events = given::<AccumulatorDecider>(history.clone())
        .when(AccumulatorCommand::ApplyCostSharing {
            member: member().id,
            claim: claim_with("CLM-0001", vec![]).id,
            deductible: adjudication.cost_sharing.deductible,
            out_of_pocket: adjudication.cost_sharing.out_of_pocket,
            limits: Accumulated {
                deductible: plan.deductible,
                out_of_pocket: plan.out_of_pocket_max,
            },
        })
        .events();
    AccumulatorDecider::fold(history.iter().chain(&events))
        .totals
        .expect("totals")
}

fn with_deductible(amount: &str) -> BenefitPlan {
    BenefitPlan {
        deductible: usd(amount),
        ..plan()
    }
}

/// Plan with one more procedure on its fee schedule.
fn listing(
    mut plan: BenefitPlan,
    procedure_code: &str,
    category: &str,
    allowed: &str,
) -> BenefitPlan {
    plan.fee_schedule
        .insert(procedure(procedure_code), fee(category, allowed));
    plan
}

#[test]
fn example_a_allowed_amount_deductible_and_coinsurance() {
    // Billed 1,200.00, allowed 1,000.00, deductible remaining 250.00, coinsurance 20%.
    let plan = plan();
    let nothing_paid = accumulated("0.00", "0.00");
    let result = adjudicate(
        &plan,
        nothing_paid,
        &one_line(line(1, ARTHROSCOPY, 1, "1200.00")),
    );

    let line = &result.lines[0];
    assert_eq!(
        adjustments(line),
        ["CO-45 200.00 USD", "PR-1 250.00 USD", "PR-2 150.00 USD"]
    );
    assert_eq!(line.allowed, usd("1000.00"));
    assert_eq!(line.payer_paid, usd("600.00"));
    assert_eq!(line.member_responsibility, usd("400.00"));
    assert_eq!(line.contractual_adjustment, usd("200.00"));
    assert_eq!(result.decision, Decision::Approved);
    assert_eq!(result.payer_paid, usd("600.00"));
    assert_eq!(result.member_responsibility, usd("400.00"));
    assert_eq!(result.contractual_adjustment, usd("200.00"));
    assert_eq!(result.cost_sharing, accumulated("250.00", "400.00"));
    // The deductible is met.
    assert_eq!(
        totals_after(&plan, nothing_paid, &result),
        accumulated("250.00", "400.00")
    );
}

#[test]
fn example_b_office_visit_copay() {
    // Billed 180.00, allowed 120.00, copay 25.00, no coinsurance (and no deductible left).
    let plan = BenefitPlan {
        coinsurance: rate("0%"),
        ..plan()
    };
    let deductible_met = accumulated("250.00", "250.00");
    let result = adjudicate(
        &plan,
        deductible_met,
        &one_line(line(1, OFFICE_VISIT, 1, "180.00")),
    );

    let line = &result.lines[0];
    assert_eq!(adjustments(line), ["CO-45 60.00 USD", "PR-3 25.00 USD"]);
    assert_eq!(line.allowed, usd("120.00"));
    assert_eq!(line.payer_paid, usd("95.00"));
    assert_eq!(line.member_responsibility, usd("25.00"));
    assert_eq!(result.decision, Decision::Approved);
    assert_eq!(
        (result.payer_paid, result.member_responsibility),
        (usd("95.00"), usd("25.00"))
    );
    assert_eq!(result.cost_sharing, accumulated("0.00", "25.00"));
    assert_eq!(
        totals_after(&plan, deductible_met, &result),
        accumulated("250.00", "275.00")
    );
}

#[test]
fn example_c_all_to_the_deductible_is_denied_but_still_counts() {
    // Allowed 220.00, deductible remaining 500.00, coinsurance 20%.
    let plan = listing(with_deductible("500.00"), "73721", "imaging", "220.00");
    let nothing_paid = accumulated("0.00", "0.00");
    let result = adjudicate(
        &plan,
        nothing_paid,
        &one_line(line(1, "73721", 1, "220.00")),
    );

    let line = &result.lines[0];
    assert_eq!(adjustments(line), ["PR-1 220.00 USD"]);
    assert_eq!(line.payer_paid, usd("0.00"));
    assert_eq!(line.member_responsibility, usd("220.00"));
    // Nothing is payable, so the claim is denied, yet the member's payment counts toward
    // the deductible and the out-of-pocket maximum.
    assert_eq!(result.decision, Decision::Denied);
    assert_eq!(result.payer_paid, usd("0.00"));
    assert_eq!(result.member_responsibility, usd("220.00"));
    assert_eq!(result.cost_sharing, accumulated("220.00", "220.00"));
    let after = totals_after(&plan, nothing_paid, &result);
    let deductible_remaining = plan.deductible.checked_sub(after.deductible).unwrap();
    assert_eq!(deductible_remaining, usd("280.00"));
}

#[test]
fn example_d_out_of_pocket_maximum_caps_the_coinsurance() {
    // Allowed 10,000.00, deductible met, coinsurance 20%, out-of-pocket remaining 1,200.00.
    let plan = listing(plan(), "27447", "surgery", "10000.00");
    let before = accumulated("250.00", "1800.00");
    let result = adjudicate(&plan, before, &one_line(line(1, "27447", 1, "10000.00")));

    // Without the cap the coinsurance would be 2,000.00.
    assert_eq!(
        adjudication::coinsurance(usd("10000.00"), rate("20%")),
        Ok(usd("2000.00"))
    );
    let line = &result.lines[0];
    assert_eq!(adjustments(line), ["PR-2 1200.00 USD"]);
    assert_eq!(line.member_responsibility, usd("1200.00"));
    assert_eq!(line.payer_paid, usd("8800.00"));
    assert_eq!(result.decision, Decision::Approved);
    assert_eq!(
        (result.payer_paid, result.member_responsibility),
        (usd("8800.00"), usd("1200.00"))
    );
    assert_eq!(result.cost_sharing, accumulated("0.00", "1200.00"));
    // The out-of-pocket maximum is reached.
    assert_eq!(
        totals_after(&plan, before, &result),
        accumulated("250.00", "3000.00")
    );
}

#[test]
fn example_e_emergency_copay_deductible_and_coinsurance() {
    // Allowed 2,000.00, copay 150.00, deductible remaining 500.00, coinsurance 20%.
    let plan = with_deductible("500.00");
    let nothing_paid = accumulated("0.00", "0.00");
    let result = adjudicate(
        &plan,
        nothing_paid,
        &one_line(line(1, EMERGENCY, 1, "2000.00")),
    );

    let line = &result.lines[0];
    assert_eq!(
        adjustments(line),
        ["PR-3 150.00 USD", "PR-1 500.00 USD", "PR-2 270.00 USD"]
    );
    assert_eq!(line.member_responsibility, usd("920.00"));
    assert_eq!(line.payer_paid, usd("1080.00"));
    assert_eq!(result.decision, Decision::Approved);
    assert_eq!(
        (result.payer_paid, result.member_responsibility),
        (usd("1080.00"), usd("920.00"))
    );
    assert_eq!(result.cost_sharing, accumulated("500.00", "920.00"));
    assert_eq!(
        totals_after(&plan, nothing_paid, &result),
        accumulated("500.00", "920.00")
    );
}

#[test]
fn example_f_coinsurance_rounds_half_up_to_the_cent() {
    // Allowed 333.33, deductible met, coinsurance 20%: 66.666 rounds to 66.67.
    let plan = listing(plan(), "97110", "physiotherapy", "333.33");
    let deductible_met = accumulated("250.00", "250.00");
    let result = adjudicate(
        &plan,
        deductible_met,
        &one_line(line(1, "97110", 1, "333.33")),
    );

    let line = &result.lines[0];
    assert_eq!(adjustments(line), ["PR-2 66.67 USD"]);
    assert_eq!(line.payer_paid, usd("266.66"));
    assert_eq!(line.member_responsibility, usd("66.67"));
    assert_eq!(
        (result.payer_paid, result.member_responsibility),
        (usd("266.66"), usd("66.67"))
    );
    assert_eq!(result.cost_sharing, accumulated("0.00", "66.67"));
}

#[test]
fn a_second_claim_is_priced_after_the_first_used_up_the_deductible() {
    let plan = plan();
    let first = adjudicate(
        &plan,
        accumulated("0.00", "0.00"),
        &one_line(line(1, ARTHROSCOPY, 1, "1200.00")),
    );
    let after_first = totals_after(&plan, accumulated("0.00", "0.00"), &first);
    let second = adjudicate(&plan, after_first, &claim());
    // Allowed 120.00: copay 25.00, no deductible left, coinsurance 20% of 95.00.
    assert_eq!(
        adjustments(&second.lines[0]),
        ["CO-45 60.00 USD", "PR-3 25.00 USD", "PR-2 19.00 USD"]
    );
    assert_eq!(second.payer_paid, usd("76.00"));
}

#[test]
fn lines_share_the_deductible_in_line_number_order() {
    // Given out of order; line 1 (office visit) meets part of the deductible first.
    let claim = claim_with(
        "CLM-0001",
        vec![
            line(2, ARTHROSCOPY, 1, "1000.00"),
            line(1, OFFICE_VISIT, 1, "120.00"),
        ],
    );
    let result = adjudicate(&plan(), accumulated("0.00", "0.00"), &claim);

    assert_eq!(
        result
            .lines
            .iter()
            .map(|line| line.line)
            .collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(
        adjustments(&result.lines[0]),
        ["PR-3 25.00 USD", "PR-1 95.00 USD"]
    );
    assert_eq!(
        adjustments(&result.lines[1]),
        ["PR-1 155.00 USD", "PR-2 169.00 USD"]
    );
    assert_eq!(result.payer_paid, usd("676.00"));
    assert_eq!(result.member_responsibility, usd("444.00"));
    assert_eq!(result.cost_sharing, accumulated("250.00", "444.00"));
}

#[test]
fn a_line_outside_coverage_is_the_members_for_the_billed_amount() {
    let mut lapsed = member();
    lapsed.coverage[0].end = Some(date("2026-02-28"));
    let context = adjudication::AdjudicationContext {
        member: lapsed,
        ..*adjudication_context(plan(), accumulated("250.00", "250.00"))
    };
    let result = adjudication::adjudicate(&claim(), &context).unwrap();

    let line = &result.lines[0];
    assert_eq!(adjustments(line), ["PR-27 180.00 USD"]);
    assert_eq!(line.allowed, usd("0.00"));
    assert_eq!(line.payer_paid, usd("0.00"));
    assert_eq!(line.member_responsibility, usd("180.00"));
    assert_eq!(line.contractual_adjustment, usd("0.00"));
    assert_eq!(result.decision, Decision::Denied);
    // Not cost sharing: it counts toward neither the deductible nor the out-of-pocket.
    assert_eq!(result.cost_sharing, accumulated("0.00", "0.00"));
}

#[test]
fn only_the_line_outside_coverage_is_denied() {
    let mut lapsed = member();
    lapsed.coverage[0].end = Some(date("2026-02-28"));
    let mut covered = line(1, OFFICE_VISIT, 1, "180.00");
    covered.date_of_service = date("2026-02-28");
    let claim = claim_with(
        "CLM-0001",
        vec![covered, line(2, OFFICE_VISIT, 1, "180.00")],
    );
    let context = adjudication::AdjudicationContext {
        member: lapsed,
        ..*adjudication_context(plan(), accumulated("250.00", "250.00"))
    };
    let result = adjudication::adjudicate(&claim, &context).unwrap();

    assert_eq!(
        adjustments(&result.lines[0]),
        ["CO-45 60.00 USD", "PR-3 25.00 USD", "PR-2 19.00 USD"]
    );
    assert_eq!(adjustments(&result.lines[1]), ["PR-27 180.00 USD"]);
    assert_eq!(result.decision, Decision::Approved);
    assert_eq!(result.payer_paid, usd("76.00"));
    assert_eq!(result.member_responsibility, usd("224.00"));
}

#[test]
fn a_procedure_not_on_the_fee_schedule_is_not_covered() {
    let result = adjudicate(
        &plan(),
        accumulated("0.00", "0.00"),
        &one_line(line(1, "99999", 2, "500.00")),
    );

    let line = &result.lines[0];
    assert_eq!(adjustments(line), ["CO-96 500.00 USD"]);
    assert_eq!(line.allowed, usd("0.00"));
    assert_eq!(line.payer_paid, usd("0.00"));
    assert_eq!(line.member_responsibility, usd("0.00"));
    assert_eq!(line.contractual_adjustment, usd("500.00"));
    assert_eq!(result.decision, Decision::Denied);
    assert_eq!(result.cost_sharing, accumulated("0.00", "0.00"));
}

#[test]
fn units_multiply_the_fee_schedule() {
    // Three office visits: 3 × 120.00 = 360.00 allowed of 400.00 billed.
    let result = adjudicate(
        &plan(),
        accumulated("250.00", "250.00"),
        &one_line(line(1, OFFICE_VISIT, 3, "400.00")),
    );
    let line = &result.lines[0];
    assert_eq!(line.allowed, usd("360.00"));
    assert_eq!(
        adjustments(line),
        ["CO-45 40.00 USD", "PR-3 25.00 USD", "PR-2 67.00 USD"]
    );
}

#[test]
fn a_claim_above_the_review_threshold_is_pended_without_lines() {
    let plan = BenefitPlan {
        review_threshold: Some(usd("1000.00")),
        ..plan()
    };
    let result = adjudicate(
        &plan,
        accumulated("0.00", "0.00"),
        &one_line(line(1, ARTHROSCOPY, 1, "1200.00")),
    );

    assert_eq!(
        result.decision,
        Decision::Pended {
            reason: "billed 1200.00 USD is above the plan's review threshold of 1000.00 USD"
                .to_owned()
        }
    );
    assert!(result.lines.is_empty());
    assert_eq!(result.payer_paid, usd("0.00"));
    assert_eq!(result.member_responsibility, usd("0.00"));
    assert_eq!(result.contractual_adjustment, usd("0.00"));
    assert_eq!(result.cost_sharing, accumulated("0.00", "0.00"));
}

#[test]
fn a_claim_at_the_review_threshold_is_decided() {
    let plan = BenefitPlan {
        review_threshold: Some(usd("1200.00")),
        ..plan()
    };
    let result = adjudicate(
        &plan,
        accumulated("0.00", "0.00"),
        &one_line(line(1, ARTHROSCOPY, 1, "1200.00")),
    );
    assert_eq!(result.decision, Decision::Approved);
    assert_eq!(result.payer_paid, usd("600.00"));
}
