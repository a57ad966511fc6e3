//! `claims bench`: measurements of the engine's own parts, run against real databases and
//! reported as a table for people and one JSON line for scripts.
//!
//! - [`store`]: the event store's append and replay rates, next to the raw insert ceiling
//!   of the same database for the same rows (issue 3, item 9; figures in
//!   `docs/benchmarks.md`).
//! - [`e2e`]: claims through the whole engine on PostgreSQL and NATS, timed from the
//!   insurer's side: sustained claims/s and submit → decision latency at a fixed rate
//!   (issue 4, item 10; figures in `docs/benchmarks.md`).
//! - [`gas`]: gas per claim of the settlement contract on the embedded EVM, netted batches
//!   against one transaction per claim (issue 5, item 7; figures in `docs/benchmarks.md`).

//! - [`domain`]: pure adjudication throughput on one core, no I/O (issue 6, item 8).

pub mod domain;
pub mod e2e;
pub mod gas;
pub mod store;
