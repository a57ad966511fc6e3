//! The claims engine's application layer and its wiring.
//!
//! Each role is a module that talks to the rest only through the event store and the bus:
//!
//! - [`intake`]: insurer submissions ([`submission`] is the native JSON format, [`fhir`]
//!   reads FHIR R4 `Claim`s into it) become claims;
//! - [`reference_intake`]: plans, members and providers sent over the bus are stored;
//! - [`review_intake`]: reviewers approve or deny pended claims over the bus;
//! - [`relay`]: every stored event is published to the bus, in order, from a checkpoint;
//! - [`adjudicator`]: submitted claims are decided, together with the member's accumulators;
//! - [`corrections`]: voids cancel claims and give back what they used (replacements do the
//!   same through the adjudicator);
//! - [`outcomes`]: decisions and payments are announced to the insurer;
//! - [`settler`]: approved claims are gathered into payout batches for the settlement service.
//!
//! [`engine`] wires them in one process with the embedded adapters; [`demo`] runs the
//! example claims through it. [`reference`] loads plans, members and providers; [`rule_sets`]
//! loads the plans' parameters as versioned rule sets, and [`decision_replay`] decides a
//! stored claim again with the version it recorded. [`bench`] measures the engine's parts
//! (`claims bench store|gas|domain`). [`submit`] is the insurer's side (`claims submit`),
//! and [`nats_access`] writes the NATS server's per-insurer users and permissions
//! (`claims nats-config`).

pub mod adjudicator;
pub mod answer;
pub mod api;
pub mod bench;
pub mod clock;
pub mod config;
pub mod contract;
pub mod corrections;
pub mod dead_letters;
pub mod decision_inputs;
pub mod decision_replay;
pub mod demo;
pub mod engine;
pub mod fhir;
pub mod foresight;
pub mod intake;
pub mod keeper;
pub mod metrics;
pub mod nats_access;
pub mod outcomes;
pub mod reconciliation;
pub mod reference;
pub mod reference_intake;
pub mod relay;
pub mod replay;
pub mod retry;
pub mod review_intake;
pub mod rule_sets;
pub mod runtime;
pub mod serve;
pub mod settlement_chain;
pub mod settler;
pub mod shutdown;
pub mod status;
pub mod store_gate;
pub mod subjects;
pub mod submission;
pub mod submit;
pub mod verdict;
