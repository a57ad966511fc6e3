//! `claims replay`: drops the read models and rebuilds them from the whole log, with a
//! progress bar, on the embedded SQLite file or on PostgreSQL.
//!
//! Safe to run beside a live engine: the rebuild empties and refills the read models in
//! transactions of their own, and a running projector meeting the rebuilt rows only finds
//! changes it has already applied (every change is idempotent). While it runs, queries see
//! partly rebuilt read models.

use anyhow::{Context, bail};
use claims_adapters::event_store::{EventStore, PostgresEventStore, SqliteEventStore};
use claims_adapters::read_models::{
    PostgresReadModels, Projector, ReadModels, RebuildProgress, SqliteReadModels,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the log and its read models are.
#[derive(Debug, Clone)]
pub enum ReplayTarget {
    /// An embedded SQLite file (it must exist: replaying an empty log is a mistake).
    Sqlite(PathBuf),
    /// A PostgreSQL database, by URL, in `schema` or else the connection's default one.
    Postgres {
        /// Such as `postgres://claims@db:5432/claims`.
        url: String,
        /// The schema `claims serve` was given as `database_schema`.
        schema: Option<String>,
    },
}

/// What a replay did.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// Events replayed.
    pub events: u64,
    /// How long it took.
    pub elapsed: Duration,
    /// Claims in the rebuilt claim-status model.
    pub claims: usize,
    /// Payout batches in the rebuilt remittance model.
    pub batches: usize,
    /// Member benefit years in the rebuilt accumulator model.
    pub benefit_years: usize,
}

impl ReplayReport {
    /// One line for a person.
    pub fn summary(&self) -> String {
        let seconds = self.elapsed.as_millis().max(1);
        let rate = u128::from(self.events) * 1000 / seconds;
        format!(
            "rebuilt the read models from {} events in {:.1?} ({rate} events/s): {} claims, {} payout batches, {} member benefit years",
            self.events, self.elapsed, self.claims, self.batches, self.benefit_years
        )
    }
}

/// Rebuilds the read models of `target`, drawing a progress bar on the terminal when
/// `progress` is set (a bar is never drawn when stderr is not a terminal).
pub async fn run(target: &ReplayTarget, progress: bool) -> anyhow::Result<ReplayReport> {
    let (store, models) = open(target).await?;
    let bar = if progress {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} replaying [{bar:40}] {pos}/{len} events ({per_sec}, {eta} left)",
        )
        .context("the progress bar's template")?
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let events = Projector::new(store, models.clone())
        .rebuild(|RebuildProgress { applied, total }| {
            bar.set_length(total.max(applied));
            bar.set_position(applied);
        })
        .await
        .context("rebuilding the read models")?;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let snapshot = models
        .snapshot()
        .await
        .context("reading the rebuilt read models")?;
    Ok(ReplayReport {
        events,
        elapsed,
        claims: snapshot.claims.len(),
        batches: snapshot.remittances.len(),
        benefit_years: snapshot.accumulators.len(),
    })
}

/// The event store a target names (used by `claims reconcile` too).
pub async fn open_store(target: &ReplayTarget) -> anyhow::Result<Arc<dyn EventStore>> {
    Ok(open(target).await?.0)
}

async fn open(target: &ReplayTarget) -> anyhow::Result<(Arc<dyn EventStore>, Arc<dyn ReadModels>)> {
    Ok(match target {
        ReplayTarget::Sqlite(path) => {
            if !path.is_file() {
                bail!(
                    "there is no event store at {}: name the SQLite file an engine wrote (for example with `claims demo --database <file>`)",
                    path.display()
                );
            }
            let store = SqliteEventStore::open(path)
                .await
                .with_context(|| format!("opening the event store at {}", path.display()))?;
            let models = Arc::new(SqliteReadModels::of(&store));
            (Arc::new(store), models)
        }
        ReplayTarget::Postgres { url, schema } => {
            let store = match schema {
                Some(schema) => PostgresEventStore::connect_in_schema(url, schema).await,
                None => PostgresEventStore::connect(url).await,
            }
            .context("connecting to the PostgreSQL event store")?;
            let models = Arc::new(PostgresReadModels::of(&store));
            (Arc::new(store), models)
        }
    })
}
