//! The settlement chain over JSON-RPC (alloy): any EVM node in production, anvil in tests.
//! It mirrors [`crate::embedded::EmbeddedChain`] behind the same port, and adds what a real
//! chain needs to pay exactly once:
//!
//! - **One submitter per signing key.** Transactions are signed here, with nonces taken
//!   from the key's ledger in the event store ([`ledger`]), never from a node's pending
//!   count: alloy's caching nonce filler burns a nonce when gas estimation fails.
//! - **Simulate, store, then broadcast.** Every batch runs through `eth_call` first (a
//!   refusal is decoded and nothing is signed); the signed bytes are appended to the ledger
//!   before they are broadcast, so after a crash the very same transaction is broadcast
//!   again rather than a second one.
//! - **Confirmations, always with a timeout.** A receipt counts once its block is
//!   `confirmations` deep and still canonical. A transaction the node no longer knows
//!   (dropped, or reorged out: anvil does not return those to its pool) is broadcast again
//!   from its stored bytes; one pending too long is replaced with both fee fields raised
//!   ([`fees`]). Past the timeout the batch stays open, watched again when resumed.
//! - **Idempotent resume.** Settling a batch the ledger already confirmed returns its
//!   receipt; a batch the contract reports settled by a transaction the ledger does not
//!   know is found in the contract's `BatchSettled` logs.

pub mod endpoint;
pub mod fees;
pub mod key;
pub mod ledger;
pub mod operator;
pub mod status;

use crate::abi::{self, address, amount_of, validate, wallet};
use crate::chain::{
    BatchReceipt, ChainBatch, ChainError, SettlementCaps, SettlementChain, SettlementLog, TokenInfo,
};
use crate::contracts::{ClaimsSettlement, MockStablecoin};
use crate::token::TokenAmount;
use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::BlockNumberOrTag;
use alloy::eips::eip2718::{Decodable2718, Encodable2718};
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::{Filter, TransactionReceipt, TransactionRequest};
use alloy::sol_types::{SolCall, SolEvent};
use alloy::transports::TransportError;
use async_trait::async_trait;
use claims_adapters::aggregate::{self, AggregateError, Loaded};
use claims_adapters::event_store::EventStore;
use claims_domain::payout::SettlementIndex;
use claims_domain::{Decider, TransactionHash, WalletAddress};
use endpoint::RpcEndpoint;
use fees::Fees;
use key::SettlerKey;
use ledger::{SignedTransaction, SubmissionCommand, SubmissionDecider};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tracing::{Instrument, info, info_span, warn};

/// The per-transaction gas cap of the Osaka hard fork (EIP-7825): a batch needing more is
/// refused before it is signed.
pub const TX_GAS_CAP: u64 = 1 << 24;

/// How the JSON-RPC chain reaches and treats the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonRpcConfig {
    /// The node's HTTP endpoint, such as `http://127.0.0.1:8545` or
    /// `https://node.example/v3/<key>`.
    pub rpc_url: String,
    /// A PEM file of CA certificates to trust for an `https://` node besides the
    /// platform's roots: a private chain behind the insurer's own CA.
    pub rpc_ca_file: Option<PathBuf>,
    /// The `ClaimsSettlement` contract.
    pub settlement: WalletAddress,
    /// How deep a transaction's block must be before its batch counts as settled: 1 is
    /// the block itself.
    pub confirmations: u64,
    /// How long to wait for a batch's confirmations before giving up for now (the batch
    /// stays open and is watched again when resumed).
    pub confirmation_timeout: Duration,
    /// How long a broadcast transaction may stay pending before it is replaced with
    /// higher fees.
    pub replace_after: Duration,
    /// How often the node is polled while waiting.
    pub poll_interval: Duration,
    /// The block the contract was deployed in: logs are read from there.
    pub deployed_at_block: u64,
}

impl JsonRpcConfig {
    /// A configuration with the defaults: 3 confirmations, 5 minutes' patience, replacement
    /// after 60 s, polling every second, logs read from block 0.
    pub fn new(rpc_url: impl Into<String>, settlement: WalletAddress) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            rpc_ca_file: None,
            settlement,
            confirmations: 3,
            confirmation_timeout: Duration::from_secs(300),
            replace_after: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            deployed_at_block: 0,
        }
    }
}

impl JsonRpcConfig {
    /// The configuration from environment variables: `CLAIMS_RPC_URL` and
    /// `CLAIMS_SETTLEMENT_CONTRACT` (required), `CLAIMS_RPC_CA_FILE`, `CLAIMS_CONFIRMATIONS`,
    /// `CLAIMS_CONFIRMATION_TIMEOUT_SECS`, `CLAIMS_REPLACE_AFTER_SECS`,
    /// `CLAIMS_POLL_INTERVAL_MS` and `CLAIMS_SETTLEMENT_FROM_BLOCK` (defaults as in
    /// [`JsonRpcConfig::new`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The configuration from any source of named values (the environment, a file).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| lookup(name).ok_or(ConfigError::Missing(name));
        let number = |name: &'static str| -> Result<Option<u64>, ConfigError> {
            lookup(name)
                .map(|text| {
                    text.trim()
                        .parse::<u64>()
                        .map_err(|_| ConfigError::Invalid {
                            name,
                            reason: format!("{text:?} is not a whole number"),
                        })
                })
                .transpose()
        };
        let contract = required("CLAIMS_SETTLEMENT_CONTRACT")?;
        let settlement = contract.parse().map_err(|error| ConfigError::Invalid {
            name: "CLAIMS_SETTLEMENT_CONTRACT",
            reason: format!("{error}"),
        })?;
        let mut config = Self::new(required("CLAIMS_RPC_URL")?, settlement);
        config.rpc_ca_file = lookup("CLAIMS_RPC_CA_FILE").map(PathBuf::from);
        if let Some(confirmations) = number("CLAIMS_CONFIRMATIONS")? {
            if confirmations == 0 {
                return Err(ConfigError::Invalid {
                    name: "CLAIMS_CONFIRMATIONS",
                    reason: "at least 1: the including block itself".to_owned(),
                });
            }
            config.confirmations = confirmations;
        }
        if let Some(seconds) = number("CLAIMS_CONFIRMATION_TIMEOUT_SECS")? {
            config.confirmation_timeout = Duration::from_secs(seconds);
        }
        if let Some(seconds) = number("CLAIMS_REPLACE_AFTER_SECS")? {
            config.replace_after = Duration::from_secs(seconds);
        }
        if let Some(millis) = number("CLAIMS_POLL_INTERVAL_MS")? {
            config.poll_interval = Duration::from_millis(millis);
        }
        if let Some(block) = number("CLAIMS_SETTLEMENT_FROM_BLOCK")? {
            config.deployed_at_block = block;
        }
        Ok(config)
    }
}

/// Why the chain's configuration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required setting is absent.
    #[error("set {0}")]
    Missing(&'static str),
    /// A setting does not parse.
    #[error("{name}: {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

/// The settlement chain over JSON-RPC.
pub struct JsonRpcChain {
    provider: RootProvider,
    key: SettlerKey,
    config: JsonRpcConfig,
    chain_id: u64,
    settlement: Address,
    token: Address,
    token_info: TokenInfo,
    store: Arc<dyn EventStore>,
    // One submission at a time per key in this process; across processes the ledger's
    // expected version makes a second submitter conflict instead of reusing a nonce.
    submitting: Mutex<()>,
}

/// A transaction the chain included deeply enough.
struct Included {
    receipt: TransactionReceipt,
    block: u64,
}

impl JsonRpcChain {
    /// Connects to the node, reads the chain id and the contract's token, and checks the
    /// contract is there.
    pub async fn connect(
        config: JsonRpcConfig,
        key: SettlerKey,
        store: Arc<dyn EventStore>,
    ) -> Result<Self, ChainError> {
        let endpoint = RpcEndpoint::new(&config.rpc_url, config.rpc_ca_file.as_deref())?;
        let provider = endpoint.provider()?;
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|error| endpoint.unreachable(&error))?;
        let settlement = address(config.settlement);
        let code = provider
            .get_code_at(settlement)
            .await
            .map_err(unavailable)?;
        if code.is_empty() {
            return Err(ChainError::Unavailable(format!(
                "no contract at {} on chain {chain_id}",
                config.settlement
            )));
        }
        let token = view(&provider, settlement, &ClaimsSettlement::tokenCall {}).await?;
        let symbol = view(&provider, token, &MockStablecoin::symbolCall {}).await?;
        let decimals = view(&provider, token, &MockStablecoin::decimalsCall {}).await?;
        info!(chain_id, node = %endpoint.origin(), settlement = %config.settlement, settler = %key.address(), %symbol, decimals, "connected to the settlement chain");
        Ok(Self {
            provider,
            key,
            config,
            chain_id,
            settlement,
            token,
            token_info: TokenInfo {
                symbol,
                decimals: u32::from(decimals),
            },
            store,
            submitting: Mutex::new(()),
        })
    }

    /// The settler's account.
    pub fn settler(&self) -> WalletAddress {
        self.key.address()
    }

    /// The chain's id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The token's contract.
    pub fn token_address(&self) -> WalletAddress {
        wallet(self.token)
    }

    /// The contract's caps.
    pub async fn caps(&self) -> Result<SettlementCaps, ChainError> {
        let per_claim = self
            .view(self.settlement, &ClaimsSettlement::claimCapCall {})
            .await?;
        let per_day = self
            .view(self.settlement, &ClaimsSettlement::dailyCapCall {})
            .await?;
        Ok(SettlementCaps {
            per_claim: amount_of(per_claim, "claimCap")?,
            per_day: amount_of(per_day, "dailyCap")?,
        })
    }

    /// The settler key's ledger as it stands.
    pub async fn ledger(&self) -> Result<Loaded<SubmissionDecider>, ChainError> {
        aggregate::load::<SubmissionDecider>(
            self.store.as_ref(),
            ledger::stream(self.chain_id, self.key.address()),
        )
        .await
        .map_err(store_error)
    }

    async fn settle(&self, batch: &ChainBatch) -> Result<BatchReceipt, ChainError> {
        validate(batch)?;
        let _submitting = self.submitting.lock().await;
        let batch_hex = format!("{}", B256::from(batch.batch));

        let ledger = self.ledger().await?;
        if let Some(confirmed) = ledger.state.settled(&batch_hex) {
            info!(transaction = %confirmed.hash, "batch already confirmed in the ledger");
            return self.receipt_of(confirmed.hash).await;
        }
        let nonce = match ledger.state.open_for(&batch_hex) {
            Some((nonce, _)) => {
                info!(
                    nonce,
                    "batch already signed: watching its stored transaction"
                );
                nonce
            }
            None => {
                // Transactions of lower nonces hold this one back until they are mined.
                self.rebroadcast_open(&ledger).await;
                let calldata = abi::settle_batch_call(batch)?.abi_encode();
                match self.simulate(&calldata).await {
                    Ok(gas) => {
                        self.sign_and_broadcast(&ledger, &batch_hex, calldata, gas)
                            .await?
                    }
                    Err(ChainError::ClaimAlreadySettled(index)) => {
                        // This very batch, settled by a transaction the ledger does not
                        // know? Its BatchSettled log says; any other batch is refused.
                        if let Some(receipt) = self.find_settled_batch(batch).await? {
                            warn!(
                                "the contract has settled this batch by a transaction the ledger does not know; receipt read from its log"
                            );
                            return Ok(receipt);
                        }
                        warn!(%index, "batch refused in simulation: a claim is already settled; nothing signed");
                        return Err(ChainError::ClaimAlreadySettled(index));
                    }
                    Err(error) => {
                        warn!(%error, "batch refused in simulation; nothing signed");
                        return Err(error);
                    }
                }
            }
        };
        let included = self.await_confirmation(nonce).await?;
        let hash = transaction_hash(included.receipt.transaction_hash);
        let succeeded = included.receipt.status();
        self.record(SubmissionCommand::Confirm {
            nonce,
            hash,
            block: included.block,
            succeeded,
        })
        .await?;
        if !succeeded {
            // The simulation passed, so the state changed in between; the nonce is spent
            // and the batch stays open: sending it again simulates afresh.
            return Err(ChainError::Reverted(format!(
                "transaction {hash} reverted in block {}; the batch stays open and is simulated again when resent",
                included.block
            )));
        }
        self.batch_receipt(&included.receipt)
    }

    /// `eth_call` of the batch from the settler, then `eth_estimateGas`: the gas limit to
    /// sign with, or the contract's refusal.
    async fn simulate(&self, calldata: &[u8]) -> Result<u64, ChainError> {
        let request = self.request(calldata);
        self.provider.call(request.clone()).await.map_err(refusal)?;
        let estimate = self.provider.estimate_gas(request).await.map_err(refusal)?;
        // A margin over the estimate: the state may move a little before inclusion.
        let gas = estimate.saturating_add(estimate / 5).saturating_add(10_000);
        if estimate > TX_GAS_CAP {
            return Err(ChainError::InvalidBatch(format!(
                "the batch needs {estimate} gas, above the per-transaction cap of {TX_GAS_CAP}; send fewer claims per batch"
            )));
        }
        Ok(gas.min(TX_GAS_CAP))
    }

    fn request(&self, calldata: &[u8]) -> TransactionRequest {
        TransactionRequest::default()
            .from(address(self.key.address()))
            .to(self.settlement)
            .input(Bytes::copy_from_slice(calldata).into())
    }

    /// Signs the batch for the key's next nonce, stores it, then broadcasts it.
    async fn sign_and_broadcast(
        &self,
        ledger: &Loaded<SubmissionDecider>,
        batch_hex: &str,
        calldata: Vec<u8>,
        gas_limit: u64,
    ) -> Result<u64, ChainError> {
        // The ledger's next nonce, unless the key spent more elsewhere (a deployment, an
        // operator's transaction): reusing one of those would never be mined.
        let on_chain = self
            .provider
            .get_transaction_count(address(self.key.address()))
            .await
            .map_err(unavailable)?;
        let nonce = ledger.state.next_nonce.max(on_chain);
        let fees = self.current_fees().await?;
        let transaction = self.sign(nonce, batch_hex, calldata, gas_limit, fees)?;
        let mut state = ledger.state.clone();
        // A nonce spent outside the ledger is skipped over, as a nonce the ledger jumps to.
        state.next_nonce = nonce;
        let events =
            SubmissionDecider::decide(&state, SubmissionCommand::Sign(transaction.clone()))
                .map_err(|error| ChainError::Unavailable(error.to_string()))?;
        let append = ledger
            .append(&events, &serde_json::json!({ "batch": batch_hex }))
            .map_err(store_error)?;
        self.store
            .append(append.into_iter().collect())
            .await
            .map_err(|error| store_error(AggregateError::from(error)))?;
        info!(nonce, transaction = %transaction.hash, max_fee = transaction.fees.max_fee_per_gas, "settlement transaction signed and stored");
        self.broadcast(&transaction).await;
        Ok(nonce)
    }

    fn sign(
        &self,
        nonce: u64,
        batch_hex: &str,
        calldata: Vec<u8>,
        gas_limit: u64,
        fees: Fees,
    ) -> Result<SignedTransaction, ChainError> {
        let mut unsigned = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            to: TxKind::Call(self.settlement),
            value: U256::ZERO,
            access_list: Default::default(),
            input: calldata.into(),
        };
        let signature = self
            .key
            .signer()
            .sign_transaction_sync(&mut unsigned)
            .map_err(|error| ChainError::Unavailable(format!("signing failed: {error}")))?;
        let signed = unsigned.into_signed(signature);
        let hash = transaction_hash(*signed.hash());
        let raw = TxEnvelope::from(signed).encoded_2718();
        Ok(SignedTransaction {
            nonce,
            hash,
            batch: batch_hex.to_owned(),
            fees,
            raw: format!("{}", Bytes::from(raw)),
        })
    }

    async fn current_fees(&self) -> Result<Fees, ChainError> {
        let estimate = self
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(unavailable)?;
        Ok(Fees {
            max_fee_per_gas: estimate.max_fee_per_gas,
            max_priority_fee_per_gas: estimate.max_priority_fee_per_gas,
        })
    }

    /// Broadcasts stored bytes. A refusal is only logged: "already known" and "nonce too
    /// low" (it was mined) are normal here, and the watcher decides what happens next.
    async fn broadcast(&self, transaction: &SignedTransaction) {
        let raw = match transaction.raw.parse::<Bytes>() {
            Ok(raw) => raw,
            Err(error) => {
                warn!(transaction = %transaction.hash, %error, "stored transaction bytes are not hex");
                return;
            }
        };
        match self.provider.send_raw_transaction(&raw).await {
            Ok(_) => {
                info!(nonce = transaction.nonce, transaction = %transaction.hash, "transaction broadcast")
            }
            Err(error) => {
                info!(nonce = transaction.nonce, transaction = %transaction.hash, %error, "the node did not take the broadcast")
            }
        }
    }

    /// Broadcasts again the latest transaction of every open nonce.
    async fn rebroadcast_open(&self, ledger: &Loaded<SubmissionDecider>) {
        for attempts in ledger.state.open.values() {
            if let Some(latest) = attempts.last() {
                self.broadcast(latest).await;
            }
        }
    }

    /// Waits until one of the nonce's transactions is `confirmations` deep in the canonical
    /// chain; re-broadcasts a forgotten one and replaces a stuck one meanwhile.
    async fn await_confirmation(&self, nonce: u64) -> Result<Included, ChainError> {
        let started = Instant::now();
        let mut last_broadcast = Instant::now();
        // Read once: only this submitter adds versions of the nonce (replacements), and
        // it adds them here, so the ledger is not re-read on every poll.
        let mut attempts = self
            .ledger()
            .await?
            .state
            .open
            .get(&nonce)
            .cloned()
            .unwrap_or_default();
        loop {
            let Some(latest) = attempts.last().cloned() else {
                return Err(ChainError::Unavailable(format!(
                    "nonce {nonce} has no open transaction in the ledger"
                )));
            };
            let mut included_somewhere = false;
            for attempt in attempts.iter().rev() {
                let Some(receipt) = self
                    .provider
                    .get_transaction_receipt(b256(attempt.hash))
                    .await
                    .map_err(unavailable)?
                else {
                    continue;
                };
                let (Some(block), Some(block_hash)) = (receipt.block_number, receipt.block_hash)
                else {
                    continue;
                };
                included_somewhere = true;
                let head = self
                    .provider
                    .get_block_number()
                    .await
                    .map_err(unavailable)?;
                // Zero confirmations would count a receipt before its block is even
                // checked; the block itself is the least there is.
                if head + 1 < block + self.config.confirmations.max(1) {
                    continue;
                }
                let canonical = self
                    .provider
                    .get_block_by_number(BlockNumberOrTag::Number(block))
                    .await
                    .map_err(unavailable)?
                    .map(|block| block.header.hash);
                if canonical == Some(block_hash) {
                    info!(nonce, transaction = %attempt.hash, block, confirmations = head + 1 - block, "transaction confirmed");
                    return Ok(Included { receipt, block });
                }
                warn!(nonce, transaction = %attempt.hash, block, "the receipt's block is no longer canonical");
            }
            if !included_somewhere {
                let mut known = false;
                for attempt in &attempts {
                    known |= self
                        .provider
                        .get_transaction_by_hash(b256(attempt.hash))
                        .await
                        .map_err(unavailable)?
                        .is_some();
                }
                if !known {
                    warn!(nonce, transaction = %latest.hash, "the node has forgotten the transaction (dropped or reorged out); broadcasting its stored bytes again");
                    self.broadcast(&latest).await;
                    last_broadcast = Instant::now();
                } else if last_broadcast.elapsed() >= self.config.replace_after {
                    attempts.push(self.replace(&latest).await?);
                    last_broadcast = Instant::now();
                }
            }
            if started.elapsed() >= self.config.confirmation_timeout {
                return Err(ChainError::Unavailable(format!(
                    "transaction {} (nonce {nonce}) not confirmed {} deep within {:?}; it stays stored and is watched again when the batch is resumed",
                    latest.hash, self.config.confirmations, self.config.confirmation_timeout
                )));
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    /// Signs the stuck transaction's nonce again, same call and gas, with both fee fields
    /// raised, stores the replacement, then broadcasts it.
    async fn replace(&self, stuck: &SignedTransaction) -> Result<SignedTransaction, ChainError> {
        let raw: Bytes = stuck.raw.parse().map_err(|_| {
            ChainError::Unavailable("stored transaction bytes are not hex".to_owned())
        })?;
        let envelope = TxEnvelope::decode_2718(&mut raw.as_ref()).map_err(|error| {
            ChainError::Unavailable(format!("stored transaction undecodable: {error}"))
        })?;
        let Some(original) = envelope.as_eip1559() else {
            return Err(ChainError::Unavailable(
                "the stored transaction is not an EIP-1559 transaction".to_owned(),
            ));
        };
        let fees = stuck.fees.bumped(self.current_fees().await?);
        let replacement = self.sign(
            stuck.nonce,
            &stuck.batch,
            original.tx().input.to_vec(),
            original.tx().gas_limit,
            fees,
        )?;
        self.record(SubmissionCommand::Replace(replacement.clone()))
            .await?;
        warn!(nonce = stuck.nonce, stuck = %stuck.hash, replacement = %replacement.hash, max_fee = fees.max_fee_per_gas, priority_fee = fees.max_priority_fee_per_gas, "transaction stuck; replaced with higher fees");
        self.broadcast(&replacement).await;
        Ok(replacement)
    }

    /// Decides a command on the ledger as it stands and appends its events.
    async fn record(&self, command: SubmissionCommand) -> Result<(), ChainError> {
        let ledger = self.ledger().await?;
        let events = SubmissionDecider::decide(&ledger.state, command)
            .map_err(|error| ChainError::Unavailable(format!("transaction ledger: {error}")))?;
        if let Some(append) = ledger
            .append(&events, &serde_json::Value::Null)
            .map_err(store_error)?
        {
            self.store
                .append(vec![append])
                .await
                .map_err(|error| store_error(AggregateError::from(error)))?;
        }
        Ok(())
    }

    /// The receipt of a transaction the ledger confirmed earlier.
    async fn receipt_of(&self, hash: TransactionHash) -> Result<BatchReceipt, ChainError> {
        let receipt = self
            .provider
            .get_transaction_receipt(b256(hash))
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ChainError::Unavailable(format!(
                    "transaction {hash} was confirmed but the node has no receipt for it now (a reorg deeper than the confirmations?)"
                ))
            })?;
        self.batch_receipt(&receipt)
    }

    /// A batch the contract settled, found by its `BatchSettled` log; `None` if it has none.
    async fn find_settled_batch(
        &self,
        batch: &ChainBatch,
    ) -> Result<Option<BatchReceipt>, ChainError> {
        let filter = Filter::new()
            .address(self.settlement)
            .event_signature(ClaimsSettlement::BatchSettled::SIGNATURE_HASH)
            .topic1(B256::from(batch.batch))
            .from_block(self.config.deployed_at_block);
        let logs = self.provider.get_logs(&filter).await.map_err(unavailable)?;
        let Some(hash) = logs.iter().find_map(|log| log.transaction_hash) else {
            return Ok(None);
        };
        self.receipt_of(transaction_hash(hash)).await.map(Some)
    }

    fn batch_receipt(&self, receipt: &TransactionReceipt) -> Result<BatchReceipt, ChainError> {
        abi::batch_receipt(
            self.settlement,
            receipt.inner.logs().iter().map(|log| &log.inner),
            transaction_hash(receipt.transaction_hash),
            receipt.block_number.unwrap_or_default(),
            receipt.gas_used,
        )
    }

    async fn view<C: SolCall>(&self, contract: Address, call: &C) -> Result<C::Return, ChainError> {
        view(&self.provider, contract, call).await
    }
}

#[async_trait]
impl SettlementChain for JsonRpcChain {
    fn token(&self) -> &TokenInfo {
        &self.token_info
    }

    fn contract(&self) -> WalletAddress {
        self.config.settlement
    }

    async fn settle_batch(&self, batch: &ChainBatch) -> Result<BatchReceipt, ChainError> {
        let span = info_span!("settle_batch", batch = %B256::from(batch.batch), claims = batch.claim_count());
        self.settle(batch).instrument(span).await
    }

    async fn head(&self) -> Result<u64, ChainError> {
        self.provider.get_block_number().await.map_err(unavailable)
    }

    async fn is_claim_settled(&self, index: SettlementIndex) -> Result<bool, ChainError> {
        let call = ClaimsSettlement::isClaimSettledCall {
            index: U256::from(index.get()),
        };
        self.view(self.settlement, &call).await
    }

    async fn owed(&self, provider: WalletAddress) -> Result<TokenAmount, ChainError> {
        let call = ClaimsSettlement::owedCall {
            provider: address(provider),
        };
        amount_of(self.view(self.settlement, &call).await?, "owed")
    }

    async fn token_balance(&self, wallet: WalletAddress) -> Result<TokenAmount, ChainError> {
        let call = MockStablecoin::balanceOfCall {
            account: address(wallet),
        };
        amount_of(self.view(self.token, &call).await?, "balanceOf")
    }

    async fn settlement_logs(&self) -> Result<Vec<SettlementLog>, ChainError> {
        read_settlement_logs(
            &self.provider,
            self.config.settlement,
            self.config.deployed_at_block,
        )
        .await
    }
}

/// Every claim of the contract's `BatchSettled` logs since `from_block`, oldest first; reading logs
/// needs no key, so an auditor can reconcile with a plain provider ([`connect_http`]).
pub async fn read_settlement_logs(
    provider: &RootProvider,
    settlement: WalletAddress,
    from_block: u64,
) -> Result<Vec<SettlementLog>, ChainError> {
    // In ranges, as public nodes cap how many blocks one eth_getLogs may span.
    const RANGE: u64 = 10_000;
    let head = provider.get_block_number().await.map_err(unavailable)?;
    let mut settled = Vec::new();
    let mut from = from_block;
    while from <= head {
        let to = (from + RANGE - 1).min(head);
        let filter = Filter::new()
            .address(address(settlement))
            .event_signature(ClaimsSettlement::BatchSettled::SIGNATURE_HASH)
            .from_block(from)
            .to_block(to);
        for log in provider.get_logs(&filter).await.map_err(unavailable)? {
            let transaction = transaction_hash(log.transaction_hash.unwrap_or_default());
            let block = log.block_number.unwrap_or_default();
            if let Some(claims) = abi::settlement_logs_of(&log.inner, transaction, block) {
                settled.extend(claims?);
            }
        }
        from = to + 1;
    }
    Ok(settled)
}

/// A provider without fillers over `http://` or `https://` (trusting `ca_file`'s
/// certificates besides the platform's roots): this module fills nonces, fees and gas
/// itself.
pub fn connect_http(rpc_url: &str, ca_file: Option<&Path>) -> Result<RootProvider, ChainError> {
    RpcEndpoint::new(rpc_url, ca_file)?.provider()
}

/// A read-only call, decoded.
pub(crate) async fn view<C: SolCall>(
    provider: &RootProvider,
    contract: Address,
    call: &C,
) -> Result<C::Return, ChainError> {
    let request = TransactionRequest::default()
        .to(contract)
        .input(Bytes::from(call.abi_encode()).into());
    let output = provider.call(request).await.map_err(refusal)?;
    C::abi_decode_returns(&output).map_err(|error| {
        ChainError::Unavailable(format!(
            "{} returned undecodable data: {error}",
            C::SIGNATURE
        ))
    })
}

/// A node's error as a [`ChainError`]: revert data becomes the contract's refusal.
pub(crate) fn refusal(error: TransportError) -> ChainError {
    match error
        .as_error_resp()
        .and_then(|payload| payload.as_revert_data())
    {
        Some(data) => abi::refusal(&data),
        None => unavailable(error),
    }
}

/// A node's error with its causes (a refused certificate, a closed connection), the URL
/// cut down to its origin.
pub(crate) fn unavailable(error: TransportError) -> ChainError {
    ChainError::Unavailable(endpoint::describe(&error))
}

fn store_error(error: AggregateError) -> ChainError {
    ChainError::Unavailable(format!(
        "the transaction ledger could not be read or written: {error}"
    ))
}

pub(crate) fn transaction_hash(hash: B256) -> TransactionHash {
    TransactionHash::from_bytes(hash.0)
}

pub(crate) fn b256(hash: TransactionHash) -> B256 {
    B256::from(*hash.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config(pairs: &[(&str, &str)]) -> Result<JsonRpcConfig, ConfigError> {
        let values: BTreeMap<String, String> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        JsonRpcConfig::from_lookup(|name| values.get(name).cloned())
    }

    const CONTRACT: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

    #[test]
    fn settings_override_the_defaults() {
        let read = config(&[
            ("CLAIMS_RPC_URL", "http://node:8545"),
            ("CLAIMS_SETTLEMENT_CONTRACT", CONTRACT),
            ("CLAIMS_CONFIRMATIONS", "12"),
            ("CLAIMS_CONFIRMATION_TIMEOUT_SECS", "900"),
            ("CLAIMS_SETTLEMENT_FROM_BLOCK", "1234"),
        ]);
        let Ok(read) = read else { panic!("{read:?}") };
        assert_eq!(read.rpc_url, "http://node:8545");
        assert_eq!(read.settlement.to_string(), CONTRACT);
        assert_eq!(read.confirmations, 12);
        assert_eq!(read.confirmation_timeout, Duration::from_secs(900));
        assert_eq!(read.replace_after, Duration::from_secs(60));
        assert_eq!(read.deployed_at_block, 1234);
        assert_eq!(read.rpc_ca_file, None);
    }

    #[test]
    fn bad_settings_are_named_in_the_error() {
        assert_eq!(
            config(&[("CLAIMS_SETTLEMENT_CONTRACT", CONTRACT)]).err(),
            Some(ConfigError::Missing("CLAIMS_RPC_URL"))
        );
        let zero = config(&[
            ("CLAIMS_RPC_URL", "http://node:8545"),
            ("CLAIMS_SETTLEMENT_CONTRACT", CONTRACT),
            ("CLAIMS_CONFIRMATIONS", "0"),
        ]);
        assert!(matches!(
            zero,
            Err(ConfigError::Invalid {
                name: "CLAIMS_CONFIRMATIONS",
                ..
            })
        ));
        let words = config(&[
            ("CLAIMS_RPC_URL", "http://node:8545"),
            ("CLAIMS_SETTLEMENT_CONTRACT", "the vault"),
        ]);
        assert!(matches!(
            words,
            Err(ConfigError::Invalid {
                name: "CLAIMS_SETTLEMENT_CONTRACT",
                ..
            })
        ));
    }
}
