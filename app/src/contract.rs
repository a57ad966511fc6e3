//! `claims contract deploy`: puts the settlement contract on any EVM chain over JSON-RPC.
//!
//! The deployer's key comes from `CLAIMS_SETTLER_KEY`, a key file or an encrypted keystore
//! and is never printed
//! or logged; the deployer holds every role unless others are named, and hands them over
//! with the contract's `grantRole`/`renounceRole` afterwards.

use anyhow::Context;
use claims_domain::{Currency, Money, WalletAddress};
use claims_settlement::json_rpc::key::SettlerKey;
use claims_settlement::json_rpc::operator::{Deployment, DeploymentPlan, Operator};
use claims_settlement::{PayoutToken, SettlementCaps, TokenAmount};
use std::path::PathBuf;

/// What to deploy, as the command line says it (`claims contract deploy`).
#[derive(Debug, Clone, clap::Args)]
pub struct DeployOptions {
    /// The chain's JSON-RPC endpoint.
    #[arg(long, env = "CLAIMS_RPC_URL")]
    pub rpc_url: String,
    /// A file holding the deployer's private key as hex (instead of CLAIMS_SETTLER_KEY).
    #[arg(long, conflicts_with = "keystore")]
    pub key_file: Option<PathBuf>,
    /// An encrypted JSON keystore holding the deployer's key, opened with the password
    /// in CLAIMS_KEYSTORE_PASSWORD (instead of CLAIMS_SETTLER_KEY).
    #[arg(long)]
    pub keystore: Option<PathBuf>,
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

/// Deploys and returns the addresses.
pub async fn deploy(options: &DeployOptions) -> anyhow::Result<Deployment> {
    let key = match (&options.key_file, &options.keystore) {
        (Some(path), _) => SettlerKey::from_file(path)?,
        (None, Some(path)) => SettlerKey::from_keystore(path)?,
        (None, None) => SettlerKey::from_env()?,
    };
    let operator = Operator::connect(&options.rpc_url, key)
        .await
        .with_context(|| format!("connecting to {}", options.rpc_url))?;
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

/// Money in the payout token's base units (a 6-decimal USD stablecoin), exactly.
fn units(money: Money, what: &str) -> anyhow::Result<TokenAmount> {
    let token = PayoutToken {
        currency: Currency::USD,
        decimals: 6,
    };
    token
        .units(money)
        .with_context(|| format!("{what} ({money}) cannot be paid in a 6-decimal USD stablecoin"))
}
