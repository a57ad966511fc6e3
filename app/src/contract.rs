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

/// What to deploy, as the command line says it.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// The node.
    pub rpc_url: String,
    /// A file holding the deployer's private key in hex.
    pub key_file: Option<PathBuf>,
    /// An encrypted JSON keystore, opened with `CLAIMS_KEYSTORE_PASSWORD`. Without either
    /// file, the key is read from `CLAIMS_SETTLER_KEY`.
    pub keystore: Option<PathBuf>,
    /// An existing 6-decimal USD stablecoin; `None` deploys the mock one.
    pub token: Option<WalletAddress>,
    /// Roles; each defaults to the deployer.
    pub admin: Option<WalletAddress>,
    /// Holds `SETTLER_ROLE`: the engine's key.
    pub settler: Option<WalletAddress>,
    /// Holds `PAUSER_ROLE`.
    pub pauser: Option<WalletAddress>,
    /// The most one claim may pay.
    pub claim_cap: Money,
    /// The most the contract may pay per UTC day.
    pub daily_cap: Money,
    /// Mock tokens minted to the contract (only when the mock token is deployed).
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
