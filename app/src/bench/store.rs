//! `claims bench store`: how fast the event store appends and replays claim events, and how
//! close its appends come to the database's raw insert ceiling for the same rows.
//!
//! # What runs
//!
//! For 1, 10 and 100 events per commit, with 1 and 16 concurrent writers:
//!
//! - **append**: every writer appends through the [`EventStore`] port to claim streams of
//!   its own, with the expected version a command handler would send (`NoStream` for a new
//!   claim, `Exact(1)` when a commit adjudicates a claim submitted by the previous one);
//! - **raw** (PostgreSQL only): the same rows (same columns, same payloads) inserted into
//!   `raw_events`, a copy of the log's table in the same schema, with the store's own
//!   `INSERT … SELECT FROM UNNEST` statement sent alone, one per transaction: none of the
//!   store's reads, checks or extra round trips. This is the ceiling an append can approach.
//!
//! Every claim gets two events, `ClaimSubmitted` and `ClaimAdjudicated`, built from the
//! domain's own types and serialised as the engine stores them (money as strings), about
//! 1 to 2 KB each; a commit of 100 events touches 50 claim streams. Then **replay** pages
//! through everything the append cases wrote with [`EventStore::read_all`], from
//! [`LogPosition::START`].
//!
//! Each case runs for a warm-up and then for a fixed measured window; events per second
//! count the commits that completed inside the window, and latencies are per commit (per
//! page for replay). Durability is the server's: `fsync` and `synchronous_commit` are not
//! touched, and SQLite runs with the store's own `synchronous=FULL`.
//!
//! On PostgreSQL everything happens in a fresh schema (`claims_bench_<uuid>`), dropped at
//! the end; on SQLite, in a temporary file.

use anyhow::{Context, ensure};
use chrono::{NaiveDate, Utc};
use claims_adapters::event_store::{
    EventId, EventStore, ExpectedVersion, LogPosition, NewEvent, PostgresEventStore,
    SqliteEventStore, StreamAppend, StreamId,
};
use claims_domain::accumulator::Accumulated;
use claims_domain::adjudication::{AdjudicatedLine, Adjudication, Decision};
use claims_domain::claim::{Claim, ClaimEvent, ServiceLine};
use claims_domain::reason::{Adjustment, GroupCode, ReasonCode};
use claims_domain::{
    ClaimId, Currency, DiagnosisCode, InsurerClaimRef, InsurerId, MemberId, Money, PlanId,
    ProcedureCode, ProviderId,
};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use futures::{StreamExt, TryStreamExt};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The database the benchmark uses when neither `--database-url` nor
/// `CLAIMS_DATABASE_URL` names one: the machine's own PostgreSQL.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The commit sizes measured, in events per commit.
pub const EVENTS_PER_COMMIT: [usize; 3] = [1, 10, 100];

/// The numbers of concurrent writers measured.
pub const WRITERS: [usize; 2] = [1, 16];

/// The case the goal is stated for: 100 events per commit, 16 writers.
const HEADLINE: (usize, usize) = (100, 16);

/// Events per claim stream: `ClaimSubmitted`, then `ClaimAdjudicated`.
const EVENTS_PER_CLAIM: u64 = 2;

/// Service lines per claim: enough for each event to weigh 1 to 2 KB.
const SERVICE_LINES: u32 = 6;

/// Connections for the raw writers: as many as the store's pool, so that both sides of the
/// comparison can run 16 writers at once.
const RAW_POOL_SIZE: u32 = 16;

/// How long replay waits, in all, for events held back by transactions still open
/// elsewhere in the cluster before it gives up.
const REPLAY_PATIENCE: Duration = Duration::from_secs(60);

/// Where the benchmark writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A fresh schema on a PostgreSQL server.
    Postgres,
    /// A temporary SQLite file.
    Sqlite,
}

/// How the benchmark runs.
#[derive(Debug, Clone)]
pub struct StoreBenchOptions {
    /// The store to measure.
    pub backend: Backend,
    /// The PostgreSQL server (ignored for SQLite).
    pub database_url: String,
    /// Each case's measured window.
    pub measure: Duration,
    /// Each case's warm-up, written but not counted.
    pub warmup: Duration,
    /// Events per `read_all` call during replay.
    pub page_size: usize,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct StoreBenchReport {
    /// The store measured.
    pub backend: Backend,
    /// The day of the run (UTC).
    pub date: NaiveDate,
    /// The processors available to the benchmark (what `nproc` prints).
    pub nproc: usize,
    /// Each case's measured window, in seconds.
    pub seconds_per_case: f64,
    /// Each case's warm-up, in seconds.
    pub warmup_seconds: f64,
    /// The PostgreSQL server's version and durability settings (`None` on SQLite).
    pub server: Option<ServerSettings>,
    /// The serialised size of each event's payload, in bytes.
    pub payload_bytes: PayloadBytes,
    /// Every append and raw case, in the order run.
    pub cases: Vec<CaseResult>,
    /// The replay of everything the append cases wrote.
    pub replay: ReplayResult,
}

/// What the PostgreSQL server says about itself (`SHOW`).
#[derive(Debug, Clone, Serialize)]
pub struct ServerSettings {
    /// `server_version`.
    pub version: String,
    /// `fsync`.
    pub fsync: String,
    /// `synchronous_commit`.
    pub synchronous_commit: String,
}

/// The serialised size of each event's payload.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PayloadBytes {
    /// `ClaimSubmitted`.
    pub claim_submitted: usize,
    /// `ClaimAdjudicated`.
    pub claim_adjudicated: usize,
}

/// How a case writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WritePath {
    /// Through the event-store port.
    Append,
    /// A bare insert of the same rows (the ceiling).
    Raw,
    /// The bare insert with a `NOTIFY` in the same transaction: what a wake-up hint sent
    /// from inside every append would cost (the store sends its hints outside).
    RawNotify,
}

/// One case's figures.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// Through the port or raw.
    pub path: WritePath,
    /// Events (rows) per commit.
    pub events_per_commit: usize,
    /// Concurrent writers.
    pub writers: usize,
    /// Commits completed in the measured window.
    pub commits: u64,
    /// Events committed in the measured window.
    pub events: u64,
    /// Events committed per second.
    pub events_per_s: f64,
    /// Commit latency.
    pub latency_ms: LatencySummary,
}

/// The replay's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayResult {
    /// Events read (every event the append cases wrote, warm-ups included).
    pub events: u64,
    /// `read_all` calls after the one `stream_all`, the final empty one included.
    pub pages: u64,
    /// Events asked for per call.
    pub page_size: usize,
    /// Time spent reading, in seconds.
    pub seconds: f64,
    /// Events read per second.
    pub events_per_s: f64,
    /// Latency per `read_all` call after the stream.
    pub page_latency_ms: LatencySummary,
    /// The server's ceiling in the same run (PostgreSQL only): the same rows in log order
    /// sent by one `COPY ... TO STDOUT (FORMAT binary)`, counted but not decoded.
    pub raw_read_rows_per_s: Option<f64>,
}

/// Mean, median and 99th percentile of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LatencySummary {
    /// The mean.
    pub mean: f64,
    /// The median.
    pub p50: f64,
    /// The 99th percentile.
    pub p99: f64,
}

impl StoreBenchReport {
    /// The case with this shape, if it ran.
    pub fn case(
        &self,
        path: WritePath,
        events_per_commit: usize,
        writers: usize,
    ) -> Option<&CaseResult> {
        self.cases.iter().find(|case| {
            case.path == path
                && case.events_per_commit == events_per_commit
                && case.writers == writers
        })
    }

    /// Appended events per second at 100 events per commit with 16 writers.
    pub fn append_events_per_s(&self) -> Option<f64> {
        self.case(WritePath::Append, HEADLINE.0, HEADLINE.1)
            .map(|case| case.events_per_s)
    }

    /// Raw rows per second for the same shape (PostgreSQL only).
    pub fn raw_rows_per_s(&self) -> Option<f64> {
        self.case(WritePath::Raw, HEADLINE.0, HEADLINE.1)
            .map(|case| case.events_per_s)
    }

    /// Raw rows per second for the headline shape with a `NOTIFY` in every commit.
    pub fn raw_notify_rows_per_s(&self) -> Option<f64> {
        self.case(WritePath::RawNotify, HEADLINE.0, HEADLINE.1)
            .map(|case| case.events_per_s)
    }

    /// Appended events per raw row for the headline shape: the goal is at least 0.8.
    pub fn ratio(&self) -> Option<f64> {
        ratio(self.append_events_per_s()?, self.raw_rows_per_s()?)
    }

    /// The one JSON line the command ends with: the headline figures first, then everything.
    pub fn json_line(&self) -> anyhow::Result<String> {
        #[derive(Serialize)]
        struct Line<'a> {
            benchmark: &'static str,
            append_events_per_s: Option<f64>,
            raw_rows_per_s: Option<f64>,
            ratio: Option<f64>,
            raw_notify_rows_per_s: Option<f64>,
            replay_events_per_s: f64,
            raw_read_rows_per_s: Option<f64>,
            #[serde(flatten)]
            report: &'a StoreBenchReport,
        }
        Ok(serde_json::to_string(&Line {
            benchmark: "store",
            append_events_per_s: self.append_events_per_s(),
            raw_rows_per_s: self.raw_rows_per_s(),
            ratio: self.ratio(),
            raw_notify_rows_per_s: self.raw_notify_rows_per_s(),
            replay_events_per_s: self.replay.events_per_s,
            raw_read_rows_per_s: self.replay.raw_read_rows_per_s,
            report: self,
        })?)
    }
}

/// Runs every case and the replay, and cleans up after itself.
pub async fn run(options: &StoreBenchOptions) -> anyhow::Result<StoreBenchReport> {
    ensure!(
        !options.measure.is_zero(),
        "each case needs a measured window longer than zero"
    );
    ensure!(
        options.page_size > 0,
        "the replay page size must be at least 1"
    );
    let payloads = Arc::new(Payloads::new()?);
    let (server, (cases, replay)) = match options.backend {
        Backend::Postgres => {
            let (server, measured) = on_postgres(options, &payloads).await?;
            (Some(server), measured)
        }
        Backend::Sqlite => (None, on_sqlite(options, &payloads).await?),
    };
    Ok(StoreBenchReport {
        backend: options.backend,
        date: Utc::now().date_naive(),
        nproc: std::thread::available_parallelism().map_or(1, usize::from),
        seconds_per_case: options.measure.as_secs_f64(),
        warmup_seconds: options.warmup.as_secs_f64(),
        server,
        payload_bytes: payloads.bytes,
        cases,
        replay,
    })
}

/// The figures as a table for people.
pub fn render(report: &StoreBenchReport) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "case",
        "events/commit",
        "writers",
        "commits",
        "events",
        "events/s",
        "mean ms",
        "p50 ms",
        "p99 ms",
        "append/raw",
    ]);
    for case in &report.cases {
        let versus_raw = match case.path {
            WritePath::Append | WritePath::RawNotify => report
                .case(WritePath::Raw, case.events_per_commit, case.writers)
                .and_then(|raw| ratio(case.events_per_s, raw.events_per_s))
                .map_or_else(String::new, percent),
            WritePath::Raw => String::new(),
        };
        table.add_row([
            match case.path {
                WritePath::Append => "append (port)".to_owned(),
                WritePath::Raw => "raw insert".to_owned(),
                WritePath::RawNotify => "raw insert + NOTIFY".to_owned(),
            },
            case.events_per_commit.to_string(),
            case.writers.to_string(),
            thousands(case.commits),
            thousands(case.events),
            thousands(whole(case.events_per_s)),
            format!("{:.2}", case.latency_ms.mean),
            format!("{:.2}", case.latency_ms.p50),
            format!("{:.2}", case.latency_ms.p99),
            versus_raw,
        ]);
    }
    let replay = &report.replay;
    table.add_row([
        format!("replay (stream_all, then pages of {})", replay.page_size),
        String::new(),
        "1".to_owned(),
        thousands(replay.pages),
        thousands(replay.events),
        thousands(whole(replay.events_per_s)),
        format!("{:.2}", replay.page_latency_ms.mean),
        format!("{:.2}", replay.page_latency_ms.p50),
        format!("{:.2}", replay.page_latency_ms.p99),
        String::new(),
    ]);

    let server = report.server.as_ref().map_or_else(String::new, |server| {
        format!(
            ", PostgreSQL {} (fsync={}, synchronous_commit={})",
            server.version, server.fsync, server.synchronous_commit
        )
    });
    let headline = match (
        report.append_events_per_s(),
        report.raw_rows_per_s(),
        report.ratio(),
    ) {
        (Some(append), Some(raw), Some(ratio)) => format!(
            "100 events/commit, 16 writers: append {} events/s, raw {} rows/s, {} of the raw \
             ceiling (goal: at least 80%)\n",
            thousands(whole(append)),
            thousands(whole(raw)),
            percent(ratio)
        ),
        (Some(append), _, _) => format!(
            "100 events/commit, 16 writers: append {} events/s (no raw ceiling on this backend)\n",
            thousands(whole(append))
        ),
        _ => String::new(),
    };
    let notify = match (report.raw_notify_rows_per_s(), report.raw_rows_per_s()) {
        (Some(notify), Some(raw)) => format!(
            "a NOTIFY inside every commit (not what the store does): {} rows/s, {} of the raw \
             ceiling\n",
            thousands(whole(notify)),
            ratio(notify, raw).map_or_else(String::new, percent)
        ),
        _ => String::new(),
    };
    let raw_read = match report.replay.raw_read_rows_per_s {
        Some(raw) => format!(
            "; the server sends the same rows in one COPY at {} rows/s, so the replay runs at {}",
            thousands(whole(raw)),
            ratio(report.replay.events_per_s, raw).map_or_else(String::new, percent)
        ),
        None => String::new(),
    };
    format!(
        "Event store benchmark: {} on {} processors{server}, {} s per case after {} s of \
         warm-up, payloads of {} and {} bytes\n{table}\n{headline}{notify}replay: {} events/s (goal: at \
         least 200,000){raw_read}\n",
        match report.backend {
            Backend::Postgres => "PostgreSQL",
            Backend::Sqlite => "SQLite",
        },
        report.nproc,
        report.seconds_per_case,
        report.warmup_seconds,
        report.payload_bytes.claim_submitted,
        report.payload_bytes.claim_adjudicated,
        thousands(whole(report.replay.events_per_s)),
    )
}

/// Runs the cases in a fresh schema of the server, and drops it whatever happened.
async fn on_postgres(
    options: &StoreBenchOptions,
    payloads: &Arc<Payloads>,
) -> anyhow::Result<(ServerSettings, (Vec<CaseResult>, ReplayResult))> {
    let url = options.database_url.as_str();
    let server = server_settings(url).await?;
    let schema = format!("claims_bench_{}", Uuid::new_v4().simple());
    let store = PostgresEventStore::connect_in_schema(url, &schema)
        .await
        .with_context(|| format!("cannot open the event store in schema {schema} of {url}"))?;
    let measured = async {
        let raw = raw_pool(url, &schema).await?;
        let measured = measure(
            Arc::new(store.clone()),
            Some(raw.clone()),
            options,
            payloads,
        )
        .await;
        raw.close().await;
        measured
    }
    .await;
    store.close().await;
    let dropped = drop_schema(url, &schema).await;
    match (measured, dropped) {
        (Ok(measured), Ok(())) => Ok((server, measured)),
        (Ok(_), Err(error)) => Err(error),
        (Err(error), dropped) => {
            if let Err(drop_error) = dropped {
                eprintln!("{drop_error:#}");
            }
            Err(error)
        }
    }
}

/// Runs the cases on a temporary SQLite file (no raw ceiling: it is a PostgreSQL figure).
async fn on_sqlite(
    options: &StoreBenchOptions,
    payloads: &Arc<Payloads>,
) -> anyhow::Result<(Vec<CaseResult>, ReplayResult)> {
    let directory = tempfile::tempdir().context("cannot create a temporary directory")?;
    let store = SqliteEventStore::open(&directory.path().join("events.db"))
        .await
        .context("cannot open the SQLite event store")?;
    let measured = measure(Arc::new(store.clone()), None, options, payloads).await;
    store.close().await;
    measured
}

/// Every case, then the replay.
async fn measure(
    store: Arc<dyn EventStore>,
    raw: Option<PgPool>,
    options: &StoreBenchOptions,
    payloads: &Arc<Payloads>,
) -> anyhow::Result<(Vec<CaseResult>, ReplayResult)> {
    let mut cases = Vec::new();
    let mut appended = 0;
    for events_per_commit in EVENTS_PER_COMMIT {
        for writers in WRITERS {
            let shape = Shape {
                events_per_commit,
                writers,
            };
            let (case, written) =
                run_case(Target::Port(store.clone()), shape, options, payloads).await?;
            appended += written;
            cases.push(case);
            if let Some(raw) = &raw {
                let (case, _) =
                    run_case(Target::Raw(raw.clone()), shape, options, payloads).await?;
                cases.push(case);
                // The cost of a hint inside the commit shows with many writers at once.
                if writers == HEADLINE.1 {
                    let (case, _) =
                        run_case(Target::RawNotify(raw.clone()), shape, options, payloads).await?;
                    cases.push(case);
                }
            }
        }
    }
    let mut replay = replay(store.as_ref(), appended, options.page_size).await?;
    if let Some(raw) = &raw {
        replay.raw_read_rows_per_s = Some(raw_read(raw, replay.events).await?);
    }
    Ok((cases, replay))
}

/// Rows per second of the whole log sent by the server in one binary `COPY`, in the order
/// and with the columns `read_all` returns: what serving the rows costs without paging or
/// decoding, to compare the replay with in the same run.
async fn raw_read(raw: &PgPool, events: u64) -> anyhow::Result<f64> {
    eprint!("bench store: raw read ceiling (COPY of the log) ... ");
    let mut connection = raw.acquire().await?;
    let began = Instant::now();
    let mut bytes = connection.copy_out_raw(statements::RAW_READ_EVENTS).await?;
    let mut received = 0_usize;
    while let Some(chunk) = bytes.try_next().await? {
        received += chunk.len();
    }
    let rate = rate(events, began.elapsed());
    eprintln!(
        "{} rows/s ({} MB)",
        thousands(whole(rate)),
        received / 1_000_000
    );
    Ok(rate)
}

/// What a case writes per commit, and how many writers do it at once.
#[derive(Debug, Clone, Copy)]
struct Shape {
    events_per_commit: usize,
    writers: usize,
}

/// Where a case writes.
#[derive(Clone)]
enum Target {
    /// Through the port.
    Port(Arc<dyn EventStore>),
    /// Straight into `raw_events`.
    Raw(PgPool),
    /// Straight into `raw_events`, notifying in the same transaction.
    RawNotify(PgPool),
}

impl Target {
    fn path(&self) -> WritePath {
        match self {
            Target::Port(_) => WritePath::Append,
            Target::Raw(_) => WritePath::Raw,
            Target::RawNotify(_) => WritePath::RawNotify,
        }
    }

    async fn commit(&self, appends: Vec<StreamAppend>) -> anyhow::Result<()> {
        match self {
            Target::Port(store) => {
                store.append(appends).await?;
            }
            Target::Raw(pool) => insert_raw(pool, &appends, statements::RAW_INSERT_EVENTS).await?,
            Target::RawNotify(pool) => {
                insert_raw(pool, &appends, statements::RAW_INSERT_EVENTS_NOTIFY).await?;
            }
        }
        Ok(())
    }
}

/// One case: its writers run side by side through the warm-up and the measured window.
async fn run_case(
    target: Target,
    shape: Shape,
    options: &StoreBenchOptions,
    payloads: &Arc<Payloads>,
) -> anyhow::Result<(CaseResult, u64)> {
    let path = target.path();
    let label = match path {
        WritePath::Append => "append",
        WritePath::Raw => "raw",
        WritePath::RawNotify => "notify",
    };
    eprint!(
        "bench store: {label:<6} {:>3} events/commit, {:>2} writers ... ",
        shape.events_per_commit, shape.writers
    );
    let window_start = Instant::now() + options.warmup;
    let window = Window {
        start: window_start,
        end: window_start + options.measure,
    };
    let writers: Vec<_> = (0..shape.writers)
        .map(|_| {
            tokio::spawn(write_until(
                target.clone(),
                ClaimStreams::new(payloads.clone()),
                shape.events_per_commit,
                window,
            ))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut written = 0;
    for writer in writers {
        let tally = writer.await.context("a benchmark writer panicked")??;
        latencies.extend(tally.latencies);
        written += tally.written;
    }
    let commits = u64::try_from(latencies.len())?;
    let events = commits * u64::try_from(shape.events_per_commit)?;
    let events_per_s = rate(events, options.measure);
    eprintln!("{} events/s", thousands(whole(events_per_s)));
    Ok((
        CaseResult {
            path,
            events_per_commit: shape.events_per_commit,
            writers: shape.writers,
            commits,
            events,
            events_per_s,
            latency_ms: summarise(&mut latencies),
        },
        written,
    ))
}

/// The measured window of a case.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

/// What one writer did.
struct Tally {
    /// The latency of every commit that completed in the window.
    latencies: Vec<Duration>,
    /// Events written in all, warm-up and overrun included.
    written: u64,
}

/// One writer: commits until the window closes, timing those that complete inside it.
async fn write_until(
    target: Target,
    mut claims: ClaimStreams,
    events_per_commit: usize,
    window: Window,
) -> anyhow::Result<Tally> {
    let mut tally = Tally {
        latencies: Vec::new(),
        written: 0,
    };
    let per_commit = u64::try_from(events_per_commit)?;
    loop {
        let appends = claims.next_commit(events_per_commit);
        let began = Instant::now();
        if began >= window.end {
            return Ok(tally);
        }
        target.commit(appends).await?;
        let done = Instant::now();
        tally.written += per_commit;
        if (window.start..window.end).contains(&done) {
            tally.latencies.push(done - began);
        }
    }
}

/// Reads the whole log, a page at a time, until it has seen everything the cases appended.
async fn replay(
    store: &dyn EventStore,
    appended: u64,
    page_size: usize,
) -> anyhow::Result<ReplayResult> {
    eprint!(
        "bench store: replay {} events, pages of {page_size} ... ",
        thousands(appended)
    );
    let mut after = LogPosition::START;
    let mut events = 0;
    let mut reading = Duration::ZERO;
    let mut latencies = Vec::new();
    let mut waited = Duration::ZERO;
    // What a rebuild does: one stream of everything readable now, then pages for whatever
    // the stream's horizon held back.
    let began = Instant::now();
    let mut log = store.stream_all(after);
    while let Some(event) = log.next().await {
        after = event?.position;
        events += 1;
    }
    drop(log);
    reading += began.elapsed();
    loop {
        let began = Instant::now();
        let page = store.read_all(after, page_size).await?;
        let took = began.elapsed();
        reading += took;
        latencies.push(took);
        if let Some(last) = page.last() {
            after = last.position;
            events += u64::try_from(page.len())?;
            continue;
        }
        if events >= appended {
            break;
        }
        // Events of transactions newer than one still open elsewhere in the cluster are held
        // back (see the PostgreSQL store); wait for it, without counting the wait.
        ensure!(
            waited < REPLAY_PATIENCE,
            "replay saw {events} of {appended} events after waiting {} s for transactions \
             still open elsewhere in the cluster",
            REPLAY_PATIENCE.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }
    ensure!(
        events == appended,
        "replay read {events} events, but the cases appended {appended}"
    );
    let events_per_s = rate(events, reading);
    eprintln!("{} events/s", thousands(whole(events_per_s)));
    Ok(ReplayResult {
        events,
        pages: u64::try_from(latencies.len())?,
        page_size,
        seconds: reading.as_secs_f64(),
        events_per_s,
        page_latency_ms: summarise(&mut latencies),
        raw_read_rows_per_s: None,
    })
}

/// The claim streams of one writer: each claim is submitted and then adjudicated, and a
/// commit takes the next events in that order, so a claim submitted at the end of one
/// commit is adjudicated at the start of the next (expecting version 1).
struct ClaimStreams {
    payloads: Arc<Payloads>,
    open: Option<OpenClaim>,
}

/// The claim a writer is in the middle of.
struct OpenClaim {
    id: ClaimId,
    stream: StreamId,
    version: u64,
}

impl ClaimStreams {
    fn new(payloads: Arc<Payloads>) -> Self {
        Self {
            payloads,
            open: None,
        }
    }

    fn next_commit(&mut self, events: usize) -> Vec<StreamAppend> {
        let mut appends = Vec::new();
        let mut remaining = u64::try_from(events).unwrap_or(u64::MAX);
        while remaining > 0 {
            let mut claim = match self.open.take() {
                Some(claim) if claim.version < EVENTS_PER_CLAIM => claim,
                _ => {
                    let id = ClaimId::from_uuid(Uuid::new_v4());
                    OpenClaim {
                        stream: StreamId::new("claim", id),
                        id,
                        version: 0,
                    }
                }
            };
            let take = remaining.min(EVENTS_PER_CLAIM - claim.version);
            appends.push(StreamAppend {
                stream: claim.stream.clone(),
                expected: ExpectedVersion::from_loaded(claim.version),
                events: (claim.version + 1..=claim.version + take)
                    .map(|version| self.payloads.event(version, claim.id))
                    .collect(),
            });
            claim.version += take;
            remaining -= take;
            self.open = Some(claim);
        }
        appends
    }
}

/// The two events of every claim, serialised once from the domain's types; each event gets
/// its own id and its claim's id.
struct Payloads {
    submitted: serde_json::Value,
    adjudicated: serde_json::Value,
    bytes: PayloadBytes,
}

impl Payloads {
    fn new() -> anyhow::Result<Self> {
        let submitted = claim_submitted()?;
        let adjudicated = claim_adjudicated()?;
        let bytes = PayloadBytes {
            claim_submitted: serde_json::to_string(&submitted)?.len(),
            claim_adjudicated: serde_json::to_string(&adjudicated)?.len(),
        };
        Ok(Self {
            submitted,
            adjudicated,
            bytes,
        })
    }

    /// The claim's event at `version`: 1 is its submission, 2 its adjudication.
    fn event(&self, version: u64, claim: ClaimId) -> NewEvent {
        let (event_type, mut payload) = if version == 1 {
            ("ClaimSubmitted", self.submitted.clone())
        } else {
            ("ClaimAdjudicated", self.adjudicated.clone())
        };
        if let Some(id) = payload.pointer_mut("/claim/id") {
            *id = serde_json::Value::String(claim.to_string());
        }
        NewEvent {
            id: EventId::random(),
            event_type: event_type.to_owned(),
            schema_version: 1,
            payload,
            metadata: serde_json::json!({ "claim": claim }),
        }
    }
}

fn usd(cents: i64) -> Money {
    Money::new(Decimal::new(cents, 2), Currency::USD)
}

fn day(year: i32, month: u32, day: u32) -> anyhow::Result<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day).context("not a calendar day")
}

/// A knee arthroscopy with its follow-up visits, as intake stores it.
fn claim_submitted() -> anyhow::Result<serde_json::Value> {
    let insurer = InsurerId::new("acme-health")?;
    let insurer_ref = InsurerClaimRef::new("ACME-2026-0001")?;
    let lines = (1..=SERVICE_LINES)
        .map(|number| {
            Ok(ServiceLine {
                number,
                procedure: ProcedureCode::new(if number == 1 { "29881" } else { "99213" })?,
                diagnoses: vec![
                    DiagnosisCode::new("M23.205")?,
                    DiagnosisCode::new("S83.241A")?,
                    DiagnosisCode::new("M25.561")?,
                ],
                date_of_service: day(2026, 3, number + 1)?,
                units: 1,
                billed: usd(if number == 1 { 120_000 } else { 18_550 }),
                modifiers: Default::default(),
                authorization: None,
                primary_paid: None,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let claim = Claim {
        id: ClaimId::for_submission(&insurer, &insurer_ref),
        insurer,
        insurer_ref,
        member: MemberId::new("M-1001")?,
        provider: ProviderId::new("hospital-b")?,
        received_on: day(2026, 3, 9)?,
        lines,
        corrects: None,
    };
    let event = ClaimEvent::Submitted { claim };
    Ok(serde_json::to_value(&event)?)
}

/// The same claim approved, every line with its contractual and coinsurance adjustments,
/// as the adjudicator stores it.
fn claim_adjudicated() -> anyhow::Result<serde_json::Value> {
    let lines = (1..=SERVICE_LINES)
        .map(|line| AdjudicatedLine {
            line,
            billed: usd(18_550),
            allowed: usd(12_000),
            payer_paid: usd(9_600),
            member_responsibility: usd(2_400),
            contractual_adjustment: usd(6_550),
            adjustments: vec![
                Adjustment {
                    group: GroupCode::CO,
                    reason: ReasonCode::ExceedsFeeSchedule,
                    amount: usd(6_550),
                },
                Adjustment {
                    group: GroupCode::PR,
                    reason: ReasonCode::Coinsurance,
                    amount: usd(2_400),
                },
            ],
        })
        .collect();
    let adjudication = Adjudication {
        decision: Decision::Approved,
        decided_on: day(2026, 3, 10)?,
        plan: PlanId::new("gold-ppo")?,
        plan_revision: 3,
        rule_set: None,
        benefit_year: 2026,
        lines,
        payer_paid: usd(57_600),
        member_responsibility: usd(14_400),
        contractual_adjustment: usd(39_300),
        cost_sharing: Accumulated {
            deductible: usd(0),
            out_of_pocket: usd(14_400),
        },
    };
    let event = ClaimEvent::Adjudicated { adjudication };
    Ok(serde_json::to_value(&event)?)
}

/// The SQL of the raw ceiling, one statement per file.
mod statements {
    /// `raw_events`: a copy of the log's table.
    pub(super) const RAW_EVENTS_TABLE: &str = include_str!("raw_events_table.sql");
    /// The store's insert, aimed at `raw_events`.
    pub(super) const RAW_INSERT_EVENTS: &str = include_str!("raw_insert_events.sql");
    /// The same insert, with a `NOTIFY` in its transaction.
    pub(super) const RAW_INSERT_EVENTS_NOTIFY: &str = include_str!("raw_insert_events_notify.sql");
    /// The whole log, as `read_all` would return it, in one `COPY`.
    pub(super) const RAW_READ_EVENTS: &str = include_str!("raw_read_events.sql");
}

/// Connections into the benchmark's schema for the raw writers, after creating the scratch
/// table there.
async fn raw_pool(url: &str, schema: &str) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .with_context(|| format!("{url} is not a PostgreSQL URL"))?
        .options([("search_path", schema)]);
    let pool = PgPoolOptions::new()
        .max_connections(RAW_POOL_SIZE)
        .connect_with(options)
        .await
        .with_context(|| format!("cannot connect to {url} for the raw inserts"))?;
    sqlx::query(statements::RAW_EVENTS_TABLE)
        .execute(&pool)
        .await
        .context("cannot create the raw_events scratch table")?;
    Ok(pool)
}

/// The rows of `appends`, exactly as the store would insert them, with nothing checked.
async fn insert_raw(
    pool: &PgPool,
    appends: &[StreamAppend],
    statement: &'static str,
) -> anyhow::Result<()> {
    let rows: usize = appends.iter().map(|append| append.events.len()).sum();
    let mut event_ids = Vec::with_capacity(rows);
    let mut stream_ids = Vec::with_capacity(rows);
    let mut versions = Vec::with_capacity(rows);
    let mut event_types = Vec::with_capacity(rows);
    let mut schema_versions = Vec::with_capacity(rows);
    let mut payloads = Vec::with_capacity(rows);
    let mut metadata = Vec::with_capacity(rows);
    for append in appends {
        let before = match append.expected {
            ExpectedVersion::Exact(version) => version,
            ExpectedVersion::NoStream | ExpectedVersion::Any => 0,
        };
        for (event, offset) in append.events.iter().zip(1..) {
            event_ids.push(event.id.0);
            stream_ids.push(append.stream.as_str());
            versions.push(i64::try_from(before + offset)?);
            event_types.push(event.event_type.as_str());
            schema_versions.push(i32::try_from(event.schema_version)?);
            payloads.push(serde_json::to_string(&event.payload)?);
            metadata.push(serde_json::to_string(&event.metadata)?);
        }
    }
    sqlx::query(statement)
        .bind(event_ids)
        .bind(stream_ids)
        .bind(versions)
        .bind(event_types)
        .bind(schema_versions)
        .bind(payloads)
        .bind(metadata)
        .execute(pool)
        .await?;
    Ok(())
}

/// The server's version and durability settings, as `SHOW` reports them.
async fn server_settings(url: &str) -> anyhow::Result<ServerSettings> {
    let mut connection = PgConnection::connect(url)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {url}"))?;
    let mut show = async |setting: &str| -> anyhow::Result<String> {
        let (value,): (String,) = sqlx::query_as(AssertSqlSafe(format!("SHOW {setting}")))
            .fetch_one(&mut connection)
            .await?;
        Ok(value)
    };
    let settings = ServerSettings {
        version: show("server_version").await?,
        fsync: show("fsync").await?,
        synchronous_commit: show("synchronous_commit").await?,
    };
    connection.close().await?;
    Ok(settings)
}

pub(super) async fn drop_schema(url: &str, schema: &str) -> anyhow::Result<()> {
    let mut connection = PgConnection::connect(url)
        .await
        .with_context(|| format!("cannot connect to drop the benchmark's schema {schema}"))?;
    sqlx::query(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&mut connection)
    .await
    .with_context(|| format!("cannot drop the benchmark's schema {schema}"))?;
    connection.close().await?;
    Ok(())
}

/// Mean, median and 99th percentile; sorts `latencies`.
pub(super) fn summarise(latencies: &mut [Duration]) -> LatencySummary {
    if latencies.is_empty() {
        return LatencySummary::default();
    }
    latencies.sort_unstable();
    let total: Duration = latencies.iter().sum();
    let count = u32::try_from(latencies.len()).unwrap_or(u32::MAX);
    LatencySummary {
        mean: millis(total / count),
        p50: millis(percentile(latencies, 50)),
        p99: millis(percentile(latencies, 99)),
    }
}

/// The nearest-rank percentile of sorted, non-empty `latencies`.
fn percentile(latencies: &[Duration], percent: usize) -> Duration {
    let rank = (latencies.len() * percent).div_ceil(100).max(1);
    latencies[rank - 1]
}

#[allow(clippy::float_arithmetic)] // A rate for the benchmark report; never money.
pub(super) fn rate(count: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        return 0.0;
    }
    count as f64 / elapsed.as_secs_f64()
}

#[allow(clippy::float_arithmetic)] // A latency for the benchmark report; never money.
pub(super) fn millis(duration: Duration) -> f64 {
    // Whole microseconds, so that the JSON line reads 0.944 rather than 0.9442950000000001.
    duration.as_micros() as f64 / 1_000.0
}

#[allow(clippy::float_arithmetic)] // A quotient of two rates; never money.
fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator / denominator)
}

#[allow(clippy::float_arithmetic)] // Formats a quotient of two rates; never money.
fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// A rate rounded to a whole number, for display.
pub(super) fn whole(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        value.round() as u64
    } else {
        0
    }
}

/// `1234567` as `1,234,567`.
pub(super) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_submits_and_adjudicates_claims_with_the_versions_a_handler_would_expect() {
        let payloads = Arc::new(Payloads::new().expect("the payloads build"));
        let mut claims = ClaimStreams::new(payloads);

        let first = claims.next_commit(3);
        let expected: Vec<_> = first
            .iter()
            .map(|append| (append.expected, append.events.len()))
            .collect();
        assert_eq!(
            expected,
            [
                (ExpectedVersion::NoStream, 2),
                (ExpectedVersion::NoStream, 1)
            ]
        );
        let second = claims.next_commit(1);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].stream, first[1].stream);
        assert_eq!(second[0].expected, ExpectedVersion::Exact(1));
        assert_eq!(second[0].events[0].event_type, "ClaimAdjudicated");
    }

    #[test]
    fn events_are_claim_sized_with_money_as_strings() {
        let payloads = Payloads::new().expect("the payloads build");
        for bytes in [
            payloads.bytes.claim_submitted,
            payloads.bytes.claim_adjudicated,
        ] {
            assert!((1_000..=2_000).contains(&bytes), "{bytes} bytes");
        }
        assert_eq!(
            payloads.adjudicated.pointer("/adjudication/payer_paid"),
            Some(&serde_json::json!("576.00 USD"))
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let latencies: Vec<_> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&latencies, 50), Duration::from_millis(50));
        assert_eq!(percentile(&latencies, 99), Duration::from_millis(99));
        assert_eq!(percentile(&latencies[..1], 99), Duration::from_millis(1));
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
