//! Settlement: where money leaves the engine.
//!
//! - `contracts/`: the `ClaimsSettlement` Solidity contract and a mock 6-decimal stablecoin,
//!   compiled by `scripts/compile-contracts.sh` into `artifacts/`, which [`contracts`]
//!   reads with alloy's `sol!`.
//! - [`chain`]: the settlement-chain port: batches netted per provider, claims named by
//!   settlement index.
//! - [`embedded`]: an in-process EVM (revm) that deploys and runs the same bytecode.
//! - [`json_rpc`]: the same port over JSON-RPC (alloy), with a submitter that keeps its
//!   nonces and signed transactions in the event store.
//! - [`payouts`]: the packed form of a batch's payouts, in calldata and in the
//!   `BatchSettled` log.
//! - [`reconcile`]: the contract's logs compared with the event store.
//! - [`index_ledger`]: each contract's sequence of settlement indices, in the event store.
//! - `recoupment`: what a batch withholds from providers' claims to recover their recouped,
//!   voided claims.
//! - [`service`]: the settlement service: batches approved claims, pays them on chain and
//!   records the receipt.
//! - [`token`]: exact conversion from money to token base units.

mod abi;
pub mod chain;
pub mod contracts;
pub mod embedded;
pub mod index_ledger;
pub mod json_rpc;
pub mod payouts;
pub mod reconcile;
mod recoupment;
pub mod service;
pub mod token;

pub use chain::{
    BatchReceipt, ChainBatch, ChainClaim, ChainError, ContractRole, Delivery, NettedClaim,
    ProviderPayout, ProviderSettlement, SettledClaim, SettlementCaps, SettlementChain,
    SettlementLog, TokenInfo, Withdrawal,
};
pub use embedded::EmbeddedChain;
pub use json_rpc::{JsonRpcChain, JsonRpcConfig};
pub use token::{PayoutToken, TokenAmount, TokenAmountError};
