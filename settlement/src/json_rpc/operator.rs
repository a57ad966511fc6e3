//! An operator's transactions on a JSON-RPC chain: deploying the contracts, pausing,
//! setting caps, a provider's withdrawal, and the mock token's controls for tests and demos.
//!
//! These are not payouts, so they do not go through the settler's ledger: each is
//! simulated, signed with the account's next nonce, sent and awaited (with a timeout) to
//! the operator's number of confirmations. A call the signing account has no role for is
//! refused in simulation as [`ChainError::MissingRole`].

use super::endpoint::RpcEndpoint;
use super::key::SettlerKey;
use super::{refusal, transaction_hash, unavailable, view};
use crate::abi::{address, amount_of, wallet};
use crate::chain::{ChainError, ContractRole, SettlementCaps, Withdrawal};
use crate::contracts::{ClaimsSettlement, MockStablecoin};
use crate::token::TokenAmount;
use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::BlockNumberOrTag;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, Bytes, TxKind, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::{SolCall, SolConstructor, SolError, SolEvent};
use alloy::transports::TransportError;
use claims_domain::{TransactionHash, WalletAddress};
use std::time::{Duration, Instant};
use tracing::info;

/// How long an operator's transaction may take to be mined, unless told otherwise.
const PATIENCE: Duration = Duration::from_secs(60);

/// An operator's transaction, mined and as deep as the operator waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorReceipt {
    /// The transaction.
    pub transaction: TransactionHash,
    /// The block it was mined in.
    pub block: u64,
}

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
    confirmations: u64,
    patience: Duration,
}

impl Operator {
    /// An operator signing with `key` on the node at `rpc_url` (`http://`, or `https://`
    /// trusting the platform's roots).
    pub async fn connect(rpc_url: &str, key: SettlerKey) -> Result<Self, ChainError> {
        Self::connect_to(&RpcEndpoint::new(rpc_url, None)?, key).await
    }

    /// An operator signing with `key` on the node at `endpoint`.
    pub async fn connect_to(endpoint: &RpcEndpoint, key: SettlerKey) -> Result<Self, ChainError> {
        let provider = endpoint.provider()?;
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|error| endpoint.unreachable(&error))?;
        Ok(Self {
            provider,
            key,
            chain_id,
            confirmations: 1,
            patience: PATIENCE,
        })
    }

    /// Waits for `confirmations` blocks (the including one counted; at least 1) after each
    /// transaction, for at most `patience` in all: 1 block and 60 s unless told.
    pub fn awaiting(mut self, confirmations: u64, patience: Duration) -> Self {
        self.confirmations = confirmations.max(1);
        self.patience = patience;
        self
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

    /// Pauses the contract (the pauser's call): every batch and withdrawal is refused
    /// until the admin unpauses it.
    pub async fn pause(&self, settlement: WalletAddress) -> Result<OperatorReceipt, ChainError> {
        let receipt = self
            .call(address(settlement), &ClaimsSettlement::pauseCall {})
            .await?;
        Ok(operator_receipt(&receipt))
    }

    /// Unpauses the contract (the admin's call).
    pub async fn unpause(&self, settlement: WalletAddress) -> Result<OperatorReceipt, ChainError> {
        let receipt = self
            .call(address(settlement), &ClaimsSettlement::unpauseCall {})
            .await?;
        Ok(operator_receipt(&receipt))
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
        let gas = self
            .provider
            .estimate_gas(request)
            .await
            .map_err(operator_refusal)?;
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
            .map_err(operator_refusal)?;
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
                if self.is_deep_enough(&receipt).await? {
                    return Ok(receipt);
                }
            }
            if started.elapsed() > self.patience {
                return Err(ChainError::Unavailable(format!(
                    "operator transaction {hash} not mined {} blocks deep within {:?}; look it up before sending it again",
                    self.confirmations, self.patience
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// True once the receipt's block is the operator's number of confirmations deep and
    /// still canonical.
    async fn is_deep_enough(&self, receipt: &TransactionReceipt) -> Result<bool, ChainError> {
        let (Some(block), Some(block_hash)) = (receipt.block_number, receipt.block_hash) else {
            return Ok(false);
        };
        if self.confirmations <= 1 {
            return Ok(true);
        }
        let head = self
            .provider
            .get_block_number()
            .await
            .map_err(unavailable)?;
        if head + 1 < block + self.confirmations {
            return Ok(false);
        }
        let canonical = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(block))
            .await
            .map_err(unavailable)?
            .map(|block| block.header.hash);
        Ok(canonical == Some(block_hash))
    }
}

fn operator_receipt(receipt: &TransactionReceipt) -> OperatorReceipt {
    OperatorReceipt {
        transaction: transaction_hash(receipt.transaction_hash),
        block: receipt.block_number.unwrap_or_default(),
    }
}

/// A refusal of an operator's transaction: a missing role named as such, anything else as
/// the settlement chain decodes it.
fn operator_refusal(error: TransportError) -> ChainError {
    let missing_role = error
        .as_error_resp()
        .and_then(|payload| payload.as_revert_data())
        .and_then(|data| {
            ClaimsSettlement::AccessControlUnauthorizedAccount::abi_decode(&data).ok()
        });
    match missing_role {
        Some(refused) => ChainError::MissingRole {
            account: wallet(refused.account),
            role: ContractRole::from_id(refused.neededRole.0),
        },
        None => refusal(error),
    }
}
