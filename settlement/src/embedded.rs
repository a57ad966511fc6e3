//! An in-process EVM (revm) running the real `ClaimsSettlement` bytecode: the settlement
//! chain of the embedded default and of fast tests.
//!
//! It deploys the committed artifacts (the mock stablecoin, then the settlement contract),
//! funds the contract's float, and from then on behaves like a tiny single-node chain with
//! one transaction per block. It checks no signatures (revm does not), so the admin and
//! settler accounts are plain, well-known addresses without private keys. What it keeps
//! of a real chain is what the engine relies on: the contract's own refusals, nonces,
//! blocks, gas and logs.

use crate::abi::{self, address, amount_of, validate, wallet};
use crate::chain::{
    BatchReceipt, ChainBatch, ChainError, SettlementCaps, SettlementChain, SettlementLog,
    TokenInfo, Withdrawal,
};
use crate::contracts::{ClaimsSettlement, MockStablecoin};
use crate::token::TokenAmount;
use alloy_primitives::{Address, B256, Bytes, Log, TxKind, U256, keccak256};
use alloy_sol_types::{SolCall, SolConstructor, SolEvent};
use async_trait::async_trait;
use claims_domain::payout::SettlementIndex;
use claims_domain::{TransactionHash, WalletAddress};
use revm::context::TxEnv;
use revm::context::result::{ExecutionResult, Output};
use revm::database::{CacheDB, EmptyDB};
use revm::handler::{MainnetContext, MainnetEvm};
use revm::primitives::hardfork::SpecId;
use revm::state::AccountInfo;
use revm::{Context, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use tracing::{debug, info, warn};

/// The chain id the embedded chain reports, the one local development chains use.
const CHAIN_ID: u64 = 31_337;
/// The genesis block's timestamp: 2026-01-01T00:00:00Z, fixed so that runs are reproducible.
const GENESIS_TIMESTAMP: u64 = 1_767_225_600;
/// Seconds between blocks, as on Ethereum mainnet.
const BLOCK_TIME_SECONDS: u64 = 12;
/// The gas a transaction may use: the per-transaction cap of the Osaka hard fork (EIP-7825),
/// so a batch too large for a real chain is too large here as well.
const TX_GAS_LIMIT: u64 = 1 << 24;
/// The block gas limit.
const BLOCK_GAS_LIMIT: u64 = 60_000_000;
/// Ether given to the admin and settler accounts at genesis. Gas is free here (base fee
/// and gas price are zero), but an account with a balance behaves like a real one.
const GENESIS_ETHER_WEI: u128 = 1_000 * 10u128.pow(18);
/// The hard fork the EVM runs. The bytecode targets Cancun; later forks run it unchanged.
const SPEC: SpecId = SpecId::OSAKA;

/// The chain's state: an in-memory database that starts empty.
type ChainDb = CacheDB<EmptyDB>;

/// An EVM for one transaction, with mainnet rules, over the chain's database.
type Evm<'db> = MainnetEvm<MainnetContext<&'db mut ChainDb>>;

/// How to launch an [`EmbeddedChain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedChainConfig {
    /// Tokens minted to the settlement contract at launch: the working float it pays
    /// providers from, as an insurer would top it up from treasury.
    pub float: TokenAmount,
    /// The contract's per-claim and per-day caps at deployment.
    pub caps: SettlementCaps,
}

impl EmbeddedChainConfig {
    /// A chain with this float and generous caps for a demo: 1 000 000 tokens per claim and
    /// 100 000 000 tokens per day (at the mock stablecoin's 6 decimals).
    pub fn with_float(float: TokenAmount) -> Self {
        Self {
            float,
            caps: SettlementCaps {
                per_claim: TokenAmount::from_base_units(1_000_000 * 1_000_000),
                per_day: TokenAmount::from_base_units(100_000_000 * 1_000_000),
            },
        }
    }
}

/// Everything one transaction put on the chain, kept so that a test can scan all of it for
/// health data (invariant 5: only opaque references, wallets and amounts may appear).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedTransaction {
    /// Its pseudo hash (see [`EmbeddedChain`]: not an RLP transaction hash).
    pub hash: TransactionHash,
    /// The block that included it; `None` for a batch refused in simulation, which never
    /// entered a block but whose calldata a real chain's node would still have seen.
    pub block: Option<u64>,
    /// The sending account.
    pub from: WalletAddress,
    /// The called contract; `None` for a contract creation.
    pub to: Option<WalletAddress>,
    /// The calldata (for a creation: the init code and constructor arguments).
    pub calldata: Vec<u8>,
    /// Gas it used (for a batch refused in simulation: what the simulation used).
    pub gas_used: u64,
    /// True if it ran to completion; false if it reverted or was refused in simulation.
    pub succeeded: bool,
    /// The logs it emitted.
    pub logs: Vec<RecordedLog>,
}

/// One log a transaction emitted, as any observer of the chain sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedLog {
    /// The contract that emitted it.
    pub address: WalletAddress,
    /// Its topics (the first is the event's signature hash).
    pub topics: Vec<[u8; 32]>,
    /// Its non-indexed data.
    pub data: Vec<u8>,
}

/// The in-process settlement chain.
///
/// One transaction per block: each committed transaction gets the next block number and a
/// timestamp 12 seconds later. Transaction hashes are pseudo hashes,
/// `keccak256(sender ‖ nonce as 8 big-endian bytes ‖ calldata)`: unique per transaction,
/// but not the RLP hash of a signed transaction, which this chain never builds.
///
/// The chain's state sits behind a [`std::sync::Mutex`]: revm calls are synchronous and
/// short, and the lock is never held across an `.await`. revm's EVM itself is not `Send`,
/// so a fresh one (cheap: the precompiles are shared statics) is built over the state's
/// database for every transaction and call.
pub struct EmbeddedChain {
    state: Mutex<ChainState>,
    token_info: TokenInfo,
    admin: Address,
    settler: Address,
    pauser: Address,
    settlement: Address,
    token: Address,
}

/// What the mutex guards: the chain's accounts and storage, and the bookkeeping around them.
struct ChainState {
    db: ChainDb,
    /// Next nonce of every account that has sent a transaction.
    nonces: BTreeMap<Address, u64>,
    /// The latest block; the next transaction goes into `head + 1`.
    head: u64,
    /// Seconds added to every block's timestamp by [`EmbeddedChain::advance_time`].
    time_offset: u64,
    transactions: Vec<RecordedTransaction>,
}

/// The outcome of one executed (committed or simulated) transaction.
struct Executed {
    hash: TransactionHash,
    block: u64,
    result: ExecutionResult,
}

impl EmbeddedChain {
    /// Starts a fresh chain: deploys the mock stablecoin and the settlement contract from
    /// the committed artifacts, and mints `config.float` to the settlement contract.
    ///
    /// The admin deploys both contracts and holds `DEFAULT_ADMIN_ROLE` (and owns the mock
    /// token); a separate settler account holds `SETTLER_ROLE` and sends every batch, as the
    /// engine's hot key would; a third account holds `PAUSER_ROLE`.
    pub fn launch(config: EmbeddedChainConfig) -> Result<Self, ChainError> {
        let admin = well_known_account("admin");
        let settler = well_known_account("settler");
        let pauser = well_known_account("pauser");

        let mut db = CacheDB::new(EmptyDB::default());
        for account in [admin, settler, pauser] {
            db.insert_account_info(
                account,
                AccountInfo::from_balance(U256::from(GENESIS_ETHER_WEI)),
            );
        }
        let mut state = ChainState {
            db,
            nonces: BTreeMap::new(),
            head: 0,
            time_offset: 0,
            transactions: Vec::new(),
        };

        let token = state.deploy(admin, MockStablecoin::BYTECODE.to_vec(), "MockStablecoin")?;
        let mut settlement_init = ClaimsSettlement::BYTECODE.to_vec();
        settlement_init.extend(
            ClaimsSettlement::constructorCall {
                token_: token,
                admin,
                settler,
                pauser,
                claimCap_: U256::from(config.caps.per_claim.base_units()),
                dailyCap_: U256::from(config.caps.per_day.base_units()),
            }
            .abi_encode(),
        );
        let settlement = state.deploy(admin, settlement_init, "ClaimsSettlement")?;

        if config.float.base_units() > 0 {
            let mint = MockStablecoin::mintCall {
                to: settlement,
                amount: U256::from(config.float.base_units()),
            };
            let executed =
                state.execute(admin, TxKind::Call(token), mint.abi_encode(), Commit::Yes)?;
            if !executed.result.is_success() {
                return Err(ChainError::Unavailable(format!(
                    "minting the float failed: {}",
                    describe_failure(&executed.result)
                )));
            }
        }

        let symbol = state.view(token, &MockStablecoin::symbolCall {})?;
        let decimals = state.view(token, &MockStablecoin::decimalsCall {})?;
        let token_info = TokenInfo {
            symbol,
            decimals: u32::from(decimals),
        };
        info!(
            %settlement,
            %token,
            %admin,
            %settler,
            %pauser,
            float = %config.float,
            claim_cap = %config.caps.per_claim,
            daily_cap = %config.caps.per_day,
            symbol = %token_info.symbol,
            decimals = token_info.decimals,
            "embedded settlement chain launched"
        );
        Ok(Self {
            state: Mutex::new(state),
            token_info,
            admin,
            settler,
            pauser,
            settlement,
            token,
        })
    }

    /// The `ClaimsSettlement` contract's address.
    pub fn settlement_address(&self) -> WalletAddress {
        wallet(self.settlement)
    }

    /// The payout token's address.
    pub fn token_address(&self) -> WalletAddress {
        wallet(self.token)
    }

    /// The account holding `DEFAULT_ADMIN_ROLE`, which deployed both contracts.
    pub fn admin_address(&self) -> WalletAddress {
        wallet(self.admin)
    }

    /// The account holding `SETTLER_ROLE`, which sends every batch.
    pub fn settler_address(&self) -> WalletAddress {
        wallet(self.settler)
    }

    /// The account holding `PAUSER_ROLE`.
    pub fn pauser_address(&self) -> WalletAddress {
        wallet(self.pauser)
    }

    /// Moves the chain's clock forward: every later block is `by` later than it would have
    /// been. For tests of the daily cap, whose day is the block timestamp's UTC day.
    pub fn advance_time(&self, by: std::time::Duration) -> Result<(), ChainError> {
        let mut state = self.lock()?;
        state.time_offset = state.time_offset.saturating_add(by.as_secs());
        Ok(())
    }

    /// Pauses the contract from the pauser account.
    pub fn pause(&self) -> Result<TransactionHash, ChainError> {
        self.pause_as(wallet(self.pauser))
    }

    /// Pauses the contract from any account (only `PAUSER_ROLE` may).
    pub fn pause_as(&self, caller: WalletAddress) -> Result<TransactionHash, ChainError> {
        self.send(
            address(caller),
            self.settlement,
            &ClaimsSettlement::pauseCall {},
        )
    }

    /// Unpauses the contract from the admin account.
    pub fn unpause(&self) -> Result<TransactionHash, ChainError> {
        self.unpause_as(wallet(self.admin))
    }

    /// Unpauses the contract from any account (only `DEFAULT_ADMIN_ROLE` may).
    pub fn unpause_as(&self, caller: WalletAddress) -> Result<TransactionHash, ChainError> {
        self.send(
            address(caller),
            self.settlement,
            &ClaimsSettlement::unpauseCall {},
        )
    }

    /// True if the contract is paused.
    pub fn is_paused(&self) -> Result<bool, ChainError> {
        self.lock()?
            .view(self.settlement, &ClaimsSettlement::pausedCall {})
    }

    /// Sets the caps from the admin account.
    pub fn set_caps(&self, caps: SettlementCaps) -> Result<TransactionHash, ChainError> {
        self.set_caps_as(wallet(self.admin), caps)
    }

    /// Sets the caps from any account (only `DEFAULT_ADMIN_ROLE` may).
    pub fn set_caps_as(
        &self,
        caller: WalletAddress,
        caps: SettlementCaps,
    ) -> Result<TransactionHash, ChainError> {
        let call = ClaimsSettlement::setCapsCall {
            claimCap_: U256::from(caps.per_claim.base_units()),
            dailyCap_: U256::from(caps.per_day.base_units()),
        };
        self.send(address(caller), self.settlement, &call)
    }

    /// The contract's caps.
    pub fn caps(&self) -> Result<SettlementCaps, ChainError> {
        let mut state = self.lock()?;
        let per_claim = state.view(self.settlement, &ClaimsSettlement::claimCapCall {})?;
        let per_day = state.view(self.settlement, &ClaimsSettlement::dailyCapCall {})?;
        Ok(SettlementCaps {
            per_claim: amount_of(per_claim, "claimCap")?,
            per_day: amount_of(per_day, "dailyCap")?,
        })
    }

    /// What the daily cap still allows today.
    pub fn remaining_today(&self) -> Result<TokenAmount, ChainError> {
        let remaining = self
            .lock()?
            .view(self.settlement, &ClaimsSettlement::remainingTodayCall {})?;
        amount_of(remaining, "remainingToday")
    }

    /// Makes the mock stablecoin refuse (or again accept) every transfer to and from a
    /// wallet, as USDC does for a blacklisted address. Sent by the token's owner, the admin.
    pub fn set_transfers_blocked(
        &self,
        account: WalletAddress,
        blocked: bool,
    ) -> Result<TransactionHash, ChainError> {
        let call = MockStablecoin::setBlockedCall {
            account: address(account),
            blocked,
        };
        self.send(self.admin, self.token, &call)
    }

    /// A provider withdraws what the contract owes it, signed by the provider itself.
    pub fn withdraw_as(&self, provider: WalletAddress) -> Result<Withdrawal, ChainError> {
        let caller = address(provider);
        let calldata = ClaimsSettlement::withdrawCall {}.abi_encode();
        let mut state = self.lock()?;
        state.fund_gas(caller);
        let executed =
            state.execute(caller, TxKind::Call(self.settlement), calldata, Commit::Yes)?;
        drop(state);
        if !executed.result.is_success() {
            return Err(refusal(&executed.result));
        }
        let withdrawn = executed
            .result
            .logs()
            .iter()
            .filter(|log| log.address == self.settlement)
            .find_map(|log| ClaimsSettlement::OwedWithdrawn::decode_log(log).ok())
            .ok_or_else(|| {
                ChainError::Unavailable("withdraw emitted no OwedWithdrawn log".to_owned())
            })?;
        let withdrawal = Withdrawal {
            transaction: executed.hash,
            provider: wallet(withdrawn.data.provider),
            amount: amount_of(withdrawn.data.amount, "OwedWithdrawn.amount")?,
        };
        info!(provider = %withdrawal.provider, amount = %withdrawal.amount, transaction = %withdrawal.transaction, "owed payout withdrawn");
        Ok(withdrawal)
    }

    /// The latest block number.
    pub fn block_number(&self) -> Result<u64, ChainError> {
        Ok(self.lock()?.head)
    }

    /// Every transaction that reached the chain, deployments included, in order, with its
    /// calldata and logs: everything an observer of a public chain could read.
    ///
    /// Read-only calls (`is_claim_settled`, `owed`, `token_balance`, the caps, the token's
    /// metadata) are not recorded: their only inputs are a settlement index or a wallet,
    /// which the recorded settlement transactions already carry.
    pub fn transactions(&self) -> Vec<RecordedTransaction> {
        match self.state.lock() {
            Ok(state) => state.transactions.clone(),
            Err(poisoned) => poisoned.into_inner().transactions.clone(),
        }
    }

    /// Settles a batch sent from any account, not only the settler. For tests that the
    /// contract refuses callers without `SETTLER_ROLE`; the engine uses
    /// [`SettlementChain::settle_batch`].
    #[doc(hidden)]
    pub fn settle_batch_as(
        &self,
        caller: WalletAddress,
        batch: &ChainBatch,
    ) -> Result<BatchReceipt, ChainError> {
        validate(batch)?;
        self.settle(address(caller), batch)
    }

    /// Sends a batch from the settler without the checks that normally keep a malformed
    /// batch off the chain, so that tests can show the contract refusing it on its own.
    #[doc(hidden)]
    pub fn settle_unvalidated_batch(&self, batch: &ChainBatch) -> Result<BatchReceipt, ChainError> {
        self.settle(self.settler, batch)
    }

    fn settle(&self, caller: Address, batch: &ChainBatch) -> Result<BatchReceipt, ChainError> {
        let batch_id = B256::from(batch.batch);
        let call = abi::settle_batch_call(batch)?;
        let calldata = call.abi_encode();
        let to = TxKind::Call(self.settlement);
        let mut state = self.lock()?;

        // Simulate first, as one would with eth_call before signing: a refused batch costs
        // nothing and its reason comes back decoded.
        let simulated = state.execute(caller, to, calldata.clone(), Commit::No)?;
        if !simulated.result.is_success() {
            let error = refusal(&simulated.result);
            if let ChainError::ClaimAlreadySettled(_) = error {
                // This very batch settled earlier, its receipt perhaps never recorded (a
                // crash in between)? Its BatchSettled log names the transaction, as on a
                // real chain; any other batch is refused.
                drop(state);
                if let Some(receipt) = self.settled_batch(batch)? {
                    info!(batch = %batch_id, "batch already settled on chain; receipt read from its log");
                    return Ok(receipt);
                }
            }
            warn!(batch = %batch_id, %error, "settlement batch refused in simulation");
            return Err(error);
        }

        let executed = state.execute(caller, to, calldata, Commit::Yes)?;
        drop(state);
        if !executed.result.is_success() {
            // The simulation ran against the same state, so this is not expected; the
            // nonce is spent either way, as on a real chain.
            let error = refusal(&executed.result);
            warn!(batch = %batch_id, %error, "settlement transaction reverted");
            return Err(error);
        }
        let receipt = self.receipt(&executed)?;
        info!(
            batch = %batch_id,
            transaction = %receipt.transaction,
            block = receipt.block,
            gas_used = receipt.gas_used,
            claims = receipt.claims.len(),
            providers = receipt.providers.len(),
            owed = %receipt.owed,
            "settlement batch settled"
        );
        Ok(receipt)
    }

    /// The receipt of the transaction whose `BatchSettled` log names this batch, if any.
    fn settled_batch(&self, batch: &ChainBatch) -> Result<Option<BatchReceipt>, ChainError> {
        let settlement = wallet(self.settlement);
        let batch_topic = B256::from(batch.batch).0;
        let settled = ClaimsSettlement::BatchSettled::SIGNATURE_HASH.0;
        let Some(transaction) = self.transactions().into_iter().find(|transaction| {
            transaction.block.is_some()
                && transaction.logs.iter().any(|log| {
                    log.address == settlement
                        && log.topics.first() == Some(&settled)
                        && log.topics.get(1) == Some(&batch_topic)
                })
        }) else {
            return Ok(None);
        };
        let logs = transaction
            .logs
            .iter()
            .map(|log| {
                Log::new(
                    address(log.address),
                    log.topics.iter().copied().map(B256::from).collect(),
                    Bytes::copy_from_slice(&log.data),
                )
                .ok_or_else(|| ChainError::Unavailable("a log with too many topics".to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        abi::batch_receipt(
            self.settlement,
            &logs,
            transaction.hash,
            transaction.block.unwrap_or_default(),
            transaction.gas_used,
        )
        .map(Some)
    }

    /// The batch receipt a settling transaction's logs describe.
    fn receipt(&self, executed: &Executed) -> Result<BatchReceipt, ChainError> {
        abi::batch_receipt(
            self.settlement,
            executed.result.logs(),
            executed.hash,
            executed.block,
            executed.result.tx_gas_used(),
        )
    }

    /// Commits a call from `caller`; a revert becomes the contract's refusal.
    fn send<C: SolCall>(
        &self,
        caller: Address,
        contract: Address,
        call: &C,
    ) -> Result<TransactionHash, ChainError> {
        let mut state = self.lock()?;
        state.fund_gas(caller);
        let executed = state.execute(
            caller,
            TxKind::Call(contract),
            call.abi_encode(),
            Commit::Yes,
        )?;
        if executed.result.is_success() {
            debug!(call = C::SIGNATURE, transaction = %executed.hash, "transaction sent");
            Ok(executed.hash)
        } else {
            Err(refusal(&executed.result))
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, ChainState>, ChainError> {
        self.state.lock().map_err(|_| {
            ChainError::Unavailable(
                "the embedded EVM failed during an earlier transaction".to_owned(),
            )
        })
    }
}

#[async_trait]
impl SettlementChain for EmbeddedChain {
    fn token(&self) -> &TokenInfo {
        &self.token_info
    }

    fn contract(&self) -> WalletAddress {
        wallet(self.settlement)
    }

    async fn settle_batch(&self, batch: &ChainBatch) -> Result<BatchReceipt, ChainError> {
        validate(batch)?;
        self.settle(self.settler, batch)
    }

    async fn head(&self) -> Result<u64, ChainError> {
        self.block_number()
    }

    async fn is_claim_settled(&self, index: SettlementIndex) -> Result<bool, ChainError> {
        let call = ClaimsSettlement::isClaimSettledCall {
            index: U256::from(index.get()),
        };
        self.lock()?.view(self.settlement, &call)
    }

    async fn owed(&self, provider: WalletAddress) -> Result<TokenAmount, ChainError> {
        let call = ClaimsSettlement::owedCall {
            provider: address(provider),
        };
        let owed = self.lock()?.view(self.settlement, &call)?;
        amount_of(owed, "owed")
    }

    async fn token_balance(&self, wallet: WalletAddress) -> Result<TokenAmount, ChainError> {
        let call = MockStablecoin::balanceOfCall {
            account: address(wallet),
        };
        let balance = self.lock()?.view(self.token, &call)?;
        amount_of(balance, "balanceOf")
    }

    async fn settlement_logs(&self) -> Result<Vec<SettlementLog>, ChainError> {
        let settlement = wallet(self.settlement);
        let mut logs = Vec::new();
        for transaction in self.transactions() {
            let Some(block) = transaction.block else {
                continue;
            };
            for log in transaction
                .logs
                .iter()
                .filter(|log| log.address == settlement)
            {
                let log = Log::new(
                    self.settlement,
                    log.topics.iter().copied().map(B256::from).collect(),
                    Bytes::copy_from_slice(&log.data),
                )
                .ok_or_else(|| ChainError::Unavailable("a log with too many topics".to_owned()))?;
                if let Some(claims) = abi::settlement_logs_of(&log, transaction.hash, block) {
                    logs.extend(claims?);
                }
            }
        }
        Ok(logs)
    }
}

/// Whether an executed transaction changes the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Commit {
    /// Commit it into the next block.
    Yes,
    /// Run it against the next block and throw the result away (a simulation).
    No,
}

impl ChainState {
    /// An EVM over the chain's database, executing in block `block`: one transaction per
    /// block, [`BLOCK_TIME_SECONDS`] apart.
    fn evm(&mut self, block: u64) -> Evm<'_> {
        let time_offset = self.time_offset;
        Context::mainnet()
            .modify_cfg_chained(|cfg| {
                cfg.set_spec_and_mainnet_gas_params(SPEC);
                cfg.chain_id = CHAIN_ID;
            })
            .modify_block_chained(|env| {
                env.number = U256::from(block);
                env.timestamp =
                    U256::from(GENESIS_TIMESTAMP + block * BLOCK_TIME_SECONDS + time_offset);
                env.gas_limit = BLOCK_GAS_LIMIT;
            })
            .with_db(&mut self.db)
            .build_mainnet()
    }

    /// Executes a transaction from `caller` in the next block. Committed, it takes the
    /// caller's nonce and the block, and is recorded whether it succeeded or reverted.
    /// Simulated, it changes no state; if the simulation fails it is recorded without a
    /// block, since its calldata has left the engine all the same.
    fn execute(
        &mut self,
        caller: Address,
        to: TxKind,
        calldata: Vec<u8>,
        commit: Commit,
    ) -> Result<Executed, ChainError> {
        let nonce = self.nonces.get(&caller).copied().unwrap_or(0);
        let block = self.head + 1;
        let tx = TxEnv::builder()
            .caller(caller)
            .kind(to)
            .data(Bytes::from(calldata.clone()))
            .nonce(nonce)
            .gas_limit(TX_GAS_LIMIT)
            .chain_id(Some(CHAIN_ID))
            .build_fill();
        let hash = pseudo_hash(caller, nonce, &calldata);
        let mut evm = self.evm(block);
        let result = match commit {
            Commit::Yes => evm.transact_commit(tx),
            Commit::No => evm.transact(tx).map(|outcome| outcome.result),
        }
        .map_err(|error| {
            ChainError::Unavailable(format!("the embedded EVM refused the transaction: {error}"))
        })?;

        match commit {
            Commit::Yes => {
                self.nonces.insert(caller, nonce + 1);
                self.head = block;
                debug!(%hash, block, gas_used = result.tx_gas_used(), success = result.is_success(), "transaction committed");
                self.record(hash, Some(block), caller, to, calldata, &result);
            }
            Commit::No if !result.is_success() => {
                // Refused in simulation: never in a block, but the calldata left the engine.
                self.record(hash, None, caller, to, calldata, &result);
            }
            Commit::No => {}
        }
        Ok(Executed {
            hash,
            block,
            result,
        })
    }

    fn record(
        &mut self,
        hash: TransactionHash,
        block: Option<u64>,
        caller: Address,
        to: TxKind,
        calldata: Vec<u8>,
        result: &ExecutionResult,
    ) {
        let logs = if block.is_some() { result.logs() } else { &[] };
        self.transactions.push(RecordedTransaction {
            hash,
            block,
            from: wallet(caller),
            to: to.to().copied().map(wallet),
            calldata,
            gas_used: result.tx_gas_used(),
            succeeded: block.is_some() && result.is_success(),
            logs: logs
                .iter()
                .map(|log| RecordedLog {
                    address: wallet(log.address),
                    topics: log.topics().iter().map(|topic| topic.0).collect(),
                    data: log.data.data.to_vec(),
                })
                .collect(),
        });
    }

    /// Gives an account that has never held ether enough for gas, as a provider would have
    /// before calling `withdraw` (gas is free here, but revm still checks balances).
    fn fund_gas(&mut self, account: Address) {
        let known = self
            .db
            .cache
            .accounts
            .get(&account)
            .is_some_and(|db_account| db_account.info.balance > U256::ZERO);
        if !known {
            let mut info = self
                .db
                .cache
                .accounts
                .get(&account)
                .map(|db_account| db_account.info.clone())
                .unwrap_or_default();
            info.balance = U256::from(GENESIS_ETHER_WEI);
            self.db.insert_account_info(account, info);
        }
    }

    /// Deploys init code from `deployer` and returns the new contract's address.
    fn deploy(
        &mut self,
        deployer: Address,
        init_code: Vec<u8>,
        name: &str,
    ) -> Result<Address, ChainError> {
        let executed = self.execute(deployer, TxKind::Create, init_code, Commit::Yes)?;
        match &executed.result {
            ExecutionResult::Success {
                output: Output::Create(_, Some(address)),
                ..
            } => {
                debug!(contract = name, %address, gas_used = executed.result.tx_gas_used(), "contract deployed");
                Ok(*address)
            }
            other => Err(ChainError::Unavailable(format!(
                "deploying {name} failed: {}",
                describe_failure(other)
            ))),
        }
    }

    /// A read-only call (like `eth_call`) against the next block; changes nothing.
    ///
    /// Sent from the zero address, which no one holds a key for, at its current nonce, so
    /// the call cannot disturb the nonce of an account that sends transactions.
    fn view<C: SolCall>(&mut self, contract: Address, call: &C) -> Result<C::Return, ChainError> {
        let tx = TxEnv::builder()
            .caller(Address::ZERO)
            .kind(TxKind::Call(contract))
            .data(Bytes::from(call.abi_encode()))
            .nonce(self.nonces.get(&Address::ZERO).copied().unwrap_or(0))
            .gas_limit(TX_GAS_LIMIT)
            .chain_id(Some(CHAIN_ID))
            .build_fill();
        let result = self
            .evm(self.head + 1)
            .transact(tx)
            .map_err(|error| {
                ChainError::Unavailable(format!(
                    "the embedded EVM refused a read-only call: {error}"
                ))
            })?
            .result;
        match result {
            ExecutionResult::Success { output, .. } => C::abi_decode_returns(output.data())
                .map_err(|error| {
                    ChainError::Unavailable(format!(
                        "{} returned undecodable data: {error}",
                        C::SIGNATURE
                    ))
                }),
            other => Err(ChainError::Unavailable(format!(
                "{} failed: {}",
                C::SIGNATURE,
                describe_failure(&other)
            ))),
        }
    }
}

/// A fixed account for a role, from the hash of its label: the same on every run, and
/// without a private key, which an EVM that checks no signatures does not need.
fn well_known_account(role: &str) -> Address {
    Address::from_word(keccak256(format!("claims-engine embedded chain: {role}")))
}

/// `keccak256(sender ‖ nonce ‖ calldata)`: unique per transaction, not an RLP hash.
fn pseudo_hash(sender: Address, nonce: u64, calldata: &[u8]) -> TransactionHash {
    let mut preimage = Vec::with_capacity(20 + 8 + calldata.len());
    preimage.extend_from_slice(sender.as_slice());
    preimage.extend_from_slice(&nonce.to_be_bytes());
    preimage.extend_from_slice(calldata);
    TransactionHash::from_bytes(keccak256(&preimage).0)
}

/// Why the contract refused an execution, as a [`ChainError`].
fn refusal(result: &ExecutionResult) -> ChainError {
    match result {
        ExecutionResult::Revert { output, .. } => abi::refusal(output),
        other => ChainError::Reverted(describe_failure(other)),
    }
}

/// A failed execution in words.
fn describe_failure(result: &ExecutionResult) -> String {
    match result {
        ExecutionResult::Success { .. } => "it succeeded".to_owned(),
        ExecutionResult::Halt { reason, .. } => format!("the EVM halted: {reason:?}"),
        ExecutionResult::Revert { output, .. } => abi::describe_revert(output),
    }
}
