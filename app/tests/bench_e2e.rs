//! `claims bench e2e`, run in a tiny configuration against the machine's PostgreSQL and
//! NATS, so that the command cannot rot unnoticed: every claim it publishes must be stored
//! once, decided and heard, its JSON line must say so, and it must leave no schema and no
//! stream behind.
//!
//! Like `bench_store.rs`, it takes the adapters' PostgreSQL advisory lock first: the
//! relay's gap-safe reads wait for every transaction open in the cluster, so the benchmark
//! and another test's slow writers must not overlap. Servers come from
//! `CLAIMS_TEST_POSTGRES_URL` and `CLAIMS_TEST_NATS_URL`, or are the machine's defaults.
//! The benchmark keeps its subjects under a namespace of its own, so it runs beside the
//! other NATS tests without touching their stream.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use futures::TryStreamExt;
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use std::collections::BTreeSet;
use std::process::Command;

/// The advisory lock of the adapters' PostgreSQL tests (`adapters/tests/pg_support`).
const ONE_TEST_AT_A_TIME: i64 = 0x636c_6169_6d73_7467;

async fn bench_schemas(connection: &mut PgConnection) -> BTreeSet<String> {
    sqlx::query_scalar::<_, String>(
        "SELECT schema_name::text FROM information_schema.schemata \
         WHERE schema_name LIKE 'claims_bench_e2e_%'",
    )
    .fetch_all(connection)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

async fn bench_streams(jetstream: &async_nats::jetstream::Context) -> BTreeSet<String> {
    jetstream
        .stream_names()
        .try_collect::<Vec<String>>()
        .await
        .unwrap()
        .into_iter()
        .filter(|name| name.starts_with("CLAIMS_BENCH_"))
        .collect()
}

#[tokio::test]
async fn bench_e2e_decides_every_claim_it_publishes_and_says_so_in_its_json_line() {
    let line = run_bench(&["--workers", "3"]).await;
    assert_eq!(line["workers"], 3);
    assert_eq!(line["worker_processes"], 0);
    assert_eq!(
        line["threads"],
        Value::Null,
        "one runtime thread per core by default"
    );
    assert_eq!(line["sustained"]["cpu"]["workers_ms_per_claim"], 0.0);
}

/// The workers as `claims serve --role adjudicator` processes: the benchmark's own process
/// then runs no adjudicator, so every claim decided was decided by them. Every process
/// runs on one thread here, the setting for a machine shared with the servers.
#[tokio::test]
async fn bench_e2e_adjudicates_in_separate_worker_processes_when_asked() {
    let line = run_bench(&[
        "--workers",
        "1",
        "--worker-processes",
        "2",
        "--threads",
        "1",
    ])
    .await;
    assert_eq!(line["workers"], 1);
    assert_eq!(line["worker_processes"], 2);
    assert_eq!(line["threads"], 1);
    assert!(
        line["sustained"]["cpu"]["workers_ms_per_claim"]
            .as_f64()
            .is_some(),
        "{line}"
    );
}

/// Runs the benchmark small with `extra` arguments, checks what every run must show, and
/// returns its JSON line.
async fn run_bench(extra: &[&str]) -> Value {
    let postgres = std::env::var("CLAIMS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| claims::bench::store::DEFAULT_DATABASE_URL.to_owned());
    let nats = std::env::var("CLAIMS_TEST_NATS_URL")
        .unwrap_or_else(|_| claims::bench::e2e::DEFAULT_NATS_URL.to_owned());
    let mut lock = PgConnection::connect(&postgres)
        .await
        .unwrap_or_else(|error| panic!("PostgreSQL at {postgres} is not reachable: {error}"));
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(ONE_TEST_AT_A_TIME)
        .execute(&mut lock)
        .await
        .unwrap();
    let jetstream = async_nats::jetstream::new(
        async_nats::connect(&nats)
            .await
            .unwrap_or_else(|error| panic!("NATS at {nats} is not reachable: {error}")),
    );
    let schemas_before = bench_schemas(&mut lock).await;
    let streams_before = bench_streams(&jetstream).await;

    let output = Command::new(env!("CARGO_BIN_EXE_claims"))
        .args(["bench", "e2e", "--quiet"])
        .args(["--claims", "60", "--rate", "40", "--seconds", "1"])
        .args(["--intakes", "2", "--notifiers", "2"])
        .args(extra)
        .args(["--members", "7", "--providers", "3"])
        .args(["--database-url", &postgres, "--nats-url", &nats])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "the benchmark failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let last = stdout.lines().last().unwrap_or_default();
    let line: Value = serde_json::from_str(last)
        .unwrap_or_else(|error| panic!("the last line is not JSON ({error}): {last}"));
    assert_eq!(line["benchmark"], "e2e");
    assert_eq!(line["intakes"], 2);
    assert_eq!(line["notifiers"], 2);
    for (phase, claims) in [("sustained", 60), ("open_loop", 40)] {
        let figures = &line[phase];
        assert_eq!(figures["claims"], claims, "{phase} in {last}");
        assert_eq!(
            figures["stored"], claims,
            "{phase}: stored once each, {last}"
        );
        assert_eq!(
            figures["decided"], claims,
            "{phase}: every claim decided, {last}"
        );
        assert_eq!(figures["rejected"], 0, "{phase} in {last}");
        let p50 = figures["latency_ms"]["p50"].as_f64().unwrap();
        let p99 = figures["latency_ms"]["p99"].as_f64().unwrap();
        assert!(0.0 < p50 && p50 <= p99, "{phase} in {last}");
    }
    assert_eq!(line["open_loop"]["rate_per_s"], 40);
    assert!(line["claims_per_s"].as_f64().unwrap() > 0.0, "{last}");
    assert_eq!(
        line["p99_ms_at_rate"], line["open_loop"]["latency_ms"]["p99"],
        "{last}"
    );
    assert!(
        line["p99_ms_at_1000_per_s"].is_null(),
        "the goal's figure is only given at 1,000 claims/s: {last}"
    );
    // The processor time of the engine (the benchmark's process) is seen, the servers'
    // are given (zero if they run elsewhere), and so is the ceiling they imply.
    let cpu = &line["sustained"]["cpu"];
    assert!(cpu["engine_ms_per_claim"].as_f64().unwrap() > 0.0, "{last}");
    assert!(cpu["postgres_ms_per_claim"].as_f64().is_some(), "{last}");
    assert!(cpu["nats_ms_per_claim"].as_f64().is_some(), "{last}");
    assert_eq!(
        line["ceiling_claims_per_s"], cpu["ceiling_claims_per_s"],
        "{last}"
    );
    assert!(
        line["ceiling_claims_per_s"].as_f64().unwrap() > 0.0,
        "{last}"
    );

    // It cleans up after itself.
    let schemas_left: Vec<_> = bench_schemas(&mut lock)
        .await
        .difference(&schemas_before)
        .cloned()
        .collect();
    assert!(schemas_left.is_empty(), "schemas left: {schemas_left:?}");
    let streams_left: Vec<_> = bench_streams(&jetstream)
        .await
        .difference(&streams_before)
        .cloned()
        .collect();
    assert!(streams_left.is_empty(), "streams left: {streams_left:?}");
    line
}
