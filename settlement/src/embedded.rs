//! An in-process EVM (revm) running the real `ClaimsSettlement` bytecode: the settlement
//! chain of the embedded default and of fast tests.
//!
//! It deploys the committed artifacts (the mock stablecoin, then the settlement contract),
//! funds the contract's float, and from then on behaves like a tiny single-node chain with
//! one transaction per block. It checks no signatures (revm does not), so the admin and
//! settler accounts are plain, well-known addresses without private keys. What it keeps
//! of a real chain is what the engine relies on: the contract's own refusals, nonces,
//! blocks, gas and logs.

use crate::chain::{BatchReceipt, ChainBatch, ChainError, ChainPayout, SettlementChain, TokenInfo};
use crate::contracts::{ClaimsSettlement, MockStablecoin};
use crate::token::TokenAmount;
use alloy_primitives::{Address, B256, Bytes, Log, TxKind, U256, keccak256};
use alloy_sol_types::{SolCall, SolConstructor, SolEvent, SolInterface};
use async_trait::async_trait;
use claims_domain::{PayoutReference, TransactionHash, WalletAddress};
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
    /// The admin deploys both contracts and holds `DEFAULT_ADMIN_ROLE`; a separate settler
    /// account holds `SETTLER_ROLE` and sends every batch, as the engine's hot key would.
    pub fn launch(config: EmbeddedChainConfig) -> Result<Self, ChainError> {
        let admin = well_known_account("admin");
        let settler = well_known_account("settler");

        let mut db = CacheDB::new(EmptyDB::default());
        for account in [admin, settler] {
            db.insert_account_info(
                account,
                AccountInfo::from_balance(U256::from(GENESIS_ETHER_WEI)),
            );
        }
        let mut state = ChainState {
            db,
            nonces: BTreeMap::new(),
            head: 0,
            transactions: Vec::new(),
        };

        let token = state.deploy(admin, MockStablecoin::BYTECODE.to_vec(), "MockStablecoin")?;
        let mut settlement_init = ClaimsSettlement::BYTECODE.to_vec();
        settlement_init.extend(
            ClaimsSettlement::constructorCall {
                token_: token,
                admin,
                settler,
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
            float = %config.float,
            symbol = %token_info.symbol,
            decimals = token_info.decimals,
            "embedded settlement chain launched"
        );
        Ok(Self {
            state: Mutex::new(state),
            token_info,
            admin,
            settler,
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

    /// The latest block number.
    pub fn block_number(&self) -> Result<u64, ChainError> {
        Ok(self.lock()?.head)
    }

    /// Every transaction that reached the chain, deployments included, in order, with its
    /// calldata and logs: everything an observer of a public chain could read.
    ///
    /// Read-only calls (`is_paid`, `token_balance`, the token's metadata) are not recorded:
    /// their only inputs are a payout reference or a wallet, which the recorded settlement
    /// transactions already carry.
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
        self.settle(address(caller), batch)
    }

    fn settle(&self, caller: Address, batch: &ChainBatch) -> Result<BatchReceipt, ChainError> {
        validate(batch)?;
        let call = ClaimsSettlement::settleBatchCall {
            batch: B256::from(batch.batch),
            payouts: batch
                .payouts
                .iter()
                .map(|payout| ClaimsSettlement::Payout {
                    payoutReference: B256::from(*payout.reference.as_bytes()),
                    provider: address(payout.provider),
                    amount: U256::from(payout.amount.base_units()),
                })
                .collect(),
        };
        let calldata = call.abi_encode();
        let to = TxKind::Call(self.settlement);
        let mut state = self.lock()?;

        // Simulate first, as one would with eth_call before signing: a refused batch costs
        // nothing and its reason comes back decoded.
        let simulated = state.execute(caller, to, calldata.clone(), Commit::No)?;
        if !simulated.result.is_success() {
            let error = refusal(&simulated.result);
            warn!(batch = %B256::from(batch.batch), %error, "settlement batch refused in simulation");
            return Err(error);
        }

        let executed = state.execute(caller, to, calldata, Commit::Yes)?;
        drop(state);
        if !executed.result.is_success() {
            // The simulation ran against the same state, so this is not expected; the
            // nonce is spent either way, as on a real chain.
            let error = refusal(&executed.result);
            warn!(batch = %B256::from(batch.batch), %error, "settlement transaction reverted");
            return Err(error);
        }
        let paid = executed
            .result
            .logs()
            .iter()
            .filter(|log| log.address == self.settlement)
            .filter(|log| {
                log.topics().first() == Some(&ClaimsSettlement::PayoutPaid::SIGNATURE_HASH)
            })
            .map(decode_payout)
            .collect::<Result<Vec<_>, _>>()?;
        let receipt = BatchReceipt {
            transaction: executed.hash,
            block: executed.block,
            gas_used: executed.result.tx_gas_used(),
            paid,
        };
        info!(
            batch = %B256::from(batch.batch),
            transaction = %receipt.transaction,
            block = receipt.block,
            gas_used = receipt.gas_used,
            payouts = receipt.paid.len(),
            "settlement batch paid"
        );
        Ok(receipt)
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

    async fn settle_batch(&self, batch: &ChainBatch) -> Result<BatchReceipt, ChainError> {
        self.settle(self.settler, batch)
    }

    async fn is_paid(&self, reference: PayoutReference) -> Result<bool, ChainError> {
        let call = ClaimsSettlement::isPaidCall {
            payoutReference: B256::from(*reference.as_bytes()),
        };
        self.lock()?.view(self.settlement, &call)
    }

    async fn token_balance(&self, wallet: WalletAddress) -> Result<TokenAmount, ChainError> {
        let call = MockStablecoin::balanceOfCall {
            account: address(wallet),
        };
        let balance = self.lock()?.view(self.token, &call)?;
        u128::try_from(balance)
            .map(TokenAmount::from_base_units)
            .map_err(|_| {
                ChainError::Unavailable(format!(
                    "the balance of {wallet} ({balance}) does not fit in 128 bits"
                ))
            })
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
        Context::mainnet()
            .modify_cfg_chained(|cfg| {
                cfg.set_spec_and_mainnet_gas_params(SPEC);
                cfg.chain_id = CHAIN_ID;
            })
            .modify_block_chained(|env| {
                env.number = U256::from(block);
                env.timestamp = U256::from(GENESIS_TIMESTAMP + block * BLOCK_TIME_SECONDS);
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

/// Refuses, before anything reaches the chain, a batch the contract would refuse anyway.
fn validate(batch: &ChainBatch) -> Result<(), ChainError> {
    if batch.payouts.is_empty() {
        return Err(ChainError::InvalidBatch(
            "a batch must pay at least one claim".to_owned(),
        ));
    }
    for payout in &batch.payouts {
        if payout.amount.base_units() == 0 {
            return Err(ChainError::InvalidBatch(format!(
                "payout {} is for nothing",
                payout.reference
            )));
        }
        if payout.provider.is_zero() {
            return Err(ChainError::InvalidBatch(format!(
                "payout {} names the zero address, where the tokens would be lost",
                payout.reference
            )));
        }
    }
    Ok(())
}

/// Decodes one `PayoutPaid` log into the payout it reports.
fn decode_payout(log: &Log) -> Result<ChainPayout, ChainError> {
    let event = ClaimsSettlement::PayoutPaid::decode_log(log)
        .map_err(|error| ChainError::Unavailable(format!("undecodable PayoutPaid log: {error}")))?
        .data;
    let amount = u128::try_from(event.amount).map_err(|_| {
        ChainError::Unavailable(format!(
            "PayoutPaid amount {} does not fit in 128 bits",
            event.amount
        ))
    })?;
    Ok(ChainPayout {
        reference: PayoutReference::from_bytes(event.payoutReference.0),
        provider: wallet(event.provider),
        amount: TokenAmount::from_base_units(amount),
    })
}

/// Why the contract refused a transaction, as a [`ChainError`]: an already-paid reference
/// becomes [`ChainError::AlreadyPaid`]; any other custom error is named with its arguments.
fn refusal(result: &ExecutionResult) -> ChainError {
    if let ExecutionResult::Revert { output, .. } = result
        && let Ok(ClaimsSettlement::ClaimsSettlementErrors::PayoutAlreadyPaid(error)) =
            ClaimsSettlement::ClaimsSettlementErrors::abi_decode(output)
    {
        return ChainError::AlreadyPaid(PayoutReference::from_bytes(error.payoutReference.0));
    }
    ChainError::Reverted(describe_failure(result))
}

/// A failed execution in words: the decoded custom error (`Name(arg, ...)`) of either
/// contract, a plain revert reason, or the raw revert data.
fn describe_failure(result: &ExecutionResult) -> String {
    use ClaimsSettlement::ClaimsSettlementErrors as Settlement;
    use MockStablecoin::MockStablecoinErrors as Token;
    let output = match result {
        ExecutionResult::Success { .. } => return "it succeeded".to_owned(),
        ExecutionResult::Halt { reason, .. } => return format!("the EVM halted: {reason:?}"),
        ExecutionResult::Revert { output, .. } => output,
    };
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
            Settlement::EmptyBatch(_) => "EmptyBatch()".to_owned(),
            Settlement::PayoutAlreadyPaid(e) => format!("PayoutAlreadyPaid({})", e.payoutReference),
            Settlement::ReentrancyGuardReentrantCall(_) => {
                "ReentrancyGuardReentrantCall()".to_owned()
            }
            Settlement::SafeERC20FailedOperation(e) => {
                format!("SafeERC20FailedOperation({})", e.token)
            }
            Settlement::ZeroAddress(_) => "ZeroAddress()".to_owned(),
            Settlement::ZeroAmount(e) => format!("ZeroAmount({})", e.payoutReference),
            Settlement::ZeroProvider(e) => format!("ZeroProvider({})", e.payoutReference),
        };
    }
    if let Ok(error) = Token::abi_decode(output) {
        return match error {
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
    format!("reverted with data {output}")
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

fn address(wallet: WalletAddress) -> Address {
    Address::from(*wallet.as_bytes())
}

fn wallet(address: Address) -> WalletAddress {
    WalletAddress::from_bytes(address.into_array())
}
