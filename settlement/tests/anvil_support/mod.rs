//! What the anvil tests share: an anvil of their own, the contracts deployed on it, an
//! event store holding approved claims, and the checks every fault test ends with.
//!
//! Each test starts its own anvil (a reorg or a dropped transaction must not disturb
//! another test) from `CLAIMS_TEST_ANVIL_BIN`, which `scripts/test.sh` sets after
//! installing anvil from npm, or from `target/anvil`, where `scripts/install-anvil.sh`
//! puts it. Without anvil the tests fail with a message saying how to install it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Each test uses a subset; a failed unwrap is a failed test.

pub mod claims;

use alloy::providers::{Provider, RootProvider};
use claims_adapters::event_store::EventStore;
use claims_adapters::event_store::SqliteEventStore;
use claims_domain::payout::SettlementIndex;
use claims_domain::{Currency, WalletAddress};
use claims_settlement::json_rpc::key::SettlerKey;
use claims_settlement::json_rpc::operator::{Deployment, DeploymentPlan, Operator};
use claims_settlement::reconcile::{ReconciliationReport, reconcile};
use claims_settlement::service::{SettlementService, TokenDenomination};
use claims_settlement::{
    JsonRpcChain, JsonRpcConfig, SettlementCaps, SettlementChain, TokenAmount,
};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// anvil's well-known development keys (from its public test mnemonic; they hold nothing
/// outside a local anvil).
const DEV_KEYS: [&str; 7] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
];

pub fn dev_key(n: usize) -> SettlerKey {
    SettlerKey::parse(DEV_KEYS[n], "anvil development key").unwrap()
}

/// The admin (deploys, unpauses, sets caps, owns the mock token).
pub fn admin() -> SettlerKey {
    dev_key(0)
}
/// The engine's settler.
pub fn settler() -> SettlerKey {
    dev_key(1)
}
/// The pauser.
pub fn pauser() -> SettlerKey {
    dev_key(2)
}
/// Provider "clinic-north" (has a key, so it can withdraw).
pub fn clinic_key() -> SettlerKey {
    dev_key(5)
}
/// Provider "hospital-south".
pub fn hospital_key() -> SettlerKey {
    dev_key(6)
}

/// One USDC in base units.
pub const USDC: u128 = 1_000_000;

/// An anvil process of this test's own, stopped (by its pid) when dropped.
pub struct Anvil {
    child: Child,
    pub url: String,
    pub rpc: RootProvider,
}

impl Anvil {
    /// Starts anvil on a free port of 127.0.0.1, with EIP-7825's gas cap enforced, and
    /// waits until it answers.
    pub async fn start() -> Anvil {
        let binary = anvil_binary();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--enable-tx-gas-limit", "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start anvil at {}: {error}", binary.display()));
        let url = format!("http://127.0.0.1:{port}");
        let rpc = claims_settlement::json_rpc::connect_http(&url, None).unwrap();
        let started = Instant::now();
        while rpc.get_chain_id().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "anvil did not answer on {url}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Anvil { child, url, rpc }
    }

    pub async fn rpc_call(
        &self,
        method: &'static str,
        params: serde_json::Value,
    ) -> serde_json::Value {
        self.rpc
            .raw_request::<_, serde_json::Value>(method.into(), params)
            .await
            .unwrap_or_else(|error| panic!("{method} failed: {error}"))
    }

    pub async fn set_automine(&self, on: bool) {
        self.rpc_call("evm_setAutomine", serde_json::json!([on]))
            .await;
    }

    pub async fn mine(&self, blocks: u64) {
        self.rpc_call("anvil_mine", serde_json::json!([format!("0x{blocks:x}")]))
            .await;
    }

    pub async fn head(&self) -> u64 {
        self.rpc.get_block_number().await.unwrap()
    }

    /// Mines a block every `every` until the returned handle is aborted.
    pub fn keep_mining(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let rpc = self.rpc.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let _ = rpc
                    .raw_request::<_, serde_json::Value>("evm_mine".into(), serde_json::json!([]))
                    .await;
            }
        })
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        // Our own child, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn anvil_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CLAIMS_TEST_ANVIL_BIN") {
        return PathBuf::from(path);
    }
    let installed =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/anvil/node_modules/@foundry-rs");
    let found = std::fs::read_dir(&installed).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin/anvil"))
            .find(|path| path.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "anvil is not installed: run scripts/install-anvil.sh (or scripts/test.sh), or set CLAIMS_TEST_ANVIL_BIN to an anvil binary"
        )
    })
}

/// Everything a settlement test on anvil works with.
pub struct Harness {
    pub anvil: Anvil,
    pub deployment: Deployment,
    pub store: Arc<dyn EventStore>,
    pub admin: Operator,
}

/// Generous caps: 1,000,000 USDC per claim, 100,000,000 per day.
pub fn generous_caps() -> SettlementCaps {
    SettlementCaps {
        per_claim: TokenAmount::from_base_units(1_000_000 * USDC),
        per_day: TokenAmount::from_base_units(100_000_000 * USDC),
    }
}

impl Harness {
    /// anvil, the mock token and the settlement contract with a float of 1,000,000 USDC,
    /// and an empty in-memory event store.
    pub async fn start(caps: SettlementCaps) -> Harness {
        let anvil = Anvil::start().await;
        let admin = Operator::connect(&anvil.url, admin()).await.unwrap();
        let deployment = admin
            .deploy(DeploymentPlan {
                token: None,
                admin: admin.address(),
                settler: settler().address(),
                pauser: pauser().address(),
                caps,
                float: TokenAmount::from_base_units(1_000_000 * USDC),
            })
            .await
            .unwrap();
        // Blocks after the deployment, so that a reorg of depth 3 replaces only blocks of
        // the test's own (a deeper one would take the contract or its float with it).
        anvil.mine(5).await;
        let store: Arc<dyn EventStore> = Arc::new(SqliteEventStore::in_memory().await.unwrap());
        Harness {
            anvil,
            deployment,
            store,
            admin,
        }
    }

    /// Fast polling and short patience, as a test wants.
    pub fn config(&self, confirmations: u64) -> JsonRpcConfig {
        let mut config = JsonRpcConfig::new(&self.anvil.url, self.deployment.settlement);
        config.confirmations = confirmations;
        config.poll_interval = Duration::from_millis(50);
        config.confirmation_timeout = Duration::from_secs(60);
        config.replace_after = Duration::from_secs(3600);
        config.deployed_at_block = self.deployment.block;
        config
    }

    pub async fn chain(&self, config: JsonRpcConfig) -> Arc<JsonRpcChain> {
        Arc::new(
            JsonRpcChain::connect(config, settler(), self.store.clone())
                .await
                .unwrap(),
        )
    }

    pub fn service(&self, chain: Arc<JsonRpcChain>) -> SettlementService {
        SettlementService::new(self.store.clone(), chain, TokenDenomination(Currency::USD))
    }

    pub async fn operator(&self, key: SettlerKey) -> Operator {
        Operator::connect(&self.anvil.url, key).await.unwrap()
    }

    pub async fn balance(&self, chain: &JsonRpcChain, wallet: WalletAddress) -> u128 {
        chain.token_balance(wallet).await.unwrap().base_units()
    }

    /// Checks, on chain, that every claim of `expected` (provider, base units) was settled
    /// exactly once and that each provider holds (or is owed) what its claims add up to,
    /// and that reconciliation finds nothing.
    pub async fn assert_paid_exactly_once(
        &self,
        chain: &JsonRpcChain,
        expected: &[(WalletAddress, u128)],
    ) -> ReconciliationReport {
        let logs = chain.settlement_logs().await.unwrap();
        assert_eq!(
            logs.len(),
            expected.len(),
            "every claim once in the BatchSettled logs: {logs:?}"
        );
        let mut indices: Vec<SettlementIndex> = logs.iter().map(|log| log.index).collect();
        indices.sort();
        indices.dedup();
        assert_eq!(indices.len(), expected.len(), "no index settled twice");
        let mut per_provider: std::collections::BTreeMap<WalletAddress, u128> = Default::default();
        for (wallet, units) in expected {
            *per_provider.entry(*wallet).or_default() += units;
        }
        for (wallet, units) in per_provider {
            let held =
                self.balance(chain, wallet).await + chain.owed(wallet).await.unwrap().base_units();
            assert_eq!(held, units, "provider {wallet} got exactly its claims' sum");
        }
        let report = reconcile(self.store.as_ref(), chain).await.unwrap();
        assert!(
            report.is_clean(),
            "reconciliation found discrepancies: {report:?}"
        );
        assert_eq!(report.claims_paid, expected.len());
        report
    }
}

/// Waits until `check` holds, or fails the test after 60 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
