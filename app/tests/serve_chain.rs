//! `claims serve` settling on a real chain: anvil mining a block a second, the contract put
//! there by `claims contract deploy`, the settler's key in a key file, and approved claims in
//! the SQLite event store that serve opens. The settler pays them on chain through the
//! JSON-RPC adapter; the providers' token balances and the contract's logs say each claim
//! was paid exactly once, and the key never appears in anything serve wrote.
//!
//! Needs anvil (`scripts/install-anvil.sh`, or `CLAIMS_TEST_ANVIL_BIN`); no NATS: the
//! in-process bus carries the approved claims from the relay to the settler.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A failed unwrap is a failed test.

#[path = "../../settlement/tests/anvil_support/claims.rs"]
mod approved;
mod support;

use claims_adapters::aggregate::{load, streams};
use claims_adapters::event_store::{EventStore, SqliteEventStore};
use claims_domain::WalletAddress;
use claims_domain::claim::{ClaimDecider, ClaimStatus};
use claims_settlement::json_rpc::key::SettlerKey;
use claims_settlement::{JsonRpcChain, JsonRpcConfig, SettlementChain};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::anvil::{Anvil, DEV_KEYS};
use support::engine_process::EngineProcess;
use support::http;

fn wallet(last: u8) -> WalletAddress {
    let mut bytes = [0x5a; 20];
    bytes[19] = last;
    WalletAddress::from_bytes(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_pays_approved_claims_on_a_json_rpc_chain_exactly_once() {
    let anvil = Anvil::start(&["--block-time", "1"]);
    let directory = tempfile::tempdir().unwrap();
    let key_file = directory.path().join("settler.key");
    std::fs::write(&key_file, format!("{}\n", DEV_KEYS[1])).unwrap();

    // The deployer (key 0) names key 1 the settler; the contract gets a mock token float.
    let settler = SettlerKey::parse(DEV_KEYS[1], "test key")
        .unwrap()
        .address();
    let deployed = Command::new(env!("CARGO_BIN_EXE_claims"))
        .args(["contract", "deploy", "--rpc-url", &anvil.url])
        .args(["--settler", &settler.to_string()])
        .args(["--claim-cap", "5000.00 USD", "--daily-cap", "100000.00 USD"])
        .env("CLAIMS_SETTLER_KEY", DEV_KEYS[0])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&deployed.stdout).into_owned();
    assert!(
        deployed.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    let deployment: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let contract = deployment["settlement"].as_str().unwrap().to_owned();
    let token = deployment["token"].as_str().unwrap().to_owned();
    let from_block = deployment["block"].as_u64().unwrap();

    // Approved claims in the store serve will open: two for the clinic, one for the hospital.
    let database = directory.path().join("claims.db");
    let clinic = approved::provider("clinic-1", "Clinic Secret Name", wallet(1));
    let hospital = approved::provider("hospital-1", "Hospital Secret Name", wallet(2));
    let mut expected = Vec::new();
    {
        let store = SqliteEventStore::open(&database).await.unwrap();
        for provider in [&clinic, &hospital] {
            approved::register(&store, provider).await;
        }
        for (provider, reference, billed) in [
            (&clinic, "CLAIM-1", "500.00"),
            (&hospital, "CLAIM-2", "300.00"),
            (&clinic, "CLAIM-3", "125.00"),
        ] {
            let (claim, units) = approved::approve(&store, provider, reference, billed).await;
            expected.push((claim, provider.wallet, units));
        }
        store.close().await;
    }

    let config = format!(
        "database = {:?}\nlog_level = \"info\"\nrpc_url = {:?}\nsettlement_contract = {contract:?}\n\
         settlement_token = {token:?}\nsettlement_from_block = {from_block}\n\
         settler_key_file = {:?}\nconfirmations = 2\npoll_interval_ms = 100\n\
         batch_wait_ms = 200\nclaim_cap = \"5000.00 USD\"\ndaily_cap = \"100000.00 USD\"\n",
        database.display().to_string(),
        anvil.url,
        key_file.display().to_string(),
    );
    let engine = EngineProcess::start(&config, &[]).await;

    // Read-only access to the chain: any key will do to read balances and logs.
    let mut chain_config = JsonRpcConfig::new(&anvil.url, contract.parse().unwrap());
    chain_config.deployed_at_block = from_block;
    let reader = JsonRpcChain::connect(
        chain_config,
        SettlerKey::parse(DEV_KEYS[2], "test key").unwrap(),
        Arc::new(SqliteEventStore::in_memory().await.unwrap()) as Arc<dyn EventStore>,
    )
    .await
    .unwrap();
    let owed_to = |wallet: WalletAddress| -> u128 {
        expected
            .iter()
            .filter(|(_, paid, _)| *paid == wallet)
            .map(|(_, _, units)| units)
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let clinic_paid = reader.token_balance(clinic.wallet).await.unwrap();
        let hospital_paid = reader.token_balance(hospital.wallet).await.unwrap();
        if clinic_paid.base_units() == owed_to(clinic.wallet)
            && hospital_paid.base_units() == owed_to(hospital.wallet)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not paid within 90 s (clinic {clinic_paid}, hospital {hospital_paid}):\n{}",
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The store records each claim paid, once its batch is two blocks deep.
    let deadline = Instant::now() + Duration::from_secs(60);
    let store = SqliteEventStore::open(&database).await.unwrap();
    for (claim, _, _) in &expected {
        loop {
            let status = load::<ClaimDecider>(&store, streams::claim(*claim))
                .await
                .unwrap()
                .state
                .status;
            if status == Some(ClaimStatus::Paid) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "claim {claim} is {status:?}:\n{}",
                engine.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let report = claims_settlement::reconcile::reconcile(&store, &reader)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.logs_read, expected.len(), "each claim settled once");
    store.close().await;

    // The metrics follow the log a little behind (and show nothing of it until they have
    // read it to its end once): the batch's confirmation lag shows up.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = http::get(&engine.address, "/metrics").await;
        let confirmations_timed: u64 = metrics
            .body
            .lines()
            .find_map(|line| line.strip_prefix("claims_settlement_confirmation_seconds_count "))
            .and_then(|count| count.parse().ok())
            .unwrap_or(0);
        if confirmations_timed >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{}", metrics.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (status, log) = engine.terminate().await;
    assert!(status.success(), "{log}");
    assert!(log.contains("settling on a chain over JSON-RPC"), "{log}");
    assert!(
        !log.to_lowercase().contains(&DEV_KEYS[1][2..]),
        "the settler's key was logged"
    );
}
