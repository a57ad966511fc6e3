//! `claims`: the claims engine's command line.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

/// An event-sourced health insurance claims engine with smart-contract settlement.
#[derive(Debug, Parser)]
#[command(name = "claims", version, about)]
struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true, env = "CLAIMS_LOG_JSON")]
    log_json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the example claims through the whole engine in one process (embedded SQLite,
    /// in-process bus, embedded EVM) and prints what happened.
    Demo {
        /// The examples directory (reference-data.toml and claims/*.json).
        #[arg(long, default_value = "examples")]
        examples: PathBuf,
        /// Keep the event log in this SQLite file instead of a temporary one.
        #[arg(long)]
        database: Option<PathBuf>,
    },
}

fn init_logging(json: bool) {
    // Quiet by default so the demo's report reads cleanly; RUST_LOG=info shows every step.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    match cli.command {
        Command::Demo { examples, database } => {
            let report = claims::demo::run(&claims::demo::DemoOptions { examples, database })
                .await
                .context("the demo failed")?;
            print_report(&claims::demo::render(&report));
            if report.paid() == 0 {
                anyhow::bail!("the demo paid no claim");
            }
        }
    }
    Ok(())
}

#[allow(clippy::print_stdout)] // The report is the command's output.
fn print_report(report: &str) {
    print!("{report}");
}
