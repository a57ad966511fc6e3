//! Test databases on the machine's PostgreSQL: every test gets a fresh schema of its own,
//! dropped when the test ends.
//!
//! Tests that use PostgreSQL run one at a time, across test binaries and across concurrent
//! `cargo test` runs: the store's gap-safe reads stop below the oldest transaction in flight
//! anywhere in the cluster, so another test's open transaction would (correctly) hold back
//! this test's reads and make its "read what I just wrote" checks time-dependent.
//!
//! The URL comes from `CLAIMS_TEST_POSTGRES_URL`, or is the machine's default database.
//! An unreachable server fails the test with a message saying so: these tests never skip.

use claims_adapters::event_store::{
    EventId, ExpectedVersion, NewEvent, PostgresEventStore, StreamAppend, StreamId,
};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use tokio::sync::{Mutex, OwnedMutexGuard};
use uuid::Uuid;

/// The variable naming the test server.
pub const URL_VARIABLE: &str = "CLAIMS_TEST_POSTGRES_URL";

/// The machine's PostgreSQL (trust authentication), used when the variable is unset.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The advisory lock that lets one PostgreSQL test run at a time, whatever process it is in.
const ONE_TEST_AT_A_TIME: i64 = 0x636c_6169_6d73_7467;

/// Keeps the tests of one binary from each holding a connection while they wait.
static IN_THIS_PROCESS: LazyLock<Arc<Mutex<()>>> = LazyLock::new(|| Arc::new(Mutex::new(())));

/// The test server's URL.
pub fn url() -> String {
    std::env::var(URL_VARIABLE).unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A fresh schema for one test, and the right to be the only PostgreSQL test running.
pub struct TestSchema {
    /// The server's URL.
    pub url: String,
    /// The schema's name (a plain identifier).
    pub name: String,
    /// More schemas of the same test ([`TestSchema::another`]), dropped with this one.
    others: Vec<String>,
    _lock: PgConnection,
    _in_this_process: OwnedMutexGuard<()>,
}

impl TestSchema {
    /// Waits for the other PostgreSQL tests, then names a schema nobody has used.
    pub async fn new() -> Self {
        let in_this_process = IN_THIS_PROCESS.clone().lock_owned().await;
        let url = url();
        let mut lock = connect(&url).await;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(ONE_TEST_AT_A_TIME)
            .execute(&mut lock)
            .await
            .expect("cannot take the PostgreSQL test lock");
        Self {
            url,
            name: format!("claims_test_{}", Uuid::new_v4().simple()),
            others: Vec::new(),
            _lock: lock,
            _in_this_process: in_this_process,
        }
    }

    /// The name of one more fresh schema for the same test (a second engine's), dropped
    /// with this one: a test holds one `TestSchema` at a time, since a second would wait
    /// for the first.
    #[allow(
        dead_code,
        reason = "not every test binary that shares this module runs two stores"
    )]
    pub fn another(&mut self) -> String {
        let name = format!("{}_{}", self.name, self.others.len() + 1);
        self.others.push(name.clone());
        name
    }

    /// A store whose log lives in this schema.
    #[allow(
        dead_code,
        reason = "a test binary that connects its store its own way does not use it"
    )]
    pub async fn store(&self) -> PostgresEventStore {
        PostgresEventStore::connect_in_schema(&self.url, &self.name)
            .await
            .expect("cannot open the PostgreSQL event store in a fresh schema")
    }

    /// A connection of the test's own in this schema, for raw SQL.
    #[allow(
        dead_code,
        reason = "not every test binary that shares this module needs raw SQL"
    )]
    pub async fn connection(&self) -> PgConnection {
        let options = PgConnectOptions::from_str(&self.url)
            .expect("the PostgreSQL test URL does not parse")
            .options([("search_path", self.name.as_str())]);
        options
            .connect()
            .await
            .expect("cannot open a raw connection to the test schema")
    }

    /// The server's URL with `application` as the connections' application name, so that
    /// [`TestSchema::close_connections_of`] closes those and no one else's.
    #[allow(
        dead_code,
        reason = "only the tests of a server closing connections name theirs"
    )]
    pub fn url_named(&self, application: &str) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}application_name={application}", self.url)
    }

    /// Closes, from the server's side, every connection named `application` (as a restart
    /// or a failover of the server would), and returns how many there were.
    #[allow(
        dead_code,
        reason = "only the tests of a server closing connections name theirs"
    )]
    pub async fn close_connections_of(&self, application: &str) -> i64 {
        let mut admin = self.connection().await;
        sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1) AS closed",
        )
        .bind(application)
        .fetch_one(&mut admin)
        .await
        .expect("cannot close the connections")
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Drop cannot await, and this may run on a runtime's thread: drop the schema from a
        // thread with a runtime of its own.
        let url = self.url.clone();
        let names: Vec<String> = std::iter::once(self.name.clone())
            .chain(self.others.iter().cloned())
            .collect();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime.block_on(async {
                let mut connection = PgConnection::connect(&url)
                    .await
                    .map_err(|error| error.to_string())?;
                for name in names {
                    sqlx::query(AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {name} CASCADE"
                    )))
                    .execute(&mut connection)
                    .await
                    .map_err(|error| error.to_string())?;
                }
                connection.close().await.map_err(|error| error.to_string())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop test schema {}: {error}", self.name),
            Err(_) => eprintln!("dropping test schema {} panicked", self.name),
        }
    }
}

/// One connection to the test server, or a failure that says what to do.
async fn connect(url: &str) -> PgConnection {
    match PgConnection::connect(url).await {
        Ok(connection) => connection,
        Err(error) => panic!(
            "PostgreSQL is not reachable at {url}: {error}. These tests need it and never skip: \
             start it (scripts/test.sh does), or point {URL_VARIABLE} at a server whose \
             database exists."
        ),
    }
}

/// One new event, the first of `stream`.
#[allow(
    dead_code,
    reason = "not every test binary that shares this module appends raw events"
)]
pub fn one_event(stream: &str) -> StreamAppend {
    StreamAppend {
        stream: StreamId::from_raw(stream),
        expected: ExpectedVersion::NoStream,
        events: vec![NewEvent {
            id: EventId::random(),
            event_type: "ClaimSubmitted".to_owned(),
            schema_version: 1,
            payload: serde_json::json!({"claim": stream}),
            metadata: serde_json::json!({}),
        }],
    }
}
