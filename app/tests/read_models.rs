//! The read models, projected live while the engine runs the example claims, then rebuilt
//! from zero: the rebuilt rows are identical, on SQLite and on PostgreSQL, and they say
//! what the claims' own streams say.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

#[path = "../../adapters/tests/pg_support/mod.rs"]
mod pg_support;
mod support;

use claims::demo::{DemoOptions, run};
use claims_adapters::aggregate::{load, streams};
use claims_adapters::event_store::{EventStore, LogPosition, SqliteEventStore};
use claims_adapters::read_models::{
    PostgresReadModels, Projector, ReadModels, RebuildProgress, RemittedClaimView, Snapshot,
    SqliteReadModels,
};
use claims_domain::accumulator::AccumulatorDecider;
use claims_domain::claim::{ClaimDecider, ClaimStatus};
use claims_domain::reason::{GroupCode, ReasonCode};
use claims_domain::{InsurerId, MemberId, Money};
use pg_support::TestSchema;
use std::path::PathBuf;
use std::sync::Arc;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Runs the demo into a file and reopens its log and read models.
async fn demo_log() -> (tempfile::TempDir, Arc<dyn EventStore>, Arc<dyn ReadModels>) {
    let directory = tempfile::tempdir().unwrap();
    let database = directory.path().join("claims.db");
    let report = run(&DemoOptions {
        examples: examples(),
        database: Some(database.clone()),
    })
    .await
    .unwrap();
    assert_eq!(report.paid(), 5, "the demo pays five claims");
    let sqlite = SqliteEventStore::open(&database).await.unwrap();
    let models: Arc<dyn ReadModels> = Arc::new(SqliteReadModels::of(&sqlite));
    (directory, Arc::new(sqlite), models)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilt_read_models_are_identical_to_the_live_ones_and_agree_with_the_log() {
    let (_directory, store, models) = demo_log().await;

    // The engine's projector ran live; finish whatever it had not reached at shutdown,
    // resuming from the position it stored with its rows.
    let projector = Projector::new(store.clone(), models.clone());
    projector.catch_up().await.unwrap();
    assert_eq!(
        models.position().await.unwrap(),
        last_position(store.as_ref()).await
    );
    let live = models.snapshot().await.unwrap();
    assert_agrees_with_the_log(&live, store.as_ref()).await;

    let mut reports = Vec::new();
    let applied = projector
        .rebuild(|progress| reports.push(progress))
        .await
        .unwrap();
    let total = store.event_count().await.unwrap();
    assert_eq!(applied, total);
    assert_eq!(
        reports.first(),
        Some(&RebuildProgress { applied: 0, total })
    );
    assert_eq!(
        reports.last(),
        Some(&RebuildProgress {
            applied: total,
            total
        })
    );
    assert_eq!(models.snapshot().await.unwrap(), live, "rebuilt from zero");

    // Page boundaries change nothing: one event per transaction gives the same rows.
    Projector::new(store.clone(), models.clone())
        .with_page_size(1)
        .rebuild(|_| {})
        .await
        .unwrap();
    assert_eq!(
        models.snapshot().await.unwrap(),
        live,
        "rebuilt an event at a time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_log_on_postgresql_projects_to_the_same_read_models() {
    let (_directory, sqlite, sqlite_models) = demo_log().await;
    Projector::new(sqlite.clone(), sqlite_models.clone())
        .catch_up()
        .await
        .unwrap();
    let expected = sqlite_models.snapshot().await.unwrap();

    let schema = TestSchema::new().await;
    let postgres = schema.store().await;
    copy_log(sqlite.as_ref(), &postgres).await;
    let models: Arc<dyn ReadModels> = Arc::new(PostgresReadModels::of(&postgres));
    let postgres: Arc<dyn EventStore> = Arc::new(postgres);

    let projector = Projector::new(postgres.clone(), models.clone()).with_page_size(7);
    projector.catch_up().await.unwrap();
    let live = models.snapshot().await.unwrap();
    assert_eq!(
        live,
        to_the_microsecond(expected, &live),
        "PostgreSQL rows, SQLite rows"
    );
    assert_agrees_with_the_log(&live, postgres.as_ref()).await;

    projector.rebuild(|_| {}).await.unwrap();
    assert_eq!(models.snapshot().await.unwrap(), live, "rebuilt from zero");

    // Money comes back from NUMERIC with every digit and its scale.
    let hospital = live
        .remittances
        .iter()
        .flat_map(|remittance| &remittance.claims)
        .find(|claim| claim.provider.as_str() == "hospital-b")
        .unwrap();
    assert!(
        hospital.paid.to_string().ends_with(".00 USD"),
        "{}",
        hospital.paid
    );
}

/// Every claim's row says what its stream says; the remittance explains every payout; the
/// accumulators are the members' benefit-year totals.
async fn assert_agrees_with_the_log(snapshot: &Snapshot, store: &dyn EventStore) {
    assert_eq!(snapshot.claims.len(), 6, "six claims were accepted");
    for view in &snapshot.claims {
        let state = load::<ClaimDecider>(store, streams::claim(view.claim))
            .await
            .unwrap()
            .state;
        assert_eq!(Some(view.status), state.status, "claim {}", view.claim);
        let adjudication = state.adjudication.unwrap();
        assert_eq!(view.payer_paid, Some(adjudication.payer_paid));
        assert_eq!(
            view.member_responsibility,
            Some(adjudication.member_responsibility)
        );
        assert_eq!(view.batch, state.payout.map(|payout| payout.batch));
        assert_eq!(
            view.transaction,
            state.confirmation.map(|paid| paid.transaction)
        );
    }
    let statuses = |status| {
        snapshot
            .claims
            .iter()
            .filter(|view| view.status == status)
            .count()
    };
    assert_eq!(statuses(ClaimStatus::Paid), 5);
    assert_eq!(statuses(ClaimStatus::Denied), 1);

    let insurer = InsurerId::new("acme-health").unwrap();
    let by_insurer = snapshot
        .claims
        .iter()
        .filter(|view| view.insurer == insurer)
        .count();
    assert_eq!(by_insurer, 6);

    // How many batches the settler opened depends on timing (a slow machine decides the
    // claims across two ticks); what must hold is that the batches pay the five claims once.
    assert!(!snapshot.remittances.is_empty(), "a batch paid the claims");
    let remitted: Vec<&RemittedClaimView> = snapshot
        .remittances
        .iter()
        .flat_map(|remittance| {
            assert!(remittance.settlement.is_some(), "every batch was confirmed");
            &remittance.claims
        })
        .collect();
    assert_eq!(remitted.len(), 5, "the batches paid the five claims");
    for claim in &remitted {
        // What was billed is what was paid plus every adjustment.
        let adjusted = claim.adjustments.iter().fold(claim.paid, |total, line| {
            total.checked_add(line.adjustment.amount).unwrap()
        });
        assert_eq!(adjusted, claim.billed, "claim {} balances", claim.claim);
    }
    let knee = remitted
        .iter()
        .find(|claim| claim.insurer_ref == "ACME-2026-0001")
        .unwrap();
    let codes: Vec<(GroupCode, ReasonCode, String)> = knee
        .adjustments
        .iter()
        .map(|line| {
            (
                line.adjustment.group,
                line.adjustment.reason,
                line.adjustment.amount.to_string(),
            )
        })
        .collect();
    assert!(
        codes.contains(&(
            GroupCode::PR,
            ReasonCode::Deductible,
            "250.00 USD".to_owned()
        )),
        "{codes:?}"
    );
    assert_eq!(knee.paid, money("600.00 USD"));

    for view in &snapshot.accumulators {
        let year = load::<AccumulatorDecider>(store, streams::accumulator(&view.member, view.year))
            .await
            .unwrap()
            .state;
        let totals = year.totals.unwrap();
        assert_eq!(view.deductible_paid, totals.deductible);
        assert_eq!(view.out_of_pocket_paid, totals.out_of_pocket);
        assert_eq!(view.claims as usize, year.applied_claims.len());
    }
    let member = MemberId::new("M-1001").unwrap();
    assert!(
        snapshot
            .accumulators
            .iter()
            .any(|view| view.member == member && view.deductible_paid == money("250.00 USD")),
        "{:?}",
        snapshot.accumulators
    );
}

/// Appends every event of `from` to `to`, stream by stream in log order, keeping ids,
/// versions and payloads.
async fn copy_log(from: &dyn EventStore, to: &dyn EventStore) {
    let mut after = LogPosition::START;
    loop {
        let page = from.read_all(after, 100).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.position;
        for event in page {
            support::log::append_as_recorded(to, &event, event.metadata.to_value()).await;
        }
    }
}

async fn last_position(store: &dyn EventStore) -> LogPosition {
    let mut after = LogPosition::START;
    while let Some(last) = store.read_all(after, 1000).await.unwrap().last() {
        after = last.position;
    }
    after
}

/// PostgreSQL keeps timestamps to the microsecond (rounded, ties by its own rule): a batch's
/// time read back from it may differ from SQLite's nanoseconds by less than a microsecond,
/// and by nothing else.
fn to_the_microsecond(mut expected: Snapshot, postgres: &Snapshot) -> Snapshot {
    for (remittance, stored) in expected.remittances.iter_mut().zip(&postgres.remittances) {
        let apart = (remittance.created_at - stored.created_at).abs();
        if apart < chrono::Duration::microseconds(1) {
            remittance.created_at = stored.created_at;
        }
    }
    expected
}

fn money(text: &str) -> Money {
    text.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_replay_rebuilds_an_engines_read_models_and_says_what_it_did() {
    let (directory, _store, models) = demo_log().await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_claims"))
        .arg("replay")
        .arg("--database")
        .arg(directory.path().join("claims.db"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The rows the command rebuilt, read back from the same file.
    let batches = models.snapshot().await.unwrap().remittances.len();
    assert!(batches >= 1, "the demo paid its claims in a batch");
    assert!(
        stdout.contains(&format!(
            "6 claims, {batches} payout batches, 3 member benefit years"
        )),
        "{stdout}"
    );

    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_claims"))
        .args(["replay", "--database"])
        .arg(directory.path().join("no-such.db"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("there is no event store at"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}
