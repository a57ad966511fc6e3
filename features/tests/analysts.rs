//! Runs the analysts' `.feature` files (`features/specs/`) against the engine wired with its
//! embedded adapters (SQLite in memory, in-process bus, embedded EVM), one fresh engine per
//! scenario.
//!
//! Steps speak the analysts' language and fail in it: a failing step says what the
//! specification expected and what the engine did. An undefined or skipped step fails the
//! run. After the specifications, the run checks itself: the scenarios in
//! `tests/deliberately_wrong/` expect what the engine does not do, and each must fail with
//! the business sentence its `# fails with:` comment names.
//!
//! Besides the console output, the run writes a JUnit XML report for CI to
//! `target/cucumber/junit.xml`. The `@e2e` scenarios run once more on real services in
//! `tests/e2e.rs`.

mod report;
mod steps;

use cucumber::event::ScenarioFinished;
use cucumber::writer::Stats;
use cucumber::{World, WriterExt, cli, writer};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use steps::world::ClaimsWorld;

/// How many scenarios run at once; each has its own engine.
const CONCURRENT_SCENARIOS: usize = 4;

#[tokio::main]
async fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let junit = match report::junit_file("junit.xml") {
        Ok(file) => file,
        Err(problem) => {
            eprintln!("{problem}");
            return ExitCode::FAILURE;
        }
    };
    let specifications = ClaimsWorld::cucumber()
        .with_writer(
            writer::Basic::raw(std::io::stdout(), writer::Coloring::Auto, 0)
                .summarized()
                .tee::<ClaimsWorld, _>(writer::JUnit::for_tee(junit, 0))
                .normalized(),
        )
        .fail_on_skipped()
        .max_concurrent_scenarios(CONCURRENT_SCENARIOS)
        .after(|_, _, _, _, world| Box::pin(stop_engine(world)))
        .run(root.join("specs"))
        .await;
    let mut failed = specifications.execution_has_failed()
        || specifications.parsing_errors() > 0
        || specifications.hook_errors() > 0;

    match check_deliberately_wrong(&root.join("tests/deliberately_wrong")).await {
        Ok(checked) => eprintln!(
            "{checked} deliberately wrong expectations failed with the business sentences expected"
        ),
        Err(problem) => {
            eprintln!("the failure messages are not what analysts need: {problem}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn stop_engine(world: Option<&mut ClaimsWorld>) {
    if let Some(world) = world {
        world.stop().await;
    }
}

/// Runs the deliberately wrong scenarios quietly and checks that every one failed with
/// the message its feature file names in a `# fails with: …` comment, before its
/// scenario. Returns how many were checked.
async fn check_deliberately_wrong(directory: &Path) -> Result<usize, String> {
    let failures: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let recorded = failures.clone();
    ClaimsWorld::cucumber()
        .with_writer(writer::Basic::new(std::io::sink(), writer::Coloring::Never, 0).summarized())
        // The run's own command line is for the specifications, not for this check.
        .with_cli(cli::Opts::<_, _, _, cli::Empty>::default())
        .max_concurrent_scenarios(CONCURRENT_SCENARIOS)
        .after(move |_, _, scenario, finished, world| {
            if let ScenarioFinished::StepFailed(_, _, error) = finished {
                let message = match error {
                    cucumber::event::StepError::Panic(payload) => payload
                        .downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_else(|| "a step panicked".to_owned()),
                    other => other.to_string(),
                };
                if let Ok(mut failures) = recorded.lock() {
                    failures.push((scenario.name.clone(), message));
                }
            }
            Box::pin(stop_engine(world))
        })
        .run(directory)
        .await;
    let failures = failures
        .lock()
        .map_err(|_| "a scenario's hook panicked".to_owned())?
        .clone();

    let expectations = expected_failures(directory)?;
    if expectations.is_empty() {
        return Err(format!("{} names no expected failure", directory.display()));
    }
    for (scenario, expected) in &expectations {
        let Some((_, actual)) = failures.iter().find(|(name, _)| name == scenario) else {
            return Err(format!(
                "the deliberately wrong scenario \"{scenario}\" did not fail"
            ));
        };
        if !actual.contains(expected.as_str()) {
            return Err(format!(
                "the deliberately wrong scenario \"{scenario}\" failed with \"{actual}\", which does not say \"{expected}\""
            ));
        }
    }
    Ok(expectations.len())
}

/// `(scenario, expected message)` from every `# fails with: <message>` comment, which must
/// be the line just before a `Scenario:` line.
fn expected_failures(directory: &Path) -> Result<Vec<(String, String)>, String> {
    let mut expectations = Vec::new();
    let entries = std::fs::read_dir(directory)
        .map_err(|error| format!("cannot read {}: {error}", directory.display()))?;
    for entry in entries {
        let path = entry.map_err(|error| error.to_string())?.path();
        let text = std::fs::read_to_string(&path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            if let (Some(message), Some(scenario)) = (
                pair[0].strip_prefix("# fails with:"),
                pair[1].strip_prefix("Scenario:"),
            ) {
                expectations.push((scenario.trim().to_owned(), message.trim().to_owned()));
            }
        }
    }
    Ok(expectations)
}
