//! The claims engine's ports to the outside world, and their implementations.
//!
//! - [`event_store`]: the event log ([`event_store::EventStore`]), on SQLite for the
//!   embedded default, and on PostgreSQL for production.
//! - [`aggregate`]: domain aggregates on the event store (stream names, loading,
//!   appends at the loaded version).
//! - [`bus`]: the message bus ([`bus::MessageBus`]), in process for the embedded default;
//!   NATS JetStream implements the same port.
//! - [`failure_streak`]: when background loops pause and what they log while a server
//!   they need is away.

pub mod aggregate;
pub mod bus;
pub mod event_store;
pub mod failure_streak;
pub mod fold_cache;
pub mod read_models;
