//! The event store on SQLite: the embedded default, one file (or memory) per engine.
//!
//! SQLite lets one writer in at a time, so every append takes the write lock up front
//! (`BEGIN IMMEDIATE`): the version checks and the inserts see the same state, and the
//! log's insertion order is its commit order. That is why a [`LogPosition`] here is simply
//! the row's `sequence`, twice.
//!
//! The statements live beside this file in `sqlite/*.sql`, the schema in
//! `adapters/migrations/sqlite/`. Payloads and metadata are stored as the JSON text they
//! were serialised to, so an amount never passes through a float on the way in or out.

use super::append_plan::{self, EncodedEvent, PlannedStream, StoredEvent};
use super::wakeup::{LogHints, LogWaiter};
use super::{
    AppendOutcome, EventId, EventStore, LogPosition, RecordedEvent, StoreError, StoredJson,
    StreamAppend, StreamId, StreamVersion,
};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sqlx::error::ErrorKind;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime};
use uuid::Uuid;

/// The schema, embedded in the binary so an engine can create its own database.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQL the store runs, one statement per file.
mod statements {
    /// A stream's current version.
    pub(super) const STREAM_VERSION: &str = include_str!("sqlite/stream_version.sql");
    /// The stored events among a JSON array of event ids.
    pub(super) const STORED_EVENTS_BY_ID: &str = include_str!("sqlite/stored_events_by_id.sql");
    /// The head of the multi-row insert; the values are pushed by `QueryBuilder`.
    pub(super) const INSERT_EVENTS: &str = include_str!("sqlite/insert_events.sql");
    /// One stream's events from a version on.
    pub(super) const READ_STREAM: &str = include_str!("sqlite/read_stream.sql");
    /// Several whole streams (a JSON array of stream ids), in one statement.
    pub(super) const READ_STREAMS: &str = include_str!("sqlite/read_streams.sql");
    /// The whole log after a sequence, a page at a time.
    pub(super) const READ_ALL: &str = include_str!("sqlite/read_all.sql");
    /// A reader's checkpoint.
    pub(super) const LOAD_CHECKPOINT: &str = include_str!("sqlite/load_checkpoint.sql");
    /// Stores a reader's checkpoint.
    pub(super) const SAVE_CHECKPOINT: &str = include_str!("sqlite/save_checkpoint.sql");
    /// Writes the one row of the store's check.
    pub(super) const CHECK: &str = include_str!("sqlite/check.sql");
    /// How many events the log holds.
    pub(super) const COUNT_EVENTS: &str = include_str!("sqlite/count_events.sql");
}

/// How long a writer waits for another writer's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections to a database file: one writes at a time, the others read alongside (WAL).
const FILE_POOL_SIZE: u32 = 8;

/// Events per read behind [`EventStore::stream_all`].
const STREAM_PAGE_SIZE: usize = 1_000;

/// Rows per `INSERT` statement, well under SQLite's limit of 32 766 bound values
/// (8 per row); a larger append is split into several statements of the same transaction.
const ROWS_PER_INSERT: usize = 1_000;

/// The event log in a SQLite database: the embedded default of the engine.
///
/// Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct SqliteEventStore {
    pool: SqlitePool,
    /// Wakes this process's readers after every commit. Another process appending to the
    /// same file sends none: its readers find those events by polling.
    hints: LogHints,
}

impl SqliteEventStore {
    /// Opens (creating it if missing) the database file at `path` and brings its schema up
    /// to date.
    ///
    /// The file is written with a write-ahead log and `synchronous=FULL`, so an append that
    /// returned has reached the disk: a crash right after a claim was accepted cannot lose it.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(FILE_POOL_SIZE)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    /// A store in memory, for tests and demonstrations: everything is gone when it is dropped.
    ///
    /// The database lives in a single connection that the pool never closes (no idle
    /// timeout, no maximum lifetime), because an in-memory database disappears with the
    /// last connection to it.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    /// The store's connections: the read models beside the log share them, so that their
    /// rows and their position commit together.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection, waiting for those in use to be returned. A file store can
    /// then be reopened (by this process or another) with everything it held.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrated(pool: SqlitePool) -> Result<Self, StoreError> {
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            hints: LogHints::new(),
        })
    }

    /// After an insert hit the `(stream_id, version)` uniqueness rule (another writer got
    /// in between, which `BEGIN IMMEDIATE` should make impossible), finds the stream that
    /// moved and reports it as the conflict it is.
    async fn conflict_after_race(
        &self,
        planned: &[PlannedStream<'_>],
        error: sqlx::Error,
    ) -> StoreError {
        for stream in planned.iter().filter(|stream| stream.appended > 0) {
            match stream_version(&self.pool, stream.append.stream.as_str()).await {
                Ok(actual) if actual != stream.before => {
                    return StoreError::VersionConflict {
                        stream: stream.append.stream.clone(),
                        expected: stream.append.expected,
                        actual,
                    };
                }
                Ok(_) => {}
                Err(read_error) => return read_error,
            }
        }
        StoreError::Database(error)
    }
}

#[async_trait]
impl EventStore for SqliteEventStore {
    async fn append(&self, appends: Vec<StreamAppend>) -> Result<AppendOutcome, StoreError> {
        let encoded = append_plan::encode(&appends)?;
        if appends.is_empty() {
            return Ok(AppendOutcome {
                streams: Vec::new(),
            });
        }
        let recorded_at = now_rfc3339();

        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let stored = stored_events(&mut tx, &appends).await?;
        let mut before = Vec::with_capacity(appends.len());
        for append in &appends {
            before.push(stream_version(&mut *tx, append.stream.as_str()).await?);
        }
        let planned = append_plan::plan(&appends, &before, |id| {
            stored.get(&id).map(StoredIdentity::as_stored)
        })?;

        let mut rows = Vec::new();
        for (stream, events) in planned.iter().zip(&encoded) {
            if stream.appended == 0 {
                continue;
            }
            for (event, version) in events.iter().zip(stream.new_versions()) {
                rows.push(NewRow {
                    stream: stream.append.stream.as_str(),
                    version: i64::try_from(version).map_err(|_| StoreError::OutOfRange {
                        what: "stream version",
                        value: version,
                    })?,
                    event,
                });
            }
        }
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::<Sqlite>::new(statements::INSERT_EVENTS);
            insert.push_values(chunk, |mut values, row| {
                values
                    .push_bind(row.event.event.id.0.to_string())
                    .push_bind(row.stream)
                    .push_bind(row.version)
                    .push_bind(row.event.event.event_type.as_str())
                    .push_bind(i64::from(row.event.event.schema_version))
                    .push_bind(row.event.payload.as_str())
                    .push_bind(row.event.metadata.as_str())
                    .push_bind(recorded_at.as_str());
            });
            if let Err(error) = insert.build().execute(&mut *tx).await {
                let raced = matches!(
                    &error,
                    sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation
                        && db.message().contains("events.version")
                );
                drop(tx);
                return Err(if raced {
                    self.conflict_after_race(&planned, error).await
                } else {
                    StoreError::Database(error)
                });
            }
        }
        tx.commit().await?;

        let outcome = append_plan::outcome(&planned);
        append_plan::log_committed(&outcome);
        if outcome.streams.iter().any(|stream| stream.appended > 0) {
            self.hints.log_grew();
        }
        Ok(outcome)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from: StreamVersion,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // Versions start at 1, so 0 and 1 both read from the start; a `from` beyond what
        // SQLite can store reads as empty, as it would for any version past the end.
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        sqlx::query_as::<_, EventRow>(statements::READ_STREAM)
            .bind(stream.as_str())
            .bind(from)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(EventRow::into_recorded)
            .collect()
    }

    async fn read_streams(
        &self,
        streams: &[StreamId],
    ) -> Result<HashMap<StreamId, Vec<RecordedEvent>>, StoreError> {
        let mut read: HashMap<StreamId, Vec<RecordedEvent>> = streams
            .iter()
            .map(|stream| (stream.clone(), Vec::new()))
            .collect();
        if read.is_empty() {
            return Ok(read);
        }
        // One JSON array rather than a placeholder per stream: a batch may name more
        // streams than SQLite takes parameters.
        let names: Vec<&str> = read.keys().map(StreamId::as_str).collect();
        let names = serde_json::Value::from(names).to_string();
        let rows = sqlx::query_as::<_, EventRow>(statements::READ_STREAMS)
            .bind(names)
            .fetch_all(&self.pool)
            .await?;
        for row in rows {
            let event = row.into_recorded()?;
            read.entry(event.stream.clone()).or_default().push(event);
        }
        Ok(read)
    }

    async fn read_all(
        &self,
        after: LogPosition,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // On SQLite the transaction part of a position equals its sequence, so the
        // sequence alone says where to resume.
        let after = i64::try_from(after.sequence).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        sqlx::query_as::<_, EventRow>(statements::READ_ALL)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(EventRow::into_recorded)
            .collect()
    }

    fn stream_all(&self, after: LogPosition) -> BoxStream<'_, Result<RecordedEvent, StoreError>> {
        // A page at a time, holding no connection between pages: an in-memory store has
        // only one, which whoever consumes the stream (a rebuild writing its rows) needs
        // too. Reading a local file has no round trip worth overlapping.
        futures::stream::try_unfold(after, move |after| async move {
            let page = self.read_all(after, STREAM_PAGE_SIZE).await?;
            Ok::<_, StoreError>(page.last().map(|last| last.position).map(|next| {
                let events = futures::stream::iter(page.into_iter().map(Ok::<_, StoreError>));
                (events, next)
            }))
        })
        .try_flatten()
        .boxed()
    }

    async fn check(&self) -> Result<(), StoreError> {
        sqlx::query(statements::CHECK).execute(&self.pool).await?;
        Ok(())
    }

    async fn load_checkpoint(&self, reader: &str) -> Result<LogPosition, StoreError> {
        let stored: Option<(i64, i64)> = sqlx::query_as(statements::LOAD_CHECKPOINT)
            .bind(reader)
            .fetch_optional(&self.pool)
            .await?;
        let Some((transaction, sequence)) = stored else {
            return Ok(LogPosition::START);
        };
        match (u64::try_from(transaction), u64::try_from(sequence)) {
            (Ok(transaction), Ok(sequence)) => Ok(LogPosition {
                transaction,
                sequence,
            }),
            _ => Err(StoreError::Corrupt {
                position: LogPosition::START,
                reason: format!(
                    "the checkpoint of reader {reader:?} is negative ({transaction}/{sequence})"
                ),
            }),
        }
    }

    async fn save_checkpoint(&self, reader: &str, position: LogPosition) -> Result<(), StoreError> {
        let transaction =
            i64::try_from(position.transaction).map_err(|_| StoreError::OutOfRange {
                what: "checkpoint transaction",
                value: position.transaction,
            })?;
        let sequence = i64::try_from(position.sequence).map_err(|_| StoreError::OutOfRange {
            what: "checkpoint sequence",
            value: position.sequence,
        })?;
        sqlx::query(statements::SAVE_CHECKPOINT)
            .bind(reader)
            .bind(transaction)
            .bind(sequence)
            .bind(now_rfc3339())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn event_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(statements::COUNT_EVENTS)
            .fetch_one(&self.pool)
            .await?;
        u64::try_from(count).map_err(|_| StoreError::Corrupt {
            position: LogPosition::START,
            reason: format!("the log reports {count} events"),
        })
    }

    fn log_waiter(&self) -> LogWaiter {
        self.hints.waiter()
    }
}

/// One row of the multi-row insert.
struct NewRow<'a> {
    stream: &'a str,
    version: i64,
    event: &'a EncodedEvent<'a>,
}

/// An event as stored, with just what decides whether a re-sent event is a repeat.
struct StoredIdentity {
    stream: String,
    event_type: String,
    schema_version: i64,
    payload: serde_json::Value,
    metadata: serde_json::Value,
}

impl StoredIdentity {
    fn as_stored(&self) -> StoredEvent<'_> {
        StoredEvent {
            stream: &self.stream,
            event_type: &self.event_type,
            schema_version: self.schema_version,
            payload: &self.payload,
            metadata: &self.metadata,
        }
    }
}

/// The stored events among those of the appends, by id.
async fn stored_events(
    connection: &mut SqliteConnection,
    appends: &[StreamAppend],
) -> Result<HashMap<EventId, StoredIdentity>, StoreError> {
    // Parsed once here, so the shared rules compare JSON values, not texts.
    let ids: Vec<String> = appends
        .iter()
        .flat_map(|append| &append.events)
        .map(|event| event.id.0.to_string())
        .collect();
    let ids = serde_json::Value::from(ids).to_string();
    let rows: Vec<(i64, String, String, String, i64, String, String)> =
        sqlx::query_as(statements::STORED_EVENTS_BY_ID)
            .bind(ids)
            .fetch_all(connection)
            .await?;
    rows.into_iter()
        .map(
            |(sequence, id, stream, event_type, schema_version, payload, metadata)| {
                let position = position_of(sequence);
                let id = parse_event_id(&id, position)?;
                Ok((
                    id,
                    StoredIdentity {
                        stream,
                        event_type,
                        schema_version,
                        payload: parse_json(&payload, position, "payload")?,
                        metadata: parse_json(&metadata, position, "metadata")?,
                    },
                ))
            },
        )
        .collect()
}

/// A stream's current version (0 when it has no events).
async fn stream_version<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    stream: &str,
) -> Result<StreamVersion, StoreError> {
    let version: i64 = sqlx::query_scalar(statements::STREAM_VERSION)
        .bind(stream)
        .fetch_one(executor)
        .await?;
    u64::try_from(version).map_err(|_| StoreError::Corrupt {
        position: LogPosition::START,
        reason: format!("stream {stream} has a negative version {version}"),
    })
}

/// A row of the `events` table, as read.
#[derive(sqlx::FromRow)]
struct EventRow {
    sequence: i64,
    event_id: String,
    stream_id: String,
    version: i64,
    event_type: String,
    schema_version: i64,
    payload: String,
    metadata: String,
    recorded_at: String,
}

impl EventRow {
    fn into_recorded(self) -> Result<RecordedEvent, StoreError> {
        let position = position_of(self.sequence);
        let corrupt = |reason: String| StoreError::Corrupt { position, reason };
        if self.sequence < 1 {
            return Err(corrupt(format!(
                "its sequence {} is not positive",
                self.sequence
            )));
        }
        let version = u64::try_from(self.version)
            .map_err(|_| corrupt(format!("its version {} is negative", self.version)))?;
        let schema_version = u32::try_from(self.schema_version).map_err(|_| {
            corrupt(format!(
                "its schema version {} is out of range",
                self.schema_version
            ))
        })?;
        let recorded_at = DateTime::parse_from_rfc3339(&self.recorded_at)
            .map_err(|error| {
                corrupt(format!(
                    "its recording time {:?} is not RFC 3339: {error}",
                    self.recorded_at
                ))
            })?
            .with_timezone(&Utc);
        Ok(RecordedEvent {
            id: parse_event_id(&self.event_id, position)?,
            stream: StreamId::from_raw(self.stream_id),
            version,
            position,
            event_type: self.event_type,
            schema_version,
            payload: StoredJson::from_text(self.payload)
                .map_err(|error| corrupt(format!("its payload is not JSON: {error}")))?,
            metadata: StoredJson::from_text(self.metadata)
                .map_err(|error| corrupt(format!("its metadata is not JSON: {error}")))?,
            recorded_at,
        })
    }
}

/// The log position of a row: on SQLite both parts are the row's sequence.
fn position_of(sequence: i64) -> LogPosition {
    let sequence = u64::try_from(sequence).unwrap_or_default();
    LogPosition {
        transaction: sequence,
        sequence,
    }
}

fn parse_event_id(text: &str, position: LogPosition) -> Result<EventId, StoreError> {
    Uuid::parse_str(text)
        .map(EventId)
        .map_err(|error| StoreError::Corrupt {
            position,
            reason: format!("its event id {text:?} is not a UUID: {error}"),
        })
}

fn parse_json(
    text: &str,
    position: LogPosition,
    part: &str,
) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt {
        position,
        reason: format!("its {part} is not JSON: {error}"),
    })
}

/// Now, as the RFC 3339 UTC text the store records (microseconds, `Z`).
fn now_rfc3339() -> String {
    DateTime::<Utc>::from(SystemTime::now()).to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_store::{ExpectedVersion, NewEvent};
    use serde_json::json;

    fn event(event_type: &str) -> NewEvent {
        NewEvent {
            id: EventId::random(),
            event_type: event_type.to_owned(),
            schema_version: 1,
            payload: json!({ "amount": "400.00" }),
            metadata: json!({}),
        }
    }

    #[tokio::test]
    async fn stored_events_cannot_be_changed_or_removed() {
        let store = SqliteEventStore::in_memory().await.unwrap();
        store
            .append(vec![StreamAppend {
                stream: StreamId::from_raw("claim-1"),
                expected: ExpectedVersion::NoStream,
                events: vec![event("ClaimSubmitted")],
            }])
            .await
            .unwrap();

        let update = sqlx::query("UPDATE events SET payload = '{}'")
            .execute(&store.pool)
            .await
            .unwrap_err();
        assert!(update.to_string().contains("immutable"), "{update}");
        let delete = sqlx::query("DELETE FROM events")
            .execute(&store.pool)
            .await
            .unwrap_err();
        assert!(delete.to_string().contains("immutable"), "{delete}");
        assert_eq!(
            store.read_all(LogPosition::START, 10).await.unwrap().len(),
            1
        );
    }

    #[tokio::test]
    async fn a_row_that_cannot_be_read_is_reported_with_its_position() {
        let store = SqliteEventStore::in_memory().await.unwrap();
        sqlx::query(
            "INSERT INTO events (event_id, stream_id, version, event_type, schema_version, \
             payload, metadata, recorded_at) \
             VALUES ('not-a-uuid', 'claim-1', 1, 'ClaimSubmitted', 1, '{}', '{}', \
             '2026-01-01T00:00:00Z')",
        )
        .execute(&store.pool)
        .await
        .unwrap();

        let error = store.read_all(LogPosition::START, 10).await.unwrap_err();
        match error {
            StoreError::Corrupt { position, reason } => {
                assert_eq!(position.sequence, 1);
                assert!(reason.contains("not-a-uuid"), "{reason}");
            }
            other => panic!("expected a corrupt row, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_schema_refuses_a_payload_that_is_not_json() {
        let store = SqliteEventStore::in_memory().await.unwrap();
        let error = sqlx::query(
            "INSERT INTO events (event_id, stream_id, version, event_type, schema_version, \
             payload, metadata, recorded_at) \
             VALUES ('00000000-0000-0000-0000-000000000001', 'claim-1', 1, 'ClaimSubmitted', \
             1, 'not json', '{}', '2026-01-01T00:00:00Z')",
        )
        .execute(&store.pool)
        .await
        .unwrap_err();
        assert!(
            matches!(&error, sqlx::Error::Database(db) if db.kind() == ErrorKind::CheckViolation),
            "{error}"
        );
    }

    #[tokio::test]
    async fn recorded_times_are_rfc3339_utc_text() {
        let store = SqliteEventStore::in_memory().await.unwrap();
        let before = DateTime::<Utc>::from(SystemTime::now());
        store
            .append(vec![StreamAppend {
                stream: StreamId::from_raw("claim-1"),
                expected: ExpectedVersion::Any,
                events: vec![event("ClaimSubmitted")],
            }])
            .await
            .unwrap();
        let (text,): (String,) = sqlx::query_as("SELECT recorded_at FROM events")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(text.ends_with('Z'), "{text}");
        let recorded = DateTime::parse_from_rfc3339(&text).unwrap();
        assert!(recorded >= before - chrono::Duration::seconds(1), "{text}");
    }

    #[tokio::test]
    async fn a_checkpoint_beyond_the_database_range_is_refused() {
        let store = SqliteEventStore::in_memory().await.unwrap();
        let error = store
            .save_checkpoint(
                "relay",
                LogPosition {
                    transaction: u64::MAX,
                    sequence: u64::MAX,
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::OutOfRange { value, .. } if value == u64::MAX),
            "{error:?}"
        );
        assert_eq!(
            store.load_checkpoint("relay").await.unwrap(),
            LogPosition::START
        );
    }
}
