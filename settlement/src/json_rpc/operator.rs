//! An operator's transactions on a JSON-RPC chain: deploying the contracts, pausing,
//! setting caps, a provider's withdrawal, and the mock token's controls for tests and demos.
//!
//! These are not payouts, so they do not go through the settler's ledger: each is
//! simulated, signed with the account's next nonce, sent and awaited (with a timeout).

use super::key::SettlerKey;
use super::{connect_http, refusal, transaction_hash, unavailable, view};
use crate::abi::{address, amount_of, wallet};
use crate::chain::{ChainError, SettlementCaps, Withdrawal};
use crate::contracts::{ClaimsSettlement, MockStablecoin};
use crate::token::TokenAmount;
use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, Bytes, TxKind, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::{SolCall, SolConstructor, SolEvent};
use claims_domain::WalletAddress;
use std::time::{Duration, Instant};
use tracing::info;

/// How long an operator's transaction may take to be mined.
const PATIENCE: Duration = Duration::from_secs(60);

/// What `deploy` put on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// The settlement contract.
    pub settlement: WalletAddress,
    /// The token it pays in.
    pub token: WalletAddress,
    /// The block the settlement contract was deployed in (reconciliation reads from here).
    pub block: u64,
}

/// The roles and limits a settlement contract is deployed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeploymentPlan {
    /// The token to pay in; `None` deploys the mock stablecoin (tests, demos).
    pub token: Option<WalletAddress>,
    /// Holds `DEFAULT_ADMIN_ROLE`.
    pub admin: WalletAddress,
    /// Holds `SETTLER_ROLE`.
    pub settler: WalletAddress,
    /// Holds `PAUSER_ROLE`.
    pub pauser: WalletAddress,
    /// Per-claim and daily caps.
    pub caps: SettlementCaps,
    /// Mock tokens minted to the contract as its float (only with the mock token).
    pub float: TokenAmount,
}

/// One account sending transactions to a JSON-RPC chain.
pub struct Operator {
    provider: RootProvider,
    key: SettlerKey,
    chain_id: u64,
}

impl Operator {
    /// An operator signing with `key` on the node at `rpc_url`.
    pub async fn connect(rpc_url: &str, key: SettlerKey) -> Result<Self, ChainError> {
        let provider = connect_http(rpc_url)?;
        let chain_id = provider.get_chain_id().await.map_err(unavailable)?;
        Ok(Self {
            provider,
            key,
            chain_id,
        })
    }

    /// The operator's account.
    pub fn address(&self) -> WalletAddress {
        self.key.address()
    }

    /// Deploys the settlement contract (and the mock token, unless one is named), and
    /// mints the float to it when the token is the mock.
    pub async fn deploy(&self, plan: DeploymentPlan) -> Result<Deployment, ChainError> {
        let token = match plan.token {
            Some(token) => address(token),
            None => {
                let receipt = self
                    .send(TxKind::Create, MockStablecoin::BYTECODE.to_vec())
                    .await?;
                receipt.contract_address.ok_or_else(|| {
                    ChainError::Unavailable("the token's deployment created no contract".to_owned())
                })?
            }
        };
        let mut init = ClaimsSettlement::BYTECODE.to_vec();
        init.extend(
            ClaimsSettlement::constructorCall {
                token_: token,
                admin: address(plan.admin),
                settler: address(plan.settler),
                pauser: address(plan.pauser),
                claimCap_: U256::from(plan.caps.per_claim.base_units()),
                dailyCap_: U256::from(plan.caps.per_day.base_units()),
            }
            .abi_encode(),
        );
        let receipt = self.send(TxKind::Create, init).await?;
        let settlement = receipt.contract_address.ok_or_else(|| {
            ChainError::Unavailable("the settlement deployment created no contract".to_owned())
        })?;
        if plan.token.is_none() && plan.float.base_units() > 0 {
            self.call(
                token,
                &MockStablecoin::mintCall {
                    to: settlement,
                    amount: U256::from(plan.float.base_units()),
                },
            )
            .await?;
        }
        let deployment = Deployment {
            settlement: wallet(settlement),
            token: wallet(token),
            block: receipt.block_number.unwrap_or_default(),
        };
        info!(settlement = %deployment.settlement, token = %deployment.token, block = deployment.block, "settlement contract deployed");
        Ok(deployment)
    }

    /// Pauses the contract (the pauser's call).
    pub async fn pause(&self, settlement: WalletAddress) -> Result<(), ChainError> {
        self.call(address(settlement), &ClaimsSettlement::pauseCall {})
            .await
            .map(drop)
    }

    /// Unpauses the contract (the admin's call).
    pub async fn unpause(&self, settlement: WalletAddress) -> Result<(), ChainError> {
        self.call(address(settlement), &ClaimsSettlement::unpauseCall {})
            .await
            .map(drop)
    }

    /// Sets the caps (the admin's call).
    pub async fn set_caps(
        &self,
        settlement: WalletAddress,
        caps: SettlementCaps,
    ) -> Result<(), ChainError> {
        let call = ClaimsSettlement::setCapsCall {
            claimCap_: U256::from(caps.per_claim.base_units()),
            dailyCap_: U256::from(caps.per_day.base_units()),
        };
        self.call(address(settlement), &call).await.map(drop)
    }

    /// The contract's caps.
    pub async fn caps(&self, settlement: WalletAddress) -> Result<SettlementCaps, ChainError> {
        let contract = address(settlement);
        let per_claim = view(&self.provider, contract, &ClaimsSettlement::claimCapCall {}).await?;
        let per_day = view(&self.provider, contract, &ClaimsSettlement::dailyCapCall {}).await?;
        Ok(SettlementCaps {
            per_claim: amount_of(per_claim, "claimCap")?,
            per_day: amount_of(per_day, "dailyCap")?,
        })
    }

    /// Blocks or unblocks transfers to `account` on the mock token (its owner's call).
    pub async fn set_transfers_blocked(
        &self,
        token: WalletAddress,
        account: WalletAddress,
        blocked: bool,
    ) -> Result<(), ChainError> {
        let call = MockStablecoin::setBlockedCall {
            account: address(account),
            blocked,
        };
        self.call(address(token), &call).await.map(drop)
    }

    /// Withdraws what the contract owes the operator's account (a provider's call).
    pub async fn withdraw(&self, settlement: WalletAddress) -> Result<Withdrawal, ChainError> {
        let receipt = self
            .call(address(settlement), &ClaimsSettlement::withdrawCall {})
            .await?;
        let event = receipt
            .inner
            .logs()
            .iter()
            .find_map(|log| ClaimsSettlement::OwedWithdrawn::decode_log(&log.inner).ok())
            .ok_or_else(|| {
                ChainError::Unavailable("the withdrawal emitted no OwedWithdrawn".to_owned())
            })?;
        Ok(Withdrawal {
            transaction: transaction_hash(receipt.transaction_hash),
            provider: wallet(event.provider),
            amount: amount_of(event.amount, "OwedWithdrawn.amount")?,
        })
    }

    async fn call<C: SolCall>(
        &self,
        contract: Address,
        call: &C,
    ) -> Result<TransactionReceipt, ChainError> {
        self.send(TxKind::Call(contract), call.abi_encode()).await
    }

    /// Simulates, signs with the account's next nonce, sends and awaits one transaction.
    async fn send(&self, to: TxKind, input: Vec<u8>) -> Result<TransactionReceipt, ChainError> {
        let from = address(self.key.address());
        let mut request = TransactionRequest::default()
            .from(from)
            .input(Bytes::from(input.clone()).into());
        request.to = Some(to);
        let gas = self.provider.estimate_gas(request).await.map_err(refusal)?;
        let nonce = self
            .provider
            .get_transaction_count(from)
            .pending()
            .await
            .map_err(unavailable)?;
        let fees = self
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(unavailable)?;
        let mut unsigned = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit: gas.saturating_add(gas / 5).min(super::TX_GAS_CAP),
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            to,
            value: U256::ZERO,
            access_list: Default::default(),
            input: input.into(),
        };
        let signature = self
            .key
            .signer()
            .sign_transaction_sync(&mut unsigned)
            .map_err(|error| ChainError::Unavailable(format!("signing failed: {error}")))?;
        let raw = TxEnvelope::from(unsigned.into_signed(signature)).encoded_2718();
        let pending = self
            .provider
            .send_raw_transaction(&raw)
            .await
            .map_err(refusal)?;
        let hash = *pending.tx_hash();
        let started = Instant::now();
        loop {
            if let Some(receipt) = self
                .provider
                .get_transaction_receipt(hash)
                .await
                .map_err(unavailable)?
            {
                if !receipt.status() {
                    return Err(ChainError::Reverted(format!(
                        "operator transaction {hash} reverted"
                    )));
                }
                return Ok(receipt);
            }
            if started.elapsed() > PATIENCE {
                return Err(ChainError::Unavailable(format!(
                    "operator transaction {hash} not mined within {PATIENCE:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
