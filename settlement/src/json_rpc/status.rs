//! What an operator on call reads about a settlement contract: paused or not, the caps and
//! what today's cap still allows, the float and what the contract owes providers, and who
//! holds each role. Reading needs no key.

use super::endpoint::RpcEndpoint;
use super::{unavailable, view};
use crate::abi::{address, amount_of, wallet};
use crate::chain::{ChainError, ContractRole, SettlementCaps};
use crate::contracts::{ClaimsSettlement, MockStablecoin};
use crate::token::TokenAmount;
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use claims_domain::WalletAddress;
use std::collections::{BTreeMap, BTreeSet};

/// A settlement contract as it stands at the chain's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractStatus {
    /// The chain's id.
    pub chain_id: u64,
    /// The block the status was read at (the head when reading began).
    pub head: u64,
    /// The settlement contract.
    pub settlement: WalletAddress,
    /// True while every batch and withdrawal is refused.
    pub paused: bool,
    /// The token it pays in.
    pub token: WalletAddress,
    /// The token's symbol.
    pub token_symbol: String,
    /// The token's decimals.
    pub token_decimals: u32,
    /// The per-claim and per-day caps.
    pub caps: SettlementCaps,
    /// What the daily cap still allows today (UTC day of the chain's clock).
    pub remaining_today: TokenAmount,
    /// The contract's token balance: the float for batches plus what it owes.
    pub balance: TokenAmount,
    /// What the contract owes providers whose transfers failed (they withdraw it).
    pub total_owed: TokenAmount,
    /// The accounts holding each role, from the contract's `RoleGranted` and `RoleRevoked`
    /// logs since the block named; `None` when no block was named (reading a long chain's
    /// logs from block 0 takes thousands of requests).
    pub role_holders: Option<BTreeMap<ContractRole, BTreeSet<WalletAddress>>>,
}

impl ContractStatus {
    /// The float batches can draw on: the balance less what is owed.
    pub fn float(&self) -> TokenAmount {
        TokenAmount::from_base_units(
            self.balance
                .base_units()
                .saturating_sub(self.total_owed.base_units()),
        )
    }
}

/// Reads the status of the contract at `settlement`, with role holders from the logs since
/// `roles_from` if named (the deployment block: roles are granted in the constructor).
pub async fn contract_status(
    endpoint: &RpcEndpoint,
    settlement: WalletAddress,
    roles_from: Option<u64>,
) -> Result<ContractStatus, ChainError> {
    let provider = endpoint.provider()?;
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|error| endpoint.unreachable(&error))?;
    let head = provider.get_block_number().await.map_err(unavailable)?;
    let contract = address(settlement);
    let code = provider.get_code_at(contract).await.map_err(unavailable)?;
    if code.is_empty() {
        return Err(ChainError::Unavailable(format!(
            "no contract at {settlement} on chain {chain_id}"
        )));
    }
    let paused = view(&provider, contract, &ClaimsSettlement::pausedCall {}).await?;
    let token = view(&provider, contract, &ClaimsSettlement::tokenCall {}).await?;
    let token_symbol = view(&provider, token, &MockStablecoin::symbolCall {}).await?;
    let token_decimals = view(&provider, token, &MockStablecoin::decimalsCall {}).await?;
    let per_claim = view(&provider, contract, &ClaimsSettlement::claimCapCall {}).await?;
    let per_day = view(&provider, contract, &ClaimsSettlement::dailyCapCall {}).await?;
    let remaining = view(
        &provider,
        contract,
        &ClaimsSettlement::remainingTodayCall {},
    )
    .await?;
    let owed = view(&provider, contract, &ClaimsSettlement::totalOwedCall {}).await?;
    let balance = view(
        &provider,
        token,
        &MockStablecoin::balanceOfCall { account: contract },
    )
    .await?;
    let role_holders = match roles_from {
        Some(from_block) => Some(role_holders(&provider, settlement, from_block, head).await?),
        None => None,
    };
    Ok(ContractStatus {
        chain_id,
        head,
        settlement,
        paused,
        token: wallet(token),
        token_symbol,
        token_decimals: u32::from(token_decimals),
        caps: SettlementCaps {
            per_claim: amount_of(per_claim, "claimCap")?,
            per_day: amount_of(per_day, "dailyCap")?,
        },
        remaining_today: amount_of(remaining, "remainingToday")?,
        balance: amount_of(balance, "balanceOf")?,
        total_owed: amount_of(owed, "totalOwed")?,
        role_holders,
    })
}

/// Who holds each role at `head`: every grant and revocation in log order.
async fn role_holders(
    provider: &RootProvider,
    settlement: WalletAddress,
    from_block: u64,
    head: u64,
) -> Result<BTreeMap<ContractRole, BTreeSet<WalletAddress>>, ChainError> {
    // In ranges, as public nodes cap how many blocks one eth_getLogs may span.
    const RANGE: u64 = 10_000;
    let mut holders: BTreeMap<ContractRole, BTreeSet<WalletAddress>> = BTreeMap::new();
    let mut from = from_block;
    while from <= head {
        let to = (from + RANGE - 1).min(head);
        let filter = Filter::new()
            .address(address(settlement))
            .event_signature(vec![
                ClaimsSettlement::RoleGranted::SIGNATURE_HASH,
                ClaimsSettlement::RoleRevoked::SIGNATURE_HASH,
            ])
            .from_block(from)
            .to_block(to);
        for log in provider.get_logs(&filter).await.map_err(unavailable)? {
            if let Ok(granted) = ClaimsSettlement::RoleGranted::decode_log(&log.inner) {
                holders
                    .entry(ContractRole::from_id(granted.role.0))
                    .or_default()
                    .insert(wallet(granted.account));
            } else if let Ok(revoked) = ClaimsSettlement::RoleRevoked::decode_log(&log.inner) {
                holders
                    .entry(ContractRole::from_id(revoked.role.0))
                    .or_default()
                    .remove(&wallet(revoked.account));
            }
        }
        from = to + 1;
    }
    Ok(holders)
}
