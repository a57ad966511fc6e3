//! Rule sets as versioned data: the example rule set's files parse into the plan they
//! describe, every bad file is named with its line and column or field, and a published
//! version never changes.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use claims_domain::Decider;
use claims_domain::rule_set::files::{MANIFEST, RuleFileError, parse};
use claims_domain::rule_set::{
    RuleSet, RuleSetCommand, RuleSetDecider, RuleSetError, RuleSetEvent, RuleSetState,
};
use claims_domain::{Money, PlanId, ProcedureCode, ServiceCategory};
use std::collections::BTreeMap;

/// The example rule set of `examples/rules/acme-2026`, as the edge would read it.
fn example() -> BTreeMap<String, String> {
    let files = [
        (
            MANIFEST,
            include_str!("../../examples/rules/acme-2026/rule-set.toml"),
        ),
        (
            "plans.toml",
            include_str!("../../examples/rules/acme-2026/plans.toml"),
        ),
        (
            "limits.toml",
            include_str!("../../examples/rules/acme-2026/limits.toml"),
        ),
        (
            "fee-schedules/gold-ppo.csv",
            include_str!("../../examples/rules/acme-2026/fee-schedules/gold-ppo.csv"),
        ),
        (
            "code-pair-edits.csv",
            include_str!("../../examples/rules/acme-2026/code-pair-edits.csv"),
        ),
        (
            "prior-authorisation.csv",
            include_str!("../../examples/rules/acme-2026/prior-authorisation.csv"),
        ),
    ];
    files
        .into_iter()
        .map(|(name, text)| (name.to_owned(), text.to_owned()))
        .collect()
}

/// The example with one file's text changed by `edit`.
fn with(file: &str, edit: impl FnOnce(&str) -> String) -> BTreeMap<String, String> {
    let mut files = example();
    let text = files.get(file).unwrap().clone();
    files.insert(file.to_owned(), edit(&text));
    files
}

fn error_of(files: &BTreeMap<String, String>) -> RuleFileError {
    parse(files).unwrap_err()
}

fn gold() -> PlanId {
    PlanId::new("gold-ppo").unwrap()
}

#[test]
fn the_example_rule_set_reads_as_the_plan_it_describes() {
    let rule_set = parse(&example()).unwrap();
    assert_eq!(rule_set.id.to_string(), "acme-2026 version 1");
    let gold = &rule_set.plans[&gold()];
    assert_eq!(gold.plan.deductible, "250.00 USD".parse::<Money>().unwrap());
    let knee = &gold.plan.fee_schedule[&ProcedureCode::new("29881").unwrap()];
    assert_eq!(
        knee.allowed_per_unit,
        "1000.00 USD".parse::<Money>().unwrap()
    );
    assert_eq!(knee.category, ServiceCategory::new("surgery").unwrap());
    assert_eq!(gold.plan.fee_schedule.len(), 6);
    assert_eq!(gold.rules.code_pair_edits.len(), 1);
    assert!(gold.rules.code_pair_edits[0].modifier_allowed);
    assert!(
        gold.rules
            .prior_authorization
            .contains(&ProcedureCode::new("27447").unwrap())
    );
    assert_eq!(
        gold.rules.visit_limits[&ServiceCategory::new("physiotherapy").unwrap()],
        20
    );
    assert!(gold.rules.network.is_some());
    assert!(rule_set.problems().is_empty(), "{:?}", rule_set.problems());
}

#[test]
fn a_bad_amount_in_a_fee_schedule_names_the_file_line_and_column() {
    let files = with("fee-schedules/gold-ppo.csv", |text| {
        text.replace("29881,surgery,1000.00", "29881,surgery,1OOO.00")
    });
    let error = error_of(&files);
    assert_eq!(error.file, "fee-schedules/gold-ppo.csv");
    assert_eq!(error.line, Some(4));
    assert_eq!(error.column.as_deref(), Some("allowed_per_unit"));
    assert!(
        error.to_string().starts_with(
            "fee-schedules/gold-ppo.csv, line 4, column allowed_per_unit: \"1OOO.00\" is not an amount"
        ),
        "{error}"
    );
}

#[test]
fn fractions_of_a_cent_and_twice_priced_procedures_are_refused() {
    let cents = error_of(&with("fee-schedules/gold-ppo.csv", |text| {
        text.replace("400.00", "400.005")
    }));
    assert_eq!(
        (cents.line, cents.column.as_deref()),
        (Some(5), Some("allowed_per_unit"))
    );
    assert!(cents.problem.contains("whole number of cents"), "{cents}");

    let twice = error_of(&with("fee-schedules/gold-ppo.csv", |text| {
        format!("{text}99213,office-visit,99.00,again\n")
    }));
    assert_eq!(twice.line, Some(8));
    assert!(twice.problem.contains("priced twice"), "{twice}");
}

#[test]
fn a_bad_value_in_a_toml_file_names_its_line_and_column() {
    let files = with("plans.toml", |text| {
        text.replace("coinsurance = \"20%\"", "coinsurance = \"20 percent\"")
    });
    let error = error_of(&files);
    assert_eq!(error.file, "plans.toml");
    let line = example()["plans.toml"]
        .lines()
        .position(|line| line.starts_with("coinsurance"))
        .unwrap()
        + 1;
    assert_eq!(error.line, Some(line));
    assert_eq!(error.column.as_deref(), Some("15"));
    assert!(error.problem.contains("percentage"), "{error}");
}

#[test]
fn an_unknown_field_is_refused_not_ignored() {
    let error = error_of(&with("limits.toml", |text| {
        text.replace("visit_limits", "visit_limit")
    }));
    assert_eq!(error.file, "limits.toml");
    assert!(error.line.is_some());
    assert!(
        error.problem.contains("unknown field `visit_limit`"),
        "{error}"
    );
}

#[test]
fn a_table_named_but_missing_names_where_it_is_named() {
    let error = error_of(&with("plans.toml", |text| {
        text.replace("code-pair-edits.csv", "code-pairs.csv")
    }));
    assert_eq!(error.file, "plans.toml");
    assert!(
        error
            .problem
            .contains("\"code-pairs.csv\" is not a file of the rule set"),
        "{error}"
    );
    let mut files = example();
    files.remove(MANIFEST);
    assert_eq!(error_of(&files).file, MANIFEST);
}

#[test]
fn limits_for_a_plan_the_set_does_not_hold_are_refused() {
    let error = error_of(&with("limits.toml", |text| {
        format!("{text}\n[silver-hmo]\nfiling_limit = {{ days = 90 }}\n")
    }));
    assert_eq!(error.file, "limits.toml");
    assert!(
        error.problem.contains("[silver-hmo] names no plan"),
        "{error}"
    );
}

#[test]
fn a_code_pair_table_with_a_misspelt_column_or_a_self_pair_is_refused() {
    let column = error_of(&with("code-pair-edits.csv", |text| {
        text.replace("modifier_allowed", "modifier")
    }));
    assert_eq!(
        (column.file.as_str(), column.line),
        ("code-pair-edits.csv", Some(1))
    );
    assert!(
        column.problem.contains("\"modifier\" is not a column"),
        "{column}"
    );

    let pair = error_of(&with("code-pair-edits.csv", |text| {
        text.replace("29881,29877", "29881,29881")
    }));
    assert_eq!(pair.column.as_deref(), Some("column_two"));
    assert!(pair.problem.contains("with itself"), "{pair}");

    let flag = error_of(&with("code-pair-edits.csv", |text| {
        text.replace(",yes,", ",maybe,")
    }));
    assert_eq!(
        (flag.line, flag.column.as_deref()),
        (Some(2), Some("modifier_allowed"))
    );
}

#[test]
fn a_plan_whose_amounts_make_no_sense_is_named() {
    let error = error_of(&with("plans.toml", |text| {
        text.replace("deductible = \"250.00 USD\"", "deductible = \"250.00 EUR\"")
    }));
    assert_eq!(error.file, "plans.toml");
    assert!(
        error
            .problem
            .contains("plan gold-ppo: the deductible is in EUR, but the plan is in USD"),
        "{error}"
    );
}

fn version(number: u32, knee: &str) -> RuleSet {
    let mut rule_set = parse(&example()).unwrap();
    rule_set.id.version = number;
    let plan = rule_set.plans.get_mut(&gold()).unwrap();
    plan.plan
        .fee_schedule
        .get_mut(&ProcedureCode::new("29881").unwrap())
        .unwrap()
        .allowed_per_unit = knee.parse().unwrap();
    rule_set
}

fn published(versions: &[RuleSet]) -> RuleSetState {
    let events: Vec<RuleSetEvent> = versions
        .iter()
        .map(|rule_set| RuleSetEvent::Published {
            rule_set: Box::new(rule_set.clone()),
        })
        .collect();
    RuleSetDecider::fold(&events)
}

fn publish(state: &RuleSetState, rule_set: RuleSet) -> Result<Vec<RuleSetEvent>, RuleSetError> {
    RuleSetDecider::decide(state, RuleSetCommand::Publish(Box::new(rule_set)))
}

#[test]
fn every_version_stays_readable_and_the_latest_is_in_force() {
    let state = published(&[version(1, "1000.00 USD"), version(2, "1100.00 USD")]);
    assert_eq!(state.in_force().unwrap().id.version, 2);
    let knee = |number| {
        state.plan(number, &gold()).unwrap().plan.fee_schedule
            [&ProcedureCode::new("29881").unwrap()]
            .allowed_per_unit
            .to_string()
    };
    assert_eq!(knee(1), "1000.00 USD");
    assert_eq!(knee(2), "1100.00 USD");
}

#[test]
fn a_published_version_never_changes_and_publishing_it_again_stores_nothing() {
    let state = published(&[version(1, "1000.00 USD")]);
    assert_eq!(publish(&state, version(1, "1000.00 USD")).unwrap(), vec![]);
    assert_eq!(
        publish(&state, version(1, "900.00 USD")).unwrap_err(),
        RuleSetError::VersionChanged(version(1, "900.00 USD").id)
    );
    assert_eq!(publish(&state, version(2, "900.00 USD")).unwrap().len(), 1);
}

#[test]
fn a_version_below_the_latest_is_refused() {
    let state = published(&[version(3, "1000.00 USD")]);
    let error = publish(&state, version(2, "900.00 USD")).unwrap_err();
    assert!(
        matches!(error, RuleSetError::VersionNotNewer { latest: 3, .. }),
        "{error}"
    );
}

#[test]
fn a_version_with_an_invalid_plan_is_refused_whole() {
    let mut bad = version(1, "1000.00 USD");
    bad.plans.get_mut(&gold()).unwrap().plan.deductible = "-1.00 USD".parse().unwrap();
    let error = publish(&RuleSetState::default(), bad).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("plan gold-ppo: the deductible is negative"),
        "{error}"
    );
}
