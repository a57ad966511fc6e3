//! `claims bench domain`: pure adjudication throughput on one core (issue 6, item 8).
//!
//! No store, no bus, no clock: the rules alone, as `adjudication::adjudicate` runs them in
//! the adjudicator. The plan switches every rule on (network with out-of-network terms,
//! family deductible and out-of-pocket maximum, visit limits, an annual maximum, prior
//! authorisation, exclusions, code-pair edits, timely filing, coordination method), the
//! member has a year of history for duplicate detection and authorisations on file, and
//! each claim has three lines that go all the way through pricing and cost sharing.
//!
//! The claims are built before the clock starts and adjudicated round-robin on the calling
//! thread, in windows of equal length of the thread's own CPU time (so a core shared with
//! other work still gives the rate of one core); the figure is the median window.

use chrono::NaiveDate;
use claims_domain::accumulator::{Accumulated, BenefitsUsed};
use claims_domain::adjudication::{self, AdjudicationContext, Decision};
use claims_domain::claim::Claim;
use claims_domain::member::Member;
use claims_domain::plan::{BenefitPlan, PlanRules};
use claims_domain::provider::Provider;
use claims_domain::rules::authorization::Authorization;
use claims_domain::rules::coordination::Coordination;
use claims_domain::rules::duplicates::PriorService;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Distinct claims cycled through (enough that the loop is not one claim kept in cache).
const CLAIMS: usize = 4096;
/// Lines on every claim.
pub const LINES_PER_CLAIM: usize = 3;

/// How long to measure.
#[derive(Debug, Clone, Copy)]
pub struct DomainBenchOptions {
    /// Each window's length.
    pub window: Duration,
    /// How many windows; the median is the figure.
    pub windows: usize,
}

/// What the benchmark could not do.
#[derive(Debug, Error)]
pub enum DomainBenchError {
    /// The built-in plan, member or claims did not parse: a defect in this module.
    #[error("the benchmark's own reference data does not parse: {0}")]
    Fixture(String),
    /// The engine refused to adjudicate one of the claims.
    #[error("adjudicating claim {claim} failed: {reason}")]
    Adjudication {
        /// The claim's reference.
        claim: String,
        /// Why.
        reason: String,
    },
    /// The report could not be written as JSON.
    #[error("the report cannot be written as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The figures.
#[derive(Debug, Clone, Serialize)]
pub struct DomainBenchReport {
    /// Claims adjudicated per second on one core, median window.
    pub claims_per_s_per_core: u64,
    /// What the windows were timed by: the thread's CPU time, or wall time where the
    /// platform does not report it.
    pub clock: &'static str,
    /// Every window's rate, in order.
    pub windows_claims_per_s: Vec<u64>,
    /// Lines on every claim.
    pub lines_per_claim: usize,
    /// Claims adjudicated in all.
    pub claims_adjudicated: u64,
    /// How the distinct claims were decided (one pass over them), by decision.
    pub decisions: BTreeMap<String, usize>,
}

impl DomainBenchReport {
    /// The machine-readable line that ends the output.
    pub fn json_line(&self) -> Result<String, DomainBenchError> {
        Ok(serde_json::to_string(self)?)
    }
}

/// Runs the benchmark on the calling thread.
pub fn run(options: &DomainBenchOptions) -> Result<DomainBenchReport, DomainBenchError> {
    let cases = cases()?;

    let mut decisions = BTreeMap::new();
    for (claim, context) in &cases {
        let decided = decide(claim, context)?;
        let name = match decided {
            Decision::Approved => "approved",
            Decision::Denied => "denied",
            Decision::Pended { .. } => "pended",
        };
        *decisions.entry(name.to_owned()).or_insert(0) += 1;
    }

    let mut windows = Vec::with_capacity(options.windows);
    let mut total = 0_u64;
    let mut next = cases.iter().cycle();
    for _ in 0..options.windows {
        let clock = Clock::start();
        let mut done = 0_u64;
        while clock.elapsed() < options.window {
            // Read the clock every 256 claims, not on every one.
            for (claim, context) in next.by_ref().take(256) {
                let result = adjudication::adjudicate(std::hint::black_box(claim), context);
                std::hint::black_box(&result);
            }
            done += 256;
        }
        // Whole claims per second, in integers: microseconds are exact enough here.
        let micros = clock.elapsed().as_micros().max(1);
        windows.push(u64::try_from(u128::from(done) * 1_000_000 / micros).unwrap_or(u64::MAX));
        total += done;
    }
    let mut sorted = windows.clone();
    sorted.sort_unstable();
    Ok(DomainBenchReport {
        claims_per_s_per_core: sorted[sorted.len() / 2],
        clock: Clock::start().kind(),
        windows_claims_per_s: windows,
        lines_per_claim: LINES_PER_CLAIM,
        claims_adjudicated: total,
        decisions,
    })
}

/// A table for people.
pub fn render(report: &DomainBenchReport) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["measure", "value"]);
    table.add_row([
        "claims/s on one core (median window)".to_owned(),
        report.claims_per_s_per_core.to_string(),
    ]);
    table.add_row([
        format!("windows (claims/s, timed by {})", report.clock),
        report
            .windows_claims_per_s
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    ]);
    table.add_row([
        "lines per claim".to_owned(),
        report.lines_per_claim.to_string(),
    ]);
    table.add_row([
        "decisions of the distinct claims".to_owned(),
        report
            .decisions
            .iter()
            .map(|(decision, count)| format!("{decision} {count}"))
            .collect::<Vec<_>>()
            .join(", "),
    ]);
    format!("{table}\n")
}

/// Time on this thread's CPU, so that a window on a shared machine measures the claims
/// decided per second of one core, whatever else the core was doing. Linux reports it in
/// `/proc/thread-self/schedstat` (nanoseconds on a CPU, first field); elsewhere the clock
/// falls back to wall time, which is the same figure on an otherwise idle core.
enum Clock {
    Cpu(Duration),
    Wall(Instant),
}

impl Clock {
    fn start() -> Self {
        thread_cpu_time().map_or_else(|| Self::Wall(Instant::now()), Self::Cpu)
    }

    fn elapsed(&self) -> Duration {
        match self {
            Self::Cpu(start) => thread_cpu_time().unwrap_or(*start).saturating_sub(*start),
            Self::Wall(start) => start.elapsed(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Cpu(_) => "thread CPU time",
            Self::Wall(_) => "wall time",
        }
    }
}

fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

fn decide(claim: &Claim, context: &AdjudicationContext) -> Result<Decision, DomainBenchError> {
    adjudication::adjudicate(claim, context)
        .map(|result| result.decision)
        .map_err(|error| DomainBenchError::Adjudication {
            claim: claim.insurer_ref.to_string(),
            reason: error.to_string(),
        })
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

fn parse<T: serde::de::DeserializeOwned>(
    what: &str,
    value: serde_json::Value,
) -> Result<T, DomainBenchError> {
    serde_json::from_value(value)
        .map_err(|error| DomainBenchError::Fixture(format!("{what}: {error}")))
}

/// Every claim with its own context, as the adjudicator loads one per claim: the same
/// plan, member and history, and the claim's line coding (modifiers, authorisations).
fn cases() -> Result<Vec<(Claim, AdjudicationContext)>, DomainBenchError> {
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

fn context() -> Result<AdjudicationContext, DomainBenchError> {
    let toml = |what: &str, text: &str| -> Result<serde_json::Value, DomainBenchError> {
        toml::from_str(text).map_err(|error| DomainBenchError::Fixture(format!("{what}: {error}")))
    };
    let plan: BenefitPlan = parse("plan", toml("plan", PLAN)?)?;
    let rules: PlanRules = parse("rules", toml("rules", RULES)?)?;
    let member: Member = parse(
        "member",
        json!({
            "id": "M-1001", "insurer": "acme-health", "plan": "gold-ppo",
            "coverage": [{ "start": "2026-01-01" }], "family": "rivera",
        }),
    )?;
    let provider: Provider = parse(
        "provider",
        json!({ "id": "clinic-a", "name": "Clinic A",
                "wallet": "0x52908400098527886E0F7030069857D2E4169EE7" }),
    )?;
    // A year of earlier visits, each compared with every new line for duplicates.
    let history: Vec<PriorService> = (0..60)
        .map(|day| {
            parse(
                "history",
                json!({
                    "claim": "00000000-0000-5000-8000-000000000001",
                    "provider": "clinic-a",
                    "date_of_service": date_of(day),
                    "procedure": "99213",
                    "units": 1,
                    "billed": "150.00 USD",
                }),
            )
        })
        .collect::<Result<_, _>>()?;
    let authorizations: Vec<Authorization> = vec![parse(
        "authorization",
        json!({ "number": "PA-1", "procedure": "29881", "provider": "clinic-a",
                "from": "2026-01-01", "through": "2026-12-31" }),
    )?];
    let accumulated: Accumulated = parse(
        "accumulated",
        json!({ "deductible": "100.00 USD", "out_of_pocket": "400.00 USD" }),
    )?;
    let family: Accumulated = parse(
        "family",
        json!({ "deductible": "300.00 USD", "out_of_pocket": "900.00 USD" }),
    )?;
    let benefits_used: BenefitsUsed = parse(
        "benefits used",
        json!({ "visits": { "office-visit": 5, "physiotherapy": 8 }, "plan_paid": "2500.00 USD" }),
    )?;
    Ok(AdjudicationContext {
        decided_on: NaiveDate::from_ymd_opt(2026, 11, 24)
            .ok_or_else(|| DomainBenchError::Fixture("date".into()))?,
        plan,
        plan_revision: 1,
        rules,
        member,
        provider: Some(provider),
        accumulated,
        family: Some(family),
        benefits_used,
        history,
        authorizations,
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
/// the code-pair edit lets it through) and, on every other claim, an
/// authorised arthroscopy (else a second physiotherapy line), on dates after the history.
fn claims() -> Result<Vec<Claim>, DomainBenchError> {
    (0..CLAIMS)
        .map(|index| {
            let day = 100 + (index % 150) as u64;
            let reference = format!("BENCH-{index:05}");
            let third = if index % 2 == 0 {
                json!({ "number": 3, "procedure": "29881", "diagnoses": ["M23.2"],
                        "date_of_service": date_of(day), "units": 1,
                        "billed": "1200.00 USD", "authorization": "PA-1" })
            } else {
                json!({ "number": 3, "procedure": "97110", "diagnoses": ["M54.5"],
                        "date_of_service": date_of(day + 1), "units": 2,
                        "billed": "90.00 USD" })
            };
            let id = claims_domain::ClaimId::for_submission(
                &parse("insurer", json!("acme-health"))?,
                &parse("reference", json!(reference))?,
            );
            parse(
                "claim",
                json!({
                    "id": id,
                    "insurer": "acme-health",
                    "insurer_ref": reference,
                    "member": "M-1001",
                    "provider": "clinic-a",
                    "received_on": date_of(day + 5),
                    "lines": [
                        { "number": 1, "procedure": "99213", "diagnoses": ["J06.9"],
                          "date_of_service": date_of(day), "units": 1,
                          "billed": format!("{}.00 USD", 140 + index % 20) },
                        { "number": 2, "procedure": "97110", "diagnoses": ["M54.5"],
                          "date_of_service": date_of(day), "units": 1,
                          "billed": "45.00 USD", "modifiers": ["59"] },
                        third,
                    ],
                }),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_claims_go_through_the_whole_pipeline() {
        let cases = cases().unwrap();
        let (claim, context) = &cases[0];
        let first = adjudication::adjudicate(claim, context).unwrap();
        assert_eq!(first.decision, Decision::Approved);
        assert_eq!(first.lines.len(), LINES_PER_CLAIM);
        // Every line priced (the code-pair edit let through by modifier 59): the full set
        // of rules ran on each.
        assert!(first.payer_paid.is_positive());
        assert!(
            first.lines.iter().all(|line| line.allowed.is_positive()),
            "{first:?}"
        );
    }

    #[test]
    fn a_short_run_reports_a_rate_for_every_window() {
        let report = run(&DomainBenchOptions {
            window: Duration::from_millis(20),
            windows: 3,
        })
        .unwrap();
        assert_eq!(report.windows_claims_per_s.len(), 3);
        assert!(report.claims_per_s_per_core > 0);
        assert_eq!(report.decisions.values().sum::<usize>(), CLAIMS);
    }
}
