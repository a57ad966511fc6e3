//! The settlement-chain port: the only way money leaves the engine.
//!
//! Implementations run the very same `ClaimsSettlement` contract bytecode: the embedded
//! EVM ([`crate::embedded::EmbeddedChain`], the default and the fast tests) and, later, a
//! JSON-RPC chain through alloy.
//!
//! What crosses this port is deliberately poor in information: settlement indices (numbers
//! from the contract's own sequence), provider wallets and token amounts. No member,
//! diagnosis, procedure, claim id or payout reference ever reaches a chain (invariant 5).

use crate::token::{TokenAmount, TokenAmountError};
use async_trait::async_trait;
use claims_domain::payout::SettlementIndex;
use claims_domain::{TransactionHash, WalletAddress};
use std::collections::BTreeMap;

/// One claim's payout as the engine hands it to the chain, before netting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainClaim {
    /// The claim's name on the contract; settled at most once.
    pub index: SettlementIndex,
    /// Where the money goes.
    pub provider: WalletAddress,
    /// How much, in token base units.
    pub amount: TokenAmount,
}

/// One claim inside a provider's netted payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NettedClaim {
    /// The claim's settlement index.
    pub index: SettlementIndex,
    /// Its amount, in token base units.
    pub amount: TokenAmount,
}

/// What a batch pays one provider: the sum of its claims, in one transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPayout {
    /// The provider's wallet.
    pub provider: WalletAddress,
    /// Its claims, at least one.
    pub claims: Vec<NettedClaim>,
}

impl ProviderPayout {
    /// The sum of the provider's claims, if it fits in 128 bits.
    pub fn total(&self) -> Option<TokenAmount> {
        TokenAmount::checked_sum(self.claims.iter().map(|claim| claim.amount))
    }
}

/// A batch of claims settled in one transaction, netted per provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBatch {
    /// The batch's opaque on-chain name (derived from the engine's batch id).
    pub batch: [u8; 32],
    /// One payout per provider, in ascending wallet order (the contract refuses any other
    /// order, which is how it knows no provider is named twice).
    pub providers: Vec<ProviderPayout>,
}

impl ChainBatch {
    /// Nets claims per provider: one [`ProviderPayout`] per wallet, wallets in ascending
    /// order, each provider's claims in the order given.
    pub fn netted(batch: [u8; 32], claims: impl IntoIterator<Item = ChainClaim>) -> Self {
        let mut providers: BTreeMap<WalletAddress, Vec<NettedClaim>> = BTreeMap::new();
        for claim in claims {
            providers
                .entry(claim.provider)
                .or_default()
                .push(NettedClaim {
                    index: claim.index,
                    amount: claim.amount,
                });
        }
        Self {
            batch,
            providers: providers
                .into_iter()
                .map(|(provider, claims)| ProviderPayout { provider, claims })
                .collect(),
        }
    }

    /// How many claims the batch settles.
    pub fn claim_count(&self) -> usize {
        self.providers
            .iter()
            .map(|payout| payout.claims.len())
            .sum()
    }

    /// The batch's total, if it fits in 128 bits.
    pub fn total(&self) -> Option<TokenAmount> {
        self.providers
            .iter()
            .map(ProviderPayout::total)
            .try_fold(TokenAmount::ZERO, |sum, total| sum.checked_add(total?))
    }
}

/// A claim the contract reported settled (one claim of its `BatchSettled` log's payouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettledClaim {
    /// The claim's settlement index.
    pub index: SettlementIndex,
    /// The provider paid, or owed, for it.
    pub provider: WalletAddress,
    /// Its amount.
    pub amount: TokenAmount,
}

/// How a provider's netted payout left the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Transferred to the provider's wallet (no `ProviderOwed` log names it).
    Transferred,
    /// The transfer failed; the contract credited it as owed, for the provider to withdraw
    /// (`ProviderOwed`).
    Owed,
}

/// A provider's netted payout as the contract reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderSettlement {
    /// The provider.
    pub provider: WalletAddress,
    /// The netted amount.
    pub amount: TokenAmount,
    /// How many claims it covers.
    pub claims: u64,
    /// Transferred or owed.
    pub delivery: Delivery,
}

/// The chain's record of a settled batch, decoded from the transaction's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchReceipt {
    /// The transaction that settled it.
    pub transaction: TransactionHash,
    /// The block it was included in.
    pub block: u64,
    /// Gas the transaction used.
    pub gas_used: u64,
    /// Every claim the transaction settled, in calldata order.
    pub claims: Vec<SettledClaim>,
    /// Every provider's netted payout, in calldata order.
    pub providers: Vec<ProviderSettlement>,
    /// The batch's total, as the contract summed it (`BatchSettled`).
    pub total: TokenAmount,
    /// How much of the total was credited as owed instead of transferred.
    pub owed: TokenAmount,
}

/// A provider's withdrawal of what it was owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Withdrawal {
    /// The transaction.
    pub transaction: TransactionHash,
    /// The provider.
    pub provider: WalletAddress,
    /// What it received.
    pub amount: TokenAmount,
}

/// The token the contract pays in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Its symbol, such as `USDC`.
    pub symbol: String,
    /// Decimal places of one base unit (6 for USDC).
    pub decimals: u32,
}

/// The contract's limits on what it pays out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementCaps {
    /// The most one claim may pay.
    pub per_claim: TokenAmount,
    /// The most the contract may settle per UTC day, owed amounts included.
    pub per_day: TokenAmount,
}

/// A claim's settlement as the contract's `BatchSettled` log records it, with where it sits
/// on the chain: what reconciliation compares with the event store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementLog {
    /// The claim's settlement index.
    pub index: SettlementIndex,
    /// The provider paid, or owed, for it.
    pub provider: WalletAddress,
    /// Its amount.
    pub amount: TokenAmount,
    /// The transaction that settled it.
    pub transaction: TransactionHash,
    /// Its block.
    pub block: u64,
}

/// A settlement chain running the `ClaimsSettlement` contract.
#[async_trait]
pub trait SettlementChain: Send + Sync + 'static {
    /// The token payouts are made in.
    fn token(&self) -> &TokenInfo;

    /// The settlement contract's address: settlement indices are a sequence per contract.
    fn contract(&self) -> WalletAddress;

    /// Simulates the batch, then sends it and waits for its receipt.
    ///
    /// Refused without spending anything if the simulation reverts: a claim already
    /// settled ([`ChainError::ClaimAlreadySettled`]), a cap, a pause, or anything else.
    async fn settle_batch(&self, batch: &ChainBatch) -> Result<BatchReceipt, ChainError>;

    /// The chain's latest block: how deep a settled batch's block now lies.
    async fn head(&self) -> Result<u64, ChainError>;

    /// True if the contract has already settled the claim with this index.
    async fn is_claim_settled(&self, index: SettlementIndex) -> Result<bool, ChainError>;

    /// What the contract owes a provider after failed transfers.
    async fn owed(&self, provider: WalletAddress) -> Result<TokenAmount, ChainError>;

    /// A wallet's balance of the payout token.
    async fn token_balance(&self, wallet: WalletAddress) -> Result<TokenAmount, ChainError>;

    /// Every claim settled in a `BatchSettled` log the contract has emitted on the canonical chain, oldest
    /// first: the chain's side of reconciliation.
    async fn settlement_logs(&self) -> Result<Vec<SettlementLog>, ChainError>;
}

/// A role of the settlement contract's access control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContractRole {
    /// `DEFAULT_ADMIN_ROLE`: grants and revokes roles, unpauses, sets caps.
    Admin,
    /// `SETTLER_ROLE`: the engine's key; settles batches and nothing else.
    Settler,
    /// `PAUSER_ROLE`: pauses every outflow and nothing else.
    Pauser,
    /// A role the contract does not define (its 32-byte id).
    Other([u8; 32]),
}

impl ContractRole {
    /// The roles the contract defines.
    pub const ALL: [ContractRole; 3] = [
        ContractRole::Admin,
        ContractRole::Settler,
        ContractRole::Pauser,
    ];

    /// The role's id as the contract keys it: zero for the admin, else the keccak-256 of
    /// its name.
    pub fn id(self) -> [u8; 32] {
        match self {
            ContractRole::Admin => [0; 32],
            ContractRole::Settler => alloy_primitives::keccak256("SETTLER_ROLE").0,
            ContractRole::Pauser => alloy_primitives::keccak256("PAUSER_ROLE").0,
            ContractRole::Other(id) => id,
        }
    }

    /// The role with this id.
    pub fn from_id(id: [u8; 32]) -> Self {
        Self::ALL
            .into_iter()
            .find(|role| role.id() == id)
            .unwrap_or(ContractRole::Other(id))
    }
}

impl std::fmt::Display for ContractRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContractRole::Admin => f.write_str("DEFAULT_ADMIN_ROLE"),
            ContractRole::Settler => f.write_str("SETTLER_ROLE"),
            ContractRole::Pauser => f.write_str("PAUSER_ROLE"),
            ContractRole::Other(id) => write!(f, "role {}", alloy_primitives::B256::from(*id)),
        }
    }
}

/// Why the chain refused a batch or could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The contract has already settled this claim: paying again would pay twice.
    #[error("claim {0} has already been settled on chain")]
    ClaimAlreadySettled(SettlementIndex),
    /// The contract is paused: nothing leaves it until its admin unpauses it.
    #[error("the settlement contract is paused")]
    Paused,
    /// A claim pays more than the contract's per-claim cap.
    #[error("claim {index} pays {amount}, above the per-claim cap of {cap}")]
    ClaimAboveCap {
        /// The claim.
        index: SettlementIndex,
        /// What it would pay.
        amount: TokenAmount,
        /// The cap.
        cap: TokenAmount,
    },
    /// The batch would take today's settlements past the daily cap; retry tomorrow or ask
    /// the admin to raise it.
    #[error("the batch of {requested} exceeds what today's cap still allows ({remaining})")]
    DailyCapExceeded {
        /// The batch's total.
        requested: TokenAmount,
        /// What the cap still allows today.
        remaining: TokenAmount,
    },
    /// The contract's float cannot cover the batch; top it up from treasury.
    #[error("the contract's float ({available}) cannot cover the batch of {requested}")]
    InsufficientFloat {
        /// The batch's total.
        requested: TokenAmount,
        /// What the float has for batches.
        available: TokenAmount,
    },
    /// The signing account lacks the role the call needs (`AccessControlUnauthorizedAccount`):
    /// an operator's transaction signed with the wrong key.
    #[error(
        "the account {account} does not hold {role} on the settlement contract: sign with the key of an account that does"
    )]
    MissingRole {
        /// The account that signed.
        account: WalletAddress,
        /// The role the call needs.
        role: ContractRole,
    },
    /// The contract refused the transaction for another reason (a decoded custom error, or
    /// a plain revert).
    #[error("the settlement contract refused the transaction: {0}")]
    Reverted(String),
    /// The batch is not well-formed (empty, a zero amount, a provider out of order).
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// An amount does not fit the token.
    #[error(transparent)]
    Amount(#[from] TokenAmountError),
    /// The chain could not be reached or answered nonsense.
    #[error("settlement chain unavailable: {0}")]
    Unavailable(String),
}
