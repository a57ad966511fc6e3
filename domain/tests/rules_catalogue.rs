//! Worked examples for the rules beyond pricing and cost sharing: for each rule one claim
//! it lets through and one it stops, with the arithmetic in a comment. Examples G–K are
//! those of `shared/domain/README.md`, with exactly its numbers.
//!
//! Unless a test says otherwise: the Gold PPO (deductible 250.00, coinsurance 20%,
//! out-of-pocket maximum 3,000.00, office-visit copay 25.00), the member's deductible
//! already met (250.00 paid, 250.00 toward the out-of-pocket maximum), Clinic A, and a
//! claim received 2026-03-20 for care on 2026-03-10.

mod fixtures;

use claims_domain::accumulator::Accumulated;
use claims_domain::adjudication::{
    self, AdjudicatedLine, Adjudication, AdjudicationContext, AdjudicationError, Decision,
};
use claims_domain::claim::{Claim, ServiceLine};
use claims_domain::coding::{AuthorizationNumber, LineCoding, Modifier};
use claims_domain::member::Member;
use claims_domain::plan::{
    BenefitPlan, CodePairEdit, CoordinationMethod, FilingLimit, Network, OutOfNetwork, PlanRules,
};
use claims_domain::rules::authorization::Authorization;
use claims_domain::rules::coordination::Coordination;
use claims_domain::rules::duplicates::PriorService;
use claims_domain::{DiagnosisCode, InsurerId, MemberId, Money, ProviderId, ServiceCategory};
use fixtures::*;
use std::collections::{BTreeMap, BTreeSet};

/// The fixture context with the member's deductible met and the given rules.
fn context(rules: PlanRules) -> AdjudicationContext {
    AdjudicationContext {
        rules,
        ..*adjudication_context(plan(), deductible_met())
    }
    .with_terms_of_its_plan()
}

fn deductible_met() -> Accumulated {
    accumulated("250.00", "250.00")
}

fn decide(claim: &Claim, context: &AdjudicationContext) -> Adjudication {
    adjudication::adjudicate(claim, context).expect("the claim can be adjudicated")
}

fn one_line(line: ServiceLine) -> Claim {
    claim_with("CLM-0001", vec![line])
}

/// A line's adjustments as a remittance advice prints them.
fn adjustments(line: &AdjudicatedLine) -> Vec<String> {
    line.adjustments.iter().map(ToString::to_string).collect()
}

/// The office visit of the fixture claim as the Gold PPO pays it with the deductible met:
/// billed 180.00, allowed 120.00 (CO-45 60.00); copay 25.00; coinsurance 20% of
/// 120.00 − 25.00 = 95.00 is 19.00; the plan pays 95.00 − 19.00 = 76.00.
fn assert_office_visit_paid(result: &Adjudication) {
    assert_eq!(
        adjustments(&result.lines[0]),
        ["CO-45 60.00 USD", "PR-3 25.00 USD", "PR-2 19.00 USD"]
    );
    assert_eq!(result.payer_paid, usd("76.00"));
    assert_eq!(result.decision, Decision::Approved);
}

/// A line not paid at all, for one reason.
fn assert_line_denied(result: &Adjudication, line: usize, expected: &str) {
    let denied = &result.lines[line];
    assert_eq!(adjustments(denied), [expected]);
    assert_eq!(denied.allowed, usd("0.00"));
    assert_eq!(denied.payer_paid, usd("0.00"));
}

fn with_procedure(mut plan: BenefitPlan, code: &str, category: &str, allowed: &str) -> BenefitPlan {
    plan.fee_schedule
        .insert(procedure(code), fee(category, allowed));
    plan
}

fn provider_id(id: &str) -> ProviderId {
    ProviderId::new(id).expect("a test provider id")
}

fn modifiers(codes: &[&str]) -> BTreeSet<Modifier> {
    codes
        .iter()
        .map(|code| code.parse().expect("a test modifier"))
        .collect()
}

fn authorization_number(number: &str) -> AuthorizationNumber {
    number.parse().expect("a test authorisation number")
}

// 1. Member identity (CARC 31)

#[test]
fn a_member_of_the_submitting_insurer_is_paid() {
    assert_office_visit_paid(&decide(&claim(), &context(PlanRules::default())));
}

#[test]
fn a_member_of_another_insurer_is_not_our_insured() {
    let context = AdjudicationContext {
        member: Member {
            insurer: InsurerId::new("other-health").expect("a test value"),
            ..member()
        },
        ..context(PlanRules::default())
    };
    let result = decide(&claim(), &context);
    // The whole billed 180.00 is written off.
    assert_line_denied(&result, 0, "CO-31 180.00 USD");
    assert_eq!(result.contractual_adjustment, usd("180.00"));
    assert_eq!(result.decision, Decision::Denied);
}

#[test]
fn adjudicating_with_another_members_record_is_an_error_not_a_denial() {
    let context = AdjudicationContext {
        member: Member {
            id: MemberId::new("M-9999").expect("a test value"),
            ..member()
        },
        ..context(PlanRules::default())
    };
    assert_eq!(
        adjudication::adjudicate(&claim(), &context),
        Err(AdjudicationError::MemberNotOfClaim {
            claim: member().id,
            given: MemberId::new("M-9999").expect("a test value"),
        })
    );
}

// 2. Provider registration (CARC 185)

#[test]
fn a_line_from_an_unregistered_provider_is_not_paid() {
    let context = AdjudicationContext {
        provider: None,
        ..context(PlanRules::default())
    };
    let result = decide(&claim(), &context);
    assert_line_denied(&result, 0, "CO-185 180.00 USD");
    assert_eq!(result.decision, Decision::Denied);
}

#[test]
fn adjudicating_with_another_providers_record_is_an_error() {
    let mut other = provider();
    other.id = provider_id("hospital-b");
    let context = AdjudicationContext {
        provider: Some(other),
        ..context(PlanRules::default())
    };
    assert!(matches!(
        adjudication::adjudicate(&claim(), &context),
        Err(AdjudicationError::ProviderNotOfClaim { .. })
    ));
}

// 3. Network (CARC 242, out-of-network tier)

fn network(providers: &[&str], out_of_network: OutOfNetwork) -> PlanRules {
    PlanRules {
        network: Some(Network {
            providers: providers.iter().map(|id| provider_id(id)).collect(),
            out_of_network,
        }),
        ..PlanRules::default()
    }
}

#[test]
fn an_in_network_provider_is_paid_at_the_plans_terms() {
    let rules = network(&["clinic-a"], OutOfNetwork::NotCovered);
    assert_office_visit_paid(&decide(&claim(), &context(rules)));
}

#[test]
fn out_of_network_care_the_plan_does_not_cover_is_the_members() {
    let rules = network(&["hospital-b"], OutOfNetwork::NotCovered);
    let result = decide(&claim(), &context(rules));
    // Not contracted: the member owes all 180.00.
    assert_line_denied(&result, 0, "PR-242 180.00 USD");
    assert_eq!(result.member_responsibility, usd("180.00"));
    assert_eq!(result.decision, Decision::Denied);
    // Not cost sharing: it counts toward neither deductible nor out-of-pocket.
    assert_eq!(result.cost_sharing, accumulated("0.00", "0.00"));
}

#[test]
fn out_of_network_care_is_paid_at_the_out_of_network_deductible_and_coinsurance() {
    let rules = network(
        &["hospital-b"],
        OutOfNetwork::Covered {
            deductible: usd("500.00"),
            coinsurance: rate("40%"),
        },
    );
    let result = decide(
        &one_line(line(1, ARTHROSCOPY, 1, "1200.00")),
        &context(rules.clone()),
    );
    // Billed 1,200.00, allowed 1,000.00: CO-45 200.00. The deductibles cross-accumulate:
    // 250.00 paid leaves 500.00 − 250.00 = 250.00 of the out-of-network deductible.
    // Coinsurance 40% of 1,000.00 − 250.00 = 750.00 is 300.00. Member 550.00; the plan
    // pays 1,000.00 − 550.00 = 450.00.
    assert_eq!(
        adjustments(&result.lines[0]),
        ["CO-45 200.00 USD", "PR-1 250.00 USD", "PR-2 300.00 USD"]
    );
    assert_eq!(result.payer_paid, usd("450.00"));
    assert_eq!(result.member_responsibility, usd("550.00"));
    // The accumulator must accept a deductible up to the larger, out-of-network one.
    assert_eq!(
        rules.accumulator_limits(&plan()),
        accumulated("500.00", "3000.00")
    );
}

// 4. Timely filing (CARC 29) — example K

fn filed(date_of_service: &str, received_on: &str) -> Claim {
    let mut service = line(1, OFFICE_VISIT, 1, "180.00");
    service.date_of_service = date(date_of_service);
    let mut claim = one_line(service);
    claim.received_on = date(received_on);
    claim
}

/// Covered since 2024, so only the filing limit decides.
fn filing_context(limit: FilingLimit) -> AdjudicationContext {
    let mut member = member();
    member.coverage[0].start = date("2024-01-01");
    AdjudicationContext {
        member,
        ..context(PlanRules {
            filing_limit: Some(limit),
            ..PlanRules::default()
        })
    }
}

#[test]
fn example_k_a_claim_received_within_a_year_of_service_is_timely() {
    let one_year = filing_context(FilingLimit::Months(12));
    // 2024-01-10 + 12 months = 2025-01-10: the last day, still timely.
    assert_office_visit_paid(&decide(&filed("2024-01-10", "2025-01-10"), &one_year));
    // 2024-02-29 + 12 months = 2025-02-28 (no 29 February in 2025).
    assert_office_visit_paid(&decide(&filed("2024-02-29", "2025-02-28"), &one_year));
}

#[test]
fn example_k_a_claim_received_after_a_year_of_service_is_late() {
    let one_year = filing_context(FilingLimit::Months(12));
    let late = decide(&filed("2024-01-10", "2025-01-15"), &one_year);
    assert_line_denied(&late, 0, "CO-29 180.00 USD");
    assert_eq!(late.decision, Decision::Denied);
    let late_leap = decide(&filed("2024-02-29", "2025-03-01"), &one_year);
    assert_line_denied(&late_leap, 0, "CO-29 180.00 USD");
}

#[test]
fn a_filing_limit_in_days_counts_from_the_date_of_service() {
    let ninety_days = filing_context(FilingLimit::Days(90));
    // 2026-03-10 + 90 days = 2026-06-08 (21 days left in March, 30 in April, 31 in May,
    // 8 in June).
    assert_office_visit_paid(&decide(&filed("2026-03-10", "2026-06-08"), &ninety_days));
    let late = decide(&filed("2026-03-10", "2026-06-09"), &ninety_days);
    assert_line_denied(&late, 0, "CO-29 180.00 USD");
}

// 5. Duplicate (CARC 18)

/// The fixture office visit as allowed on claim `reference`.
fn earlier_visit(reference: &str, date_of_service: &str) -> PriorService {
    PriorService {
        claim: claim_with(reference, vec![]).id,
        provider: provider().id,
        date_of_service: date(date_of_service),
        procedure: procedure(OFFICE_VISIT),
        modifiers: BTreeSet::new(),
        units: 1,
        billed: usd("180.00"),
    }
}

#[test]
fn the_same_service_already_allowed_on_another_claim_is_a_duplicate() {
    let context = AdjudicationContext {
        history: vec![earlier_visit("CLM-EARLIER", "2026-03-10")].into(),
        ..context(PlanRules::default())
    };
    let result = decide(&claim(), &context);
    // Neither the member nor the provider's write-off: 180.00 is an other adjustment.
    assert_line_denied(&result, 0, "OA-18 180.00 USD");
    assert_eq!(result.member_responsibility, usd("0.00"));
    assert_eq!(result.contractual_adjustment, usd("0.00"));
    assert_eq!(result.other_adjustment(), Ok(usd("180.00")));
    assert_eq!(result.decision, Decision::Denied);
}

#[test]
fn a_service_on_another_day_or_the_claims_own_earlier_record_is_not_a_duplicate() {
    let context = AdjudicationContext {
        history: vec![
            earlier_visit("CLM-EARLIER", "2026-03-09"),
            earlier_visit("CLM-0001", "2026-03-10"),
        ]
        .into(),
        ..context(PlanRules::default())
    };
    assert_office_visit_paid(&decide(&claim(), &context));
}

#[test]
fn the_same_service_with_another_modifier_is_not_a_duplicate() {
    let mut earlier = earlier_visit("CLM-EARLIER", "2026-03-10");
    earlier.modifiers = modifiers(&["25"]);
    let context = AdjudicationContext {
        history: vec![earlier].into(),
        ..context(PlanRules::default())
    };
    assert_office_visit_paid(&decide(&claim(), &context));
}

// 6. Exclusions (CARC 204, 96)

#[test]
fn a_procedure_the_plan_excludes_is_not_covered_under_the_plan() {
    let rules = PlanRules {
        excluded_procedures: BTreeSet::from([procedure(ARTHROSCOPY)]),
        ..PlanRules::default()
    };
    let result = decide(
        &claim_with(
            "CLM-0001",
            vec![
                line(1, OFFICE_VISIT, 1, "180.00"),
                line(2, ARTHROSCOPY, 1, "1200.00"),
            ],
        ),
        &context(rules),
    );
    // The office visit is paid 76.00; the arthroscopy, priced 1,000.00 by the fee
    // schedule, is excluded: all 1,200.00 written off.
    assert_eq!(result.lines[0].payer_paid, usd("76.00"));
    assert_line_denied(&result, 1, "CO-204 1200.00 USD");
    assert_eq!(result.payer_paid, usd("76.00"));
}

#[test]
fn a_line_treating_an_excluded_diagnosis_is_a_non_covered_charge() {
    let cosmetic = DiagnosisCode::new("Z41.1").expect("a test value");
    let rules = PlanRules {
        excluded_diagnoses: BTreeSet::from([cosmetic.clone()]),
        ..PlanRules::default()
    };
    let mut cosmetic_visit = line(1, OFFICE_VISIT, 1, "180.00");
    cosmetic_visit.diagnoses = vec![DiagnosisCode::new("L90.5").expect("a test value"), cosmetic];
    let result = decide(&one_line(cosmetic_visit), &context(rules.clone()));
    assert_line_denied(&result, 0, "CO-96 180.00 USD");

    let mut other_visit = line(1, OFFICE_VISIT, 1, "180.00");
    other_visit.diagnoses = vec![DiagnosisCode::new("L90.5").expect("a test value")];
    assert_office_visit_paid(&decide(&one_line(other_visit), &context(rules)));
}

// 7. Prior authorisation (CARC 197, 15)

fn arthroscopy_needs_authorisation() -> PlanRules {
    PlanRules {
        prior_authorization: BTreeSet::from([procedure(ARTHROSCOPY)]),
        ..PlanRules::default()
    }
}

/// Authorisation `number` for the arthroscopy at `provider`, March 2026.
fn authorization(number: &str, provider: &str) -> Authorization {
    Authorization {
        number: authorization_number(number),
        procedure: procedure(ARTHROSCOPY),
        provider: provider_id(provider),
        from: date("2026-03-01"),
        through: date("2026-03-31"),
    }
}

fn arthroscopy_quoting(number: Option<&str>, on_file: Vec<Authorization>) -> Adjudication {
    let context = AdjudicationContext {
        authorizations: on_file,
        coding: BTreeMap::from([(
            1,
            LineCoding {
                modifiers: BTreeSet::new(),
                authorization: number.map(authorization_number),
            },
        )]),
        ..context(arthroscopy_needs_authorisation())
    };
    decide(&one_line(line(1, ARTHROSCOPY, 1, "1200.00")), &context)
}

/// Billed 1,200.00, allowed 1,000.00 (CO-45 200.00); deductible met; coinsurance 20% of
/// 1,000.00 = 200.00; the plan pays 800.00.
fn assert_arthroscopy_paid(result: &Adjudication) {
    assert_eq!(
        adjustments(&result.lines[0]),
        ["CO-45 200.00 USD", "PR-2 200.00 USD"]
    );
    assert_eq!(result.payer_paid, usd("800.00"));
}

#[test]
fn an_authorised_procedure_is_paid_with_or_without_the_number_quoted() {
    let on_file = vec![authorization("PA-1", "clinic-a")];
    assert_arthroscopy_paid(&arthroscopy_quoting(Some("PA-1"), on_file.clone()));
    assert_arthroscopy_paid(&arthroscopy_quoting(None, on_file));
}

#[test]
fn a_procedure_needing_authorisation_without_one_is_not_paid() {
    let result = arthroscopy_quoting(None, vec![]);
    assert_line_denied(&result, 0, "CO-197 1200.00 USD");
    assert_eq!(result.decision, Decision::Denied);
}

#[test]
fn a_quoted_authorisation_number_that_does_not_match_is_invalid() {
    // Unknown number.
    let unknown = arthroscopy_quoting(Some("PA-2"), vec![authorization("PA-1", "clinic-a")]);
    assert_line_denied(&unknown, 0, "CO-15 1200.00 USD");
    // The right number, but given to another provider.
    let elsewhere = arthroscopy_quoting(Some("PA-1"), vec![authorization("PA-1", "hospital-b")]);
    assert_line_denied(&elsewhere, 0, "CO-15 1200.00 USD");
}

#[test]
fn a_procedure_not_on_the_authorisation_list_needs_none() {
    let result = decide(&claim(), &context(arthroscopy_needs_authorisation()));
    assert_office_visit_paid(&result);
}

// 8. Code-pair edits (CARC 97) — example H

const COMPREHENSIVE: &str = "29880";
const COMPONENT: &str = "29877";

fn bundling_context(modifier_allowed: bool, line_two_modifiers: &[&str]) -> AdjudicationContext {
    let plan = with_procedure(
        with_procedure(plan(), COMPREHENSIVE, "surgery", "1100.00"),
        COMPONENT,
        "surgery",
        "400.00",
    );
    AdjudicationContext {
        plan,
        coding: BTreeMap::from([(
            2,
            LineCoding {
                modifiers: modifiers(line_two_modifiers),
                authorization: None,
            },
        )]),
        ..context(PlanRules {
            code_pair_edits: vec![CodePairEdit {
                column_one: procedure(COMPREHENSIVE),
                column_two: procedure(COMPONENT),
                modifier_allowed,
            }],
            ..PlanRules::default()
        })
    }
    .with_terms_of_its_plan()
}

fn comprehensive_and_component() -> Claim {
    claim_with(
        "CLM-0001",
        vec![
            line(1, COMPREHENSIVE, 1, "1100.00"),
            line(2, COMPONENT, 1, "400.00"),
        ],
    )
}

#[test]
fn example_h_the_component_code_is_bundled_into_the_comprehensive_one() {
    let result = decide(&comprehensive_and_component(), &bundling_context(true, &[]));
    // Line 1: allowed 1,100.00, coinsurance 20% = 220.00, the plan pays 880.00.
    assert_eq!(adjustments(&result.lines[0]), ["PR-2 220.00 USD"]);
    assert_eq!(result.lines[0].payer_paid, usd("880.00"));
    // Line 2: bundled, all 400.00 written off.
    assert_line_denied(&result, 1, "CO-97 400.00 USD");
    assert_eq!(result.payer_paid, usd("880.00"));
    assert_eq!(result.member_responsibility, usd("220.00"));
}

#[test]
fn example_h_modifier_59_lets_a_distinct_procedure_through() {
    let result = decide(
        &comprehensive_and_component(),
        &bundling_context(true, &["59"]),
    );
    // Line 2: allowed 400.00, coinsurance 80.00, the plan pays 320.00.
    // In all: the plan pays 880.00 + 320.00 = 1,200.00, the member 220.00 + 80.00 = 300.00.
    assert_eq!(adjustments(&result.lines[1]), ["PR-2 80.00 USD"]);
    assert_eq!(result.payer_paid, usd("1200.00"));
    assert_eq!(result.member_responsibility, usd("300.00"));
    // XU, a subset of 59, works the same.
    let with_xu = decide(
        &comprehensive_and_component(),
        &bundling_context(true, &["XU"]),
    );
    assert_eq!(with_xu.payer_paid, usd("1200.00"));
}

#[test]
fn a_pair_that_allows_no_modifier_is_bundled_even_with_59() {
    let result = decide(
        &comprehensive_and_component(),
        &bundling_context(false, &["59"]),
    );
    assert_line_denied(&result, 1, "CO-97 400.00 USD");
}

#[test]
fn the_pair_on_different_days_is_not_bundled() {
    let mut claim = comprehensive_and_component();
    claim.lines[1].date_of_service = date("2026-03-11");
    let result = decide(&claim, &bundling_context(true, &[]));
    assert_eq!(result.payer_paid, usd("1200.00"));
}

// 9. Coordination of benefits (CARC 22, 23) — example J

/// Arthroscopy billed at the fee schedule, 1,000.00, with the plan paying second.
fn as_secondary(method: CoordinationMethod, primary_paid: &[(u32, &str)]) -> Adjudication {
    let context = AdjudicationContext {
        coordination: Coordination::Secondary {
            primary_paid: primary_paid
                .iter()
                .map(|(line, paid)| (*line, usd(paid)))
                .collect(),
        },
        ..context(PlanRules {
            coordination: method,
            ..PlanRules::default()
        })
    };
    decide(&one_line(line(1, ARTHROSCOPY, 1, "1000.00")), &context)
}

#[test]
fn example_j_standard_coordination_pays_up_to_what_the_primary_left() {
    let result = as_secondary(CoordinationMethod::Standard, &[(1, "700.00")]);
    // Allowed 1,000.00. As primary the plan would pay 800.00 (coinsurance 200.00).
    // Standard: min(800.00, 1,000.00 − 700.00) = 300.00. The primary's 700.00 settles the
    // member's 200.00 first: the member owes 0.00. 1,000.00 = 300.00 + 0.00 + 700.00.
    assert_eq!(adjustments(&result.lines[0]), ["OA-23 700.00 USD"]);
    assert_eq!(result.payer_paid, usd("300.00"));
    assert_eq!(result.member_responsibility, usd("0.00"));
    assert_eq!(result.other_adjustment(), Ok(usd("700.00")));
    assert_eq!(result.cost_sharing, accumulated("0.00", "0.00"));
    assert_eq!(result.decision, Decision::Approved);
}

#[test]
fn example_j_non_duplication_pays_the_normal_benefit_less_the_primarys_payment() {
    let result = as_secondary(CoordinationMethod::NonDuplication, &[(1, "700.00")]);
    // 800.00 − 700.00 = 100.00; the member keeps the coinsurance of 200.00.
    // 1,000.00 = 100.00 + 200.00 + 700.00.
    assert_eq!(
        adjustments(&result.lines[0]),
        ["PR-2 200.00 USD", "OA-23 700.00 USD"]
    );
    assert_eq!(result.payer_paid, usd("100.00"));
    assert_eq!(result.member_responsibility, usd("200.00"));
    assert_eq!(result.cost_sharing, accumulated("0.00", "200.00"));
}

#[test]
fn a_primary_that_paid_everything_leaves_nothing_to_pay() {
    let result = as_secondary(CoordinationMethod::NonDuplication, &[(1, "1000.00")]);
    // 800.00 − 1,000.00 is below zero: the plan pays nothing; of the primary's 1,000.00,
    // 800.00 is the plan's own benefit (OA-23); the member's 200.00 stays.
    assert_eq!(
        adjustments(&result.lines[0]),
        ["PR-2 200.00 USD", "OA-23 800.00 USD"]
    );
    assert_eq!(result.payer_paid, usd("0.00"));
    assert_eq!(result.decision, Decision::Denied);
}

#[test]
fn the_deductible_the_primary_settled_still_counts_as_met() {
    // Deductible of 250.00 not yet met; two arthroscopies at 1,000.00; the primary paid
    // 700.00 on the first and nothing on the second.
    let context = AdjudicationContext {
        accumulated: accumulated("0.00", "0.00"),
        coordination: Coordination::Secondary {
            primary_paid: [(1, usd("700.00")), (2, usd("0.00"))].into(),
        },
        ..context(PlanRules::default())
    };
    let claim = claim_with(
        "CLM-0001",
        vec![
            line(1, ARTHROSCOPY, 1, "1000.00"),
            line(2, ARTHROSCOPY, 1, "1000.00"),
        ],
    );
    let result = decide(&claim, &context);
    // Line 1 as primary: deductible 250.00, coinsurance 150.00, benefit 600.00. The
    // primary's 700.00 settles the member's 400.00; the plan pays 1,000.00 − 700.00.
    assert_eq!(adjustments(&result.lines[0]), ["OA-23 700.00 USD"]);
    assert_eq!(result.lines[0].payer_paid, usd("300.00"));
    // Line 2: the deductible counts as met by line 1 (credited, though the primary paid
    // it), so only the coinsurance of 200.00 is the member's.
    assert_eq!(adjustments(&result.lines[1]), ["PR-2 200.00 USD"]);
    assert_eq!(result.lines[1].payer_paid, usd("800.00"));
    assert_eq!(result.cost_sharing, accumulated("250.00", "200.00"));
}

#[test]
fn without_the_primarys_adjudication_the_line_goes_to_the_other_payer_first() {
    let result = as_secondary(CoordinationMethod::Standard, &[]);
    assert_line_denied(&result, 0, "CO-22 1000.00 USD");
    assert_eq!(result.decision, Decision::Denied);
}

// 10. Visit limits (CARC 119) — example I

const PHYSIOTHERAPY: &str = "97110";

fn physiotherapy_context(visits_used: u32) -> AdjudicationContext {
    let category = ServiceCategory::new("physiotherapy").expect("a test value");
    let mut context = AdjudicationContext {
        plan: BenefitPlan {
            coinsurance: rate("0%"),
            ..with_procedure(plan(), PHYSIOTHERAPY, "physiotherapy", "80.00")
        },
        ..context(PlanRules {
            visit_limits: BTreeMap::from([(category.clone(), 20)]),
            ..PlanRules::default()
        })
    };
    context.benefits_used.visits.insert(category, visits_used);
    context.with_terms_of_its_plan()
}

fn two_physiotherapy_visits() -> Claim {
    claim_with(
        "CLM-0001",
        vec![
            line(1, PHYSIOTHERAPY, 1, "80.00"),
            line(2, PHYSIOTHERAPY, 1, "80.00"),
        ],
    )
}

#[test]
fn example_i_the_visit_beyond_the_limit_is_not_paid() {
    // 19 of 20 used: line 1 is visit 20, paid 80.00; line 2 would be visit 21.
    let result = decide(&two_physiotherapy_visits(), &physiotherapy_context(19));
    assert_eq!(adjustments(&result.lines[0]), Vec::<String>::new());
    assert_eq!(result.lines[0].payer_paid, usd("80.00"));
    assert_line_denied(&result, 1, "CO-119 80.00 USD");
    assert_eq!(result.payer_paid, usd("80.00"));
    // Only the allowed visit counts toward the limit.
    let used = adjudication::benefits_used_by(
        &two_physiotherapy_visits(),
        &physiotherapy_context(19).plan,
        &result,
    );
    assert_eq!(
        used.visits_in(&ServiceCategory::new("physiotherapy").expect("a test value")),
        1
    );
}

#[test]
fn visits_within_the_limit_are_paid() {
    // 18 used: visits 19 and 20, 80.00 each.
    let result = decide(&two_physiotherapy_visits(), &physiotherapy_context(18));
    assert_eq!(result.payer_paid, usd("160.00"));
}

// 11. Annual maximum (CARC 119)

fn annual_maximum_context(plan_paid_so_far: &str) -> AdjudicationContext {
    let mut context = context(PlanRules {
        annual_maximum: Some(usd("1000.00")),
        ..PlanRules::default()
    });
    context.benefits_used.plan_paid = usd(plan_paid_so_far);
    context
}

#[test]
fn the_plan_pays_within_its_annual_maximum() {
    let result = decide(
        &one_line(line(1, ARTHROSCOPY, 1, "1000.00")),
        &annual_maximum_context("0.00"),
    );
    // Allowed 1,000.00, coinsurance 200.00: the plan's 800.00 is within 1,000.00.
    assert_eq!(result.payer_paid, usd("800.00"));
}

#[test]
fn beyond_the_annual_maximum_the_member_pays() {
    let result = decide(
        &one_line(line(1, ARTHROSCOPY, 1, "1000.00")),
        &annual_maximum_context("900.00"),
    );
    // The plan would pay 800.00 but only 1,000.00 − 900.00 = 100.00 remains: it pays
    // 100.00 and 700.00 moves to the member. 1,000.00 = 100.00 + 200.00 + 700.00.
    assert_eq!(
        adjustments(&result.lines[0]),
        ["PR-2 200.00 USD", "PR-119 700.00 USD"]
    );
    assert_eq!(result.payer_paid, usd("100.00"));
    assert_eq!(result.member_responsibility, usd("900.00"));
    // PR-119 is not cost sharing: only the coinsurance counts toward the out-of-pocket.
    assert_eq!(result.cost_sharing, accumulated("0.00", "200.00"));
}

#[test]
fn lines_of_one_claim_share_the_annual_maximum() {
    let claim = claim_with(
        "CLM-0001",
        vec![
            line(1, ARTHROSCOPY, 1, "1000.00"),
            line(2, ARTHROSCOPY, 1, "1000.00"),
        ],
    );
    let result = decide(&claim, &annual_maximum_context("0.00"));
    // Line 1 uses 800.00 of 1,000.00; line 2 gets the remaining 200.00 of its 800.00.
    assert_eq!(result.lines[0].payer_paid, usd("800.00"));
    assert_eq!(
        adjustments(&result.lines[1]),
        ["PR-2 200.00 USD", "PR-119 600.00 USD"]
    );
    assert_eq!(result.payer_paid, usd("1000.00"));
}

// 12. Family deductible and out-of-pocket maximum — example G

const IMAGING: &str = "73721";

fn family_context(
    rules: PlanRules,
    member_paid: Accumulated,
    family_paid: Accumulated,
) -> AdjudicationContext {
    AdjudicationContext {
        plan: with_procedure(
            BenefitPlan {
                deductible: usd("500.00"),
                ..plan()
            },
            IMAGING,
            "imaging",
            "300.00",
        ),
        accumulated: member_paid,
        family: Some(family_paid),
        ..context(rules)
    }
    .with_terms_of_its_plan()
}

fn family_deductible() -> PlanRules {
    PlanRules {
        family_deductible: Some(usd("1000.00")),
        ..PlanRules::default()
    }
}

#[test]
fn example_g_the_family_deductible_binds_before_the_members_own() {
    let context = family_context(
        family_deductible(),
        accumulated("0.00", "0.00"),
        accumulated("900.00", "900.00"),
    );
    let result = decide(&one_line(line(1, IMAGING, 1, "300.00")), &context);
    // Own remaining 500.00, family remaining 1,000.00 − 900.00 = 100.00: deductible 100.00.
    // Coinsurance 20% of 300.00 − 100.00 = 200.00 is 40.00. Member 140.00, plan 160.00.
    assert_eq!(
        adjustments(&result.lines[0]),
        ["PR-1 100.00 USD", "PR-2 40.00 USD"]
    );
    assert_eq!(result.member_responsibility, usd("140.00"));
    assert_eq!(result.payer_paid, usd("160.00"));
    assert_eq!(result.cost_sharing, accumulated("100.00", "140.00"));
}

#[test]
fn below_the_family_deductible_the_members_own_deductible_applies() {
    let context = family_context(
        family_deductible(),
        accumulated("0.00", "0.00"),
        accumulated("200.00", "200.00"),
    );
    let result = decide(&one_line(line(1, IMAGING, 1, "300.00")), &context);
    // Own remaining 500.00, family 800.00: all 300.00 goes to the deductible; nothing to pay.
    assert_eq!(adjustments(&result.lines[0]), ["PR-1 300.00 USD"]);
    assert_eq!(result.payer_paid, usd("0.00"));
    assert_eq!(result.decision, Decision::Denied);
}

#[test]
fn the_family_out_of_pocket_maximum_caps_the_members_share() {
    let rules = PlanRules {
        family_out_of_pocket_max: Some(usd("6000.00")),
        ..PlanRules::default()
    };
    let member_paid = accumulated("500.00", "1000.00");
    let capped = decide(
        &one_line(line(1, ARTHROSCOPY, 1, "1000.00")),
        &family_context(
            rules.clone(),
            member_paid,
            accumulated("1000.00", "5900.00"),
        ),
    );
    // Coinsurance 20% of 1,000.00 = 200.00; own out-of-pocket remaining 3,000.00 − 1,000.00
    // = 2,000.00, family 6,000.00 − 5,900.00 = 100.00: the member pays 100.00, the plan
    // 900.00.
    assert_eq!(adjustments(&capped.lines[0]), ["PR-2 100.00 USD"]);
    assert_eq!(capped.payer_paid, usd("900.00"));

    let uncapped = decide(
        &one_line(line(1, ARTHROSCOPY, 1, "1000.00")),
        &family_context(rules, member_paid, accumulated("1000.00", "2000.00")),
    );
    assert_eq!(adjustments(&uncapped.lines[0]), ["PR-2 200.00 USD"]);
    assert_eq!(uncapped.payer_paid, usd("800.00"));
}

// The rules' parameters as stored

#[test]
fn a_plan_published_before_rules_existed_reads_with_none() {
    let stored = serde_json::json!({
        "type": "Published",
        "revision": 1,
        "plan": serde_json::to_value(plan()).expect("a test value"),
    });
    let event: claims_domain::plan::PlanEvent =
        serde_json::from_value(stored.clone()).expect("a test value");
    let claims_domain::plan::PlanEvent::Published { rules, .. } = &event;
    assert!(rules.is_none());
    // Written back, it is the same JSON: no `rules` key.
    assert_eq!(serde_json::to_value(&event).expect("a test value"), stored);
}

#[test]
fn plan_rules_round_trip_through_json() {
    let rules = PlanRules {
        filing_limit: Some(FilingLimit::Months(12)),
        visit_limits: BTreeMap::from([(
            ServiceCategory::new("physiotherapy").expect("a test value"),
            20,
        )]),
        annual_maximum: Some(usd("1500.00")),
        coordination: CoordinationMethod::NonDuplication,
        ..network(
            &["clinic-a"],
            OutOfNetwork::Covered {
                deductible: usd("500.00"),
                coinsurance: rate("40%"),
            },
        )
    };
    let json = serde_json::to_value(&rules).expect("a test value");
    assert_eq!(json["filing_limit"], serde_json::json!({ "months": 12 }));
    assert_eq!(json["network"]["out_of_network"]["benefit"], "covered");
    assert_eq!(
        serde_json::from_value::<PlanRules>(json).expect("a test value"),
        rules
    );
}

#[test]
fn rules_in_another_currency_are_refused_with_the_plan() {
    let rules = PlanRules {
        annual_maximum: Some(Money::new(
            usd("100.00").amount(),
            claims_domain::Currency::EUR,
        )),
        ..PlanRules::default()
    };
    assert_eq!(
        rules.problems(claims_domain::Currency::USD),
        ["the annual maximum is in EUR, but the plan is in USD"]
    );
}
