//! `claims serve` with nothing configured: the embedded defaults (an SQLite file in the
//! working directory, the in-process bus, the embedded EVM) and every role, its API
//! answering, stopped by SIGTERM with exit status 0. Needs no server.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

mod support;

use support::engine_process::EngineProcess;
use support::http::get;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_on_the_embedded_defaults_and_stops_on_sigterm() {
    let engine = EngineProcess::start("log_level = \"info\"\n", &[]).await;
    assert_eq!(get(&engine.address, "/health").await.status, 200);
    let ready = get(&engine.address, "/ready").await;
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(
        get(&engine.address, "/insurers/acme-health/claims")
            .await
            .json(),
        serde_json::json!([])
    );
    let (status, log) = engine.terminate().await;
    assert!(status.success(), "{log}");
    assert!(
        log.contains("roles=intake,relay,adjudicator,settler,outcomes,api"),
        "{log}"
    );
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_bad_configuration_naming_the_setting() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_claims"))
        .args(["serve", "--role", "intake,cashier"])
        .env_remove("CLAIMS_ROLES")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("roles") && stderr.contains("cashier"),
        "{stderr}"
    );
}
