//! The adjudication benchmark's claims (issue 6, item 8), in one place for
//! `claims bench domain` and the domain's own harness (`examples/adjudication_bench.rs`,
//! quick to build and to run under callgrind). Compiled with the `bench` feature only.
//!
//! The plan switches every rule on (network with out-of-network terms, family deductible
//! and out-of-pocket maximum, visit limits, an annual maximum, prior authorisation,
//! exclusions, code-pair edits, timely filing, coordination method), the member has a year
//! of history for duplicate detection and an authorisation on file, and each claim has
//! three lines that go all the way through pricing and cost sharing. The reference data is
//! written as TOML, as analysts write rule sets, and parsed before any clock starts.

use crate::accumulator::{Accumulated, BenefitsUsed};
use crate::adjudication::AdjudicationContext;
use crate::claim::Claim;
use crate::member::Member;
use crate::plan::terms::PlanTerms;
use crate::plan::{BenefitPlan, PlanRules};
use crate::provider::Provider;
use crate::rules::authorization::Authorization;
use crate::rules::coordination::Coordination;
use crate::rules::duplicates::{EarlierServices, PriorService};
use chrono::NaiveDate;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Distinct claims cycled through (enough that the loop is not one claim kept in cache).
pub const CLAIMS: usize = 4096;
/// Lines on every claim.
pub const LINES_PER_CLAIM: usize = 3;

/// The fixture's own reference data did not parse: a defect in this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the benchmark's {what} does not parse: {reason}")]
pub struct FixtureError {
    /// Which part.
    pub what: String,
    /// The parser's message.
    pub reason: String,
}

/// Every claim with its own context, as the adjudicator loads one per claim: the same
/// plan, member and history, and the claim's line coding (modifiers, authorisations).
pub fn cases() -> Result<Vec<(Claim, AdjudicationContext)>, FixtureError> {
    let context = context()?;
    Ok(claims()?
        .into_iter()
        .map(|claim| {
            let coding = claim
                .lines
                .iter()
                .map(|line| (line.number, line.coding()))
                .collect();
            let context = AdjudicationContext {
                coding,
                ..context.clone()
            };
            (claim, context)
        })
        .collect())
}

/// The plan, with every rule switched on.
const PLAN: &str = r#"
id = "gold-ppo"
name = "Gold PPO"
currency = "USD"
deductible = "250.00 USD"
coinsurance = "20%"
out_of_pocket_max = "3000.00 USD"
review_threshold = "50000.00 USD"
copays = { office-visit = "25.00 USD", emergency = "150.00 USD" }

[fee_schedule."99213"]
category = "office-visit"
allowed_per_unit = "120.00 USD"

[fee_schedule."99214"]
category = "office-visit"
allowed_per_unit = "180.00 USD"

[fee_schedule."97110"]
category = "physiotherapy"
allowed_per_unit = "40.00 USD"

[fee_schedule."29881"]
category = "surgery"
allowed_per_unit = "1000.00 USD"

[fee_schedule."99285"]
category = "emergency"
allowed_per_unit = "2000.00 USD"
"#;

const RULES: &str = r#"
family_deductible = "750.00 USD"
family_out_of_pocket_max = "9000.00 USD"
annual_maximum = "100000.00 USD"
prior_authorization = ["29881"]
excluded_procedures = ["15780"]
excluded_diagnoses = ["Z41.1"]
filing_limit = { months = 12 }
coordination = "standard"
visit_limits = { physiotherapy = 60, office-visit = 40 }

[network]
providers = ["clinic-a", "hospital-b", "physio-c"]
out_of_network = { benefit = "covered", deductible = "500.00 USD", coinsurance = "40%" }

[[code_pair_edits]]
column_one = "29881"
column_two = "97110"
modifier_allowed = true

[[code_pair_edits]]
column_one = "99214"
column_two = "99213"
"#;

const MEMBER: &str = r#"
id = "M-1001"
insurer = "acme-health"
plan = "gold-ppo"
family = "rivera"
coverage = [{ start = "2026-01-01" }]
"#;

const PROVIDER: &str = r#"
id = "clinic-a"
name = "Clinic A"
wallet = "0x52908400098527886E0F7030069857D2E4169EE7"
"#;

const AUTHORIZATION: &str = r#"
number = "PA-1"
procedure = "29881"
provider = "clinic-a"
from = "2026-01-01"
through = "2026-12-31"
"#;

const ACCUMULATED: &str = r#"
deductible = "100.00 USD"
out_of_pocket = "400.00 USD"
"#;

const FAMILY: &str = r#"
deductible = "300.00 USD"
out_of_pocket = "900.00 USD"
"#;

const BENEFITS_USED: &str = r#"
visits = { office-visit = 5, physiotherapy = 8 }
plan_paid = "2500.00 USD"
"#;

fn parse<T: for<'de> Deserialize<'de>>(what: &str, text: &str) -> Result<T, FixtureError> {
    toml::from_str(text).map_err(|error| FixtureError {
        what: what.to_owned(),
        reason: error.to_string(),
    })
}

/// The context every claim shares, before its own line coding.
fn context() -> Result<AdjudicationContext, FixtureError> {
    let plan: BenefitPlan = parse("plan", PLAN)?;
    let rules: PlanRules = parse("rules", RULES)?;
    let member: Member = parse("member", MEMBER)?;
    let provider: Provider = parse("provider", PROVIDER)?;
    // A year of earlier visits, each compared with every new line for duplicates.
    let history: EarlierServices = (0..60)
        .map(|day| {
            parse(
                "history",
                &format!(
                    r#"
                    claim = "00000000-0000-5000-8000-000000000001"
                    provider = "clinic-a"
                    date_of_service = "{}"
                    procedure = "99213"
                    units = 1
                    billed = "150.00 USD"
                    "#,
                    date_of(day)
                ),
            )
        })
        .collect::<Result<Vec<PriorService>, _>>()?
        .into();
    let authorization: Authorization = parse("authorization", AUTHORIZATION)?;
    // Built once for the plan revision, as the adjudicator does, and shared by every claim.
    let terms = Arc::new(PlanTerms::of(&plan, &rules));
    Ok(AdjudicationContext {
        decided_on: NaiveDate::from_ymd_opt(2026, 11, 24).ok_or_else(|| FixtureError {
            what: "decision date".to_owned(),
            reason: "not a date".to_owned(),
        })?,
        plan,
        plan_revision: 1,
        rules,
        terms,
        member,
        provider: Some(provider),
        accumulated: parse::<Accumulated>("accumulated", ACCUMULATED)?,
        family: Some(parse::<Accumulated>("family", FAMILY)?),
        benefits_used: parse::<BenefitsUsed>("benefits used", BENEFITS_USED)?,
        history,
        authorizations: vec![authorization],
        coding: BTreeMap::new(),
        coordination: Coordination::Primary,
        rule_set: None,
    })
}

/// `2026-03-01` plus `day` days, as text.
fn date_of(day: u64) -> String {
    let start = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default();
    (start + chrono::Days::new(day)).to_string()
}

/// Three-line claims: an office visit, physiotherapy (modifier 59, a distinct service, so
/// the code-pair edit lets it through) and, on every other claim, an authorised
/// arthroscopy (else a second physiotherapy line), on dates after the history.
fn claims() -> Result<Vec<Claim>, FixtureError> {
    (0..CLAIMS)
        .map(|index| {
            let day = 100 + (index % 150) as u64;
            let reference = format!("BENCH-{index:05}");
            let id = crate::ClaimId::for_submission(
                &parse_id("insurer", "acme-health")?,
                &parse_id("reference", &reference)?,
            );
            let third = if index % 2 == 0 {
                format!(
                    r#"
                    [[lines]]
                    number = 3
                    procedure = "29881"
                    diagnoses = ["M23.2"]
                    date_of_service = "{}"
                    units = 1
                    billed = "1200.00 USD"
                    authorization = "PA-1"
                    "#,
                    date_of(day)
                )
            } else {
                format!(
                    r#"
                    [[lines]]
                    number = 3
                    procedure = "97110"
                    diagnoses = ["M54.5"]
                    date_of_service = "{}"
                    units = 2
                    billed = "90.00 USD"
                    "#,
                    date_of(day + 1)
                )
            };
            parse(
                "claim",
                &format!(
                    r#"
                    id = "{id}"
                    insurer = "acme-health"
                    insurer_ref = "{reference}"
                    member = "M-1001"
                    provider = "clinic-a"
                    received_on = "{received_on}"

                    [[lines]]
                    number = 1
                    procedure = "99213"
                    diagnoses = ["J06.9"]
                    date_of_service = "{day_of_service}"
                    units = 1
                    billed = "{billed}.00 USD"

                    [[lines]]
                    number = 2
                    procedure = "97110"
                    diagnoses = ["M54.5"]
                    date_of_service = "{day_of_service}"
                    units = 1
                    billed = "45.00 USD"
                    modifiers = ["59"]
                    {third}
                    "#,
                    received_on = date_of(day + 5),
                    day_of_service = date_of(day),
                    billed = 140 + index % 20,
                ),
            )
        })
        .collect()
}

fn parse_id<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, FixtureError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|error: T::Err| FixtureError {
        what: what.to_owned(),
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adjudication::{Decision, adjudicate};

    #[test]
    fn every_claim_is_approved_with_every_line_priced() {
        let cases = cases().unwrap();
        assert_eq!(cases.len(), CLAIMS);
        for (claim, context) in &cases {
            let adjudication = adjudicate(claim, context).unwrap();
            assert_eq!(adjudication.decision, Decision::Approved);
            assert_eq!(adjudication.lines.len(), LINES_PER_CLAIM);
            // Every line priced (the code-pair edit let through by modifier 59): the full
            // set of rules ran on each.
            assert!(
                adjudication
                    .lines
                    .iter()
                    .all(|line| line.allowed.is_positive()),
                "{adjudication:?}"
            );
        }
    }
}
