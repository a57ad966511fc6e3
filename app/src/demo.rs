//! `claims demo`: the whole engine in one process, from insurer submissions to provider
//! payouts on the embedded chain.
//!
//! Reads `reference-data.toml` (members and providers), the rule sets under `rules/` (the
//! plans' parameters, as versioned data) and every `claims/*.json` from the examples
//! directory, submits each claim as the example insurer, waits for every accepted claim to be decided
//! and every approved one to be paid, and reports what happened.

use crate::clock::{Clock, SystemClock};
use crate::engine::{Database, EmbeddedConfig, Engine};
use crate::intake::{IntakeReply, ReplyStatus};
use crate::reference::ReferenceData;
use anyhow::Context;
use claims_domain::adjudication::Decision;
use claims_domain::claim::{ClaimState, ClaimStatus};
use claims_domain::rule_set::{RuleSet, RuleSetVersion};
use claims_domain::{InsurerId, Money};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The insurer the example claims are submitted as.
pub const EXAMPLE_INSURER: &str = "acme-health";

/// What the demo is run on.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The directory holding `reference-data.toml` and `claims/`.
    pub examples: PathBuf,
    /// The SQLite file to keep the event log in (a fresh temporary one if `None`).
    pub database: Option<PathBuf>,
}

/// One submitted example and what became of it.
#[derive(Debug, Clone)]
pub struct DemoClaim {
    /// The example file.
    pub file: String,
    /// Intake's answer.
    pub reply: IntakeReply,
    /// The claim's final state, when accepted.
    pub state: Option<ClaimState>,
}

/// A provider's stablecoin balance at the end.
#[derive(Debug, Clone)]
pub struct DemoBalance {
    /// The provider's name.
    pub provider: String,
    /// Its wallet.
    pub wallet: String,
    /// Its balance.
    pub balance: Money,
}

/// Everything the demo did.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// Every example, in file order.
    pub claims: Vec<DemoClaim>,
    /// Every provider's balance.
    pub balances: Vec<DemoBalance>,
    /// Where the event log was kept.
    pub database: PathBuf,
    /// The rule-set versions loaded, in force for every claim.
    pub rule_sets: Vec<RuleSetVersion>,
}

impl DemoReport {
    /// How many claims were paid on chain.
    pub fn paid(&self) -> usize {
        self.claims
            .iter()
            .filter(|claim| {
                claim.state.as_ref().and_then(|state| state.status) == Some(ClaimStatus::Paid)
            })
            .count()
    }
}

/// The examples directory to run on: the one given, else `examples/` in the working
/// directory, else the `examples/` of the repository this binary was built from, so that
/// `claims demo` runs from any directory of the machine that built it.
pub fn examples_dir(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(given) = given {
        return Ok(given);
    }
    let here = PathBuf::from("examples");
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    [here, built_from.clone()]
        .into_iter()
        .find(|dir| dir.join("reference-data.toml").is_file())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no examples to run: neither ./examples nor {} holds reference-data.toml; \
                 pass --examples DIR",
                built_from.display()
            )
        })
}

/// Runs the demo.
pub async fn run(options: &DemoOptions) -> anyhow::Result<DemoReport> {
    let reference = ReferenceData::from_file(&options.examples.join("reference-data.toml"))?;
    let claim_files = example_claims(&options.examples.join("claims"))?;
    let rule_sets = example_rule_sets(&options.examples.join("rules"))?;
    let (database, _temporary) = match &options.database {
        Some(path) => (path.clone(), None),
        None => {
            let dir =
                tempfile::tempdir().context("creating a temporary directory for the event log")?;
            (dir.path().join("claims.sqlite"), Some(dir))
        }
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut config = EmbeddedConfig::new(Database::File(database.clone()), clock);
    config.settler.max_wait = Some(Duration::from_millis(300));
    let engine = Engine::start_embedded(config).await?;
    let result = drive(&engine, &reference, &rule_sets, &claim_files).await;
    engine.shutdown().await;
    let (claims, balances) = result?;
    Ok(DemoReport {
        claims,
        balances,
        database,
        rule_sets: rule_sets.into_iter().map(|rule_set| rule_set.id).collect(),
    })
}

async fn drive(
    engine: &Engine,
    reference: &ReferenceData,
    rule_sets: &[RuleSet],
    files: &[PathBuf],
) -> anyhow::Result<(Vec<DemoClaim>, Vec<DemoBalance>)> {
    engine.load_reference_data(reference).await?;
    // Loaded after the reference file, so the plans as the rule sets hold them are in force.
    for rule_set in rule_sets {
        engine.load_rule_set(rule_set).await?;
    }
    let insurer = InsurerId::new(EXAMPLE_INSURER)?;
    // One claim at a time, each decided before the next is sent, so that claims of the same
    // member meet their accumulators in file order and the report is the same on every run.
    let mut claims = Vec::new();
    for file in files {
        let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let reply = engine.submit(&insurer, body).await?;
        let state = match reply.claim_id {
            Some(id) => Some(
                engine
                    .wait_for_claim(id, "decided", Duration::from_secs(15), |state| {
                        !matches!(state.status, None | Some(ClaimStatus::Submitted))
                    })
                    .await?,
            ),
            None => None,
        };
        claims.push(DemoClaim {
            file: file
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            reply,
            state,
        });
    }
    for claim in &mut claims {
        let approved = claim
            .state
            .as_ref()
            .and_then(|state| state.adjudication.as_ref())
            .is_some_and(|adjudication| adjudication.decision == Decision::Approved);
        let (Some(id), true) = (claim.reply.claim_id, approved) else {
            continue;
        };
        claim.state = Some(
            engine
                .wait_for_claim(id, "paid", Duration::from_secs(30), |state| {
                    state.status == Some(ClaimStatus::Paid)
                })
                .await?,
        );
    }
    let mut balances = Vec::new();
    for provider in &reference.providers {
        balances.push(DemoBalance {
            provider: provider.name.clone(),
            wallet: provider.wallet.to_string(),
            balance: engine.balance(provider.wallet).await?,
        });
    }
    Ok((claims, balances))
}

/// Every rule set under `dir` (one directory each), checked, in name order.
fn example_rule_sets(dir: &Path) -> anyhow::Result<Vec<RuleSet>> {
    let mut directories: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the example rule sets in {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir())
        .collect();
    directories.sort();
    directories
        .iter()
        .map(|directory| Ok(crate::rule_sets::read(directory)?))
        .collect()
}

fn example_claims(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the example claims in {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .collect();
    files.sort();
    Ok(files)
}

/// A stablecoin balance with at least cents shown: `76.00`, `0.000001`.
fn token_units(balance: &Money) -> String {
    let mut amount = balance.amount().normalize();
    if amount.scale() < 2 {
        amount.rescale(2);
    }
    amount.to_string()
}

/// The report as tables for a terminal.
pub fn render(report: &DemoReport) -> String {
    let mut claims = Table::new();
    claims.load_preset(UTF8_FULL_CONDENSED).set_header([
        "example",
        "claim",
        "decision",
        "billed",
        "payer pays",
        "member owes",
        "adjustments",
        "payout batch / transaction",
    ]);
    for claim in &report.claims {
        let claim_ref = claim
            .reply
            .claim_ref
            .clone()
            .unwrap_or_else(|| "-".to_owned());
        // A rejection's codes go in the table and its sentences below it, so that one
        // long reason does not stretch every row.
        let Some(state) = &claim.state else {
            let codes = claim
                .reply
                .reasons
                .iter()
                .map(|reason| reason.code.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            claims.add_row([
                claim.file.clone(),
                claim_ref,
                "rejected".to_owned(),
                String::new(),
                String::new(),
                String::new(),
                codes,
                String::new(),
            ]);
            continue;
        };
        let adjudication = state.adjudication.as_ref();
        let billed = state
            .claim
            .as_ref()
            .and_then(|claim| claim.billed_total().ok())
            .map(|money| money.to_string())
            .unwrap_or_default();
        let adjustments = adjudication
            .map(|adjudication| {
                adjudication
                    .lines
                    .iter()
                    .flat_map(|line| {
                        line.adjustments
                            .iter()
                            .map(move |adjustment| format!("line {}: {adjustment}", line.line))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        let payout = match (&state.payout, &state.confirmation) {
            (_, Some(paid)) => format!(
                "{}\n{} (block {})",
                paid.batch, paid.transaction, paid.block
            ),
            (Some(scheduled), None) => format!("{} (not yet confirmed)", scheduled.batch),
            _ => String::new(),
        };
        claims.add_row([
            claim.file.clone(),
            claim_ref,
            state
                .status
                .map(|status| status.to_string())
                .unwrap_or_default(),
            billed,
            adjudication
                .map(|a| a.payer_paid.to_string())
                .unwrap_or_default(),
            adjudication
                .map(|a| a.member_responsibility.to_string())
                .unwrap_or_default(),
            adjustments,
            payout,
        ]);
    }
    let mut balances = Table::new();
    balances.load_preset(UTF8_FULL_CONDENSED).set_header([
        "provider",
        "payout wallet",
        "stablecoin balance (USDC)",
    ]);
    for balance in &report.balances {
        balances.add_row([
            balance.provider.clone(),
            balance.wallet.clone(),
            token_units(&balance.balance),
        ]);
    }
    let rejected: Vec<&DemoClaim> = report
        .claims
        .iter()
        .filter(|claim| claim.reply.status == ReplyStatus::Rejected)
        .collect();
    let rejections = if rejected.is_empty() {
        String::new()
    } else {
        let reasons =
            rejected
                .iter()
                .flat_map(|claim| {
                    claim.reply.reasons.iter().map(|reason| {
                        format!("- {}: {}: {}", claim.file, reason.code, reason.message)
                    })
                })
                .collect::<Vec<_>>()
                .join("\n");
        format!("\nWhy intake rejected\n{reasons}\n")
    };
    let rules = report
        .rule_sets
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "Rules in force: {rules}\n\nClaims\n{claims}\n{rejections}\nProvider balances on the embedded chain\n{balances}\n\n{} claims submitted, {} rejected at intake, {} paid on chain. Event log: {}\n",
        report.claims.len(),
        rejected.len(),
        report.paid(),
        report.database.display()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

    use super::*;

    #[test]
    fn without_examples_in_the_working_directory_the_repositorys_own_are_found() {
        // Unit tests run in app/, which holds no examples/ of its own.
        assert!(!Path::new("examples").exists());
        let found = examples_dir(None).unwrap();
        assert!(found.join("reference-data.toml").is_file(), "{found:?}");
        assert_eq!(
            examples_dir(Some(PathBuf::from("elsewhere"))).unwrap(),
            PathBuf::from("elsewhere")
        );
    }
}
