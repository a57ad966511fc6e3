//! The step library: every phrase an analyst may write, grouped by topic, one module per
//! topic. `features/README.md` lists them all with an example; `tests/glossary.rs` checks
//! that the two agree.

pub mod accumulators;
pub mod claims;
pub mod corrections;
pub mod decisions;
pub mod explain;
pub mod members;
pub mod params;
pub mod payouts;
pub mod plans;
pub mod reviews;
pub mod services;
pub mod world;
