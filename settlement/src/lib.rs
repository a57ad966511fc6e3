//! Settlement: where money leaves the engine.
//!
//! - `contracts/`: the `ClaimsSettlement` Solidity contract and a mock 6-decimal stablecoin,
//!   compiled by `scripts/compile-contracts.sh` into `artifacts/`, which [`contracts`]
//!   reads with alloy's `sol!`.
//! - [`chain`]: the settlement-chain port.
//! - [`embedded`]: an in-process EVM (revm) that deploys and runs the same bytecode.
//! - [`service`]: the settlement service: batches approved claims, pays them on chain and
//!   records the receipt.
//! - [`token`]: exact conversion from money to token base units.

pub mod chain;
pub mod contracts;
pub mod embedded;
pub mod service;
pub mod token;

pub use chain::{BatchReceipt, ChainBatch, ChainError, ChainPayout, SettlementChain, TokenInfo};
pub use embedded::EmbeddedChain;
pub use token::{TokenAmount, TokenAmountError};
