//! Runs the scenarios tagged `@e2e` once more, on the engine wired to real services:
//! PostgreSQL for the event store and read models, NATS JetStream for every role's
//! messages, and anvil (an EVM node over JSON-RPC) for payouts, each scenario with a
//! schema, a nats-server and an anvil of its own (`tests/steps/services.rs`). The steps
//! are the same as in the default run; only the wiring differs.
//!
//! Needs PostgreSQL (`CLAIMS_TEST_POSTGRES_URL`, default the machine's `test` database),
//! `nats-server` on the PATH (or `CLAIMS_TEST_NATS_SERVER_BIN`) and anvil
//! (`CLAIMS_TEST_ANVIL_BIN`, or `scripts/install-anvil.sh`); `scripts/test.sh` provides all
//! three. It fails, never skips, without them. The JUnit report goes to
//! `target/cucumber/e2e-junit.xml`.

mod report;
mod steps;

use cucumber::writer::Stats;
use cucumber::{World, WriterExt, writer};
use std::path::Path;
use std::process::ExitCode;
use steps::world::ClaimsWorld;

/// Scenarios at once: each starts its own nats-server and anvil, so keep it small.
const CONCURRENT_SCENARIOS: usize = 2;

/// The tag that marks a scenario for the real services.
const TAG: &str = "e2e";

#[tokio::main]
async fn main() -> ExitCode {
    steps::services::use_real_services();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let junit = match report::junit_file("e2e-junit.xml") {
        Ok(file) => file,
        Err(problem) => {
            eprintln!("{problem}");
            return ExitCode::FAILURE;
        }
    };
    let run = ClaimsWorld::cucumber()
        .with_writer(
            writer::Basic::raw(std::io::stdout(), writer::Coloring::Auto, 0)
                .summarized()
                .tee::<ClaimsWorld, _>(writer::JUnit::for_tee(junit, 0))
                .normalized(),
        )
        .fail_on_skipped()
        .max_concurrent_scenarios(CONCURRENT_SCENARIOS)
        .after(|_, _, _, _, world| {
            Box::pin(async move {
                if let Some(world) = world {
                    world.stop().await;
                }
            })
        })
        .filter_run(root.join("specs"), |feature, rule, scenario| {
            let tagged = |tags: &[String]| tags.iter().any(|tag| tag == TAG);
            tagged(&feature.tags)
                || rule.is_some_and(|rule| tagged(&rule.tags))
                || tagged(&scenario.tags)
        })
        .await;
    let ran = run.passed_steps() + run.failed_steps() + run.skipped_steps();
    if ran == 0 {
        eprintln!("no scenario is tagged @{TAG}; the end-to-end run checked nothing");
        return ExitCode::FAILURE;
    }
    if run.execution_has_failed() || run.parsing_errors() > 0 || run.hook_errors() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
