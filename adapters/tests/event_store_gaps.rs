//! A reader that follows the PostgreSQL log never skips an event whose transaction commits
//! late; a naive reader that follows `global_position` does. Both run side by side through
//! the same scenario, so the test proves the difference rather than assuming it.
//!
//! Each round opens one or two slow transactions that append events (through the store's
//! own append, inside a transaction the test holds open), then lets fast writers append and
//! commit several times while the slow ones stay open. The slow events got their positions
//! first, so once the naive reader has seen a fast event it has moved past them for good.
//! Only then do the slow transactions commit, in random order. Timings and sizes are random.
//!
//! Each round also has an early writer, whose transaction takes its id before the slow ones
//! but appends after them and commits while they are open: a reader that held back for open
//! transactions but still ordered by position would return its events, move past the slow
//! events' positions, and skip them too. Ordering by transaction id is what prevents that.

#![allow(
    clippy::unwrap_used,
    reason = "a test: an unexpected error should fail it loudly"
)]

mod pg_support;

use claims_adapters::event_store::{
    EventId, EventStore, ExpectedVersion, LogPosition, NewEvent, PostgresEventStore, RecordedEvent,
    StreamAppend, StreamId,
};
use pg_support::TestSchema;
use serde_json::json;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{Instant, sleep};
use uuid::Uuid;

/// Rounds of slow and fast writers.
const ROUNDS: u64 = 12;

/// How long any wait for a reader may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(5);

/// How a reader that trusts `global_position` alone reads the log: written here, because
/// the store must never read this way.
const NAIVE_READ: &str = "SELECT event_id, global_position FROM events \
                          WHERE global_position > $1 ORDER BY global_position LIMIT 100";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_never_skips_a_late_commit_and_a_naive_reader_does() {
    let schema = TestSchema::new().await;
    let store = Arc::new(schema.store().await);
    let stop = Arc::new(AtomicBool::new(false));
    let safe = Arc::new(Mutex::new(Vec::<RecordedEvent>::new()));
    let naive = Arc::new(Mutex::new(Vec::<EventId>::new()));
    let naive_polls = Arc::new(AtomicU64::new(0));
    let safe_reader = tokio::spawn(follow_the_log(store.clone(), safe.clone(), stop.clone()));
    let naive_reader = tokio::spawn(follow_positions(
        schema.connection().await,
        naive.clone(),
        naive_polls.clone(),
        stop.clone(),
    ));

    let mut written = Vec::new();
    let mut slow_ids = HashSet::new();
    for round in 0..ROUNDS {
        // An early writer: its transaction takes its id first (as one that wrote rows of
        // its own before appending would), but appends only after the slow writers.
        let mut early = store.begin().await.unwrap();
        sqlx::query("SELECT pg_current_xact_id()::text")
            .execute(&mut *early)
            .await
            .unwrap();

        let mut slow = Vec::new();
        for writer in 0..1 + random_below(2) {
            let mut transaction = store.begin().await.unwrap();
            let events = events(1 + random_below(2));
            let stream = StreamId::from_raw(format!("accumulator-r{round}-s{writer}"));
            store
                .append_in(
                    &mut transaction,
                    vec![append(&stream, ExpectedVersion::NoStream, events.clone())],
                )
                .await
                .unwrap();
            slow.push((transaction, ids_of(&events)));
        }

        // The early writer's events get larger positions than the slow ones but sort
        // before them, and commit first: a reader may and must return them now.
        let early_events = events(1 + random_below(2));
        let stream = StreamId::from_raw(format!("payout-r{round}"));
        store
            .append_in(
                &mut early,
                vec![append(
                    &stream,
                    ExpectedVersion::NoStream,
                    early_events.clone(),
                )],
            )
            .await
            .unwrap();
        early.commit().await.unwrap();
        written.extend(ids_of(&early_events));
        wait_until("the gap-safe reader sees the early writer's events", || {
            safe.lock().unwrap().len() >= written.len()
        })
        .await;

        let fast: Vec<_> = (0..2 + random_below(3))
            .map(|writer| {
                let store = store.clone();
                tokio::spawn(async move {
                    let claim = StreamId::from_raw(format!("claim-r{round}-f{writer}"));
                    let mut ids = Vec::new();
                    let mut version = 0;
                    for _ in 0..2 + random_below(4) {
                        sleep(Duration::from_millis(random_below(15))).await;
                        let events = events(1 + random_below(3));
                        let done = store
                            .append(vec![append(
                                &claim,
                                ExpectedVersion::from_loaded(version),
                                events.clone(),
                            )])
                            .await
                            .unwrap();
                        version = done.streams[0].version;
                        ids.extend(ids_of(&events));
                    }
                    ids
                })
            })
            .collect();
        let mut fast_ids = Vec::new();
        for writer in fast {
            fast_ids.extend(writer.await.unwrap());
        }

        // The naive reader moves past the slow events' positions as soon as it sees any
        // event written after them (it may skip fast events too, when two fast writers
        // commit out of order); the gap-safe reader waits for the slow transactions.
        wait_until("the naive reader sees a fast event", || {
            let seen: HashSet<_> = naive.lock().unwrap().iter().copied().collect();
            fast_ids.iter().any(|id| seen.contains(id))
        })
        .await;
        sleep(Duration::from_millis(random_below(40))).await;
        {
            let seen: HashSet<_> = safe.lock().unwrap().iter().map(|event| event.id).collect();
            assert!(
                fast_ids.iter().all(|id| !seen.contains(id)),
                "round {round}: the gap-safe reader returned events of transactions newer than \
                 one still open"
            );
        }

        while !slow.is_empty() {
            let (transaction, ids) =
                slow.remove(usize::try_from(random_below(2)).unwrap() % slow.len());
            sleep(Duration::from_millis(random_below(20))).await;
            transaction.commit().await.unwrap();
            written.extend(ids.iter().copied());
            slow_ids.extend(ids);
        }
        written.extend(fast_ids);

        wait_until("the gap-safe reader sees every committed event", || {
            safe.lock().unwrap().len() >= written.len()
        })
        .await;
    }

    // Let the naive reader poll a few more times after the last commit: it still never
    // goes back for the slow events.
    let polls = naive_polls.load(Ordering::SeqCst);
    wait_until("the naive reader polls again", || {
        naive_polls.load(Ordering::SeqCst) >= polls + 3
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    safe_reader.await.unwrap();
    naive_reader.await.unwrap();

    let safe = safe.lock().unwrap();
    let safe_ids: Vec<_> = safe.iter().map(|event| event.id).collect();
    let unique: HashSet<_> = safe_ids.iter().copied().collect();
    let written: HashSet<_> = written.into_iter().collect();
    assert_eq!(
        unique.len(),
        safe_ids.len(),
        "the gap-safe reader saw an event twice"
    );
    assert_eq!(unique, written, "the gap-safe reader missed events");
    assert!(
        safe.windows(2)
            .all(|pair| pair[0].position < pair[1].position),
        "the gap-safe reader's positions do not increase"
    );

    let naive: HashSet<_> = naive.lock().unwrap().iter().copied().collect();
    assert!(!slow_ids.is_empty());
    assert!(
        naive.is_disjoint(&slow_ids),
        "the naive reader saw a slow event: the scenario did not open a gap"
    );
    assert!(naive.is_subset(&written));
    assert!(naive.len() < written.len());
}

/// Follows the log through the store, from its last position, until told to stop.
async fn follow_the_log(
    store: Arc<PostgresEventStore>,
    seen: Arc<Mutex<Vec<RecordedEvent>>>,
    stop: Arc<AtomicBool>,
) {
    let mut after = LogPosition::START;
    while !stop.load(Ordering::SeqCst) {
        let page = store.read_all(after, 50).await.unwrap();
        match page.last() {
            Some(last) => after = last.position,
            None => sleep(Duration::from_millis(2)).await,
        }
        seen.lock().unwrap().extend(page);
    }
}

/// Follows the log by `global_position` alone, until told to stop.
async fn follow_positions(
    mut connection: PgConnection,
    seen: Arc<Mutex<Vec<EventId>>>,
    polls: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let mut last = 0_i64;
    while !stop.load(Ordering::SeqCst) {
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(NAIVE_READ)
            .bind(last)
            .fetch_all(&mut connection)
            .await
            .unwrap();
        if let Some((_, position)) = rows.last() {
            last = *position;
        }
        seen.lock()
            .unwrap()
            .extend(rows.into_iter().map(|(id, _)| EventId(id)));
        polls.fetch_add(1, Ordering::SeqCst);
        sleep(Duration::from_millis(2)).await;
    }
}

/// Waits until `done` holds, or fails the test after [`PATIENCE`].
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        sleep(Duration::from_millis(2)).await;
    }
}

fn random_below(bound: u64) -> u64 {
    Uuid::new_v4().as_u64_pair().0 % bound
}

fn events(count: u64) -> Vec<NewEvent> {
    (0..count)
        .map(|_| NewEvent {
            id: EventId::random(),
            event_type: "ClaimEvent".to_owned(),
            schema_version: 1,
            payload: json!({ "amount": { "value": "400.00", "currency": "USD" } }),
            metadata: json!({}),
        })
        .collect()
}

fn ids_of(events: &[NewEvent]) -> Vec<EventId> {
    events.iter().map(|event| event.id).collect()
}

fn append(stream: &StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> StreamAppend {
    StreamAppend {
        stream: stream.clone(),
        expected,
        events,
    }
}

/// The log is read in the order of the writing transactions' ids as numbers, walking the
/// `(tx_id, global_position)` index: no page sorts the rest of the log, and no id is ever
/// compared as text (where '100' sorts before '99' and a page boundary could skip events).
/// Crossing a power of ten in a test would take hundreds of thousands of transactions, so
/// the plan is checked instead: an index scan in the right order has no Sort node at all.
#[tokio::test]
async fn the_log_is_read_along_the_transaction_index_never_sorted_as_text() {
    let schema = TestSchema::new().await;
    let store = schema.store().await;
    for _ in 0..3 {
        store
            .append(vec![append(
                &StreamId::new("claim", Uuid::new_v4()),
                ExpectedVersion::NoStream,
                events(2),
            )])
            .await
            .unwrap();
    }
    let mut connection = schema.connection().await;
    let mut transaction = connection.begin().await.unwrap();
    // With a handful of rows a sequential or bitmap scan and a sort are cheaper; take them
    // off the table so the planner shows whether the index can give the order by itself.
    for setting in [
        "SET LOCAL enable_seqscan = off",
        "SET LOCAL enable_bitmapscan = off",
    ] {
        sqlx::query(setting)
            .execute(&mut *transaction)
            .await
            .unwrap();
    }
    let read_all = include_str!("../src/event_store/postgres/read_all.sql");
    let explain = format!("EXPLAIN {read_all}");
    let plan: Vec<String> = sqlx::query_scalar(AssertSqlSafe(explain))
        .bind("0")
        .bind(0_i64)
        .bind(1000_i64)
        .fetch_all(&mut *transaction)
        .await
        .unwrap();
    let plan = plan.join("\n");
    assert!(
        !plan.contains("Sort"),
        "read_all sorts instead of walking the index:\n{plan}"
    );
    assert!(
        plan.contains("events_tx_id_global_position"),
        "read_all does not walk the transaction index:\n{plan}"
    );
}
