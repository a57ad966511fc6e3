//! The values that cross the event-store port.

use super::StoredJson;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// The name of a stream: one aggregate instance, such as `claim-<uuid>` or
/// `accumulator-<member>-2026`. The part before the first `-` is its category.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamId(String);

impl StreamId {
    /// A stream id from its category and the aggregate's own id: `category-id`.
    pub fn new(category: &str, id: impl fmt::Display) -> Self {
        Self(format!("{category}-{id}"))
    }

    /// A stream id exactly as stored.
    pub fn from_raw(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The stream id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The category: the part before the first `-`.
    pub fn category(&self) -> &str {
        self.0
            .split_once('-')
            .map_or(&self.0, |(category, _)| category)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A version within one stream: the first event is version 1; an empty stream is at 0.
pub type StreamVersion = u64;

/// What an append expects of a stream before it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// Append whatever the stream holds (no concurrency check).
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must be exactly this version.
    Exact(StreamVersion),
}

impl ExpectedVersion {
    /// `NoStream` for version 0, `Exact(version)` otherwise: what a command handler that
    /// loaded `version` events expects.
    pub fn from_loaded(version: StreamVersion) -> Self {
        if version == 0 {
            Self::NoStream
        } else {
            Self::Exact(version)
        }
    }
}

/// A client-assigned event identity; appends are idempotent by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventId(pub Uuid);

impl EventId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where an event sits in the whole log. Ordered by `transaction`, then `sequence`.
///
/// `sequence` is unique per event and increases with insertion. `transaction` orders
/// commits: on SQLite it equals `sequence` (one writer, so insertion order is commit
/// order); on PostgreSQL it is the writing transaction's id, which lets readers hold back
/// until older transactions have committed instead of skipping them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct LogPosition {
    /// Orders commits (see the type's docs).
    pub transaction: u64,
    /// Orders events; unique per event.
    pub sequence: u64,
}

impl LogPosition {
    /// Before the first event.
    pub const START: LogPosition = LogPosition {
        transaction: 0,
        sequence: 0,
    };
}

impl fmt::Display for LogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.transaction, self.sequence)
    }
}

/// An event to append. The payload is the serialised domain event; `event_type` and
/// `schema_version` say how to read it back (older versions are upcast on read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Client-assigned identity (idempotency key).
    pub id: EventId,
    /// The event's type, such as `ClaimSubmitted`.
    pub event_type: String,
    /// The payload's schema version, starting at 1.
    pub schema_version: u32,
    /// The serialised event.
    pub payload: serde_json::Value,
    /// Correlation data (claim id, causation, trace ids); never health data beyond the payload.
    pub metadata: serde_json::Value,
}

/// The events to append to one stream, and what the stream must look like first.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamAppend {
    /// The stream to append to.
    pub stream: StreamId,
    /// The version the writer saw when it decided.
    pub expected: ExpectedVersion,
    /// The events, in order.
    pub events: Vec<NewEvent>,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Client-assigned identity.
    pub id: EventId,
    /// The stream it belongs to.
    pub stream: StreamId,
    /// Its version within the stream (1-based).
    pub version: StreamVersion,
    /// Its place in the whole log.
    pub position: LogPosition,
    /// The event's type.
    pub event_type: String,
    /// The payload's schema version.
    pub schema_version: u32,
    /// The serialised event, as JSON text (decode it with [`StoredJson::decode`]).
    pub payload: StoredJson,
    /// Correlation data, as JSON text: a reader decodes the fields it wants
    /// ([`StoredJson::decode`] into a struct of them) and skips the rest.
    pub metadata: StoredJson,
    /// When the store recorded it.
    pub recorded_at: DateTime<Utc>,
}

/// What an append did, per stream, in the order the appends were given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// One entry per [`StreamAppend`].
    pub streams: Vec<StreamAppended>,
}

/// What an append did to one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAppended {
    /// The stream.
    pub stream: StreamId,
    /// The stream's version after the append.
    pub version: StreamVersion,
    /// How many events were new (the rest were idempotent repeats).
    pub appended: usize,
}

/// Why the event store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer moved the stream first; reload it and decide again.
    #[error("stream {stream} is at version {actual}, but the append expected {expected:?}")]
    VersionConflict {
        /// The stream that moved.
        stream: StreamId,
        /// What the append expected.
        expected: ExpectedVersion,
        /// The version actually stored.
        actual: StreamVersion,
    },
    /// An event id is already stored with different content: two different events claim
    /// the same identity.
    #[error("event id {id} is already stored in stream {stream} with different content")]
    EventIdReused {
        /// The reused id.
        id: EventId,
        /// The stream that holds the stored event.
        stream: StreamId,
    },
    /// Other writers kept moving the streams of an `Any` append between its reads and its
    /// insert, every time it tried; try again later, or spread the writers out.
    #[error("the append lost the race to other writers {attempts} times in a row; try again")]
    Contended {
        /// How many times the append ran.
        attempts: u32,
    },
    /// The append itself is malformed (for example the same stream twice, or no events).
    #[error("invalid append: {0}")]
    InvalidAppend(String),
    /// A stored row could not be read back.
    #[error("stored event {position} cannot be read: {reason}")]
    Corrupt {
        /// Where the row sits.
        position: LogPosition,
        /// What was wrong with it.
        reason: String,
    },
    /// A version or position is larger than the database can hold; it cannot have come
    /// from this store, so the caller passed something it made up or read elsewhere.
    #[error("{what} {value} is beyond what the event store can hold")]
    OutOfRange {
        /// What the number is, such as `checkpoint sequence`.
        what: &'static str,
        /// The number.
        value: u64,
    },
    /// A schema name for the PostgreSQL store needs quoting, so it is refused rather than
    /// risk naming another schema (or injecting SQL).
    #[error(
        "schema name {0:?} is not a plain identifier: use 1 to 63 lowercase letters, digits \
         and underscores, starting with a letter or underscore and not with pg_"
    )]
    InvalidSchemaName(String),
    /// The database failed (connection, disk, lock timeout).
    #[error("event store database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Running the schema migrations failed.
    #[error("event store migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// True when retrying the command on fresh state may succeed.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            StoreError::VersionConflict { .. } | StoreError::Contended { .. }
        )
    }
}
