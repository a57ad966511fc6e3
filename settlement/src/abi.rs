//! The contract's ABI as the engine uses it, shared by every settlement chain: the
//! `settleBatch` call built from a [`ChainBatch`], the batch receipt decoded from its logs,
//! and the contract's refusals decoded from revert data.

use crate::chain::{
    BatchReceipt, ChainBatch, ChainError, Delivery, ProviderSettlement, SettlementLog,
};
use crate::contracts::{ClaimsSettlement, MockStablecoin};
use crate::payouts;
use crate::token::TokenAmount;
use alloy_primitives::{Address, Bytes, Log, U256};
use alloy_sol_types::{SolEvent, SolInterface};
use claims_domain::payout::SettlementIndex;
use claims_domain::{TransactionHash, WalletAddress};

/// The `settleBatch` call that pays a netted batch, its payouts packed ([`payouts`]).
pub(crate) fn settle_batch_call(
    batch: &ChainBatch,
) -> Result<ClaimsSettlement::settleBatchCall, ChainError> {
    Ok(ClaimsSettlement::settleBatchCall {
        batch: batch.batch.into(),
        payouts: payouts::encode(batch)?.into(),
    })
}

/// The batch receipt a settling transaction's logs describe; logs of other contracts (the
/// token's transfers) are skipped.
///
/// The claims come from the packed payouts `BatchSettled` carries; each provider's netted
/// payout is the sum of its claims, transferred unless a `ProviderOwed` log of the batch
/// names it.
pub(crate) fn batch_receipt<'a>(
    settlement: Address,
    logs: impl IntoIterator<Item = &'a Log>,
    transaction: TransactionHash,
    block: u64,
    gas_used: u64,
) -> Result<BatchReceipt, ChainError> {
    use ClaimsSettlement::{BatchSettled, ProviderOwed};
    let mut owed = Vec::new();
    let mut settled = None;
    for log in logs {
        if log.address != settlement {
            continue;
        }
        match log.topics().first() {
            Some(&ProviderOwed::SIGNATURE_HASH) => {
                let event = decode::<ProviderOwed>(log)?;
                owed.push((event.batch, wallet(event.provider)));
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
    let claims = payouts::decode(&settled.payouts)?;
    let mut providers: Vec<ProviderSettlement> = Vec::new();
    for claim in &claims {
        match providers.last_mut() {
            Some(last) if last.provider == claim.provider => {
                last.amount = last.amount.checked_add(claim.amount).ok_or_else(|| {
                    ChainError::Unavailable(format!(
                        "the payout to {} does not fit in 128 bits",
                        claim.provider
                    ))
                })?;
                last.claims += 1;
            }
            _ => providers.push(ProviderSettlement {
                provider: claim.provider,
                amount: claim.amount,
                claims: 1,
                delivery: Delivery::Transferred,
            }),
        }
    }
    for provider in &mut providers {
        if owed.contains(&(settled.batch, provider.provider)) {
            provider.delivery = Delivery::Owed;
        }
    }
    if count_of(settled.claims)? != claims.len() as u64 {
        return Err(ChainError::Unavailable(format!(
            "BatchSettled counts {} claims but carries {}",
            settled.claims,
            claims.len()
        )));
    }
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

/// Every claim a `BatchSettled` log records, as reconciliation reads them; `None` for
/// another log.
pub(crate) fn settlement_logs_of(
    log: &Log,
    transaction: TransactionHash,
    block: u64,
) -> Option<Result<Vec<SettlementLog>, ChainError>> {
    if log.topics().first() != Some(&ClaimsSettlement::BatchSettled::SIGNATURE_HASH) {
        return None;
    }
    Some(
        decode::<ClaimsSettlement::BatchSettled>(log)
            .and_then(|event| payouts::decode(&event.payouts))
            .map(|claims| {
                claims
                    .into_iter()
                    .map(|claim| SettlementLog {
                        index: claim.index,
                        provider: claim.provider,
                        amount: claim.amount,
                        transaction,
                        block,
                    })
                    .collect()
            }),
    )
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
            Settlement::ClaimAboveCap(e) => {
                format!("ClaimAboveCap({}, {}, {})", e.index, e.amount, e.cap)
            }
            Settlement::ClaimAlreadySettled(e) => format!("ClaimAlreadySettled({})", e.index),
            Settlement::DailyCapExceeded(e) => {
                format!("DailyCapExceeded({}, {})", e.requested, e.remaining)
            }
            Settlement::CapTooLarge(_) => "CapTooLarge()".to_owned(),
            Settlement::EmptyBatch(_) => "EmptyBatch()".to_owned(),
            Settlement::EmptyProviderPayout(e) => format!("EmptyProviderPayout({})", e.provider),
            Settlement::EnforcedPause(_) => "EnforcedPause()".to_owned(),
            Settlement::ExpectedPause(_) => "ExpectedPause()".to_owned(),
            Settlement::InsufficientFloat(e) => {
                format!("InsufficientFloat({}, {})", e.requested, e.available)
            }
            Settlement::MalformedPayouts(e) => format!("MalformedPayouts({})", e.offset),
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
