//! The chain the engine settles on: the embedded EVM (the default, deployed afresh at every
//! start) or a chain over JSON-RPC with a contract `claims contract deploy` put there.

use anyhow::{Context, bail};
use claims_adapters::event_store::EventStore;
use claims_domain::WalletAddress;
use claims_settlement::embedded::EmbeddedChainConfig;
use claims_settlement::json_rpc::key::{KeyError, SettlerKey};
use claims_settlement::{
    EmbeddedChain, JsonRpcChain, JsonRpcConfig, SettlementCaps, SettlementChain, TokenAmount,
};
use std::path::PathBuf;
use std::sync::Arc;
use tracing::info;

/// The chain to settle on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainSettings {
    /// The in-process EVM, deployed afresh at every start.
    Embedded {
        /// Its caps; generous demo caps when `None`.
        caps: Option<SettlementCaps>,
    },
    /// A chain over JSON-RPC, with a contract deployed by `claims contract deploy`.
    JsonRpc {
        /// The node, the contract and how to wait for confirmations.
        config: JsonRpcConfig,
        /// The token the contract must pay in, if configured.
        token: Option<WalletAddress>,
        /// Where the settler's key comes from.
        key: KeySource,
        /// The caps the contract must have, if configured.
        caps: Option<SettlementCaps>,
    },
}

/// Where the settler's private key comes from. The key is read when the engine starts and
/// is never printed or logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `CLAIMS_SETTLER_KEY`.
    Environment,
    /// A file holding the key as hex.
    File(PathBuf),
    /// An encrypted keystore, with the password in `CLAIMS_KEYSTORE_PASSWORD`.
    Keystore(PathBuf),
}

impl KeySource {
    /// Reads the key.
    pub fn load(&self) -> Result<SettlerKey, KeyError> {
        match self {
            KeySource::Environment => SettlerKey::from_env(),
            KeySource::File(path) => SettlerKey::from_file(path),
            KeySource::Keystore(path) => SettlerKey::from_keystore(path),
        }
    }
}

/// The chain the engine settles on, and the embedded one if that is it (tests and the
/// demo drive it directly: pause it, block a provider).
pub struct ConnectedChain {
    /// The settlement port.
    pub chain: Arc<dyn SettlementChain>,
    /// The same chain when it is the embedded EVM.
    pub embedded: Option<Arc<EmbeddedChain>>,
}

/// Launches the embedded chain with `float` minted to its contract, or connects to the
/// configured one and checks it is the contract, token and caps configured.
pub async fn connect(
    settings: &ChainSettings,
    float: TokenAmount,
    store: Arc<dyn EventStore>,
) -> anyhow::Result<ConnectedChain> {
    match settings {
        ChainSettings::Embedded { caps } => {
            let mut config = EmbeddedChainConfig::with_float(float);
            if let Some(caps) = caps {
                config.caps = *caps;
            }
            let chain =
                Arc::new(EmbeddedChain::launch(config).context("launching the embedded EVM")?);
            Ok(ConnectedChain {
                chain: chain.clone(),
                embedded: Some(chain),
            })
        }
        ChainSettings::JsonRpc {
            config,
            token,
            key,
            caps,
        } => {
            let key = key.load().context("reading the settler's key")?;
            // The URL may carry an API key: it stays out of the error.
            let chain = JsonRpcChain::connect(config.clone(), key, store)
                .await
                .context("connecting to the settlement chain")?;
            if let Some(token) = token
                && chain.token_address() != *token
            {
                bail!(
                    "the contract {} pays in the token {}, not the configured {token}",
                    config.settlement,
                    chain.token_address()
                );
            }
            if let Some(caps) = caps {
                let on_chain = chain.caps().await.context("reading the contract's caps")?;
                if on_chain != *caps {
                    bail!(
                        "the contract {} caps claims at {} and days at {} (token base units), the configuration at {} and {}: change them on chain (setCaps, admin key) or in the configuration",
                        config.settlement,
                        on_chain.per_claim,
                        on_chain.per_day,
                        caps.per_claim,
                        caps.per_day
                    );
                }
            }
            info!(
                chain_id = chain.chain_id(),
                contract = %config.settlement,
                token = %chain.token_address(),
                settler = %chain.settler(),
                confirmations = config.confirmations,
                "settling on a chain over JSON-RPC"
            );
            Ok(ConnectedChain {
                chain: Arc::new(chain),
                embedded: None,
            })
        }
    }
}
