//! `claims bench domain`: pure adjudication throughput on one core (issue 6, item 8).
//!
//! No store, no bus, no clock: the rules alone, as `adjudication::adjudicate` runs them in
//! the adjudicator, on the claims of `claims_domain::bench` (every rule switched on, a year
//! of history for duplicate detection, three lines per claim that go all the way through
//! pricing and cost sharing), which the domain's own harness
//! (`domain/examples/adjudication_bench.rs`) runs too.
//!
//! The claims are built before the clock starts and adjudicated round-robin on the calling
//! thread, in windows of equal length of the thread's own CPU time (so a core shared with
//! other work still gives the rate of one core); the figure is the median window.

use claims_domain::adjudication::{self, AdjudicationContext, Decision};
use claims_domain::bench::{FixtureError, cases};
use claims_domain::claim::Claim;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use thiserror::Error;

pub use claims_domain::bench::LINES_PER_CLAIM;

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
    /// The built-in plan, member or claims did not parse: a defect in the fixture.
    #[error(transparent)]
    Fixture(#[from] FixtureError),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_reports_a_rate_for_every_window() {
        let report = run(&DomainBenchOptions {
            window: Duration::from_millis(20),
            windows: 3,
        })
        .unwrap();
        assert_eq!(report.windows_claims_per_s.len(), 3);
        assert!(report.claims_per_s_per_core > 0);
        assert_eq!(
            report.decisions.values().sum::<usize>(),
            claims_domain::bench::CLAIMS
        );
    }
}
