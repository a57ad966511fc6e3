//! The event-store port: the log that is the truth of every claim, plan, member,
//! provider, accumulator and payout.
//!
//! The port is shaped so that the SQLite implementation (the embedded default) and the
//! PostgreSQL implementation (production) are interchangeable:
//!
//! - every append names, per stream, the version it expects ([`ExpectedVersion`]);
//! - one call may append to several streams, atomically (a claim's decision together with
//!   the member's accumulator events): either every stream moves or none does;
//! - every event carries a client-assigned [`EventId`]; re-appending events whose ids are
//!   already stored with the same content is a no-op success, so a retried command is safe;
//! - every event gets a [`LogPosition`]; a reader that resumes strictly after the last
//!   position it saw never skips an event. On SQLite (one writer at a time) the position is
//!   the insertion order; on PostgreSQL it is ordered by transaction so that late commits are
//!   not skipped.
//!
//! The two implementations mirror each other file for file: `sqlite.rs` and `postgres.rs`,
//! their statements in `sqlite/*.sql` and `postgres/*.sql`, their schemas in
//! `adapters/migrations/{sqlite,postgres}/`. One contract suite
//! (`adapters/tests/event_store_contract.rs`) runs against both.

mod append_plan;
mod postgres;
mod sqlite;
mod stored_json;
mod subscription;
mod types;
mod wakeup;

pub use postgres::PostgresEventStore;
pub use sqlite::SqliteEventStore;
pub use stored_json::StoredJson;
pub use subscription::{DEFAULT_PAGE_SIZE, DEFAULT_POLL_INTERVAL, LogSubscription};
pub use types::*;
pub use wakeup::LogWaiter;

use async_trait::async_trait;
use futures::stream::BoxStream;
use std::collections::HashMap;

/// The first version to read of each stream named in a [`EventStore::read_streams_from`]
/// request: a stream named twice is read from the lower of its versions.
pub(crate) fn first_versions(
    from: &[(StreamId, StreamVersion)],
) -> HashMap<StreamId, StreamVersion> {
    let mut first: HashMap<StreamId, StreamVersion> = HashMap::with_capacity(from.len());
    for (stream, version) in from {
        let lowest = first.entry(stream.clone()).or_insert(*version);
        *lowest = (*lowest).min(*version);
    }
    first
}

/// The event log. Implementations: [`SqliteEventStore`] (embedded default) and
/// [`PostgresEventStore`] (production), under the same contract.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends events to one or more streams in a single transaction.
    ///
    /// Fails with [`StoreError::VersionConflict`] (and appends nothing) if any stream is not
    /// at the version its [`StreamAppend`] expects. Events whose [`EventId`] is already
    /// stored with identical content are skipped, and a stream whose events are all such
    /// repeats is not checked against its expected version: re-sending a whole append is a
    /// no-op success. An id stored with different content is
    /// [`StoreError::EventIdReused`].
    ///
    /// Every implementation also keeps these rules (the contract tests check them):
    ///
    /// - a [`StreamAppend`] whose events are partly stored and partly new is
    ///   [`StoreError::InvalidAppend`]: a retry re-sends the original append unchanged, so
    ///   such a mix means the writer lost track of what it sent;
    /// - so is a list naming one stream twice, a [`StreamAppend`] with no events, or one
    ///   event id twice; an empty list is a no-op success with an empty outcome;
    /// - for a repeated stream, the outcome reports the stream's current version and
    ///   `appended: 0`;
    /// - `ExpectedVersion::Exact(0)` holds exactly when `NoStream` does.
    async fn append(&self, appends: Vec<StreamAppend>) -> Result<AppendOutcome, StoreError>;

    /// Reads a stream's events in version order, starting at `from` (1 is the first event).
    /// A stream that does not exist reads as empty.
    async fn read_stream(
        &self,
        stream: &StreamId,
        from: StreamVersion,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Reads several whole streams at once: every stream named gets an entry, its events
    /// in version order (empty for a stream that does not exist); a stream named twice is
    /// read once. Each stream is read whole and consistent with itself, but the streams
    /// need not come from one snapshot: a writer deciding on them still appends at the
    /// versions it read, and the store's version check catches anything that moved.
    ///
    /// This is how a role handling a batch of claims reads all their aggregates in one
    /// round trip instead of one per stream. The default reads the streams one by one; the
    /// stores here read them in one query.
    async fn read_streams(
        &self,
        streams: &[StreamId],
    ) -> Result<HashMap<StreamId, Vec<RecordedEvent>>, StoreError> {
        let mut read = HashMap::with_capacity(streams.len());
        for stream in streams {
            if !read.contains_key(stream) {
                read.insert(stream.clone(), self.read_stream(stream, 1).await?);
            }
        }
        Ok(read)
    }

    /// Reads several streams at once, each from its own version on: every stream named
    /// gets an entry, its events from that version in version order (empty when it has
    /// none there); a stream named twice is read from the lower of its versions. As with
    /// [`EventStore::read_streams`], each stream is consistent with itself and the streams
    /// need not come from one snapshot.
    ///
    /// This is how a reader that kept a stream's state folded up to some version
    /// ([`crate::fold_cache::FoldCache`]) reads only what was appended since. The default
    /// reads the streams whole and drops what comes before each one's version; PostgreSQL
    /// reads only the events asked for.
    async fn read_streams_from(
        &self,
        from: &[(StreamId, StreamVersion)],
    ) -> Result<HashMap<StreamId, Vec<RecordedEvent>>, StoreError> {
        let first = first_versions(from);
        let names: Vec<StreamId> = first.keys().cloned().collect();
        let mut read = self.read_streams(&names).await?;
        for (stream, events) in &mut read {
            let version = first.get(stream).copied().unwrap_or(1);
            events.retain(|event| event.version >= version);
        }
        Ok(read)
    }

    /// Reads up to `limit` events of every stream, in log order, strictly after `after`.
    ///
    /// Only events a later call can never precede are returned: on PostgreSQL, events of
    /// transactions newer than the oldest one still open anywhere in the cluster wait until
    /// it ends (see [`PostgresEventStore`]), so a reader may briefly lag but never skips.
    async fn read_all(
        &self,
        after: LogPosition,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Every event [`EventStore::read_all`] could return now after `after`, in log order, as
    /// one stream from one query: for a reader that wants everything (a rebuild, a replay),
    /// the store keeps sending while the reader works, instead of waiting for a round trip
    /// per page. Events that become readable during the stream may be left out: follow it
    /// with `read_all` or a [`LogSubscription`] from its last position.
    fn stream_all(&self, after: LogPosition) -> BoxStream<'_, Result<RecordedEvent, StoreError>>;

    /// The stored position of a named reader (a relay, a projection), or
    /// [`LogPosition::START`] if it has none yet.
    async fn load_checkpoint(&self, reader: &str) -> Result<LogPosition, StoreError>;

    /// Whether the store takes writes: one small write of its own, for a worker deciding
    /// whether to wait for the store before trying again. A database that answers reads
    /// but refuses writes (a standby after a failover, read-only for maintenance, a full
    /// disk) fails it, as one that does not answer does.
    async fn check(&self) -> Result<(), StoreError>;

    /// Stores a named reader's position.
    async fn save_checkpoint(&self, reader: &str, position: LogPosition) -> Result<(), StoreError>;

    /// How many events the log holds (for progress reports; may be slow on a huge log).
    async fn event_count(&self) -> Result<u64, StoreError>;

    /// A waiter woken after appends commit (in this process, and on PostgreSQL in any
    /// process sharing the database): the hint a caught-up [`LogSubscription`] waits for.
    /// Hints are coalesced and may be dropped; readers also poll.
    fn log_waiter(&self) -> LogWaiter;
}
