//! The contract's ABI as the engine uses it, shared by every settlement chain: the
//! `settleBatch` call built from a [`ChainBatch`], the batch receipt decoded from its logs,
//! and the contract's refusals decoded from revert data.

use crate::chain::{
    BatchReceipt, ChainBatch, ChainError, Delivery, ProviderSettlement, SettledClaim,
};
use crate::contracts::{ClaimsSettlement, MockStablecoin};
use crate::token::TokenAmount;
use alloy_primitives::{Address, Bytes, Log, U256};
use alloy_sol_types::{SolEvent, SolInterface};
use claims_domain::payout::SettlementIndex;
use claims_domain::{TransactionHash, WalletAddress};

/// The `settleBatch` call that pays a netted batch.
pub(crate) fn settle_batch_call(batch: &ChainBatch) -> ClaimsSettlement::settleBatchCall {
    ClaimsSettlement::settleBatchCall {
        batch: batch.batch.into(),
        payouts: batch
            .providers
            .iter()
            .map(|payout| ClaimsSettlement::ProviderPayout {
                provider: address(payout.provider),
                claims: payout
                    .claims
                    .iter()
                    .map(|claim| ClaimsSettlement::ClaimPayout {
                        index: U256::from(claim.index.get()),
                        amount: U256::from(claim.amount.base_units()),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The batch receipt a settling transaction's logs describe; logs of other contracts (the
/// token's transfers) are skipped.
pub(crate) fn batch_receipt<'a>(
    settlement: Address,
    logs: impl IntoIterator<Item = &'a Log>,
    transaction: TransactionHash,
    block: u64,
    gas_used: u64,
) -> Result<BatchReceipt, ChainError> {
    use ClaimsSettlement::{BatchSettled, ClaimSettled, ProviderOwed, ProviderPaid};
    let mut claims = Vec::new();
    let mut providers = Vec::new();
    let mut settled = None;
    for log in logs {
        if log.address != settlement {
            continue;
        }
        match log.topics().first() {
            Some(&ClaimSettled::SIGNATURE_HASH) => {
                let event = decode::<ClaimSettled>(log)?;
                claims.push(SettledClaim {
                    index: index_of(event.index)?,
                    provider: wallet(event.provider),
                    amount: amount_of(event.amount, "ClaimSettled.amount")?,
                });
            }
            Some(&ProviderPaid::SIGNATURE_HASH) => {
                let event = decode::<ProviderPaid>(log)?;
                providers.push(ProviderSettlement {
                    provider: wallet(event.provider),
                    amount: amount_of(event.amount, "ProviderPaid.amount")?,
                    claims: count_of(event.claims)?,
                    delivery: Delivery::Transferred,
                });
            }
            Some(&ProviderOwed::SIGNATURE_HASH) => {
                let event = decode::<ProviderOwed>(log)?;
                providers.push(ProviderSettlement {
                    provider: wallet(event.provider),
                    amount: amount_of(event.amount, "ProviderOwed.amount")?,
                    claims: count_of(event.claims)?,
                    delivery: Delivery::Owed,
                });
            }
            Some(&BatchSettled::SIGNATURE_HASH) => {
                settled = Some(decode::<BatchSettled>(log)?);
            }
            _ => {}
        }
    }
    let settled = settled.ok_or_else(|| {
        ChainError::Unavailable("the settling transaction emitted no BatchSettled".to_owned())
    })?;
    Ok(BatchReceipt {
        transaction,
        block,
        gas_used,
        claims,
        providers,
        total: amount_of(settled.total, "BatchSettled.total")?,
        owed: amount_of(settled.owed, "BatchSettled.owed")?,
    })
}

/// Refuses, before anything reaches the chain, a batch the contract would refuse anyway.
pub(crate) fn validate(batch: &ChainBatch) -> Result<(), ChainError> {
    if batch.providers.is_empty() {
        return Err(ChainError::InvalidBatch(
            "a batch must settle at least one claim".to_owned(),
        ));
    }
    let mut previous: Option<WalletAddress> = None;
    for payout in &batch.providers {
        if payout.provider.is_zero() {
            return Err(ChainError::InvalidBatch(
                "a payout names the zero address, where the tokens would be lost".to_owned(),
            ));
        }
        if previous.is_some_and(|previous| previous >= payout.provider) {
            return Err(ChainError::InvalidBatch(format!(
                "provider {} is named twice or out of order: net the batch with ChainBatch::netted",
                payout.provider
            )));
        }
        previous = Some(payout.provider);
        if payout.claims.is_empty() {
            return Err(ChainError::InvalidBatch(format!(
                "the payout to {} names no claim",
                payout.provider
            )));
        }
        if let Some(claim) = payout
            .claims
            .iter()
            .find(|claim| claim.amount == TokenAmount::ZERO)
        {
            return Err(ChainError::InvalidBatch(format!(
                "claim {} is for nothing",
                claim.index
            )));
        }
    }
    Ok(())
}

pub(crate) fn decode<E: SolEvent>(log: &Log) -> Result<E, ChainError> {
    E::decode_log(log).map(|log| log.data).map_err(|error| {
        ChainError::Unavailable(format!("undecodable {} log: {error}", E::SIGNATURE))
    })
}

/// A uint256 from the chain as a token amount.
pub(crate) fn amount_of(value: U256, what: &str) -> Result<TokenAmount, ChainError> {
    u128::try_from(value)
        .map(TokenAmount::from_base_units)
        .map_err(|_| ChainError::Unavailable(format!("{what} {value} does not fit in 128 bits")))
}

pub(crate) fn index_of(value: U256) -> Result<SettlementIndex, ChainError> {
    u64::try_from(value).map(SettlementIndex::new).map_err(|_| {
        ChainError::Unavailable(format!("settlement index {value} does not fit in 64 bits"))
    })
}

pub(crate) fn count_of(value: U256) -> Result<u64, ChainError> {
    u64::try_from(value).map_err(|_| {
        ChainError::Unavailable(format!("claim count {value} does not fit in 64 bits"))
    })
}

/// Why the contract refused a transaction, as a [`ChainError`]: the refusals the engine acts
/// on (already settled, paused, caps, float) are typed; any other is named with its
/// arguments.
pub(crate) fn refusal(output: &[u8]) -> ChainError {
    use ClaimsSettlement::ClaimsSettlementErrors as Settlement;
    if let Ok(error) = Settlement::abi_decode(output) {
        let typed = match error {
            Settlement::ClaimAlreadySettled(e) => {
                index_of(e.index).map(ChainError::ClaimAlreadySettled)
            }
            Settlement::BatchAlreadySettled(e) => Ok(ChainError::BatchAlreadySettled(e.batch.0)),
            Settlement::EnforcedPause(_) => Ok(ChainError::Paused),
            Settlement::ClaimAboveCap(e) => (|| {
                Ok(ChainError::ClaimAboveCap {
                    index: index_of(e.index)?,
                    amount: amount_of(e.amount, "ClaimAboveCap.amount")?,
                    cap: amount_of(e.cap, "ClaimAboveCap.cap")?,
                })
            })(),
            Settlement::DailyCapExceeded(e) => (|| {
                Ok(ChainError::DailyCapExceeded {
                    requested: amount_of(e.requested, "DailyCapExceeded.requested")?,
                    remaining: amount_of(e.remaining, "DailyCapExceeded.remaining")?,
                })
            })(),
            Settlement::InsufficientFloat(e) => (|| {
                Ok(ChainError::InsufficientFloat {
                    requested: amount_of(e.requested, "InsufficientFloat.requested")?,
                    available: amount_of(e.available, "InsufficientFloat.available")?,
                })
            })(),
            _ => Err(ChainError::Reverted(describe_revert(output))),
        };
        return typed.unwrap_or_else(|error| error);
    }
    ChainError::Reverted(describe_revert(output))
}

/// A revert in words: the decoded custom error (`Name(arg, ...)`) of either
/// contract, a plain revert reason, or the raw revert data.
pub(crate) fn describe_revert(output: &[u8]) -> String {
    use ClaimsSettlement::ClaimsSettlementErrors as Settlement;
    use MockStablecoin::MockStablecoinErrors as Token;
    if let Ok(error) = Settlement::abi_decode(output) {
        return match error {
            Settlement::AccessControlBadConfirmation(_) => {
                "AccessControlBadConfirmation()".to_owned()
            }
            Settlement::AccessControlUnauthorizedAccount(e) => {
                format!(
                    "AccessControlUnauthorizedAccount({}, {})",
                    e.account, e.neededRole
                )
            }
            Settlement::BatchAlreadySettled(e) => format!("BatchAlreadySettled({})", e.batch),
            Settlement::ClaimAboveCap(e) => {
                format!("ClaimAboveCap({}, {}, {})", e.index, e.amount, e.cap)
            }
            Settlement::ClaimAlreadySettled(e) => format!("ClaimAlreadySettled({})", e.index),
            Settlement::DailyCapExceeded(e) => {
                format!("DailyCapExceeded({}, {})", e.requested, e.remaining)
            }
            Settlement::EmptyBatch(_) => "EmptyBatch()".to_owned(),
            Settlement::EmptyProviderPayout(e) => format!("EmptyProviderPayout({})", e.provider),
            Settlement::EnforcedPause(_) => "EnforcedPause()".to_owned(),
            Settlement::ExpectedPause(_) => "ExpectedPause()".to_owned(),
            Settlement::InsufficientFloat(e) => {
                format!("InsufficientFloat({}, {})", e.requested, e.available)
            }
            Settlement::NothingOwed(e) => format!("NothingOwed({})", e.provider),
            Settlement::ProvidersNotAscending(e) => {
                format!("ProvidersNotAscending({})", e.provider)
            }
            Settlement::ReentrancyGuardReentrantCall(_) => {
                "ReentrancyGuardReentrantCall()".to_owned()
            }
            Settlement::SafeERC20FailedOperation(e) => {
                format!("SafeERC20FailedOperation({})", e.token)
            }
            Settlement::ZeroAddress(_) => "ZeroAddress()".to_owned(),
            Settlement::ZeroAmount(e) => format!("ZeroAmount({})", e.index),
            Settlement::ZeroCap(_) => "ZeroCap()".to_owned(),
            Settlement::ZeroProvider(_) => "ZeroProvider()".to_owned(),
        };
    }
    if let Ok(error) = Token::abi_decode(output) {
        return match error {
            Token::AccountBlocked(e) => format!("AccountBlocked({})", e.account),
            Token::ERC20InsufficientBalance(e) => {
                format!(
                    "ERC20InsufficientBalance({}, {}, {})",
                    e.sender, e.balance, e.needed
                )
            }
            Token::OwnableUnauthorizedAccount(e) => {
                format!("OwnableUnauthorizedAccount({})", e.account)
            }
            other => format!("{other:?}"),
        };
    }
    if let Some(reason) = alloy_sol_types::decode_revert_reason(output) {
        return reason;
    }
    format!("reverted with data {}", Bytes::copy_from_slice(output))
}

pub(crate) fn address(wallet: WalletAddress) -> Address {
    Address::from(*wallet.as_bytes())
}

pub(crate) fn wallet(address: Address) -> WalletAddress {
    WalletAddress::from_bytes(address.into_array())
}
