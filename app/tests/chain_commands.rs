//! The operator's chain commands against a real anvil: `claims contract deploy` prints the
//! addresses and never the key; `claims reconcile` is clean for a store that paid nothing
//! on a contract that paid nothing, and reports (and fails on) a store whose payments the
//! contract never made.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A failed unwrap is a failed test.

use claims_adapters::event_store::SqliteEventStore;
use std::path::PathBuf;
use std::process::{Command, Output};

mod support;

use support::anvil::{Anvil, DEV_KEYS};

/// anvil's first development key: public, and worthless outside a local anvil.
const KEY: &str = DEV_KEYS[0];

fn claims(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_claims"));
    command
        .args(args)
        .env_remove("CLAIMS_SETTLER_KEY")
        .env("RUST_LOG", "info");
    for (name, value) in envs {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn deploy_prints_the_addresses_never_the_key_and_reconcile_tells_clean_from_not() {
    let anvil = Anvil::start(&[]);

    let missing = claims(&["contract", "deploy", "--rpc-url", &anvil.url], &[]);
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("CLAIMS_SETTLER_KEY"),
        "{}",
        text(&missing)
    );

    let deployed = claims(
        &[
            "contract",
            "deploy",
            "--rpc-url",
            &anvil.url,
            "--claim-cap",
            "5000.00 USD",
        ],
        &[("CLAIMS_SETTLER_KEY", KEY)],
    );
    let output = text(&deployed);
    assert!(deployed.status.success(), "{output}");
    assert!(
        !output.to_lowercase().contains(&KEY[2..]),
        "the key was printed"
    );
    let stdout = String::from_utf8_lossy(&deployed.stdout);
    let json: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap()).expect("a JSON last line");
    let settlement = json["settlement"].as_str().unwrap().to_owned();
    let from_block = json["block"].as_u64().unwrap().to_string();
    assert!(stdout.contains(&format!("settlement contract {settlement}")));

    // A store that paid nothing agrees with a contract that paid nothing.
    let directory = tempfile::tempdir().unwrap();
    let empty = directory.path().join("empty.db");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = SqliteEventStore::open(&empty).await.unwrap();
        store.close().await;
    });
    let clean = claims(
        &[
            "reconcile",
            "--database",
            empty.to_str().unwrap(),
            "--rpc-url",
            &anvil.url,
            "--contract",
            &settlement,
            "--from-block",
            &from_block,
        ],
        &[],
    );
    assert!(clean.status.success(), "{}", text(&clean));
    assert!(text(&clean).contains("0 discrepancies"), "{}", text(&clean));

    // The demo pays its claims on its embedded chain, never on this contract: every paid
    // claim is recorded here but not on chain.
    let demo_store = directory.path().join("demo.db");
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let demo = claims(
        &[
            "demo",
            "--examples",
            examples.to_str().unwrap(),
            "--database",
            demo_store.to_str().unwrap(),
        ],
        &[],
    );
    assert!(demo.status.success(), "{}", text(&demo));
    let dirty = claims(
        &[
            "reconcile",
            "--database",
            demo_store.to_str().unwrap(),
            "--rpc-url",
            &anvil.url,
            "--contract",
            &settlement,
        ],
        &[],
    );
    assert!(!dirty.status.success(), "discrepancies fail the command");
    assert!(
        text(&dirty).contains("RECORDED, NOT ON CHAIN"),
        "{}",
        text(&dirty)
    );
}
