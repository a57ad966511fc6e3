//! Read models: what the API, the command line and operators query, kept from the log.
//!
//! - **claim status**, by claim and by insurer: where each claim is, what it was billed,
//!   what the plan pays and the member owes, its payout batch and transaction;
//! - **provider remittance per payout batch**: every claim paid, how much, and the reason
//!   code of every adjustment, as a provider's back office reconciles a payment;
//! - **member accumulators**: deductible and out-of-pocket paid per benefit year.
//!
//! They live in the event store's own database, so a [`Projector`] stores each page's rows
//! and the position of its last event in one transaction: after a crash it resumes exactly
//! where its rows stop, never skipping and never applying an event twice. The rows are a
//! pure function of the log ([`projection::changes`]), so dropping them and replaying the
//! log from the start ([`Projector::rebuild`], `claims replay`) gives identical rows.
//!
//! Money is `NUMERIC` on PostgreSQL and exact decimal text on SQLite, each beside its
//! currency; it never passes through a float.

mod postgres;
pub mod projection;
mod projector;
mod rows;
mod sqlite;
mod views;

pub use postgres::PostgresReadModels;
pub use projector::{Projector, RebuildProgress};
pub use sqlite::SqliteReadModels;
pub use views::*;

use crate::event_store::{LogPosition, StoreError};
use async_trait::async_trait;
use claims_domain::ids::{ClaimId, InsurerId, MemberId, PayoutBatchId, ProviderId};
use projection::{Change, ProjectionError};

/// The name under which the read models' position is kept among the log's checkpoints.
pub const CHECKPOINT: &str = "read-models";

/// The read models' storage: SQLite ([`SqliteReadModels`]) or PostgreSQL
/// ([`PostgresReadModels`]), beside the event store they are projected from.
#[async_trait]
pub trait ReadModels: Send + Sync + 'static {
    /// The position of the last event whose changes are stored ([`LogPosition::START`]
    /// when none are).
    async fn position(&self) -> Result<LogPosition, ReadModelError>;

    /// Stores the changes of a page of events and moves the position to `through`, the
    /// page's last event, in one transaction.
    async fn apply(&self, changes: &[Change], through: LogPosition) -> Result<(), ReadModelError>;

    /// Empties every read model and moves the position back to the start, in one
    /// transaction: the first step of a rebuild.
    async fn reset(&self) -> Result<(), ReadModelError>;

    /// One claim's status.
    async fn claim(&self, claim: ClaimId) -> Result<Option<ClaimView>, ReadModelError>;

    /// An insurer's claims, most recently received first, at most `limit`.
    async fn claims_of_insurer(
        &self,
        insurer: &InsurerId,
        limit: u32,
    ) -> Result<Vec<ClaimView>, ReadModelError>;

    /// What a payout batch paid, claim by claim, with every adjustment's reason code.
    async fn remittance(&self, batch: PayoutBatchId) -> Result<Option<Remittance>, ReadModelError>;

    /// The newest payout batches' remittances, at most `limit`, newest first (by when the
    /// batch was opened); with `provider`, only batches that pay that provider (each still
    /// whole: [`Remittance::for_provider`] picks the provider's claims).
    async fn latest_remittances(
        &self,
        provider: Option<&ProviderId>,
        limit: u32,
    ) -> Result<Vec<Remittance>, ReadModelError>;

    /// A member's accumulators, one per benefit year, oldest first.
    async fn accumulators(&self, member: &MemberId)
    -> Result<Vec<AccumulatorView>, ReadModelError>;

    /// Every row of every read model in a fixed order: what a rebuild is compared with.
    async fn snapshot(&self) -> Result<Snapshot, ReadModelError>;
}

/// Why a read model could not be stored, read or rebuilt.
#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    /// The database failed.
    #[error("read model database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The event log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event could not be projected; the projector stops before it rather than skip it.
    #[error("the event at {position} cannot be projected: {source}")]
    Projection {
        /// Where the event sits in the log.
        position: LogPosition,
        /// Why.
        source: ProjectionError,
    },
    /// A stored row does not read back as what was written.
    #[error("read model row {row} is corrupt: {reason}")]
    Corrupt {
        /// Which row.
        row: String,
        /// Why.
        reason: String,
    },
}
