//! `claims bench store`, run in a tiny configuration against the machine's PostgreSQL, so
//! that the command cannot rot unnoticed: it must finish and end with a JSON line whose
//! rates are all positive.
//!
//! Like the adapters' PostgreSQL tests, it first takes their advisory lock: the store's
//! gap-safe reads wait for every transaction open in the cluster, so the benchmark's writers
//! and another test's reads must not overlap. The server comes from
//! `CLAIMS_TEST_POSTGRES_URL`, or is the machine's default database.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use serde_json::Value;
use sqlx::{Connection, PgConnection};
use std::process::Command;

/// The advisory lock of the adapters' PostgreSQL tests (`adapters/tests/pg_support`).
const ONE_TEST_AT_A_TIME: i64 = 0x636c_6169_6d73_7467;

#[tokio::test]
async fn bench_store_ends_with_a_json_line_of_positive_rates() {
    let url = std::env::var("CLAIMS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| claims::bench::store::DEFAULT_DATABASE_URL.to_owned());
    let mut lock = PgConnection::connect(&url)
        .await
        .unwrap_or_else(|error| panic!("PostgreSQL at {url} is not reachable: {error}"));
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(ONE_TEST_AT_A_TIME)
        .execute(&mut lock)
        .await
        .unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_claims"))
        .args([
            "bench",
            "store",
            // Long enough that a commit of 100 events by each of 16 writers (about 0.1 s
            // alone, several times that on a loaded machine) completes inside the window,
            // so every rate below is positive.
            "--seconds",
            "0.6",
            "--warmup-seconds",
            "0.1",
        ])
        .args(["--database-url", &url])
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
    let positive = |value: &Value| value.as_f64().is_some_and(|rate| rate > 0.0);
    for headline in [
        "append_events_per_s",
        "raw_rows_per_s",
        "ratio",
        "raw_notify_rows_per_s",
        "replay_events_per_s",
        "raw_read_rows_per_s",
    ] {
        assert!(positive(&line[headline]), "{headline} in {last}");
    }
    assert_eq!(line["backend"], "postgres");
    assert!(line["nproc"].as_u64().is_some_and(|nproc| nproc > 0));
    assert!(line["date"].is_string());
    let cases = line["cases"].as_array().unwrap();
    assert_eq!(
        cases.len(),
        15,
        "6 append, 6 raw and 3 raw-with-NOTIFY cases (16 writers)"
    );
    let notify = cases
        .iter()
        .filter(|case| case["path"] == "rawnotify")
        .count();
    assert_eq!(notify, 3, "a NOTIFY case for each shape with 16 writers");
    for case in cases {
        assert!(positive(&case["events_per_s"]), "{case}");
        assert!(positive(&case["latency_ms"]["p99"]), "{case}");
    }
    // Replay reads every appended event, warm-ups included, so at least those counted.
    let counted: u64 = cases
        .iter()
        .filter(|case| case["path"] == "append")
        .map(|case| case["events"].as_u64().unwrap())
        .sum();
    assert!(line["replay"]["events"].as_u64().unwrap() >= counted);
}
