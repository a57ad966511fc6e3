//! An operator working the settlement contract while `claims serve` settles on it, on a
//! real anvil:
//!
//! - over HTTPS: anvil behind a TLS proxy whose certificate a private CA signed. Without the
//!   CA's file `claims contract deploy` is refused, naming the endpoint and not what its
//!   path carries; with it (`--rpc-ca-file`, serve's `rpc_ca_file`) the contract is deployed
//!   and the claims are paid exactly once.
//! - `claims contract pause | unpause | status`: paused by the pauser, the engine's batch is
//!   refused and stays open; the pauser cannot unpause (the admin's role, named in the
//!   error); unpaused by the admin, every claim is paid exactly once.
//!
//! Needs anvil (`scripts/install-anvil.sh`, or `CLAIMS_TEST_ANVIL_BIN`); no NATS.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A failed unwrap is a failed test.

#[path = "../../settlement/tests/anvil_support/claims.rs"]
mod approved;
mod support;

use claims_adapters::aggregate::{load, streams};
use claims_adapters::event_store::{EventStore, SqliteEventStore};
use claims_domain::claim::{ClaimDecider, ClaimStatus};
use claims_domain::{ClaimId, WalletAddress};
use claims_settlement::json_rpc::key::SettlerKey;
use claims_settlement::{JsonRpcChain, JsonRpcConfig, SettlementChain};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::anvil::{Anvil, DEV_KEYS};
use support::engine_process::EngineProcess;
use support::tls_proxy::TlsProxy;

/// The deployer, holding DEFAULT_ADMIN_ROLE.
const ADMIN_KEY: &str = DEV_KEYS[0];
/// The engine's settler.
const SETTLER_KEY: &str = DEV_KEYS[1];
/// The pauser.
const PAUSER_KEY: &str = DEV_KEYS[2];

fn address_of(key: &str) -> WalletAddress {
    SettlerKey::parse(key, "test key").unwrap().address()
}

fn wallet(last: u8) -> WalletAddress {
    let mut bytes = [0x5b; 20];
    bytes[19] = last;
    WalletAddress::from_bytes(bytes)
}

/// `claims <args>` with only the environment given (the runner's own CLAIMS_* kept out).
fn claims(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_claims"));
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("CLAIMS_") {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "info");
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

fn last_json_line(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|error| panic!("{error}: {}", text(output)))
}

/// What `claims contract deploy` printed.
struct Deployed {
    contract: String,
    token: String,
    block: u64,
}

/// Deploys with the admin's key, key 1 as the settler and key 2 as the pauser.
fn deploy(rpc_url: &str, extra: &[&str]) -> Deployed {
    let settler = address_of(SETTLER_KEY).to_string();
    let pauser = address_of(PAUSER_KEY).to_string();
    let mut args = vec!["contract", "deploy", "--rpc-url", rpc_url];
    args.extend(["--settler", &settler, "--pauser", &pauser]);
    args.extend(["--claim-cap", "5000.00 USD", "--daily-cap", "100000.00 USD"]);
    args.extend(extra);
    let deployed = claims(&args, &[("CLAIMS_SETTLER_KEY", ADMIN_KEY)]);
    assert!(deployed.status.success(), "{}", text(&deployed));
    assert!(
        !text(&deployed).to_lowercase().contains(&ADMIN_KEY[2..]),
        "the key was printed"
    );
    let json = last_json_line(&deployed);
    Deployed {
        contract: json["settlement"].as_str().unwrap().to_owned(),
        token: json["token"].as_str().unwrap().to_owned(),
        block: json["block"].as_u64().unwrap(),
    }
}

/// A claim approved in the store: its provider's wallet and what it pays in base units.
type Expected = Vec<(ClaimId, WalletAddress, u128)>;

/// Three approved claims in a fresh SQLite store: two for a clinic, one for a hospital.
async fn approved_claims(database: &Path) -> Expected {
    let store = SqliteEventStore::open(database).await.unwrap();
    let clinic = approved::provider("clinic-1", "Clinic Secret Name", wallet(1));
    let hospital = approved::provider("hospital-1", "Hospital Secret Name", wallet(2));
    for provider in [&clinic, &hospital] {
        approved::register(&store, provider).await;
    }
    let mut expected = Vec::new();
    for (provider, reference, billed) in [
        (&clinic, "CLAIM-1", "500.00"),
        (&hospital, "CLAIM-2", "300.00"),
        (&clinic, "CLAIM-3", "125.00"),
    ] {
        let (claim, units) = approved::approve(&store, provider, reference, billed).await;
        expected.push((claim, provider.wallet, units));
    }
    store.close().await;
    expected
}

/// Serve's settings for settling on `rpc_url` with the settler's key in `key_file`.
fn serve_config(
    database: &Path,
    rpc_url: &str,
    deployed: &Deployed,
    key_file: &Path,
    extra: &str,
) -> String {
    format!(
        "database = {:?}\nlog_level = \"info\"\nrpc_url = {rpc_url:?}\n\
         settlement_contract = {:?}\nsettlement_token = {:?}\nsettlement_from_block = {}\n\
         settler_key_file = {:?}\nconfirmations = 2\npoll_interval_ms = 100\n\
         batch_wait_ms = 200\nclaim_cap = \"5000.00 USD\"\ndaily_cap = \"100000.00 USD\"\n{extra}",
        database.display().to_string(),
        deployed.contract,
        deployed.token,
        deployed.block,
        key_file.display().to_string(),
    )
}

/// A chain to read balances and logs through (any key will do to read).
async fn reader(rpc_url: &str, ca_file: Option<PathBuf>, deployed: &Deployed) -> JsonRpcChain {
    let mut config = JsonRpcConfig::new(rpc_url, deployed.contract.parse().unwrap());
    config.deployed_at_block = deployed.block;
    config.rpc_ca_file = ca_file;
    JsonRpcChain::connect(
        config,
        SettlerKey::parse(PAUSER_KEY, "a reading key").unwrap(),
        Arc::new(SqliteEventStore::in_memory().await.unwrap()) as Arc<dyn EventStore>,
    )
    .await
    .unwrap()
}

/// What each wallet is owed by the expected claims.
fn owed_to(expected: &Expected, wallet: WalletAddress) -> u128 {
    expected
        .iter()
        .filter(|(_, paid, _)| *paid == wallet)
        .map(|(_, _, units)| units)
        .sum()
}

/// Waits until every provider holds exactly what its claims pay and the store records each
/// claim paid, then checks the contract's logs settle each claim once and reconcile clean.
async fn assert_paid_exactly_once(
    reader: &JsonRpcChain,
    database: &Path,
    expected: &Expected,
    engine: &EngineProcess,
    patience: Duration,
) {
    let wallets = [wallet(1), wallet(2)];
    let deadline = Instant::now() + patience;
    loop {
        let mut all_paid = true;
        for wallet in wallets {
            let balance = reader.token_balance(wallet).await.unwrap().base_units();
            assert!(
                balance <= owed_to(expected, wallet),
                "{wallet} was paid {balance}, more than its claims"
            );
            all_paid &= balance == owed_to(expected, wallet);
        }
        if all_paid {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not paid within {patience:?}:\n{}",
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let store = SqliteEventStore::open(database).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    for (claim, _, _) in expected {
        loop {
            let status = claim_status(&store, *claim).await;
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
    let report = claims_settlement::reconcile::reconcile(&store, reader)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.logs_read, expected.len(), "each claim settled once");
    store.close().await;
}

async fn claim_status(store: &SqliteEventStore, claim: ClaimId) -> Option<ClaimStatus> {
    load::<ClaimDecider>(store, streams::claim(claim))
        .await
        .unwrap()
        .state
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_node_behind_a_private_ca_is_refused_without_its_ca_file_and_settles_with_it() {
    let anvil = Anvil::start(&["--block-time", "1"]);
    let proxy = TlsProxy::start(&anvil.url);
    let ca_file = proxy.ca_file.to_str().unwrap().to_owned();

    // Without the CA's file the certificate is unknown: a clear refusal naming the
    // endpoint, never the API key a provider's URL carries in its path, nor the signing key.
    let with_api_key = format!("{}/v3/SECRET-API-KEY", proxy.url);
    let refused = claims(
        &["contract", "deploy", "--rpc-url", &with_api_key],
        &[("CLAIMS_SETTLER_KEY", ADMIN_KEY)],
    );
    let output = text(&refused);
    assert!(!refused.status.success(), "{output}");
    assert!(
        output.contains(&format!("cannot reach the node at {}", proxy.url)),
        "{output}"
    );
    assert!(output.contains("UnknownIssuer"), "{output}");
    assert!(output.contains("rpc_ca_file"), "{output}");
    assert!(!output.contains("SECRET-API-KEY"), "{output}");
    assert!(!output.contains("panicked"), "{output}");
    assert!(!output.to_lowercase().contains(&ADMIN_KEY[2..]), "{output}");

    // With it, the contract is deployed over HTTPS.
    let deployed = deploy(&proxy.url, &["--rpc-ca-file", &ca_file]);
    let status = claims(
        &[
            "contract",
            "status",
            "--rpc-url",
            &proxy.url,
            "--rpc-ca-file",
            &ca_file,
            "--contract",
            &deployed.contract,
            "--json",
        ],
        &[],
    );
    assert!(status.status.success(), "{}", text(&status));
    let status = last_json_line(&status);
    assert_eq!(status["paused"], false, "{status}");
    assert!(
        status["roles"].is_null(),
        "roles are listed only from a named block: {status}"
    );

    // The library refuses the same way without the CA's file.
    let mut no_ca = JsonRpcConfig::new(&proxy.url, deployed.contract.parse().unwrap());
    no_ca.deployed_at_block = deployed.block;
    let refused = JsonRpcChain::connect(
        no_ca,
        SettlerKey::parse(PAUSER_KEY, "a reading key").unwrap(),
        Arc::new(SqliteEventStore::in_memory().await.unwrap()) as Arc<dyn EventStore>,
    )
    .await
    .err()
    .map(|error| error.to_string())
    .unwrap_or_default();
    assert!(refused.contains(&proxy.url), "{refused}");
    assert!(refused.contains("UnknownIssuer"), "{refused}");

    // serve settles approved claims through the proxy with rpc_ca_file configured.
    let directory = tempfile::tempdir().unwrap();
    let key_file = directory.path().join("settler.key");
    std::fs::write(&key_file, format!("{SETTLER_KEY}\n")).unwrap();
    let database = directory.path().join("claims.db");
    let expected = approved_claims(&database).await;
    let config = serve_config(
        &database,
        &proxy.url,
        &deployed,
        &key_file,
        &format!("rpc_ca_file = {ca_file:?}\n"),
    );
    let engine = EngineProcess::start(&config, &[]).await;
    let reader = reader(&proxy.url, Some(proxy.ca_file.clone()), &deployed).await;
    assert_paid_exactly_once(
        &reader,
        &database,
        &expected,
        &engine,
        Duration::from_secs(90),
    )
    .await;

    let (status, log) = engine.terminate().await;
    assert!(status.success(), "{log}");
    assert!(log.contains("settling on a chain over JSON-RPC"), "{log}");
    assert!(
        !log.to_lowercase().contains(&SETTLER_KEY[2..]),
        "the settler's key was logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_contract_holds_the_batch_open_and_after_unpausing_pays_each_claim_once() {
    let anvil = Anvil::start(&["--block-time", "1"]);
    let deployed = deploy(&anvil.url, &[]);
    let contract_args = |command: &'static str| -> Vec<String> {
        [
            "contract",
            command,
            "--rpc-url",
            &anvil.url,
            "--contract",
            &deployed.contract,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let run = |args: &[String], key: &str| {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(["--confirmations", "2"]);
        claims(&args, &[("CLAIMS_SETTLER_KEY", key)])
    };

    // The pauser pauses; the transaction is printed once it is two blocks deep.
    let paused = run(&contract_args("pause"), PAUSER_KEY);
    assert!(paused.status.success(), "{}", text(&paused));
    let receipt = last_json_line(&paused);
    assert_eq!(receipt["contract"], deployed.contract.as_str());
    assert!(
        receipt["transaction"]
            .as_str()
            .is_some_and(|hash| hash.len() == 66),
        "{}",
        text(&paused)
    );
    assert!(!text(&paused).to_lowercase().contains(&PAUSER_KEY[2..]));

    let mut status_args = contract_args("status");
    status_args.extend(["--from-block".to_owned(), deployed.block.to_string()]);
    let status_of = || {
        let mut args: Vec<&str> = status_args.iter().map(String::as_str).collect();
        args.push("--json");
        let output = claims(&args, &[]);
        assert!(output.status.success(), "{}", text(&output));
        last_json_line(&output)
    };
    let status = status_of();
    assert_eq!(status["paused"], true, "{status}");
    assert_eq!(status["claim_cap"], "5000000000", "{status}");
    assert_eq!(status["daily_cap"], "100000000000", "{status}");
    assert_eq!(
        status["roles"]["PAUSER_ROLE"],
        serde_json::json!([address_of(PAUSER_KEY).to_string()]),
        "{status}"
    );
    assert_eq!(
        status["roles"]["SETTLER_ROLE"],
        serde_json::json!([address_of(SETTLER_KEY).to_string()]),
        "{status}"
    );
    assert_eq!(
        status["roles"]["DEFAULT_ADMIN_ROLE"],
        serde_json::json!([address_of(ADMIN_KEY).to_string()]),
        "{status}"
    );

    // The engine's batch is refused in simulation and stays open; nothing is paid.
    let directory = tempfile::tempdir().unwrap();
    let key_file = directory.path().join("settler.key");
    std::fs::write(&key_file, format!("{SETTLER_KEY}\n")).unwrap();
    let database = directory.path().join("claims.db");
    let expected = approved_claims(&database).await;
    let engine = EngineProcess::start(
        &serve_config(&database, &anvil.url, &deployed, &key_file, ""),
        &[],
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !engine.log().contains("the settlement contract is paused") {
        assert!(
            Instant::now() < deadline,
            "no refused batch:\n{}",
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reader = reader(&anvil.url, None, &deployed).await;
    for wallet in [wallet(1), wallet(2)] {
        assert_eq!(reader.token_balance(wallet).await.unwrap().base_units(), 0);
    }
    {
        let store = SqliteEventStore::open(&database).await.unwrap();
        for (claim, _, _) in &expected {
            assert_eq!(
                claim_status(&store, *claim).await,
                Some(ClaimStatus::PayoutScheduled),
                "claim {claim} waits in its open batch while the contract is paused"
            );
        }
        store.close().await;
    }

    // The pauser may not unpause: the error names the account and the role it lacks.
    let refused = run(&contract_args("unpause"), PAUSER_KEY);
    let output = text(&refused);
    assert!(!refused.status.success(), "{output}");
    assert!(
        output.contains(&format!(
            "the account {} does not hold DEFAULT_ADMIN_ROLE",
            address_of(PAUSER_KEY)
        )),
        "{output}"
    );
    assert!(!output.contains("panicked"), "{output}");
    assert_eq!(status_of()["paused"], true);

    // The admin unpauses; the settler's next retry (every 30 s) pays the open batch.
    let unpaused = run(&contract_args("unpause"), ADMIN_KEY);
    assert!(unpaused.status.success(), "{}", text(&unpaused));
    assert!(
        text(&unpaused).contains(&format!("unpaused {}", deployed.contract)),
        "{}",
        text(&unpaused)
    );
    assert_eq!(status_of()["paused"], false);
    assert_paid_exactly_once(
        &reader,
        &database,
        &expected,
        &engine,
        Duration::from_secs(90),
    )
    .await;

    let (status, log) = engine.terminate().await;
    assert!(status.success(), "{log}");
}
