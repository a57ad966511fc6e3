//! Properties of adjudication over generated plans, accumulators and claims: every line
//! balances, nothing is negative or a fraction of a cent, totals add up, and the member
//! never pays past the deductible or the out-of-pocket maximum, individual or family; the
//! plan never pays past its annual maximum nor allows visits past a limit, and paying
//! second never pays more than paying first.

mod fixtures;

use chrono::{Days, NaiveDate};
use claims_domain::accumulator::{
    Accumulated, AccumulatorCommand, AccumulatorDecider, AccumulatorEvent,
};
use claims_domain::adjudication::{self, Adjudication, AdjudicationContext, Decision};
use claims_domain::claim::{Claim, ServiceLine};
use claims_domain::member::Member;
use claims_domain::plan::BenefitPlan;
use claims_domain::plan::{CoordinationMethod, PlanRules};
use claims_domain::reason::{GroupCode, ReasonCode};
use claims_domain::rules::coordination::Coordination;
use claims_domain::{Currency, Decider, Money, Rate, ServiceCategory};
use fixtures::*;
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::collections::BTreeMap;

const CATEGORIES: [&str; 3] = ["office-visit", "emergency", "surgery"];
/// P1–P5 may be on the fee schedule; P6 never is.
const PROCEDURES: [&str; 6] = ["P1", "P2", "P3", "P4", "P5", "P6"];

fn money(cents: i64) -> Money {
    Money::new(Decimal::new(cents, 2), Currency::USD)
}

fn cents(max: i64) -> impl Strategy<Value = Money> {
    (0..=max).prop_map(money)
}

/// 0–100% in hundredths of a percent, with both ends drawn often.
fn coinsurance() -> impl Strategy<Value = Rate> {
    prop_oneof![Just(0_i64), Just(10_000), 0..=10_000_i64].prop_map(|basis_points| {
        Rate::from_fraction(Decimal::new(basis_points, 4)).expect("0–100%")
    })
}

fn plans() -> impl Strategy<Value = BenefitPlan> {
    (
        cents(500_000),
        coinsurance(),
        cents(1_000_000),
        proptest::collection::vec(proptest::option::of(cents(30_000)), CATEGORIES.len()),
        proptest::collection::vec(
            proptest::option::of((0..CATEGORIES.len(), cents(300_000))),
            5,
        ),
        proptest::option::weighted(0.1, cents(2_000_000)),
    )
        .prop_map(
            |(deductible, coinsurance, out_of_pocket_max, copays, fees, review_threshold)| {
                let category =
                    |index: usize| ServiceCategory::new(CATEGORIES[index]).expect("category");
                BenefitPlan {
                    deductible,
                    coinsurance,
                    out_of_pocket_max,
                    copays: copays
                        .into_iter()
                        .enumerate()
                        .filter_map(|(index, copay)| Some((category(index), copay?)))
                        .collect(),
                    fee_schedule: fees
                        .into_iter()
                        .enumerate()
                        .filter_map(|(index, fee)| {
                            let (category_index, allowed) = fee?;
                            Some((
                                procedure(PROCEDURES[index]),
                                claims_domain::plan::FeeScheduleEntry {
                                    category: category(category_index),
                                    allowed_per_unit: allowed,
                                },
                            ))
                        })
                        .collect::<BTreeMap<_, _>>(),
                    review_threshold,
                    ..plan()
                }
            },
        )
}

/// Paid so far toward `limit`: below it, exactly at it, or beyond it (a plan revised down).
fn paid_toward(limit: Money) -> impl Strategy<Value = Money> {
    let limit_cents = (limit.amount() * Decimal::ONE_HUNDRED)
        .to_i64()
        .expect("cents");
    prop_oneof![
        (0..=limit_cents).prop_map(money),
        Just(limit),
        (limit_cents..=limit_cents + 100_000).prop_map(money),
    ]
}

fn first_day() -> NaiveDate {
    date("2026-01-01")
}

fn day(offset: u64) -> NaiveDate {
    first_day()
        .checked_add_days(Days::new(offset))
        .expect("a day in 2026")
}

/// Covered from 2026-01-01, until some day of 2026 or still.
fn members() -> impl Strategy<Value = Member> {
    proptest::option::weighted(0.3, 0..365_u64).prop_map(|end| {
        let mut member = member();
        member.coverage[0].end = end.map(day);
        member
    })
}

/// 1–10 lines, numbered from 1 but listed in any order.
fn claims() -> impl Strategy<Value = Claim> {
    proptest::collection::vec(
        (
            0..PROCEDURES.len(),
            1..=5_u32,
            1..=1_000_000_i64,
            0..365_u64,
        ),
        1..=10,
    )
    .prop_map(|lines| {
        lines
            .into_iter()
            .zip(1..)
            .map(
                |((procedure_index, units, billed, offset), number)| ServiceLine {
                    number,
                    procedure: procedure(PROCEDURES[procedure_index]),
                    diagnoses: vec![],
                    date_of_service: day(offset),
                    units,
                    billed: money(billed),
                    modifiers: Default::default(),
                    authorization: None,
                    primary_paid: None,
                },
            )
            .collect::<Vec<_>>()
    })
    .prop_shuffle()
    .prop_map(|lines| {
        let mut claim = claim_with("CLM-PROP", lines);
        claim.received_on = date("2026-12-31");
        claim
    })
}

/// Often none, otherwise a limit and what was paid toward it (below, at or beyond it).
fn limit_and_paid() -> impl Strategy<Value = Option<(Money, Money)>> {
    proptest::option::weighted(
        0.5,
        cents(1_000_000).prop_flat_map(|limit| (Just(limit), paid_toward(limit))),
    )
}

/// The rules with limits that accumulate (family deductible and out-of-pocket, annual
/// maximum, visit limits), coordination of benefits, and what has been used of each.
fn limits_and_coordination() -> impl Strategy<Value = Extras> {
    (
        limit_and_paid(),
        limit_and_paid(),
        limit_and_paid(),
        proptest::collection::vec(
            proptest::option::of((0..=20_u32, 0..=25_u32)),
            CATEGORIES.len(),
        ),
        proptest::option::weighted(
            0.3,
            (
                prop_oneof![
                    Just(CoordinationMethod::Standard),
                    Just(CoordinationMethod::NonDuplication)
                ],
                proptest::collection::btree_map(1..=10_u32, cents(1_500_000), 0..=10),
            ),
        ),
    )
        .prop_map(
            |(family_deductible, family_out_of_pocket, annual, visits, coordination)| Extras {
                family_deductible,
                family_out_of_pocket,
                annual,
                visits,
                coordination,
            },
        )
}

/// The generated extras, applied to a context by [`with_extras`].
#[derive(Debug, Clone)]
struct Extras {
    family_deductible: Option<(Money, Money)>,
    family_out_of_pocket: Option<(Money, Money)>,
    annual: Option<(Money, Money)>,
    /// (limit, used) per category of [`CATEGORIES`].
    visits: Vec<Option<(u32, u32)>>,
    coordination: Option<(CoordinationMethod, BTreeMap<u32, Money>)>,
}

fn with_extras(mut context: AdjudicationContext, extras: Extras) -> AdjudicationContext {
    let category = |index: usize| ServiceCategory::new(CATEGORIES[index]).expect("category");
    let mut rules = PlanRules::default();
    let mut family = Accumulated::zero(Currency::USD);
    if let Some((limit, paid)) = extras.family_deductible {
        rules.family_deductible = Some(limit);
        family.deductible = paid;
    }
    if let Some((limit, paid)) = extras.family_out_of_pocket {
        rules.family_out_of_pocket_max = Some(limit);
        family.out_of_pocket = paid;
    }
    if rules.family_deductible.is_some() || rules.family_out_of_pocket_max.is_some() {
        context.family = Some(family);
    }
    if let Some((limit, paid)) = extras.annual {
        rules.annual_maximum = Some(limit);
        context.benefits_used.plan_paid = paid;
    }
    for (index, visits) in extras.visits.into_iter().enumerate() {
        if let Some((limit, used)) = visits {
            rules.visit_limits.insert(category(index), limit);
            context.benefits_used.visits.insert(category(index), used);
        }
    }
    if let Some((method, primary_paid)) = extras.coordination {
        rules.coordination = method;
        context.coordination = Coordination::Secondary { primary_paid };
    }
    context.rules = rules;
    context.with_terms_of_its_plan()
}

/// A plan, what the member has already paid this year, the member and a claim.
fn cases() -> impl Strategy<Value = (AdjudicationContext, Claim)> {
    plans()
        .prop_flat_map(|plan| {
            let accumulated = (
                paid_toward(plan.deductible),
                paid_toward(plan.out_of_pocket_max),
            )
                .prop_map(|(deductible, out_of_pocket)| Accumulated {
                    deductible,
                    out_of_pocket,
                });
            (
                Just(plan),
                accumulated,
                members(),
                claims(),
                proptest::option::weighted(0.6, limits_and_coordination()),
            )
        })
        .prop_map(|(plan, accumulated, member, claim, extras)| {
            let context = AdjudicationContext {
                member,
                ..*adjudication_context(plan, accumulated)
            };
            let context = match extras {
                Some(extras) => with_extras(context, extras),
                None => context,
            };
            (context, claim)
        })
}

fn decide(context: &AdjudicationContext, claim: &Claim) -> Adjudication {
    adjudication::adjudicate(claim, context).expect("a generated claim can be adjudicated")
}

/// Every amount in the result, named for the failure message.
fn every_amount(result: &Adjudication) -> Vec<(String, Money)> {
    let mut amounts = vec![
        ("payer paid".to_owned(), result.payer_paid),
        (
            "member responsibility".to_owned(),
            result.member_responsibility,
        ),
        (
            "contractual adjustment".to_owned(),
            result.contractual_adjustment,
        ),
        (
            "deductible applied".to_owned(),
            result.cost_sharing.deductible,
        ),
        (
            "out-of-pocket applied".to_owned(),
            result.cost_sharing.out_of_pocket,
        ),
    ];
    for line in &result.lines {
        let n = line.line;
        amounts.extend([
            (format!("line {n} billed"), line.billed),
            (format!("line {n} allowed"), line.allowed),
            (format!("line {n} payer paid"), line.payer_paid),
            (
                format!("line {n} member responsibility"),
                line.member_responsibility,
            ),
            (
                format!("line {n} contractual adjustment"),
                line.contractual_adjustment,
            ),
        ]);
        for adjustment in &line.adjustments {
            amounts.push((format!("line {n} {}", adjustment.code()), adjustment.amount));
        }
    }
    amounts
}

fn sum(amounts: impl IntoIterator<Item = Money>) -> Money {
    amounts.into_iter().fold(money(0), |total, amount| {
        total.checked_add(amount).expect("a sum in range")
    })
}

fn remaining(limit: Money, paid: Money) -> Money {
    limit
        .checked_sub(paid)
        .expect("same currency")
        .at_least_zero()
}

fn sum_of_reasons(result: &Adjudication, reasons: &[ReasonCode]) -> Money {
    sum(result
        .lines
        .iter()
        .flat_map(|line| &line.adjustments)
        .filter(|adjustment| {
            adjustment.group == GroupCode::PR && reasons.contains(&adjustment.reason)
        })
        .map(|adjustment| adjustment.amount))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// (a) `billed = payer paid + member responsibility + contractual adjustment + other
    /// adjustment` on every line, the member owes exactly the PR adjustments, the provider
    /// writes off exactly the CO ones, the other adjustment is exactly the OA ones, and the
    /// plan never pays more than it allows.
    #[test]
    fn every_line_balances((context, claim) in cases()) {
        let result = decide(&context, &claim);
        for line in &result.lines {
            let other = line.other_adjustment().expect("a sum in range");
            let accounted = sum([line.payer_paid, line.member_responsibility, line.contractual_adjustment, other]);
            prop_assert_eq!(line.billed, accounted, "line {}", line.line);
            let by_group = |group| sum(line.adjustments.iter().filter(|a| a.group == group).map(|a| a.amount));
            prop_assert_eq!(line.member_responsibility, by_group(GroupCode::PR), "line {}", line.line);
            prop_assert_eq!(line.contractual_adjustment, by_group(GroupCode::CO), "line {}", line.line);
            prop_assert_eq!(other, by_group(GroupCode::OA), "line {}", line.line);
            prop_assert!(line.payer_paid.amount() <= line.allowed.amount(), "line {} pays above allowed", line.line);
            prop_assert!(line.allowed.amount() <= line.billed.amount(), "line {} allows above billed", line.line);
        }
    }

    /// (b) No amount in the result is negative.
    #[test]
    fn no_amount_is_negative((context, claim) in cases()) {
        for (what, amount) in every_amount(&decide(&context, &claim)) {
            prop_assert!(!amount.is_negative(), "{} is {}", what, amount);
        }
    }

    /// (c) The deductible applied never exceeds what remained of the plan's deductible.
    #[test]
    fn the_deductible_applied_never_exceeds_what_remained((context, claim) in cases()) {
        let result = decide(&context, &claim);
        let left = remaining(context.plan.deductible, context.accumulated.deductible);
        prop_assert!(
            result.cost_sharing.deductible.amount() <= left.amount(),
            "applied {} of a remaining {}", result.cost_sharing.deductible, left
        );
        let member_owes = sum_of_reasons(&result, &[ReasonCode::Deductible]);
        match context.coordination {
            Coordination::Primary => prop_assert_eq!(result.cost_sharing.deductible, member_owes),
            // As secondary the deductible credited also counts what the primary settled.
            Coordination::Secondary { .. } => prop_assert!(
                result.cost_sharing.deductible.amount() >= member_owes.amount(),
                "credited {} below the PR-1 total {}", result.cost_sharing.deductible, member_owes
            ),
        }
    }

    /// (d) What the member pays toward the out-of-pocket maximum never exceeds what
    /// remained of it.
    #[test]
    fn the_out_of_pocket_never_exceeds_what_remained((context, claim) in cases()) {
        let result = decide(&context, &claim);
        let left = remaining(context.plan.out_of_pocket_max, context.accumulated.out_of_pocket);
        prop_assert!(
            result.cost_sharing.out_of_pocket.amount() <= left.amount(),
            "applied {} of a remaining {}", result.cost_sharing.out_of_pocket, left
        );
        let cost_sharing = [ReasonCode::Copay, ReasonCode::Deductible, ReasonCode::Coinsurance];
        prop_assert_eq!(result.cost_sharing.out_of_pocket, sum_of_reasons(&result, &cost_sharing));
    }

    /// (c, d) Applied through the accumulator, a decision is always accepted (it was made on
    /// those very totals) and never takes a total that was within its limit past it; a
    /// total already beyond a lowered limit does not grow.
    #[test]
    fn the_accumulator_takes_every_decision_within_the_limits((context, claim) in cases()) {
        let result = decide(&context, &claim);
        let plan = &context.plan;
        let before = context.accumulated;
        let history = [AccumulatorEvent::CostSharingApplied {
            member: context.member.id.clone(),
            claim: claim_with("CLM-EARLIER", vec![]).id,
            deductible: before.deductible,
            out_of_pocket: before.out_of_pocket,
        }];
        let state = AccumulatorDecider::fold(&history);
        let events = AccumulatorDecider::decide(&state, AccumulatorCommand::ApplyCostSharing {
            member: context.member.id.clone(),
            claim: claim.id,
            deductible: result.cost_sharing.deductible,
            out_of_pocket: result.cost_sharing.out_of_pocket,
            limits: Accumulated { deductible: plan.deductible, out_of_pocket: plan.out_of_pocket_max },
        });
        prop_assert!(events.is_ok(), "refused: {:?}", events);
        let events = events.unwrap_or_default();
        let after = AccumulatorDecider::fold(history.iter().chain(&events)).accumulated(Currency::USD);
        for (what, before, after, limit) in [
            ("deductible", before.deductible, after.deductible, plan.deductible),
            ("out-of-pocket", before.out_of_pocket, after.out_of_pocket, plan.out_of_pocket_max),
        ] {
            if before.amount() <= limit.amount() {
                prop_assert!(after.amount() <= limit.amount(), "{} went from {} to {}, past {}", what, before, after, limit);
            } else {
                prop_assert_eq!(after, before, "{} beyond its limit grew", what);
            }
        }
    }

    /// (e) The claim's totals are the sums of its lines.
    #[test]
    fn claim_totals_are_the_sums_of_the_lines((context, claim) in cases()) {
        let result = decide(&context, &claim);
        prop_assert_eq!(result.payer_paid, sum(result.lines.iter().map(|line| line.payer_paid)));
        prop_assert_eq!(result.member_responsibility, sum(result.lines.iter().map(|line| line.member_responsibility)));
        prop_assert_eq!(result.contractual_adjustment, sum(result.lines.iter().map(|line| line.contractual_adjustment)));
    }

    /// (f) Every amount is a whole number of cents.
    #[test]
    fn every_amount_is_whole_cents((context, claim) in cases()) {
        for (what, amount) in every_amount(&decide(&context, &claim)) {
            prop_assert!(amount.is_in_minor_units(), "{} is {}", what, amount);
        }
    }

    /// A claim billed above the review threshold is pended with no lines; any other claim
    /// has one result per line, in line order, and is approved exactly when the plan pays.
    #[test]
    fn a_claim_is_pended_approved_or_denied((context, claim) in cases()) {
        let result = decide(&context, &claim);
        let billed = claim.billed_total().expect("a total in range");
        let above_threshold = context.plan.review_threshold.is_some_and(|threshold| billed.amount() > threshold.amount());
        if above_threshold {
            prop_assert!(matches!(result.decision, Decision::Pended { .. }), "{:?}", result.decision);
            prop_assert!(result.lines.is_empty());
            prop_assert!(result.payer_paid.is_zero() && result.member_responsibility.is_zero());
        } else {
            let numbers: Vec<u32> = result.lines.iter().map(|line| line.line).collect();
            prop_assert_eq!(numbers, (1..=claim.lines.len() as u32).collect::<Vec<_>>());
            let expected = if result.payer_paid.is_positive() { Decision::Approved } else { Decision::Denied };
            prop_assert_eq!(&result.decision, &expected);
        }
    }

    /// The deductible applied never exceeds what remained of the family deductible, and
    /// the member's cost sharing never what remained of the family out-of-pocket maximum.
    #[test]
    fn the_family_limits_are_never_exceeded((context, claim) in cases()) {
        let result = decide(&context, &claim);
        let Some(family) = context.family else { return Ok(()); };
        if let Some(limit) = context.rules.family_deductible {
            let left = remaining(limit, family.deductible);
            prop_assert!(result.cost_sharing.deductible.amount() <= left.amount(),
                "deductible {} of a family remaining {}", result.cost_sharing.deductible, left);
        }
        if let Some(limit) = context.rules.family_out_of_pocket_max {
            let left = remaining(limit, family.out_of_pocket);
            prop_assert!(result.cost_sharing.out_of_pocket.amount() <= left.amount(),
                "out-of-pocket {} of a family remaining {}", result.cost_sharing.out_of_pocket, left);
        }
    }

    /// The plan never pays past what remained of its annual maximum.
    #[test]
    fn the_annual_maximum_is_never_exceeded((context, claim) in cases()) {
        let result = decide(&context, &claim);
        if let Some(maximum) = context.rules.annual_maximum {
            let left = remaining(maximum, context.benefits_used.plan_paid);
            prop_assert!(result.payer_paid.amount() <= left.amount(),
                "paid {} of a remaining {}", result.payer_paid, left);
        }
    }

    /// No category's visits go past its limit: the claim allows at most what was left.
    #[test]
    fn visit_limits_are_never_exceeded((context, claim) in cases()) {
        let result = decide(&context, &claim);
        let used = adjudication::benefits_used_by(&claim, &context.plan, &result);
        for (category, limit) in &context.rules.visit_limits {
            let before = context.benefits_used.visits_in(category);
            let left = limit.saturating_sub(before);
            prop_assert!(used.visits_in(category) <= left,
                "{} visits of {} allowed with {} of {} used", used.visits_in(category), category, before, limit);
        }
    }

    /// Paying second never pays more, and never leaves the member more to pay, than paying
    /// first.
    #[test]
    fn paying_second_never_pays_more_than_paying_first((context, claim) in cases()) {
        // Every line adjudicated by the primary (0.00 where it paid nothing): a line still
        // waiting for the primary is denied CO-22 and uses no visit, which can leave a later
        // line a visit that paying first it would not have had.
        let coordination = match context.coordination.clone() {
            Coordination::Secondary { mut primary_paid } => {
                for line in &claim.lines {
                    primary_paid.entry(line.number).or_insert(Money::zero(Currency::USD));
                }
                Coordination::Secondary { primary_paid }
            }
            primary => primary,
        };
        let context = AdjudicationContext { coordination, ..context };
        let second = decide(&context, &claim);
        let first = decide(&AdjudicationContext { coordination: Coordination::Primary, ..context.clone() }, &claim);
        prop_assert!(second.payer_paid.amount() <= first.payer_paid.amount(),
            "second {} first {}", second.payer_paid, first.payer_paid);
        prop_assert!(second.member_responsibility.amount() <= first.member_responsibility.amount(),
            "member second {} first {}", second.member_responsibility, first.member_responsibility);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (l) Adjudication works out a paid line in whole cents when every amount allows it
    /// and with `Money` otherwise: the same plan with its fee schedule written to a tenth
    /// of a cent (same values, a scale the cents path refuses) decides every claim alike,
    /// to the serialised byte.
    #[test]
    fn the_cents_path_and_the_money_path_decide_alike((context, claim) in cases()) {
        let mut in_mills = context.clone();
        for entry in in_mills.plan.fee_schedule.values_mut() {
            let mut amount = entry.allowed_per_unit.amount();
            amount.rescale(3);
            entry.allowed_per_unit = Money::new(amount, entry.allowed_per_unit.currency());
        }
        let in_cents = decide(&context, &claim);
        let by_money = decide(&in_mills, &claim);
        prop_assert_eq!(&in_cents, &by_money);
        prop_assert_eq!(
            serde_json::to_string(&in_cents).expect("serialisable"),
            serde_json::to_string(&by_money).expect("serialisable")
        );
    }

    /// (m) Lines are decided in line-number order whatever order the claim lists them in.
    #[test]
    fn the_order_lines_are_listed_in_changes_nothing((context, claim) in cases()) {
        let mut reversed = claim.clone();
        reversed.lines.reverse();
        prop_assert_eq!(decide(&context, &claim), decide(&context, &reversed));
    }
}
