//! The settlement-chain port: the only way money leaves the engine.
//!
//! Implementations run the very same `ClaimsSettlement` contract bytecode: the embedded
//! EVM ([`crate::embedded::EmbeddedChain`], the default and the fast tests) and, later, a
//! JSON-RPC chain through alloy.
//!
//! What crosses this port is deliberately poor in information: opaque payout references,
//! provider wallets and token amounts. No member, diagnosis, procedure or claim id ever
//! reaches a chain (invariant 5).

use crate::token::TokenAmount;
use async_trait::async_trait;
use claims_domain::{PayoutReference, TransactionHash, WalletAddress};

/// One claim's payout as the contract sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainPayout {
    /// The claim's opaque on-chain name; the contract pays it at most once.
    pub reference: PayoutReference,
    /// Where the money goes.
    pub provider: WalletAddress,
    /// How much, in token base units.
    pub amount: TokenAmount,
}

/// A batch of payouts settled in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBatch {
    /// The batch's opaque on-chain name (derived from the engine's batch id).
    pub batch: [u8; 32],
    /// The payouts, at least one.
    pub payouts: Vec<ChainPayout>,
}

/// The chain's record of a settled batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchReceipt {
    /// The transaction that settled it.
    pub transaction: TransactionHash,
    /// The block it was included in.
    pub block: u64,
    /// Gas the transaction used.
    pub gas_used: u64,
    /// Every payout the transaction paid, as the contract's logs report it.
    pub paid: Vec<ChainPayout>,
}

/// The token the contract pays in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Its symbol, such as `USDC`.
    pub symbol: String,
    /// Decimal places of one base unit (6 for USDC).
    pub decimals: u32,
}

/// A settlement chain running the `ClaimsSettlement` contract.
#[async_trait]
pub trait SettlementChain: Send + Sync + 'static {
    /// The token payouts are made in.
    fn token(&self) -> &TokenInfo;

    /// Simulates the batch, then sends it and waits for its receipt.
    ///
    /// Refused without spending anything if any payout's reference was already paid
    /// ([`ChainError::AlreadyPaid`]) or the simulation reverts for another reason.
    async fn settle_batch(&self, batch: &ChainBatch) -> Result<BatchReceipt, ChainError>;

    /// True if the contract has already paid this reference.
    async fn is_paid(&self, reference: PayoutReference) -> Result<bool, ChainError>;

    /// A wallet's balance of the payout token.
    async fn token_balance(&self, wallet: WalletAddress) -> Result<TokenAmount, ChainError>;
}

/// Why the chain refused a batch or could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The contract has already paid this payout: paying again would pay twice.
    #[error("payout {0} has already been paid on chain")]
    AlreadyPaid(PayoutReference),
    /// The contract refused the batch (a decoded custom error, or a plain revert).
    #[error("the settlement contract refused the batch: {0}")]
    Reverted(String),
    /// The batch is not well-formed (empty, or a zero amount).
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// The chain could not be reached or answered nonsense.
    #[error("settlement chain unavailable: {0}")]
    Unavailable(String),
}
