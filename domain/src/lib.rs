//! The pure core of the claims engine.
//!
//! Claims, benefit plans, members, providers, benefit-year accumulators and payout batches,
//! each an aggregate written as a *decider* ([`Decider`]): `decide(&State, Command) ->
//! Result<Vec<Event>, Error>` and `evolve(State, &Event) -> State`. The adjudication rules
//! are small pure functions applied in a documented order (see [`adjudication`]).
//!
//! Nothing here does I/O, reads a clock or picks a random number: time, identifiers and
//! reference data arrive as inputs, so every decision can be replayed exactly.

pub mod accumulator;
pub mod adjudication;
pub mod authorizations;
#[cfg(feature = "bench")]
pub mod bench;
pub mod chain_values;
pub mod claim;
pub mod coding;
pub mod decider;
pub mod ids;
pub mod member;
pub mod money;
pub mod payout;
pub mod plan;
pub mod provider;
pub mod provider_ledger;
pub mod reason;
pub mod rule_set;
pub mod rules;
pub mod testing;

pub use chain_values::{InvalidChainValue, PayoutReference, TransactionHash, WalletAddress};
pub use decider::Decider;
pub use ids::*;
pub use money::{Currency, Money, MoneyError, Rate};
