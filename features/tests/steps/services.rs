//! The real services the `@e2e` scenarios run on (`tests/e2e.rs`): the event store in a
//! PostgreSQL schema of the scenario's own, NATS JetStream from a nats-server of its own,
//! and payouts over JSON-RPC to an anvil of its own, with the settlement contract deployed
//! through the settlement crate's operator. Each scenario owns all three, so scenarios
//! never see each other's messages, logs or nonces, and nothing of another test run on
//! the same machine. The default run (`tests/analysts.rs`) uses none of this.

use claims::engine::{BusChoice, Database, EmbeddedConfig, Role};
use claims_adapters::event_store::EventStore;
use claims_domain::{ClaimId, Currency, Money, WalletAddress};
use claims_settlement::json_rpc::key::SettlerKey;
use claims_settlement::json_rpc::operator::{DeploymentPlan, Operator};
use claims_settlement::service::{SettlementService, TokenDenomination};
use claims_settlement::{
    JsonRpcChain, JsonRpcConfig, PayoutToken, SettlementCaps, SettlementChain, TokenAmount,
};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Set by the e2e runner: scenarios then run on real services.
static REAL_SERVICES: OnceLock<()> = OnceLock::new();

/// Makes every scenario of this process run on real services.
#[allow(dead_code)] // Only the e2e runner calls it; the default run shares this module.
pub fn use_real_services() {
    let _ = REAL_SERVICES.set(());
}

/// True in the e2e run.
pub fn real_services_wanted() -> bool {
    REAL_SERVICES.get().is_some()
}

/// anvil's well-known development keys (from its public test mnemonic; they hold nothing
/// outside a local anvil): the admin, the engine's settler and the pauser.
const ADMIN_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const SETTLER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const PAUSER_KEY: &str = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";

/// One USDC in base units.
const USDC: u128 = 1_000_000;

/// How long a service may take to start.
const STARTUP: Duration = Duration::from_secs(30);

/// A child process of the scenario's own, stopped by its pid when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The services one scenario runs on.
pub struct RealServices {
    postgres_url: String,
    schema: String,
    nats_store: PathBuf,
    nats_port: u16,
    chain: Option<Arc<JsonRpcChain>>,
    settlement: Option<SettlementService>,
    // Dropped last: the processes behind the connections above.
    _nats: Process,
    _anvil: Process,
    anvil_url: String,
    settlement_contract: WalletAddress,
    deployed_at: u64,
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| format!("no free port on 127.0.0.1: {error}"))
}

fn spawn(binary: &PathBuf, args: &[String], what: &str) -> Result<Process, String> {
    Command::new(binary)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Process)
        .map_err(|error| format!("cannot start {what} ({}): {error}", binary.display()))
}

fn nats_server_binary() -> PathBuf {
    std::env::var_os("CLAIMS_TEST_NATS_SERVER_BIN")
        .map_or_else(|| PathBuf::from("nats-server"), PathBuf::from)
}

/// `CLAIMS_TEST_ANVIL_BIN` (set by `scripts/test.sh`), else where
/// `scripts/install-anvil.sh` puts it.
fn anvil_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("CLAIMS_TEST_ANVIL_BIN") {
        return Ok(PathBuf::from(path));
    }
    let installed =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/anvil/node_modules/@foundry-rs");
    std::fs::read_dir(&installed)
        .ok()
        .and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path().join("bin/anvil"))
                .find(|path| path.is_file())
        })
        .ok_or_else(|| {
            "anvil is not installed: run scripts/install-anvil.sh (or scripts/test.sh), or set CLAIMS_TEST_ANVIL_BIN".to_owned()
        })
}

fn key(text: &str) -> Result<SettlerKey, String> {
    SettlerKey::parse(text, "anvil development key").map_err(|error| error.to_string())
}

impl RealServices {
    /// Starts nats-server and anvil, deploys the contract, and names a fresh schema.
    pub async fn start() -> Result<Self, String> {
        static SCENARIOS: AtomicU32 = AtomicU32::new(0);
        let n = SCENARIOS.fetch_add(1, Ordering::Relaxed);
        let run = format!("{}_{n}", std::process::id());

        let nats_port = free_port()?;
        let nats_store = std::env::temp_dir().join(format!("claims-e2e-nats-{run}"));
        let nats = spawn(
            &nats_server_binary(),
            &[
                "-a".into(),
                "127.0.0.1".into(),
                "-p".into(),
                nats_port.to_string(),
                "-js".into(),
                "-sd".into(),
                nats_store.display().to_string(),
            ],
            "nats-server (install it with apt, or set CLAIMS_TEST_NATS_SERVER_BIN)",
        )?;
        let anvil_port = free_port()?;
        let anvil = spawn(
            &anvil_binary()?,
            &[
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                anvil_port.to_string(),
                "--silent".into(),
            ],
            "anvil",
        )?;
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", nats_port)).is_err() {
            if started.elapsed() > STARTUP {
                return Err(format!("nats-server did not listen on port {nats_port}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let anvil_url = format!("http://127.0.0.1:{anvil_port}");
        let admin = loop {
            match Operator::connect(&anvil_url, key(ADMIN_KEY)?).await {
                Ok(admin) => break admin,
                Err(_) if started.elapsed() < STARTUP => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => return Err(format!("anvil did not answer on {anvil_url}: {error}")),
            }
        };
        let deployment = admin
            .deploy(DeploymentPlan {
                token: None,
                admin: admin.address(),
                settler: key(SETTLER_KEY)?.address(),
                pauser: key(PAUSER_KEY)?.address(),
                caps: SettlementCaps {
                    per_claim: TokenAmount::from_base_units(1_000_000 * USDC),
                    per_day: TokenAmount::from_base_units(100_000_000 * USDC),
                },
                float: TokenAmount::from_base_units(1_000_000 * USDC),
            })
            .await
            .map_err(|error| format!("deploying the settlement contract on anvil: {error}"))?;
        Ok(Self {
            postgres_url: std::env::var("CLAIMS_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
            schema: format!("spec_e2e_{run}"),
            nats_store,
            nats_port,
            chain: None,
            settlement: None,
            _nats: nats,
            _anvil: anvil,
            anvil_url,
            settlement_contract: deployment.settlement,
            deployed_at: deployment.block,
        })
    }

    fn nats_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.nats_port)
    }

    /// The engine's wiring on these services: PostgreSQL in the scenario's schema, NATS,
    /// every role but the embedded-chain settler (payouts go to anvil, see [`Self::settle`]).
    pub fn configure(&self, config: &mut EmbeddedConfig) {
        config.database = Database::Postgres {
            url: self.postgres_url.clone(),
            schema: Some(self.schema.clone()),
        };
        config.bus = BusChoice::nats(self.nats_url(), BusChoice::DEFAULT_STREAM);
        config.roles = Role::ALL
            .into_iter()
            .filter(|role| *role != Role::Settler)
            .collect();
    }

    /// Connects the JSON-RPC chain to the engine's store (its nonce ledger lives there).
    pub async fn connect_chain(&mut self, store: Arc<dyn EventStore>) -> Result<(), String> {
        let mut config = JsonRpcConfig::new(&self.anvil_url, self.settlement_contract);
        config.confirmations = 1;
        config.poll_interval = Duration::from_millis(50);
        config.confirmation_timeout = Duration::from_secs(60);
        config.deployed_at_block = self.deployed_at;
        let chain = Arc::new(
            JsonRpcChain::connect(config, key(SETTLER_KEY)?, store.clone())
                .await
                .map_err(|error| format!("connecting the settler to anvil: {error}"))?,
        );
        self.settlement = Some(SettlementService::new(
            store,
            chain.clone(),
            TokenDenomination(Currency::USD),
        ));
        self.chain = Some(chain);
        Ok(())
    }

    fn chain(&self) -> Result<&Arc<JsonRpcChain>, String> {
        self.chain
            .as_ref()
            .ok_or_else(|| "the settler is not connected to anvil".to_owned())
    }

    /// Pays these claims now, in one batch, on anvil.
    pub async fn settle(
        &self,
        claims: &[ClaimId],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String> {
        let settlement = self
            .settlement
            .as_ref()
            .ok_or("the settler is not connected to anvil")?;
        settlement
            .settle(claims, now)
            .await
            .map(|_| ())
            .map_err(|error| format!("settlement on anvil failed: {error}"))
    }

    /// A wallet's balance of the payout stablecoin on anvil, in dollars.
    pub async fn balance(&self, wallet: WalletAddress) -> Result<Money, String> {
        let chain = self.chain()?;
        let amount = chain
            .token_balance(wallet)
            .await
            .map_err(|error| format!("reading the balance on anvil: {error}"))?;
        PayoutToken {
            currency: Currency::USD,
            decimals: chain.token().decimals,
        }
        .money(amount)
        .map_err(|error| error.to_string())
    }

    /// Drops the scenario's schema and NATS store; the processes stop when this is dropped.
    pub async fn clean_up(self) {
        if let Ok(pool) = sqlx::PgPool::connect(&self.postgres_url).await {
            let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
            let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&pool).await;
            pool.close().await;
        }
        let _ = std::fs::remove_dir_all(&self.nats_store);
    }
}
