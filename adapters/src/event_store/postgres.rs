//! The event store on PostgreSQL: production, one log shared by every engine process on
//! every host.
//!
//! # Appends
//!
//! Many writers append at once, each in its own `READ COMMITTED` transaction. An append
//! reads, in one statement (so from one snapshot), the current version of every stream it
//! names and the stored events among its event ids; decides exactly as the SQLite store
//! does; then inserts every new event of every stream with one
//! `INSERT … SELECT FROM UNNEST(…)`. Four round trips (`BEGIN`, read, insert, `COMMIT`),
//! whatever the number of streams and events.
//!
//! Most appends take a one-round-trip fast path first: when every stream names the exact
//! version it expects (or `NoStream`), the new versions are known before reading anything,
//! so one statement inserts them, on the condition that every expected version is stored,
//! in its own implicit transaction. If it inserts nothing or hits a unique constraint, the
//! append takes the full path above, which tells a conflict from a repeat from a reused id.
//!
//! The database, not the read, has the last word: `UNIQUE (stream_id, version)` makes the
//! second of two writers at one version fail, and `UNIQUE (event_id)` does the same for a
//! racing re-send of the same events. Either failure (and a deadlock or serialization
//! failure) means another writer committed in between; the append then runs again on
//! fresh state, which turns the race into what it is: a [`StoreError::VersionConflict`]
//! with the actual version for `Exact` and `NoStream`, an idempotent success or
//! [`StoreError::EventIdReused`] for a re-sent event id, and simply a later version for
//! `Any`. Because a conflicting row is committed before the insert fails, the second run
//! always sees it; only `Any` appends that keep losing to other writers can run out of
//! attempts ([`StoreError::Contended`]).
//!
//! Reading versions and ids from one snapshot matters: a racing re-send that committed
//! between two separate reads would be seen as stored by one and absent from the other,
//! and the repeat would report a stale version.
//!
//! # Gap-safe global order
//!
//! `global_position` comes from an identity sequence, handed out when a row is inserted, not
//! when its transaction commits. With concurrent writers a row can become visible after a
//! row with a larger position: a reader that resumed "after the largest position I saw"
//! would skip it for good (the bug Marten and Axon shipped). Here every row also records its
//! writing transaction's id (`tx_id`, an `xid8`), and [`EventStore::read_all`]:
//!
//! - orders the log by `(tx_id, global_position)`, which is what a [`LogPosition`] holds
//!   (`transaction` = `tx_id`, `sequence` = `global_position`);
//! - returns only rows whose `tx_id` is below `pg_snapshot_xmin(pg_current_snapshot())`, the
//!   oldest transaction still in flight. Every transaction that may still commit rows has
//!   an id at or above that horizon, so whatever it commits sorts after everything already
//!   returned, and a reader resuming from its last position meets it later instead of
//!   having moved past it.
//!
//! The order is stable and total but is not commit order; it is the order of transaction
//! ids, which is what makes the rule above hold.
//!
//! **The trade-off.** Transaction ids are cluster-wide, so any long-running transaction that
//! has written anything, in any database of the cluster, holds every reader back until it
//! ends: readers see nothing newer than the oldest open writer. Keep writing transactions
//! short (the store's own appends are), and watch for idle-in-transaction sessions: a stuck
//! one stalls the relay and the projections, visibly, instead of letting them skip events
//! silently. Appends and [`EventStore::read_stream`] are not held back.
//!
//! # Wake-up hints
//!
//! Readers that have caught up wait for a hint that the log grew (see
//! [`crate::event_store::LogSubscription`]). Inside this process a commit wakes them
//! directly. Across processes the hint is a `NOTIFY`, but never one sent from inside an
//! append: PostgreSQL takes a database-wide lock on the notification queue when a
//! transaction that notified commits, which would serialise every writer behind it. Instead
//! one background task per store sends `pg_notify` outside any append, at most one at a
//! time, each covering every commit since the previous one and signed with the store's id;
//! another task `LISTEN`s on its own connection and wakes this process's readers for every
//! notice but the store's own (its readers were woken when the commit returned).
//! `claims bench store` measures what a `NOTIFY` inside each append would cost (see
//! `docs/benchmarks.md`).
//!
//! A hint is sent only while a store in another process has readers: with every role in
//! one process the notices woke no one and cost 7% of the machine's processor time per
//! claim (`docs/benchmarks.md`). So the same channel also carries who reads. A store with
//! readers says so (`reader:<id>`) when its first reader appears, every
//! [`READERS_ANNOUNCED_EVERY`] after, and when asked; a store that starts listening asks
//! (`who:<id>`). A store sends commit hints until [`READERS_HEARD_FOR`] after it last heard
//! of another store's readers. A reader that a hint misses (one that appeared a moment
//! before a commit, or one of a version that does not announce itself) still reads again
//! after its poll interval.
//!
//! # Files
//!
//! The statements live beside this file in `postgres/*.sql`, the schema in
//! `adapters/migrations/postgres/`. Every query is built at run time, so the build never
//! needs a database. Payloads and metadata are sent as the JSON text they were serialised
//! to and stored as that text (`json`, not `jsonb`: the log is read whole and never queried
//! inside, and `jsonb` made every read rebuild the text); an amount never passes through a
//! float on the way in or out, and a read hands the payload on undecoded.
//! Transaction ids travel as text, because sqlx has no `xid8` type and an `xid8` may exceed
//! `bigint`.

use super::append_plan::{self, EncodedEvent, PlannedStream, StoredEvent};
use super::wakeup::{LogHints, LogWaiter};
use super::{
    AppendOutcome, EventId, EventStore, ExpectedVersion, LogPosition, RecordedEvent, StoreError,
    StoredJson, StreamAppend, StreamId, StreamVersion,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::migrate::Migrator;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgConnection, PgListener, PgPool, PgPoolOptions, PgTypeInfo, PgValueRef};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Connection, Postgres, Transaction};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The schema, embedded in the binary so an engine can create its own tables.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The SQL the store runs, one statement per file.
mod statements {
    /// The current version of every named stream and the stored events among the ids of
    /// an append, from one snapshot.
    pub(super) const APPEND_STATE: &str = include_str!("postgres/append_state.sql");
    /// Every new event of an append, from one array per column.
    pub(super) const INSERT_EVENTS: &str = include_str!("postgres/insert_events.sql");
    /// The same, in one round trip, if every stream is at the version its append expects.
    pub(super) const INSERT_EVENTS_AT_EXPECTED: &str =
        include_str!("postgres/insert_events_at_expected.sql");
    /// One stream's events from a version on.
    pub(super) const READ_STREAM: &str = include_str!("postgres/read_stream.sql");
    /// Several whole streams, in one query.
    pub(super) const READ_STREAMS: &str = include_str!("postgres/read_streams.sql");
    pub(super) const READ_STREAMS_FROM: &str = include_str!("postgres/read_streams_from.sql");
    /// The whole log after a position, below the oldest transaction in flight.
    pub(super) const READ_ALL: &str = include_str!("postgres/read_all.sql");
    /// A reader's checkpoint.
    pub(super) const LOAD_CHECKPOINT: &str = include_str!("postgres/load_checkpoint.sql");
    /// Stores a reader's checkpoint.
    pub(super) const SAVE_CHECKPOINT: &str = include_str!("postgres/save_checkpoint.sql");
    /// Writes the one row of the store's check.
    pub(super) const CHECK: &str = include_str!("postgres/check.sql");
    /// A wake-up hint to every listening reader.
    pub(super) const NOTIFY: &str = include_str!("postgres/notify.sql");
    /// How many events the log holds.
    pub(super) const COUNT_EVENTS: &str = include_str!("postgres/count_events.sql");
}

/// Connections per store: enough for the workers of one process to append side by side.
const POOL_SIZE: u32 = 16;

/// How long a caller waits for a connection (or for the server to accept one) before the
/// store reports the database as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a pooled connection may sit idle and still be handed out untested. sqlx tests
/// every idle connection before handing it out by default: a round trip to the server in
/// front of every statement, on the path of every claim. A connection used moments ago is
/// alive; one idle longer (the server may have restarted, a proxy may have dropped it) is
/// tested first, and replaced if it fails.
const TRUSTED_IDLE: Duration = Duration::from_secs(1);

/// How many times an append runs again after losing a race to another writer. `Exact` and
/// `NoStream` appends settle on the second run; only `Any` appends to a stream that other
/// writers keep moving can need more.
const APPEND_ATTEMPTS: u32 = 20;

/// The longest pause, per attempt so far, before running a lost append again; random, so
/// that writers that collided once do not collide again in lockstep.
const RETRY_PAUSE_PER_ATTEMPT: Duration = Duration::from_micros(500);

/// The longest schema name PostgreSQL keeps without truncating it.
const MAX_SCHEMA_NAME: usize = 63;

/// SQLSTATE of a unique violation.
const UNIQUE_VIOLATION: &str = "23505";
/// SQLSTATE of a serialization failure (only under `REPEATABLE READ` or `SERIALIZABLE`).
const SERIALIZATION_FAILURE: &str = "40001";
/// SQLSTATE of a detected deadlock (two appends waiting on each other's rows).
const DEADLOCK_DETECTED: &str = "40P01";
/// SQLSTATE of `CREATE SCHEMA` for a schema that exists.
const DUPLICATE_SCHEMA: &str = "42P06";

/// The constraints whose violation means another writer got in first.
const RACE_CONSTRAINTS: [&str; 2] = ["events_stream_version_unique", "events_event_id_unique"];

/// The notification channel of the log in the default schema; a log in its own schema
/// appends `_<schema>`, so that logs sharing a database do not wake each other's readers.
const HINT_CHANNEL: &str = "claims_log";

/// How long the hint listener waits before reconnecting after losing its connection.
const LISTENER_RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// How often a store with readers tells the others so.
const READERS_ANNOUNCED_EVERY: Duration = Duration::from_secs(2);

/// How long a store keeps sending commit hints after it last heard of another store's
/// readers: two announcements and a half.
const READERS_HEARD_FOR: Duration = Duration::from_secs(5);

/// A notice's payload: a store that has readers (`reader:<id>`).
const READER_NOTICE: &str = "reader:";

/// A notice's payload: a store that has just started listening asks who has readers
/// (`who:<id>`).
const WHO_NOTICE: &str = "who:";

/// The event log in a PostgreSQL database: what production engines share.
///
/// Cheap to clone: clones share one connection pool and one set of hint tasks.
#[derive(Debug, Clone)]
pub struct PostgresEventStore {
    pool: PgPool,
    /// Bumped after every commit that appended events; the notifier sends them on.
    commits: LogHints,
    /// What this process's readers wait on: local commits and other processes' notices.
    readers: LogHints,
    /// Who else reads the log, as far as this store has heard.
    readership: Arc<Readership>,
    hint_tasks: Arc<HintTasks>,
}

/// The background tasks that carry wake-up hints between processes; stopped when the
/// last clone of the store is dropped.
#[derive(Debug)]
struct HintTasks {
    notifier: JoinHandle<()>,
    listener: JoinHandle<()>,
    announcer: JoinHandle<()>,
}

impl HintTasks {
    fn abort(&self) {
        self.notifier.abort();
        self.listener.abort();
        self.announcer.abort();
    }
}

impl Drop for HintTasks {
    fn drop(&mut self) {
        self.abort();
    }
}

/// Whether a store in another process has readers to hint, and the nudge that makes this
/// store say at once that it has some.
#[derive(Debug, Default)]
struct Readership {
    /// Until when another store's readers count as present.
    others_until: std::sync::Mutex<Option<tokio::time::Instant>>,
    /// Wakes the announcer: a first reader here, or another store asking.
    announce: tokio::sync::Notify,
}

impl Readership {
    fn heard_of_others(&self) {
        let until = tokio::time::Instant::now() + READERS_HEARD_FOR;
        *self
            .others_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(until);
    }

    fn others_read(&self) -> bool {
        self.others_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|until| tokio::time::Instant::now() < until)
    }
}

impl PostgresEventStore {
    /// Connects to the database at `url` (such as `postgres://user@host:5432/claims`) and
    /// brings the schema up to date, in whatever schema the connection's `search_path`
    /// names first (normally `public`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = pool_options().connect(url).await?;
        Self::migrated(pool, HINT_CHANNEL.to_owned()).await
    }

    /// Connects to the database at `url` and keeps the whole log in `schema`, creating it if
    /// missing: several logs (one per test, per tenant, per environment) can then share one
    /// database without seeing each other.
    ///
    /// `schema` must be a plain identifier (lowercase letters, digits and underscores,
    /// starting with a letter or underscore, at most 63 characters, not starting with
    /// `pg_`), so that it can be named in SQL without quoting surprises.
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        require_plain_identifier(schema)?;
        let mut connection = PgConnection::connect(url).await?;
        let created = sqlx::query(AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}"
        )))
        .execute(&mut connection)
        .await;
        match created {
            Ok(_) => {}
            // Two connections creating the same schema at once: one of them loses the
            // race on the catalog, and the schema exists either way.
            Err(sqlx::Error::Database(error))
                if matches!(
                    error.code().as_deref(),
                    Some(UNIQUE_VIOLATION | DUPLICATE_SCHEMA)
                ) => {}
            Err(error) => return Err(error.into()),
        }
        connection.close().await?;

        let search_path = format!("SET search_path TO {schema}");
        let pool = pool_options()
            .after_connect(move |connection, _| {
                let statement = AssertSqlSafe(search_path.clone());
                Box::pin(async move {
                    sqlx::query(statement).execute(connection).await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        Self::migrated(pool, format!("{HINT_CHANNEL}_{schema}")).await
    }

    /// The store's connections: the read models beside the log share them, so that their
    /// rows and their position commit together.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.hint_tasks.abort();
        self.pool.close().await;
    }

    /// Starts a transaction on one of the store's connections (so in the store's schema),
    /// for a caller that wants to write its own rows and append events atomically with
    /// [`Self::append_in`]: a projection storing its state with its checkpoint, or a
    /// service recording what it did together with the events that say so.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// Appends exactly as [`EventStore::append`] does, but inside the caller's transaction
    /// (obtained from [`Self::begin`]): the events become visible when, and only if, the
    /// caller commits.
    ///
    /// The append runs in a savepoint, so a refused append (a version conflict, a reused
    /// id) leaves the caller's transaction usable. Readers of the whole log are held back
    /// while the caller's transaction is open (see the module docs), so keep it short.
    pub async fn append_in(
        &self,
        transaction: &mut PgConnection,
        appends: Vec<StreamAppend>,
    ) -> Result<AppendOutcome, StoreError> {
        let encoded = encode(&appends)?;
        if appends.is_empty() {
            return Ok(AppendOutcome {
                streams: Vec::new(),
            });
        }
        append_on(transaction, &appends, &encoded).await
    }

    async fn migrated(pool: PgPool, channel: String) -> Result<Self, StoreError> {
        MIGRATOR.run(&pool).await?;
        let commits = LogHints::new();
        let readers = LogHints::new();
        // The listener holds its connection for good: give it its own, so that the
        // appenders keep the whole pool.
        let listener_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with((*pool.connect_options()).clone());
        // Signs this store's notices, so that its listener can tell its own from others'.
        let sender = Uuid::new_v4().to_string();
        let readership = Arc::new(Readership::default());
        let hints = Hints {
            channel,
            own: sender,
            readership: readership.clone(),
        };
        let hint_tasks = Arc::new(HintTasks {
            notifier: tokio::spawn(send_hints(pool.clone(), hints.clone(), commits.clone())),
            announcer: tokio::spawn(announce_readers(
                pool.clone(),
                hints.clone(),
                readers.clone(),
            )),
            listener: tokio::spawn(receive_hints(listener_pool, hints, readers.clone())),
        });
        Ok(Self {
            pool,
            commits,
            readers,
            readership,
            hint_tasks,
        })
    }

    /// Says that an append committed: to this process's readers at once, and to other
    /// processes through the notifier.
    fn committed(&self, outcome: &AppendOutcome) {
        if outcome.streams.iter().any(|stream| stream.appended > 0) {
            self.commits.log_grew();
            self.readers.log_grew();
        }
    }
}

/// What the hint tasks of one store share: the log's channel, the store's id, and what it
/// heard of other stores' readers.
#[derive(Debug, Clone)]
struct Hints {
    channel: String,
    own: String,
    readership: Arc<Readership>,
}

impl Hints {
    /// Sends `payload` on the channel, outside any transaction. A failed notice is only
    /// logged: readers poll as well.
    async fn notify<'c, E>(&self, executor: E, payload: &str, what: &str)
    where
        E: sqlx::Executor<'c, Database = Postgres>,
    {
        if let Err(error) = sqlx::query(statements::NOTIFY)
            .bind(self.channel.as_str())
            .bind(payload)
            .execute(executor)
            .await
        {
            tracing::debug!(%error, "could not send {what}; readers will poll");
        }
    }
}

/// Sends one `NOTIFY` per burst of commits, outside every append's transaction (see the
/// module docs), signed with the store's id, while another store has readers.
async fn send_hints(pool: PgPool, hints: Hints, commits: LogHints) {
    let mut waiter = commits.waiter();
    loop {
        waiter.log_grew().await;
        // Every commit from here on is covered by the next notice, not this one.
        waiter.mark_seen();
        if hints.readership.others_read() {
            hints.notify(&pool, &hints.own, "a wake-up hint").await;
        }
    }
}

/// Tells the other stores that this one has readers: when the first appears or another
/// store asks, and every [`READERS_ANNOUNCED_EVERY`] while any is left.
async fn announce_readers(pool: PgPool, hints: Hints, readers: LogHints) {
    let announcement = format!("{READER_NOTICE}{}", hints.own);
    loop {
        if readers.has_waiters() {
            hints
                .notify(&pool, &announcement, "that this process reads the log")
                .await;
        }
        let _ = tokio::time::timeout(
            READERS_ANNOUNCED_EVERY,
            hints.readership.announce.notified(),
        )
        .await;
    }
}

/// What a notice on the log's channel says, as a store reads it.
#[derive(Debug, PartialEq, Eq)]
enum Notice {
    /// Sent by this store: a hint or an announcement of its own.
    Own,
    /// Another store has readers.
    Readers,
    /// Another store has just started listening and asks who has readers.
    Question,
    /// Another store committed: the log grew.
    LogGrew,
}

impl Notice {
    fn read(payload: &str, own: &str) -> Self {
        let (notice, sender) = if let Some(sender) = payload.strip_prefix(READER_NOTICE) {
            (Notice::Readers, sender)
        } else if let Some(sender) = payload.strip_prefix(WHO_NOTICE) {
            (Notice::Question, sender)
        } else {
            (Notice::LogGrew, payload)
        };
        if sender == own { Notice::Own } else { notice }
    }
}

/// Wakes this process's readers whenever another store hints that the log grew, and after
/// every reconnection (notices sent while disconnected are lost). A hint signed with the
/// store's own id is its own: its readers were woken in process when the commit returned,
/// and waking them again would only make each of them read the log once more for nothing.
/// Also hears which other stores have readers, and asks them at every (re)connection.
async fn receive_hints(pool: PgPool, hints: Hints, readers: LogHints) {
    let question = format!("{WHO_NOTICE}{}", hints.own);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::debug!(%error, "cannot listen for wake-up hints yet; readers poll");
                tokio::time::sleep(LISTENER_RECONNECT_PAUSE).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(&hints.channel).await {
            tracing::debug!(%error, "cannot listen for wake-up hints yet; readers poll");
            tokio::time::sleep(LISTENER_RECONNECT_PAUSE).await;
            continue;
        }
        hints
            .notify(&mut listener, &question, "who reads the log")
            .await;
        loop {
            match listener.try_recv().await {
                Ok(Some(notice)) => match Notice::read(notice.payload(), &hints.own) {
                    Notice::Own => {}
                    Notice::Readers => hints.readership.heard_of_others(),
                    Notice::Question => hints.readership.announce.notify_one(),
                    Notice::LogGrew => readers.log_grew(),
                },
                // The connection dropped; the next call reconnects.
                Ok(None) => readers.log_grew(),
                Err(error) => {
                    tracing::debug!(%error, "lost the wake-up hint listener; reconnecting");
                    readers.log_grew();
                    tokio::time::sleep(LISTENER_RECONNECT_PAUSE).await;
                    break;
                }
            }
        }
    }
}

#[async_trait]
impl EventStore for PostgresEventStore {
    async fn append(&self, appends: Vec<StreamAppend>) -> Result<AppendOutcome, StoreError> {
        let encoded = encode(&appends)?;
        if appends.is_empty() {
            return Ok(AppendOutcome {
                streams: Vec::new(),
            });
        }
        let mut connection = self.pool.acquire().await?;
        let outcome = match append_at_expected(&mut connection, &appends, &encoded).await? {
            Some(outcome) => outcome,
            None => append_on(&mut connection, &appends, &encoded).await?,
        };
        append_plan::log_committed(&outcome);
        self.committed(&outcome);
        Ok(outcome)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from: StreamVersion,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // Versions start at 1, so 0 and 1 both read from the start; a `from` beyond what a
        // bigint holds reads as empty, as it would for any version past the end.
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
        let names: Vec<&str> = read.keys().map(StreamId::as_str).collect();
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

    async fn read_streams_from(
        &self,
        from: &[(StreamId, StreamVersion)],
    ) -> Result<HashMap<StreamId, Vec<RecordedEvent>>, StoreError> {
        let first = super::first_versions(from);
        if first.is_empty() {
            return Ok(HashMap::new());
        }
        let names: Vec<&str> = first.keys().map(StreamId::as_str).collect();
        // A version beyond a bigint reads as empty, as it would for any past the end.
        let versions: Vec<i64> = first
            .values()
            .map(|version| i64::try_from(*version).unwrap_or(i64::MAX))
            .collect();
        let rows = sqlx::query_as::<_, EventRow>(statements::READ_STREAMS_FROM)
            .bind(names)
            .bind(versions)
            .fetch_all(&self.pool)
            .await?;
        let mut read: HashMap<StreamId, Vec<RecordedEvent>> = first
            .into_keys()
            .map(|stream| (stream, Vec::new()))
            .collect();
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
        // No row of a transaction has a position beyond a bigint, so clamping the
        // sequence keeps "strictly after" exact.
        let sequence = i64::try_from(after.sequence).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        sqlx::query_as::<_, EventRow>(statements::READ_ALL)
            .bind(after.transaction.to_string())
            .bind(sequence)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(EventRow::into_recorded)
            .collect()
    }

    fn stream_all(&self, after: LogPosition) -> BoxStream<'_, Result<RecordedEvent, StoreError>> {
        let sequence = i64::try_from(after.sequence).unwrap_or(i64::MAX);
        // The same statement as a page, without a limit: its one snapshot fixes the horizon,
        // so it is exactly as gap-safe, and sqlx hands rows over as they arrive.
        sqlx::query_as::<_, EventRow>(statements::READ_ALL)
            .bind(after.transaction.to_string())
            .bind(sequence)
            .bind(i64::MAX)
            .fetch(&self.pool)
            .map(|row| {
                row.map_err(StoreError::from)
                    .and_then(EventRow::into_recorded)
            })
            .boxed()
    }

    async fn check(&self) -> Result<(), StoreError> {
        sqlx::query(statements::CHECK).execute(&self.pool).await?;
        Ok(())
    }

    async fn load_checkpoint(&self, reader: &str) -> Result<LogPosition, StoreError> {
        let stored: Option<(String, i64)> = sqlx::query_as(statements::LOAD_CHECKPOINT)
            .bind(reader)
            .fetch_optional(&self.pool)
            .await?;
        let Some((transaction, sequence)) = stored else {
            return Ok(LogPosition::START);
        };
        match (transaction.parse::<u64>(), u64::try_from(sequence)) {
            (Ok(transaction), Ok(sequence)) => Ok(LogPosition {
                transaction,
                sequence,
            }),
            _ => Err(StoreError::Corrupt {
                position: LogPosition::START,
                reason: format!(
                    "the checkpoint of reader {reader:?} is not a position ({transaction}/{sequence})"
                ),
            }),
        }
    }

    async fn save_checkpoint(&self, reader: &str, position: LogPosition) -> Result<(), StoreError> {
        let sequence = i64::try_from(position.sequence).map_err(|_| StoreError::OutOfRange {
            what: "checkpoint sequence",
            value: position.sequence,
        })?;
        sqlx::query(statements::SAVE_CHECKPOINT)
            .bind(reader)
            .bind(position.transaction.to_string())
            .bind(sequence)
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
        let waiter = self.readers.waiter();
        // Other processes hint this store's readers only once they hear of them.
        self.readership.announce.notify_one();
        waiter
    }
}

fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for > TRUSTED_IDLE {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
}

/// Refuses a schema name that would need quoting (or could inject SQL).
fn require_plain_identifier(schema: &str) -> Result<(), StoreError> {
    let mut characters = schema.chars();
    let plain = characters
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && characters.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= MAX_SCHEMA_NAME
        && !schema.starts_with("pg_");
    if plain {
        Ok(())
    } else {
        Err(StoreError::InvalidSchemaName(schema.to_owned()))
    }
}

/// Runs an append on `connection`: in a transaction of its own, or in a savepoint when
/// the connection is already in one. Runs it again, on fresh state, when it lost a race.
async fn append_on(
    connection: &mut PgConnection,
    appends: &[StreamAppend],
    encoded: &[Vec<EncodedEvent<'_>>],
) -> Result<AppendOutcome, StoreError> {
    for attempt in 1..=APPEND_ATTEMPTS {
        let mut transaction = connection.begin().await?;
        let error = match try_append(&mut transaction, appends, encoded).await {
            Ok(outcome) => match transaction.commit().await {
                Ok(()) => return Ok(outcome),
                // COMMIT fails only for a serializable transaction that lost; it is over
                // either way, and the next attempt starts afresh.
                Err(error) if is_race(&error) => {
                    pause_before_retry(attempt).await;
                    continue;
                }
                Err(error) => return Err(error.into()),
            },
            Err(error) => error,
        };
        if let Err(rollback) = transaction.rollback().await {
            tracing::warn!(%rollback, "rolling back a failed append failed");
            return Err(match error {
                Attempt::Failed(error) => error,
                Attempt::Raced(_) => rollback.into(),
            });
        }
        match error {
            Attempt::Failed(error) => return Err(error),
            Attempt::Raced(race) => {
                tracing::debug!(attempt, %race, "append lost a race; running it again");
                pause_before_retry(attempt).await;
            }
        }
    }
    Err(StoreError::Contended {
        attempts: APPEND_ATTEMPTS,
    })
}

/// The fast path of [`EventStore::append`], for the common case of appends whose every
/// stream expects an exact version (or none): inserts at the versions that follow in one
/// statement, one round trip, with no prior read. `None` when the fast path cannot decide
/// (a stream is not where its append expects, a version or an event id is taken, or a
/// stream appends at `Any`): the full path then reads, decides and says why. The database
/// keeps it correct: the statement inserts nothing unless every expected version is stored,
/// and the unique constraints refuse a version or an id that is taken.
async fn append_at_expected(
    connection: &mut PgConnection,
    appends: &[StreamAppend],
    encoded: &[Vec<EncodedEvent<'_>>],
) -> Result<Option<AppendOutcome>, StoreError> {
    let mut planned = Vec::with_capacity(appends.len());
    let mut expected_streams = Vec::new();
    let mut expected_versions = Vec::new();
    for append in appends {
        let before = match append.expected {
            ExpectedVersion::Any => return Ok(None),
            ExpectedVersion::NoStream => 0,
            ExpectedVersion::Exact(version) => version,
        };
        if before > 0 {
            expected_streams.push(append.stream.as_str());
            expected_versions.push(i64::try_from(before).map_err(|_| StoreError::OutOfRange {
                what: "stream version",
                value: before,
            })?);
        }
        planned.push(PlannedStream {
            append,
            before,
            appended: append.events.len(),
        });
    }
    let rows = NewRows::of(&planned, encoded)?;
    let expected_rows = rows.event_ids.len() as u64;
    let inserted = rows
        .bound_to(sqlx::query(statements::INSERT_EVENTS_AT_EXPECTED))
        .bind(expected_streams)
        .bind(expected_versions)
        .execute(&mut *connection)
        .await;
    match inserted {
        Ok(done) if done.rows_affected() == expected_rows => {
            Ok(Some(append_plan::outcome(&planned)))
        }
        // Nothing inserted: some stream is behind the version its append expects.
        Ok(_) => Ok(None),
        Err(error) if is_race(&error) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// A short random pause, growing with the attempts, before running a lost append again.
async fn pause_before_retry(attempt: u32) {
    let ceiling = RETRY_PAUSE_PER_ATTEMPT.saturating_mul(attempt);
    let ceiling = u64::try_from(ceiling.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    let random = Uuid::new_v4().as_u64_pair().0;
    tokio::time::sleep(Duration::from_micros(random % ceiling)).await;
}

/// Why one attempt at an append did not succeed.
enum Attempt {
    /// Another writer committed in between; running the append again will tell what to do.
    Raced(sqlx::Error),
    /// The append is refused or the database failed: the answer to the caller.
    Failed(StoreError),
}

impl From<StoreError> for Attempt {
    fn from(error: StoreError) -> Self {
        Attempt::Failed(error)
    }
}

impl From<sqlx::Error> for Attempt {
    fn from(error: sqlx::Error) -> Self {
        if is_race(&error) {
            Attempt::Raced(error)
        } else {
            Attempt::Failed(error.into())
        }
    }
}

/// True when `error` means another writer committed first.
fn is_race(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(error) = error else {
        return false;
    };
    match error.code().as_deref() {
        Some(UNIQUE_VIOLATION) => error
            .constraint()
            .is_some_and(|constraint| RACE_CONSTRAINTS.contains(&constraint)),
        Some(SERIALIZATION_FAILURE | DEADLOCK_DETECTED) => true,
        _ => false,
    }
}

/// One attempt: reads, decides as the port documents, inserts. Nothing is committed here.
async fn try_append(
    connection: &mut PgConnection,
    appends: &[StreamAppend],
    encoded: &[Vec<EncodedEvent<'_>>],
) -> Result<AppendOutcome, Attempt> {
    let AppendState { versions, stored } = AppendState::read(&mut *connection, appends).await?;

    let before: Vec<StreamVersion> = appends
        .iter()
        .map(|append| {
            versions
                .get(append.stream.as_str())
                .copied()
                .unwrap_or_default()
        })
        .collect();
    let planned = append_plan::plan(appends, &before, |id| {
        stored.get(&id).map(StoredIdentity::as_stored)
    })?;

    let rows = NewRows::of(&planned, encoded)?;
    if !rows.is_empty() {
        rows.bound_to(sqlx::query(statements::INSERT_EVENTS))
            .execute(&mut *connection)
            .await?;
    }

    Ok(append_plan::outcome(&planned))
}

/// The new events of an append, one array per column, as the insert binds them.
#[derive(Default)]
struct NewRows<'a> {
    event_ids: Vec<Uuid>,
    stream_ids: Vec<&'a str>,
    versions: Vec<i64>,
    event_types: Vec<&'a str>,
    schema_versions: Vec<i32>,
    payloads: Vec<&'a str>,
    metadata: Vec<&'a str>,
}

impl<'a> NewRows<'a> {
    /// Binds the rows, one array per column, as the first seven parameters of an insert
    /// (`insert_events.sql` and `insert_events_at_expected.sql` share that shape).
    fn bound_to(
        self,
        insert: sqlx::query::Query<'a, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'a, Postgres, sqlx::postgres::PgArguments> {
        insert
            .bind(self.event_ids)
            .bind(self.stream_ids)
            .bind(self.versions)
            .bind(self.event_types)
            .bind(self.schema_versions)
            .bind(self.payloads)
            .bind(self.metadata)
    }

    fn of(
        planned: &[PlannedStream<'a>],
        encoded: &'a [Vec<EncodedEvent<'a>>],
    ) -> Result<Self, StoreError> {
        let mut rows = NewRows::default();
        for (stream, events) in planned.iter().zip(encoded) {
            if stream.appended == 0 {
                continue;
            }
            for (encoded, version) in events.iter().zip(stream.new_versions()) {
                let event = encoded.event;
                rows.event_ids.push(event.id.0);
                rows.stream_ids.push(stream.append.stream.as_str());
                rows.versions
                    .push(i64::try_from(version).map_err(|_| StoreError::OutOfRange {
                        what: "stream version",
                        value: version,
                    })?);
                rows.event_types.push(event.event_type.as_str());
                rows.schema_versions
                    .push(i32::try_from(event.schema_version).map_err(|_| {
                        StoreError::OutOfRange {
                            what: "schema version",
                            value: u64::from(event.schema_version),
                        }
                    })?);
                rows.payloads.push(encoded.payload.as_str());
                rows.metadata.push(encoded.metadata.as_str());
            }
        }
        Ok(rows)
    }

    fn is_empty(&self) -> bool {
        self.event_ids.is_empty()
    }
}

/// Refuses what PostgreSQL cannot hold, then applies the rules every store shares.
fn encode(appends: &[StreamAppend]) -> Result<Vec<Vec<EncodedEvent<'_>>>, StoreError> {
    refuse_nul_characters(appends)?;
    append_plan::encode(appends)
}

/// PostgreSQL `text` cannot hold U+0000, so an append carrying one anywhere
/// is refused with the reason instead of failing in the database.
fn refuse_nul_characters(appends: &[StreamAppend]) -> Result<(), StoreError> {
    for append in appends {
        if append.stream.as_str().contains('\0') {
            return Err(StoreError::InvalidAppend(format!(
                "stream id {:?} contains a NUL character, which PostgreSQL text cannot hold",
                append.stream.as_str()
            )));
        }
        for event in &append.events {
            if event.event_type.contains('\0') {
                return Err(StoreError::InvalidAppend(format!(
                    "the type of event {} contains a NUL character, which PostgreSQL text \
                     cannot hold",
                    event.id
                )));
            }
            for (part, value) in [("payload", &event.payload), ("metadata", &event.metadata)] {
                if contains_nul(value) {
                    return Err(StoreError::InvalidAppend(format!(
                        "the {part} of event {} contains a NUL character (\\u0000), which \
                         PostgreSQL text cannot hold",
                        event.id
                    )));
                }
            }
        }
    }
    Ok(())
}

/// True when a string or key anywhere in `value` holds U+0000, which PostgreSQL text (the
/// read models' columns, and `jsonb` should the log ever use it) refuses.
fn contains_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(contains_nul),
        serde_json::Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || contains_nul(value)),
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {
            false
        }
    }
}

/// An event as stored, with just what decides whether a re-sent event is a repeat.
struct StoredIdentity {
    stream: String,
    event_type: String,
    schema_version: i32,
    payload: serde_json::Value,
    metadata: serde_json::Value,
}

impl StoredIdentity {
    fn as_stored(&self) -> StoredEvent<'_> {
        StoredEvent {
            stream: &self.stream,
            event_type: &self.event_type,
            schema_version: i64::from(self.schema_version),
            payload: &self.payload,
            metadata: &self.metadata,
        }
    }
}

/// What an append decides on: the streams' versions and the already stored events.
struct AppendState {
    /// The current version of every named stream that has events (others are at 0).
    versions: HashMap<String, StreamVersion>,
    /// The stored events among those of the appends, by id.
    stored: HashMap<EventId, StoredIdentity>,
}

/// A row of `append_state.sql`: a stream's version when `event_id` is `None`, a stored
/// event otherwise.
#[derive(sqlx::FromRow)]
struct AppendStateRow {
    stream_id: String,
    version: i64,
    global_position: Option<i64>,
    tx_id: Option<String>,
    event_id: Option<Uuid>,
    event_type: Option<String>,
    schema_version: Option<i32>,
    payload: Option<Json<serde_json::Value>>,
    metadata: Option<Json<serde_json::Value>>,
}

impl AppendState {
    async fn read(
        connection: &mut PgConnection,
        appends: &[StreamAppend],
    ) -> Result<Self, Attempt> {
        let streams: Vec<&str> = appends
            .iter()
            .map(|append| append.stream.as_str())
            .collect();
        let ids: Vec<Uuid> = appends
            .iter()
            .flat_map(|append| &append.events)
            .map(|event| event.id.0)
            .collect();
        let rows: Vec<AppendStateRow> = sqlx::query_as(statements::APPEND_STATE)
            .bind(streams)
            .bind(ids)
            .fetch_all(connection)
            .await?;
        let mut state = AppendState {
            versions: HashMap::new(),
            stored: HashMap::new(),
        };
        for row in rows {
            state.add(row)?;
        }
        Ok(state)
    }

    fn add(&mut self, row: AppendStateRow) -> Result<(), StoreError> {
        let Some(event_id) = row.event_id else {
            let version = u64::try_from(row.version).map_err(|_| StoreError::Corrupt {
                position: LogPosition::START,
                reason: format!(
                    "stream {} has a negative version {}",
                    row.stream_id, row.version
                ),
            })?;
            self.versions.insert(row.stream_id, version);
            return Ok(());
        };
        let sequence = row.global_position.unwrap_or_default();
        let position = position_of(row.tx_id.as_deref().unwrap_or_default(), sequence)?;
        let (Some(event_type), Some(schema_version), Some(payload), Some(metadata)) = (
            row.event_type,
            row.schema_version,
            row.payload,
            row.metadata,
        ) else {
            return Err(StoreError::Corrupt {
                position,
                reason: "it lacks its type, schema version, payload or metadata".to_owned(),
            });
        };
        self.stored.insert(
            EventId(event_id),
            StoredIdentity {
                stream: row.stream_id,
                event_type,
                schema_version,
                payload: payload.0,
                metadata: metadata.0,
            },
        );
        Ok(())
    }
}

/// A row of the `events` table, as read.
#[derive(sqlx::FromRow)]
struct EventRow {
    global_position: i64,
    tx_id: String,
    event_id: Uuid,
    stream_id: String,
    version: i64,
    event_type: String,
    schema_version: i32,
    payload: JsonColumn,
    metadata: JsonColumn,
    recorded_at: DateTime<Utc>,
}

impl EventRow {
    fn into_recorded(self) -> Result<RecordedEvent, StoreError> {
        let position = position_of(&self.tx_id, self.global_position)?;
        let corrupt = |reason: String| StoreError::Corrupt { position, reason };
        if self.global_position < 1 {
            return Err(corrupt(format!(
                "its global position {} is not positive",
                self.global_position
            )));
        }
        let version = u64::try_from(self.version)
            .map_err(|_| corrupt(format!("its version {} is negative", self.version)))?;
        let schema_version = u32::try_from(self.schema_version).map_err(|_| {
            corrupt(format!(
                "its schema version {} is negative",
                self.schema_version
            ))
        })?;
        Ok(RecordedEvent {
            id: EventId(self.event_id),
            stream: StreamId::from_raw(self.stream_id),
            version,
            position,
            event_type: self.event_type,
            schema_version,
            payload: StoredJson::from_json_column(self.payload.0),
            metadata: StoredJson::from_json_column(self.metadata.0),
            recorded_at: self.recorded_at,
        })
    }
}

/// A `json` column's text, taken as it is: PostgreSQL validated it on insert, and reading
/// the log is the hot path of every replay, so the client does not scan it again.
struct JsonColumn(String);

/// The `json` type's oid (`pg_type`).
const JSON_OID: Oid = Oid(114);

impl sqlx::Type<Postgres> for JsonColumn {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(JSON_OID)
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        ty.oid() == Some(JSON_OID)
    }
}

impl<'r> sqlx::Decode<'r, Postgres> for JsonColumn {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        // `json` travels as its text in both formats (unlike `jsonb`, no version byte).
        <&str as sqlx::Decode<Postgres>>::decode(value).map(|text| Self(text.to_owned()))
    }
}

/// The log position of a row from its transaction id (as text) and global position.
fn position_of(transaction: &str, global_position: i64) -> Result<LogPosition, StoreError> {
    let sequence = u64::try_from(global_position).unwrap_or_default();
    transaction
        .parse::<u64>()
        .map(|transaction| LogPosition {
            transaction,
            sequence,
        })
        .map_err(|error| StoreError::Corrupt {
            position: LogPosition {
                transaction: 0,
                sequence,
            },
            reason: format!("its transaction id {transaction:?} is not a number: {error}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_plain_identifiers_name_a_schema() {
        for good in ["claims", "_t", "claims_test_0123abc", &"a".repeat(63)] {
            assert!(require_plain_identifier(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Claims",
            "1claims",
            "claims-test",
            "claims;drop schema public",
            "\"claims\"",
            "pg_claims",
            "clä",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(
                    require_plain_identifier(bad),
                    Err(StoreError::InvalidSchemaName(name)) if name == bad
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_nul_character_anywhere_in_json_is_found() {
        assert!(!contains_nul(
            &json!({ "a": ["b", { "c": "d\\u0000" }], "n": 1 })
        ));
        assert!(contains_nul(&json!({ "a": ["b", { "c": "d\u{0}" }] })));
        assert!(contains_nul(&json!({ "k\u{0}": 1 })));
    }

    #[test]
    fn positions_come_from_the_transaction_text_and_the_global_position() {
        assert_eq!(
            position_of("18446744073709551615", 7).ok(),
            Some(LogPosition {
                transaction: u64::MAX,
                sequence: 7
            })
        );
        assert!(matches!(
            position_of("x", 7),
            Err(StoreError::Corrupt { position, .. }) if position.sequence == 7
        ));
    }
}
