//! `claims contract …`: the settlement contract on any EVM chain over JSON-RPC, as an
//! operator works it: `deploy` puts it there, `pause` stops every outflow (the pauser's
//! key), `unpause` resumes (the admin's key), `status` says how it stands.
//!
//! The signing key comes from `CLAIMS_SETTLER_KEY`, a key file or an encrypted keystore
//! and is never printed or logged; the deployer holds every role unless others are named,
//! and hands them over with the contract's `grantRole`/`renounceRole` afterwards. The RPC
//! URL is named by its origin only in errors: its path may carry an API key.

use claims_domain::{Currency, Money, WalletAddress};
use claims_settlement::json_rpc::endpoint::RpcEndpoint;
use claims_settlement::json_rpc::key::SettlerKey;
use claims_settlement::json_rpc::operator::{
    Deployment, DeploymentPlan, Operator, OperatorReceipt,
};
use claims_settlement::json_rpc::status::{ContractStatus, contract_status};
use claims_settlement::{PayoutToken, SettlementCaps, TokenAmount};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// The node a contract command talks to.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeOptions {
    /// The chain's JSON-RPC endpoint (http:// or https://).
    #[arg(long, env = "CLAIMS_RPC_URL")]
    pub rpc_url: String,
    /// A PEM file of CA certificates to trust for an https:// endpoint besides the
    /// platform's roots (a private chain behind the insurer's own CA).
    #[arg(long, env = "CLAIMS_RPC_CA_FILE")]
    pub rpc_ca_file: Option<PathBuf>,
}

impl NodeOptions {
    fn endpoint(&self) -> anyhow::Result<RpcEndpoint> {
        Ok(RpcEndpoint::new(
            &self.rpc_url,
            self.rpc_ca_file.as_deref(),
        )?)
    }
}

/// Where the signing key comes from: `CLAIMS_SETTLER_KEY` unless a file is named.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyOptions {
    /// A file holding the signing account's private key as hex (instead of
    /// CLAIMS_SETTLER_KEY).
    #[arg(long, conflicts_with = "keystore")]
    pub key_file: Option<PathBuf>,
    /// An encrypted JSON keystore holding the signing account's key, opened with the
    /// password in CLAIMS_KEYSTORE_PASSWORD (instead of CLAIMS_SETTLER_KEY).
    #[arg(long)]
    pub keystore: Option<PathBuf>,
}

impl KeyOptions {
    fn load(&self) -> anyhow::Result<SettlerKey> {
        Ok(match (&self.key_file, &self.keystore) {
            (Some(path), _) => SettlerKey::from_file(path)?,
            (None, Some(path)) => SettlerKey::from_keystore(path)?,
            (None, None) => SettlerKey::from_env()?,
        })
    }
}

/// What to deploy, as the command line says it (`claims contract deploy`).
#[derive(Debug, Clone, clap::Args)]
pub struct DeployOptions {
    #[command(flatten)]
    pub node: NodeOptions,
    #[command(flatten)]
    pub key: KeyOptions,
    /// An existing 6-decimal USD stablecoin to pay in.
    #[arg(long)]
    pub token: Option<WalletAddress>,
    /// Holds DEFAULT_ADMIN_ROLE (default: the deployer).
    #[arg(long)]
    pub admin: Option<WalletAddress>,
    /// Holds SETTLER_ROLE, the engine's key (default: the deployer).
    #[arg(long)]
    pub settler: Option<WalletAddress>,
    /// Holds PAUSER_ROLE (default: the deployer).
    #[arg(long)]
    pub pauser: Option<WalletAddress>,
    /// The most one claim may pay.
    #[arg(long, env = "CLAIMS_CLAIM_CAP", default_value = "50000.00 USD")]
    pub claim_cap: Money,
    /// The most the contract may pay per UTC day.
    #[arg(long, env = "CLAIMS_DAILY_CAP", default_value = "1000000.00 USD")]
    pub daily_cap: Money,
    /// Mock tokens minted to the contract as its float (ignored with --token).
    #[arg(long, default_value = "1000000.00 USD")]
    pub float: Money,
}

/// A transaction on a deployed contract (`claims contract pause | unpause`).
#[derive(Debug, Clone, clap::Args)]
pub struct TransactOptions {
    #[command(flatten)]
    pub node: NodeOptions,
    #[command(flatten)]
    pub key: KeyOptions,
    /// The settlement contract.
    #[arg(long, env = "CLAIMS_SETTLEMENT_CONTRACT")]
    pub contract: WalletAddress,
    /// Blocks, the including one counted, before the transaction counts as done.
    #[arg(long, env = "CLAIMS_CONFIRMATIONS", default_value_t = 3)]
    pub confirmations: u64,
    /// How long to wait for them, in seconds.
    #[arg(long, env = "CLAIMS_CONFIRMATION_TIMEOUT_SECS", default_value_t = 300)]
    pub timeout_secs: u64,
}

/// What `claims contract status` reads.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusOptions {
    #[command(flatten)]
    pub node: NodeOptions,
    /// The settlement contract.
    #[arg(long, env = "CLAIMS_SETTLEMENT_CONTRACT")]
    pub contract: WalletAddress,
    /// The block the contract was deployed in: role holders are read from the role logs
    /// since then (without it they are not listed).
    #[arg(long, env = "CLAIMS_SETTLEMENT_FROM_BLOCK")]
    pub from_block: Option<u64>,
}

/// Deploys and returns the addresses.
pub async fn deploy(options: &DeployOptions) -> anyhow::Result<Deployment> {
    let key = options.key.load()?;
    let operator = Operator::connect_to(&options.node.endpoint()?, key).await?;
    let deployer = operator.address();
    let plan = DeploymentPlan {
        token: options.token,
        admin: options.admin.unwrap_or(deployer),
        settler: options.settler.unwrap_or(deployer),
        pauser: options.pauser.unwrap_or(deployer),
        caps: SettlementCaps {
            per_claim: units(options.claim_cap, "the claim cap")?,
            per_day: units(options.daily_cap, "the daily cap")?,
        },
        float: units(options.float, "the float")?,
    };
    Ok(operator.deploy(plan).await?)
}

/// Pauses the contract with the pauser's key.
pub async fn pause(options: &TransactOptions) -> anyhow::Result<OperatorReceipt> {
    let operator = operator(options).await?;
    Ok(operator.pause(options.contract).await?)
}

/// Unpauses the contract with the admin's key.
pub async fn unpause(options: &TransactOptions) -> anyhow::Result<OperatorReceipt> {
    let operator = operator(options).await?;
    Ok(operator.unpause(options.contract).await?)
}

/// Reads how the contract stands.
pub async fn status(options: &StatusOptions) -> anyhow::Result<ContractStatus> {
    Ok(contract_status(
        &options.node.endpoint()?,
        options.contract,
        options.from_block,
    )
    .await?)
}

async fn operator(options: &TransactOptions) -> anyhow::Result<Operator> {
    let key = options.key.load()?;
    let operator = Operator::connect_to(&options.node.endpoint()?, key).await?;
    Ok(operator.awaiting(
        options.confirmations,
        Duration::from_secs(options.timeout_secs),
    ))
}

/// The status as lines for a person, amounts in the token's units.
pub fn render_status(status: &ContractStatus) -> String {
    let money = |amount: TokenAmount| {
        amount.to_decimal(status.token_decimals).map_or_else(
            || format!("{amount} base units"),
            |decimal| format!("{decimal} {}", status.token_symbol),
        )
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "contract {} on chain {} at block {}",
        status.settlement, status.chain_id, status.head
    );
    let _ = writeln!(
        out,
        "paused: {}",
        if status.paused {
            "yes: every batch and withdrawal is refused until the admin unpauses"
        } else {
            "no"
        }
    );
    let _ = writeln!(out, "token: {} {}", status.token_symbol, status.token);
    let _ = writeln!(out, "claim cap: {}", money(status.caps.per_claim));
    let _ = writeln!(
        out,
        "daily cap: {} ({} left today)",
        money(status.caps.per_day),
        money(status.remaining_today)
    );
    let _ = writeln!(
        out,
        "float: {} (balance {}, owed to providers {})",
        money(status.float()),
        money(status.balance),
        money(status.total_owed)
    );
    let Some(role_holders) = &status.role_holders else {
        let _ = writeln!(
            out,
            "role holders: name the deployment block (--from-block) to list them"
        );
        return out;
    };
    for (role, holders) in role_holders {
        let holders = holders
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "{role}: {}",
            if holders.is_empty() {
                "nobody"
            } else {
                &holders
            }
        );
    }
    out
}

/// The status as one JSON object (amounts in token base units, as strings).
pub fn status_json(status: &ContractStatus) -> serde_json::Value {
    let roles = status.role_holders.as_ref().map(|holders| {
        holders
            .iter()
            .map(|(role, accounts)| {
                (
                    role.to_string(),
                    accounts.iter().map(ToString::to_string).collect(),
                )
            })
            .collect::<serde_json::Map<String, serde_json::Value>>()
    });
    serde_json::json!({
        "contract": status.settlement.to_string(),
        "chain_id": status.chain_id,
        "block": status.head,
        "paused": status.paused,
        "token": status.token.to_string(),
        "token_symbol": status.token_symbol,
        "token_decimals": status.token_decimals,
        "claim_cap": status.caps.per_claim.base_units().to_string(),
        "daily_cap": status.caps.per_day.base_units().to_string(),
        "remaining_today": status.remaining_today.base_units().to_string(),
        "balance": status.balance.base_units().to_string(),
        "total_owed": status.total_owed.base_units().to_string(),
        "float": status.float().base_units().to_string(),
        "roles": roles,
    })
}

/// Money in the payout token's base units (a 6-decimal USD stablecoin), exactly.
fn units(money: Money, what: &str) -> anyhow::Result<TokenAmount> {
    use anyhow::Context;
    let token = PayoutToken {
        currency: Currency::USD,
        decimals: 6,
    };
    token
        .units(money)
        .with_context(|| format!("{what} ({money}) cannot be paid in a 6-decimal USD stablecoin"))
}
