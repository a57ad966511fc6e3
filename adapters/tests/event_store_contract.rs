//! The contract of the event-store port, run against every implementation.
//!
//! Each check is an `async fn` that takes a fresh, empty store and asserts what the port's
//! documentation promises. `event_store_contract!` turns the whole list into tests for one
//! implementation, given an `async fn` that makes a fresh store: SQLite in memory, SQLite
//! in a file, and PostgreSQL (each test in a fresh schema of the server named by
//! `CLAIMS_TEST_POSTGRES_URL`, by default the machine's `test` database; an unreachable
//! server fails these tests, it never skips them).

#![allow(
    clippy::unwrap_used,
    reason = "the checks are tests run through a macro; an unexpected error should fail them loudly"
)]

mod pg_support;

use claims_adapters::event_store::{
    AppendOutcome, EventId, EventStore, ExpectedVersion, LogPosition, LogSubscription, NewEvent,
    PostgresEventStore, RecordedEvent, SqliteEventStore, StoreError, StreamAppend, StreamAppended,
    StreamId,
};
use futures::TryStreamExt;
use pg_support::TestSchema;
use serde_json::json;
use std::any::Any;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;

/// A store under test, with whatever must live as long as it (such as its directory).
struct Fixture {
    store: Arc<dyn EventStore>,
    _keep: Box<dyn Any + Send>,
}

/// Instantiates every check as a test against the stores made by `$fresh`.
macro_rules! event_store_contract {
    ($fresh:path) => {
        event_store_contract!(
            $fresh;
            appends_and_reads_back_a_stream,
            a_stream_never_written_reads_as_empty,
            several_streams_read_at_once_each_whole_and_in_order,
            several_streams_read_at_once_each_from_its_own_version,
            appends_continue_at_the_exact_version,
            no_stream_refuses_a_stream_that_exists,
            exact_refuses_a_stream_at_another_version,
            any_appends_whatever_the_stream_holds,
            appends_to_several_streams_atomically,
            re_sending_an_append_is_a_no_op,
            a_repeated_stream_is_not_version_checked_but_new_streams_are,
            an_event_id_reused_with_other_content_is_refused,
            a_partially_repeated_append_is_refused,
            malformed_appends_are_refused,
            the_whole_log_reads_in_order_a_page_at_a_time,
            checkpoints_are_saved_and_loaded_per_reader,
            the_check_passes_again_and_at_once_and_stores_no_event,
            of_racing_writers_at_one_version_exactly_one_wins,
            racing_re_sends_of_one_append_store_it_once,
            racing_any_appends_to_one_stream_all_land,
            concurrent_writers_to_different_streams_all_land,
            payloads_keep_every_digit_of_an_amount,
            a_subscription_catches_up_then_hears_new_commits_without_polling,
            a_rewound_subscription_delivers_the_same_events_again,
        );
    };
    ($fresh:path; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let fixture = $fresh().await;
                super::$check(fixture.store.clone()).await;
            }
        )+
    };
}

mod sqlite_in_memory {
    use super::*;

    async fn fresh() -> Fixture {
        Fixture {
            store: Arc::new(SqliteEventStore::in_memory().await.unwrap()),
            _keep: Box::new(()),
        }
    }

    event_store_contract!(fresh);
}

mod sqlite_file {
    use super::*;

    async fn fresh() -> Fixture {
        let directory = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(&directory.path().join("events.db"))
            .await
            .unwrap();
        Fixture {
            store: Arc::new(store),
            _keep: Box::new(directory),
        }
    }

    event_store_contract!(fresh);

    #[tokio::test]
    async fn the_log_and_checkpoints_survive_reopening_the_file() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("claims.db");
        let store = SqliteEventStore::open(&path).await.unwrap();
        let claim = StreamId::from_raw("claim-1");
        store
            .append(vec![append(
                &claim,
                ExpectedVersion::NoStream,
                vec![event("ClaimSubmitted"), event("ClaimAdjudicated")],
            )])
            .await
            .unwrap();
        let position = LogPosition {
            transaction: 2,
            sequence: 2,
        };
        store.save_checkpoint("relay", position).await.unwrap();
        let before = store.read_all(LogPosition::START, 100).await.unwrap();
        store.close().await;
        drop(store);

        let reopened = SqliteEventStore::open(&path).await.unwrap();
        assert_eq!(
            reopened.read_all(LogPosition::START, 100).await.unwrap(),
            before
        );
        assert_eq!(reopened.load_checkpoint("relay").await.unwrap(), position);
        let outcome = reopened
            .append(vec![append(
                &claim,
                ExpectedVersion::Exact(2),
                vec![event("ClaimPayoutScheduled")],
            )])
            .await
            .unwrap();
        assert_eq!(outcome.streams[0].version, 3);
        let after = reopened.read_all(LogPosition::START, 100).await.unwrap();
        assert_eq!(after.len(), 3);
        assert!(after[2].position > before[1].position);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_stores_on_one_file_never_both_win_a_race() {
        // Two stores on one file stand for two engine processes sharing a database.
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("events.db");
        let first: Arc<dyn EventStore> = Arc::new(SqliteEventStore::open(&path).await.unwrap());
        let second: Arc<dyn EventStore> = Arc::new(SqliteEventStore::open(&path).await.unwrap());
        let accumulator = StreamId::from_raw("accumulator-m1-2026");

        let barrier = Arc::new(Barrier::new(8));
        let racers: Vec<_> = (0..8)
            .map(|racer| {
                let store = if racer % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                };
                let barrier = barrier.clone();
                let accumulator = accumulator.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .append(vec![append(
                            &accumulator,
                            ExpectedVersion::NoStream,
                            vec![event("CostSharingApplied")],
                        )])
                        .await
                })
            })
            .collect();
        let mut winners = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(_) => winners += 1,
                Err(error) => assert!(error.is_conflict(), "{error:?}"),
            }
        }
        assert_eq!(winners, 1);
        assert_eq!(second.read_stream(&accumulator, 1).await.unwrap().len(), 1);
    }
}

mod postgres_schema {
    use super::*;

    async fn fresh() -> Fixture {
        let schema = TestSchema::new().await;
        let store = schema.store().await;
        Fixture {
            store: Arc::new(store),
            _keep: Box::new(schema),
        }
    }

    event_store_contract!(fresh);

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_stores_on_one_database_never_both_win_a_race() {
        // Two stores on one schema stand for two engine processes sharing the log.
        let schema = TestSchema::new().await;
        let first: Arc<dyn EventStore> = Arc::new(schema.store().await);
        let second: Arc<dyn EventStore> = Arc::new(schema.store().await);
        let accumulator = StreamId::from_raw("accumulator-m1-2026");

        let barrier = Arc::new(Barrier::new(8));
        let racers: Vec<_> = (0..8)
            .map(|racer| {
                let store = if racer % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                };
                let barrier = barrier.clone();
                let accumulator = accumulator.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .append(vec![append(
                            &accumulator,
                            ExpectedVersion::NoStream,
                            vec![event("CostSharingApplied")],
                        )])
                        .await
                })
            })
            .collect();
        let mut winners = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(_) => winners += 1,
                Err(error) => {
                    assert_conflict(Err(error), &accumulator, ExpectedVersion::NoStream, 1);
                }
            }
        }
        assert_eq!(winners, 1);
        assert_eq!(second.read_stream(&accumulator, 1).await.unwrap().len(), 1);
        assert_eq!(first.read_stream(&accumulator, 1).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn logs_in_different_schemas_do_not_see_each_other() {
        let schema = TestSchema::new().await;
        let store = schema.store().await;
        let other_name = format!("{}_other", schema.name);
        let other = PostgresEventStore::connect_in_schema(&schema.url, &other_name)
            .await
            .unwrap();
        let claim = StreamId::from_raw("claim-1");
        store
            .append(vec![append(
                &claim,
                ExpectedVersion::NoStream,
                vec![event("ClaimSubmitted")],
            )])
            .await
            .unwrap();
        other
            .save_checkpoint(
                "relay",
                LogPosition {
                    transaction: 1,
                    sequence: 1,
                },
            )
            .await
            .unwrap();

        assert!(other.read_stream(&claim, 1).await.unwrap().is_empty());
        assert!(everything(&other).await.is_empty());
        assert_eq!(everything(&store).await.len(), 1);
        assert_eq!(
            store.load_checkpoint("relay").await.unwrap(),
            LogPosition::START
        );
        // The same stream starts afresh in the other schema.
        let done = other
            .append(vec![append(
                &claim,
                ExpectedVersion::NoStream,
                vec![event("ClaimSubmitted")],
            )])
            .await
            .unwrap();
        assert_eq!(done, outcome(&[(&claim, 1, 1)]));
        other.close().await;
        let mut connection = schema.connection().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {other_name} CASCADE"
        )))
        .execute(&mut connection)
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_schema_name_that_needs_quoting_is_refused_before_connecting() {
        // The URL points nowhere: the name is refused before any connection is tried.
        let refused = PostgresEventStore::connect_in_schema(
            "postgres://nobody@127.0.0.1:1/none",
            "claims; DROP SCHEMA public",
        )
        .await;
        assert!(
            matches!(&refused, Err(StoreError::InvalidSchemaName(name)) if name.contains("DROP")),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn stored_events_cannot_be_changed_or_removed() {
        let schema = TestSchema::new().await;
        let store = schema.store().await;
        store
            .append(vec![append(
                &StreamId::from_raw("claim-1"),
                ExpectedVersion::NoStream,
                vec![event("ClaimSubmitted")],
            )])
            .await
            .unwrap();
        let mut connection = schema.connection().await;

        for statement in [
            "UPDATE events SET payload = '{}'",
            "DELETE FROM events",
            "TRUNCATE events",
        ] {
            let error = sqlx::query(statement)
                .execute(&mut connection)
                .await
                .unwrap_err();
            assert!(
                error.to_string().contains("immutable"),
                "{statement}: {error}"
            );
        }
        assert_eq!(everything(&store).await.len(), 1);
    }

    #[tokio::test]
    async fn payloads_are_the_json_text_written_with_exact_numbers() {
        let schema = TestSchema::new().await;
        let store = schema.store().await;
        let payload = json!({ "units": 18446744073709551615_u64, "rate": 0.1, "big": 1e300 });
        store
            .append(vec![append(
                &StreamId::from_raw("claim-1"),
                ExpectedVersion::NoStream,
                vec![NewEvent {
                    payload: payload.clone(),
                    ..event("ClaimSubmitted")
                }],
            )])
            .await
            .unwrap();
        let mut connection = schema.connection().await;
        let (kind, units, rate, text): (String, String, String, String) = sqlx::query_as(
            "SELECT json_typeof(payload), payload->>'units', payload->>'rate', payload::text \
             FROM events",
        )
        .fetch_one(&mut connection)
        .await
        .unwrap();
        assert_eq!(
            (kind.as_str(), units.as_str(), rate.as_str()),
            ("object", "18446744073709551615", "0.1")
        );
        assert_eq!(
            text,
            serde_json::to_string(&payload).unwrap(),
            "kept verbatim"
        );
        assert_eq!(everything(&store).await[0].payload, payload);
        // Re-sending it is still a repeat after the round trip through the database.
        let again = store
            .append(vec![append(
                &StreamId::from_raw("claim-1"),
                ExpectedVersion::NoStream,
                vec![NewEvent {
                    payload,
                    ..everything_as_new(&store).await
                }],
            )])
            .await
            .unwrap();
        assert_eq!(again.streams[0].appended, 0);
    }

    async fn everything_as_new(store: &PostgresEventStore) -> NewEvent {
        let stored = everything(store).await.remove(0);
        NewEvent {
            id: stored.id,
            event_type: stored.event_type,
            schema_version: stored.schema_version,
            payload: stored.payload.to_value(),
            metadata: stored.metadata.to_value(),
        }
    }

    #[tokio::test]
    async fn text_postgresql_cannot_hold_is_refused_before_anything_is_stored() {
        let schema = TestSchema::new().await;
        let store = schema.store().await;
        let claim = StreamId::from_raw("claim-1");
        let cases = [
            append(
                &claim,
                ExpectedVersion::Any,
                vec![NewEvent {
                    payload: json!({ "note": "a\u{0}b" }),
                    ..event("A")
                }],
            ),
            append(
                &claim,
                ExpectedVersion::Any,
                vec![NewEvent {
                    metadata: json!({ "k\u{0}": 1 }),
                    ..event("A")
                }],
            ),
            append(&claim, ExpectedVersion::Any, vec![event("A\u{0}")]),
            append(
                &StreamId::from_raw("claim-\u{0}"),
                ExpectedVersion::Any,
                vec![event("A")],
            ),
        ];
        for case in cases {
            assert_invalid(store.append(vec![case]).await, "NUL");
        }
        assert!(everything(&store).await.is_empty());
    }

    #[tokio::test]
    async fn a_checkpoint_keeps_any_transaction_id_but_no_sequence_beyond_bigint() {
        let schema = TestSchema::new().await;
        let store = schema.store().await;
        let far = LogPosition {
            transaction: u64::MAX,
            sequence: 1,
        };
        store.save_checkpoint("relay", far).await.unwrap();
        assert_eq!(store.load_checkpoint("relay").await.unwrap(), far);

        let error = store
            .save_checkpoint(
                "relay",
                LogPosition {
                    transaction: 1,
                    sequence: u64::MAX,
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::OutOfRange { value, .. } if value == u64::MAX),
            "{error:?}"
        );
        assert_eq!(store.load_checkpoint("relay").await.unwrap(), far);
    }

    #[tokio::test]
    async fn a_schema_version_beyond_integer_is_refused() {
        let schema = TestSchema::new().await;
        let store = schema.store().await;
        let result = store
            .append(vec![append(
                &StreamId::from_raw("claim-1"),
                ExpectedVersion::Any,
                vec![NewEvent {
                    schema_version: u32::MAX,
                    ..event("A")
                }],
            )])
            .await;
        assert!(
            matches!(result, Err(StoreError::OutOfRange { value, .. }) if value == u64::from(u32::MAX)),
            "{result:?}"
        );
        assert!(everything(&store).await.is_empty());
    }

    #[tokio::test]
    async fn an_append_inside_a_callers_transaction_commits_or_rolls_back_with_it() {
        let schema = TestSchema::new().await;
        let store = schema.store().await;
        let claim = StreamId::from_raw("claim-1");

        let mut transaction = store.begin().await.unwrap();
        store
            .append_in(
                &mut transaction,
                vec![append(&claim, ExpectedVersion::NoStream, vec![event("A")])],
            )
            .await
            .unwrap();
        // A refused append leaves the caller's transaction usable.
        assert_conflict(
            store
                .append_in(
                    &mut transaction,
                    vec![append(&claim, ExpectedVersion::NoStream, vec![event("B")])],
                )
                .await,
            &claim,
            ExpectedVersion::NoStream,
            1,
        );
        assert!(store.read_stream(&claim, 1).await.unwrap().is_empty());
        transaction.rollback().await.unwrap();
        assert!(store.read_stream(&claim, 1).await.unwrap().is_empty());

        let mut transaction = store.begin().await.unwrap();
        let done = store
            .append_in(
                &mut transaction,
                vec![append(&claim, ExpectedVersion::NoStream, vec![event("A")])],
            )
            .await
            .unwrap();
        transaction.commit().await.unwrap();
        assert_eq!(done, outcome(&[(&claim, 1, 1)]));
        assert_eq!(everything(&store).await.len(), 1);
    }
}

// ---- helpers ----

fn event(event_type: &str) -> NewEvent {
    NewEvent {
        id: EventId::random(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload: json!({ "type": event_type, "amount": { "value": "400.00", "currency": "USD" } }),
        metadata: json!({ "correlation": "submission-1" }),
    }
}

fn append(stream: &StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> StreamAppend {
    StreamAppend {
        stream: stream.clone(),
        expected,
        events,
    }
}

fn outcome(streams: &[(&StreamId, u64, usize)]) -> AppendOutcome {
    AppendOutcome {
        streams: streams
            .iter()
            .map(|(stream, version, appended)| StreamAppended {
                stream: (*stream).clone(),
                version: *version,
                appended: *appended,
            })
            .collect(),
    }
}

async fn everything(store: &dyn EventStore) -> Vec<RecordedEvent> {
    store.read_all(LogPosition::START, 10_000).await.unwrap()
}

fn ids(events: &[RecordedEvent]) -> Vec<EventId> {
    events.iter().map(|event| event.id).collect()
}

fn ids_of(events: &[NewEvent]) -> Vec<EventId> {
    events.iter().map(|event| event.id).collect()
}

#[track_caller]
fn assert_conflict(
    result: Result<AppendOutcome, StoreError>,
    stream: &StreamId,
    expected: ExpectedVersion,
    actual: u64,
) {
    match result {
        Err(StoreError::VersionConflict {
            stream: conflicted,
            expected: reported,
            actual: stored,
        }) => {
            assert_eq!(&conflicted, stream);
            assert_eq!(reported, expected);
            assert_eq!(stored, actual);
        }
        other => panic!("expected a version conflict on {stream}, got {other:?}"),
    }
}

#[track_caller]
fn assert_invalid(result: Result<AppendOutcome, StoreError>, mentions: &str) {
    match result {
        Err(StoreError::InvalidAppend(message)) => {
            assert!(
                message.contains(mentions),
                "{message:?} should mention {mentions:?}"
            );
        }
        other => panic!("expected an invalid append, got {other:?}"),
    }
}

// ---- the contract ----

async fn appends_and_reads_back_a_stream(store: Arc<dyn EventStore>) {
    let claim = StreamId::from_raw("claim-1");
    let events = vec![
        event("ClaimSubmitted"),
        event("ClaimAdjudicated"),
        event("ClaimPayoutScheduled"),
    ];

    let done = store
        .append(vec![append(
            &claim,
            ExpectedVersion::NoStream,
            events.clone(),
        )])
        .await
        .unwrap();

    assert_eq!(done, outcome(&[(&claim, 3, 3)]));
    let stored = store.read_stream(&claim, 1).await.unwrap();
    assert_eq!(stored.len(), 3);
    for (version, (recorded, sent)) in (1..).zip(stored.iter().zip(&events)) {
        assert_eq!(recorded.version, version);
        assert_eq!(recorded.stream, claim);
        assert_eq!(recorded.id, sent.id);
        assert_eq!(recorded.event_type, sent.event_type);
        assert_eq!(recorded.schema_version, sent.schema_version);
        assert_eq!(recorded.payload, sent.payload);
        assert_eq!(recorded.metadata, sent.metadata);
    }
    assert!(
        stored
            .windows(2)
            .all(|pair| pair[0].position < pair[1].position)
    );
    assert!(
        stored
            .iter()
            .all(|event| event.recorded_at == stored[0].recorded_at)
    );
    assert_eq!(store.read_stream(&claim, 0).await.unwrap(), stored);
    assert_eq!(
        ids(&store.read_stream(&claim, 2).await.unwrap()),
        ids(&stored[1..])
    );
    assert!(store.read_stream(&claim, 4).await.unwrap().is_empty());
    assert!(
        store
            .read_stream(&claim, u64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_stream_never_written_reads_as_empty(store: Arc<dyn EventStore>) {
    store
        .append(vec![append(
            &StreamId::from_raw("claim-1"),
            ExpectedVersion::NoStream,
            vec![event("ClaimSubmitted")],
        )])
        .await
        .unwrap();
    let other = store
        .read_stream(&StreamId::from_raw("claim-2"), 1)
        .await
        .unwrap();
    assert!(other.is_empty());
    // A stream id is matched exactly, not as a prefix.
    let prefix = store
        .read_stream(&StreamId::from_raw("claim-"), 0)
        .await
        .unwrap();
    assert!(prefix.is_empty());
}

async fn several_streams_read_at_once_each_whole_and_in_order(store: Arc<dyn EventStore>) {
    let claim = StreamId::from_raw("claim-1");
    let member = StreamId::from_raw("member-1");
    let untouched = StreamId::from_raw("member-2");
    let never_written = StreamId::from_raw("claim-2");
    // Interleaved appends, so each stream's events sit apart in the log.
    for round in 0..3 {
        store
            .append(vec![
                append(
                    &claim,
                    ExpectedVersion::Exact(round),
                    vec![event("ClaimEvent")],
                ),
                append(
                    &member,
                    ExpectedVersion::Exact(round * 2),
                    vec![event("MemberEvent"), event("MemberEvent")],
                ),
            ])
            .await
            .unwrap();
    }
    store
        .append(vec![append(
            &untouched,
            ExpectedVersion::NoStream,
            vec![event("Other")],
        )])
        .await
        .unwrap();

    let read = store
        .read_streams(&[
            claim.clone(),
            member.clone(),
            never_written.clone(),
            claim.clone(),
        ])
        .await
        .unwrap();

    assert_eq!(read.len(), 3, "one entry per stream named: {read:?}");
    assert_eq!(read[&claim], store.read_stream(&claim, 1).await.unwrap());
    assert_eq!(read[&member], store.read_stream(&member, 1).await.unwrap());
    assert_eq!(read[&claim].len(), 3);
    assert_eq!(
        read[&member]
            .iter()
            .map(|event| event.version)
            .collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    assert!(read[&never_written].is_empty());
    assert!(!read.contains_key(&untouched), "only the streams named");
    assert!(store.read_streams(&[]).await.unwrap().is_empty());
    // Names are matched exactly, not as patterns or prefixes.
    let odd = store
        .read_streams(&[StreamId::from_raw("claim-%"), StreamId::from_raw("claim-")])
        .await
        .unwrap();
    assert!(odd.values().all(Vec::is_empty), "{odd:?}");
}

async fn several_streams_read_at_once_each_from_its_own_version(store: Arc<dyn EventStore>) {
    let plan = StreamId::from_raw("plan-gold");
    let member = StreamId::from_raw("member-1");
    let quiet = StreamId::from_raw("provider-1");
    let never_written = StreamId::from_raw("member-2");
    for round in 0..3 {
        store
            .append(vec![
                append(
                    &plan,
                    ExpectedVersion::Exact(round),
                    vec![event("PlanEvent")],
                ),
                append(
                    &member,
                    ExpectedVersion::Exact(round * 2),
                    vec![event("MemberEvent"), event("MemberEvent")],
                ),
            ])
            .await
            .unwrap();
    }
    store
        .append(vec![append(
            &quiet,
            ExpectedVersion::NoStream,
            vec![event("Other")],
        )])
        .await
        .unwrap();

    let versions = |events: &Vec<RecordedEvent>| -> Vec<u64> {
        events.iter().map(|event| event.version).collect()
    };
    let read = store
        .read_streams_from(&[
            (plan.clone(), 3),
            (member.clone(), 5),
            (quiet.clone(), 2),
            (never_written.clone(), 1),
            // Named twice: read from the lower version.
            (member.clone(), 6),
        ])
        .await
        .unwrap();
    assert_eq!(read.len(), 4, "one entry per stream named: {read:?}");
    assert_eq!(versions(&read[&plan]), vec![3]);
    assert_eq!(versions(&read[&member]), vec![5, 6]);
    assert_eq!(read[&member], store.read_stream(&member, 5).await.unwrap());
    assert!(read[&quiet].is_empty(), "nothing after its last version");
    assert!(read[&never_written].is_empty());
    // From the start, each stream reads whole, as read_streams reads it.
    let whole = store
        .read_streams_from(&[(plan.clone(), 1), (member.clone(), 0)])
        .await
        .unwrap();
    assert_eq!(whole[&plan], store.read_stream(&plan, 1).await.unwrap());
    assert_eq!(versions(&whole[&member]), vec![1, 2, 3, 4, 5, 6]);
    assert!(store.read_streams_from(&[]).await.unwrap().is_empty());
    let beyond = store
        .read_streams_from(&[(plan.clone(), u64::MAX)])
        .await
        .unwrap();
    assert!(beyond[&plan].is_empty(), "{beyond:?}");
}

async fn appends_continue_at_the_exact_version(store: Arc<dyn EventStore>) {
    let claim = StreamId::from_raw("claim-1");
    store
        .append(vec![append(
            &claim,
            ExpectedVersion::NoStream,
            vec![event("A"), event("B")],
        )])
        .await
        .unwrap();

    let done = store
        .append(vec![append(
            &claim,
            ExpectedVersion::Exact(2),
            vec![event("C")],
        )])
        .await
        .unwrap();

    assert_eq!(done, outcome(&[(&claim, 3, 1)]));
    let types: Vec<_> = store
        .read_stream(&claim, 1)
        .await
        .unwrap()
        .into_iter()
        .map(|event| (event.version, event.event_type))
        .collect();
    assert_eq!(
        types,
        vec![
            (1, "A".to_owned()),
            (2, "B".to_owned()),
            (3, "C".to_owned())
        ]
    );
}

async fn no_stream_refuses_a_stream_that_exists(store: Arc<dyn EventStore>) {
    let claim = StreamId::from_raw("claim-1");
    store
        .append(vec![append(
            &claim,
            ExpectedVersion::NoStream,
            vec![event("ClaimSubmitted")],
        )])
        .await
        .unwrap();
    let before = everything(store.as_ref()).await;

    let result = store
        .append(vec![append(
            &claim,
            ExpectedVersion::NoStream,
            vec![event("ClaimSubmitted")],
        )])
        .await;

    assert_conflict(result, &claim, ExpectedVersion::NoStream, 1);
    assert_eq!(everything(store.as_ref()).await, before);
}

async fn exact_refuses_a_stream_at_another_version(store: Arc<dyn EventStore>) {
    let claim = StreamId::from_raw("claim-1");
    // On a stream that does not exist, Exact(1) is stale (it is at 0) and Exact(0) holds.
    let missing = store
        .append(vec![append(
            &claim,
            ExpectedVersion::Exact(1),
            vec![event("A")],
        )])
        .await;
    assert_conflict(missing, &claim, ExpectedVersion::Exact(1), 0);
    assert!(everything(store.as_ref()).await.is_empty());
    let first = store
        .append(vec![append(
            &claim,
            ExpectedVersion::Exact(0),
            vec![event("A"), event("B")],
        )])
        .await
        .unwrap();
    assert_eq!(first, outcome(&[(&claim, 2, 2)]));
    let before = everything(store.as_ref()).await;

    let behind = store
        .append(vec![append(
            &claim,
            ExpectedVersion::Exact(1),
            vec![event("C")],
        )])
        .await;
    let ahead = store
        .append(vec![append(
            &claim,
            ExpectedVersion::Exact(3),
            vec![event("C")],
        )])
        .await;

    assert_conflict(behind, &claim, ExpectedVersion::Exact(1), 2);
    assert_conflict(ahead, &claim, ExpectedVersion::Exact(3), 2);
    assert_eq!(everything(store.as_ref()).await, before);
}

async fn any_appends_whatever_the_stream_holds(store: Arc<dyn EventStore>) {
    let claim = StreamId::from_raw("claim-1");
    let first = store
        .append(vec![append(&claim, ExpectedVersion::Any, vec![event("A")])])
        .await
        .unwrap();
    let second = store
        .append(vec![append(
            &claim,
            ExpectedVersion::Any,
            vec![event("B"), event("C")],
        )])
        .await
        .unwrap();
    assert_eq!(first, outcome(&[(&claim, 1, 1)]));
    assert_eq!(second, outcome(&[(&claim, 3, 2)]));
    assert_eq!(store.read_stream(&claim, 1).await.unwrap().len(), 3);
}

async fn appends_to_several_streams_atomically(store: Arc<dyn EventStore>) {
    let claim = StreamId::from_raw("claim-1");
    let accumulator = StreamId::from_raw("accumulator-m1-2026");
    let done = store
        .append(vec![
            append(
                &claim,
                ExpectedVersion::NoStream,
                vec![event("ClaimSubmitted")],
            ),
            append(
                &accumulator,
                ExpectedVersion::NoStream,
                vec![event("CostSharingApplied")],
            ),
        ])
        .await
        .unwrap();
    assert_eq!(done, outcome(&[(&claim, 1, 1), (&accumulator, 1, 1)]));
    // Another worker applies the deductible first.
    store
        .append(vec![append(
            &accumulator,
            ExpectedVersion::Exact(1),
            vec![event("CostSharingApplied")],
        )])
        .await
        .unwrap();
    let before = everything(store.as_ref()).await;

    // The claim is at the version this worker saw; the accumulator is not.
    let result = store
        .append(vec![
            append(
                &claim,
                ExpectedVersion::Exact(1),
                vec![event("ClaimAdjudicated")],
            ),
            append(
                &accumulator,
                ExpectedVersion::Exact(1),
                vec![event("CostSharingApplied")],
            ),
        ])
        .await;

    assert_conflict(result, &accumulator, ExpectedVersion::Exact(1), 2);
    assert_eq!(everything(store.as_ref()).await, before);
    assert_eq!(store.read_stream(&claim, 1).await.unwrap().len(), 1);
}

async fn re_sending_an_append_is_a_no_op(store: Arc<dyn EventStore>) {
    let claim = StreamId::from_raw("claim-1");
    let accumulator = StreamId::from_raw("accumulator-m1-2026");
    let decision = vec![
        append(
            &claim,
            ExpectedVersion::NoStream,
            vec![event("ClaimSubmitted"), event("ClaimAdjudicated")],
        ),
        append(
            &accumulator,
            ExpectedVersion::NoStream,
            vec![event("CostSharingApplied")],
        ),
    ];
    let first = store.append(decision.clone()).await.unwrap();
    let stored = everything(store.as_ref()).await;

    let again = store.append(decision.clone()).await.unwrap();

    assert_eq!(first, outcome(&[(&claim, 2, 2), (&accumulator, 1, 1)]));
    assert_eq!(again, outcome(&[(&claim, 2, 0), (&accumulator, 1, 0)]));
    assert_eq!(everything(store.as_ref()).await, stored);

    // Still a no-op once the streams moved on; the outcome reports where they are now.
    store
        .append(vec![append(
            &claim,
            ExpectedVersion::Exact(2),
            vec![event("ClaimPayoutScheduled")],
        )])
        .await
        .unwrap();
    let later = store.append(decision).await.unwrap();
    assert_eq!(later, outcome(&[(&claim, 3, 0), (&accumulator, 1, 0)]));
    assert_eq!(everything(store.as_ref()).await.len(), stored.len() + 1);
}

async fn a_repeated_stream_is_not_version_checked_but_new_streams_are(store: Arc<dyn EventStore>) {
    let batch = StreamId::from_raw("payout-1");
    let claim = StreamId::from_raw("claim-1");
    let scheduled = event("PayoutBatchScheduled");
    store
        .append(vec![append(
            &batch,
            ExpectedVersion::NoStream,
            vec![scheduled.clone()],
        )])
        .await
        .unwrap();

    // The batch's events are repeats (its NoStream no longer holds, and need not); the
    // claim's events are new and are checked.
    let done = store
        .append(vec![
            append(&batch, ExpectedVersion::NoStream, vec![scheduled.clone()]),
            append(
                &claim,
                ExpectedVersion::NoStream,
                vec![event("ClaimPayoutScheduled")],
            ),
        ])
        .await
        .unwrap();
    assert_eq!(done, outcome(&[(&batch, 1, 0), (&claim, 1, 1)]));
    let before = everything(store.as_ref()).await;

    let stale = store
        .append(vec![
            append(&batch, ExpectedVersion::NoStream, vec![scheduled]),
            append(
                &claim,
                ExpectedVersion::NoStream,
                vec![event("ClaimPayoutScheduled")],
            ),
        ])
        .await;
    assert_conflict(stale, &claim, ExpectedVersion::NoStream, 1);
    assert_eq!(everything(store.as_ref()).await, before);
}

async fn an_event_id_reused_with_other_content_is_refused(store: Arc<dyn EventStore>) {
    let claim = StreamId::from_raw("claim-1");
    let original = event("ClaimSubmitted");
    store
        .append(vec![append(
            &claim,
            ExpectedVersion::NoStream,
            vec![original.clone()],
        )])
        .await
        .unwrap();
    let before = everything(store.as_ref()).await;

    let variants = [
        (
            claim.clone(),
            NewEvent {
                payload: json!({ "amount": "400.01" }),
                ..original.clone()
            },
        ),
        (
            claim.clone(),
            NewEvent {
                metadata: json!({ "correlation": "other" }),
                ..original.clone()
            },
        ),
        (
            claim.clone(),
            NewEvent {
                event_type: "ClaimRejected".to_owned(),
                ..original.clone()
            },
        ),
        (
            claim.clone(),
            NewEvent {
                schema_version: 2,
                ..original.clone()
            },
        ),
        (StreamId::from_raw("claim-2"), original.clone()),
    ];
    for (stream, reused) in variants {
        let result = store
            .append(vec![append(&stream, ExpectedVersion::Any, vec![reused])])
            .await;
        match result {
            Err(StoreError::EventIdReused { id, stream: holder }) => {
                assert_eq!(id, original.id);
                assert_eq!(holder, claim);
            }
            other => panic!("expected the reused id to be refused, got {other:?}"),
        }
    }
    assert_eq!(everything(store.as_ref()).await, before);
}

async fn a_partially_repeated_append_is_refused(store: Arc<dyn EventStore>) {
    let claim = StreamId::from_raw("claim-1");
    let submitted = event("ClaimSubmitted");
    store
        .append(vec![append(
            &claim,
            ExpectedVersion::NoStream,
            vec![submitted.clone()],
        )])
        .await
        .unwrap();
    let before = everything(store.as_ref()).await;

    let result = store
        .append(vec![append(
            &claim,
            ExpectedVersion::Exact(1),
            vec![submitted, event("ClaimAdjudicated")],
        )])
        .await;

    assert_invalid(result, "already stored");
    assert_eq!(everything(store.as_ref()).await, before);
}

async fn malformed_appends_are_refused(store: Arc<dyn EventStore>) {
    let claim = StreamId::from_raw("claim-1");
    let twice = event("ClaimSubmitted");

    assert_invalid(
        store
            .append(vec![
                append(&claim, ExpectedVersion::Any, vec![event("A")]),
                append(&claim, ExpectedVersion::Any, vec![event("B")]),
            ])
            .await,
        "more than once",
    );
    assert_invalid(
        store
            .append(vec![append(&claim, ExpectedVersion::Any, vec![])])
            .await,
        "no events",
    );
    assert_invalid(
        store
            .append(vec![
                append(&claim, ExpectedVersion::Any, vec![twice.clone()]),
                append(
                    &StreamId::from_raw("claim-2"),
                    ExpectedVersion::Any,
                    vec![twice],
                ),
            ])
            .await,
        "more than once",
    );
    assert!(everything(store.as_ref()).await.is_empty());
    assert_eq!(
        store.append(vec![]).await.unwrap(),
        AppendOutcome { streams: vec![] }
    );
}

async fn the_whole_log_reads_in_order_a_page_at_a_time(store: Arc<dyn EventStore>) {
    let streams = [
        StreamId::from_raw("claim-1"),
        StreamId::from_raw("claim-2"),
        StreamId::from_raw("accumulator-m1-2026"),
    ];
    let mut sent = Vec::new();
    for round in 0..4 {
        for stream in &streams {
            let events = vec![event(&format!("E{round}a")), event(&format!("E{round}b"))];
            sent.extend(events.iter().map(|event| event.id));
            store
                .append(vec![append(stream, ExpectedVersion::Any, events)])
                .await
                .unwrap();
        }
    }

    let all = everything(store.as_ref()).await;
    assert_eq!(ids(&all), sent);
    assert!(
        all.windows(2)
            .all(|pair| pair[0].position < pair[1].position)
    );

    let mut paged = Vec::new();
    let mut after = LogPosition::START;
    loop {
        let page = store.read_all(after, 5).await.unwrap();
        assert!(page.len() <= 5);
        let Some(last) = page.last() else { break };
        after = last.position;
        paged.extend(page);
    }
    assert_eq!(paged, all);
    assert!(store.read_all(after, 5).await.unwrap().is_empty());
    assert!(
        store
            .read_all(LogPosition::START, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&store.read_all(all[9].position, 3).await.unwrap()),
        ids(&all[10..13])
    );

    // One stream of the whole log gives exactly what the pages give, from any position,
    // also past a thousand events (where a store streaming by pages turns a page).
    assert_eq!(streamed(store.as_ref(), LogPosition::START).await, all);
    assert_eq!(streamed(store.as_ref(), all[9].position).await, all[10..]);
    assert!(streamed(store.as_ref(), after).await.is_empty());
    let bulk: Vec<NewEvent> = (0..1_100).map(|n| event(&format!("B{n}"))).collect();
    store
        .append(vec![append(
            &StreamId::from_raw("claim-bulk"),
            ExpectedVersion::NoStream,
            bulk,
        )])
        .await
        .unwrap();
    let whole = everything(store.as_ref()).await;
    assert_eq!(whole.len(), all.len() + 1_100);
    assert_eq!(streamed(store.as_ref(), LogPosition::START).await, whole);
}

async fn streamed(store: &dyn EventStore, after: LogPosition) -> Vec<RecordedEvent> {
    store.stream_all(after).try_collect().await.unwrap()
}

async fn checkpoints_are_saved_and_loaded_per_reader(store: Arc<dyn EventStore>) {
    assert_eq!(
        store.load_checkpoint("relay").await.unwrap(),
        LogPosition::START
    );
    let first = LogPosition {
        transaction: 7,
        sequence: 12,
    };
    let second = LogPosition {
        transaction: 9,
        sequence: 15,
    };

    store.save_checkpoint("relay", first).await.unwrap();
    assert_eq!(store.load_checkpoint("relay").await.unwrap(), first);
    store.save_checkpoint("relay", second).await.unwrap();
    store.save_checkpoint("outcomes", first).await.unwrap();

    assert_eq!(store.load_checkpoint("relay").await.unwrap(), second);
    assert_eq!(store.load_checkpoint("outcomes").await.unwrap(), first);
    assert_eq!(
        store.load_checkpoint("settler").await.unwrap(),
        LogPosition::START
    );
}

/// The check writes a row of its own: a second check, and several from workers at once,
/// pass as the first does, and the log holds nothing of them.
async fn the_check_passes_again_and_at_once_and_stores_no_event(store: Arc<dyn EventStore>) {
    store.check().await.unwrap();
    store.check().await.unwrap();
    let checks = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.check().await })
    });
    for check in futures::future::join_all(checks).await {
        check.unwrap().unwrap();
    }
    assert_eq!(store.event_count().await.unwrap(), 0);
    assert!(everything(store.as_ref()).await.is_empty());
}

async fn of_racing_writers_at_one_version_exactly_one_wins(store: Arc<dyn EventStore>) {
    let accumulator = StreamId::from_raw("accumulator-m1-2026");
    store
        .append(vec![append(
            &accumulator,
            ExpectedVersion::NoStream,
            vec![event("Opened")],
        )])
        .await
        .unwrap();

    let barrier = Arc::new(Barrier::new(8));
    let racers: Vec<_> = (0..8)
        .map(|racer| {
            let store = store.clone();
            let barrier = barrier.clone();
            let accumulator = accumulator.clone();
            tokio::spawn(async move {
                let applied = event(&format!("DeductibleApplied{racer}"));
                let id = applied.id;
                barrier.wait().await;
                let result = store
                    .append(vec![append(
                        &accumulator,
                        ExpectedVersion::Exact(1),
                        vec![applied],
                    )])
                    .await;
                (id, result)
            })
        })
        .collect();

    let mut winners = Vec::new();
    for racer in racers {
        let (id, result) = racer.await.unwrap();
        match result {
            Ok(done) => {
                assert_eq!(done, outcome(&[(&accumulator, 2, 1)]));
                winners.push(id);
            }
            Err(error) => assert_conflict(Err(error), &accumulator, ExpectedVersion::Exact(1), 2),
        }
    }
    assert_eq!(winners.len(), 1);
    let stored = store.read_stream(&accumulator, 1).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].id, winners[0]);
}

async fn racing_re_sends_of_one_append_store_it_once(store: Arc<dyn EventStore>) {
    // Two versions of one decision race: each sent by four racers (a redelivered message
    // handled by several workers at once). They share the event ids and differ in content.
    let claim = StreamId::from_raw("claim-1");
    let original = vec![event("ClaimSubmitted"), event("ClaimAdjudicated")];
    let altered: Vec<_> = original
        .iter()
        .map(|sent| NewEvent {
            payload: json!({ "amount": "1.00" }),
            ..sent.clone()
        })
        .collect();
    let barrier = Arc::new(Barrier::new(8));
    let racers: Vec<_> = (0..8)
        .map(|racer| {
            let store = store.clone();
            let barrier = barrier.clone();
            let events = if racer % 2 == 0 {
                original.clone()
            } else {
                altered.clone()
            };
            let claim = claim.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let result = store
                    .append(vec![append(&claim, ExpectedVersion::NoStream, events)])
                    .await;
                (racer % 2, result)
            })
        })
        .collect();

    let mut appended_by = Vec::new();
    let mut succeeded = HashSet::new();
    let mut refused = HashSet::new();
    for racer in racers {
        let (group, result) = racer.await.unwrap();
        match result {
            Ok(done) => {
                assert_eq!(done.streams[0].version, 2);
                if done.streams[0].appended == 2 {
                    appended_by.push(group);
                } else {
                    assert_eq!(done, outcome(&[(&claim, 2, 0)]));
                }
                succeeded.insert(group);
            }
            Err(StoreError::EventIdReused { id, stream }) => {
                assert!(id == original[0].id || id == original[1].id);
                assert_eq!(stream, claim);
                refused.insert(group);
            }
            Err(other) => panic!("expected success or a reused id, got {other:?}"),
        }
    }
    // One racer wrote; every racer with the same content succeeded, every other was refused.
    assert_eq!(appended_by.len(), 1);
    let winner = appended_by[0];
    assert_eq!(succeeded, HashSet::from([winner]));
    assert_eq!(refused, HashSet::from([1 - winner]));
    let stored = store.read_stream(&claim, 1).await.unwrap();
    let winning = if winner == 0 { &original } else { &altered };
    assert_eq!(ids(&stored), ids_of(winning));
    assert_eq!(stored[0].payload, winning[0].payload);
    assert_eq!(everything(store.as_ref()).await.len(), 2);
}

async fn racing_any_appends_to_one_stream_all_land(store: Arc<dyn EventStore>) {
    let batch = StreamId::from_raw("payout-1");
    let barrier = Arc::new(Barrier::new(8));
    let racers: Vec<_> = (0..8)
        .map(|racer| {
            let store = store.clone();
            let barrier = barrier.clone();
            let batch = batch.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let mut sent = Vec::new();
                for round in 0..3 {
                    let events = vec![
                        event(&format!("ClaimAdded{racer}.{round}")),
                        event(&format!("ClaimAdded{racer}.{round}")),
                    ];
                    let done = store
                        .append(vec![append(&batch, ExpectedVersion::Any, events.clone())])
                        .await
                        .unwrap();
                    assert_eq!(done.streams[0].appended, 2);
                    sent.push((done.streams[0].version, ids_of(&events)));
                }
                sent
            })
        })
        .collect();
    let mut sent = Vec::new();
    for racer in racers {
        sent.extend(racer.await.unwrap());
    }

    let stored = store.read_stream(&batch, 1).await.unwrap();
    assert_eq!(
        stored.iter().map(|event| event.version).collect::<Vec<_>>(),
        (1..=48).collect::<Vec<_>>()
    );
    // Each append's two events sit together, at the version its outcome reported.
    for (version, events) in sent {
        let at = usize::try_from(version).unwrap();
        assert_eq!(ids(&stored[at - 2..at]), events);
    }
}

async fn concurrent_writers_to_different_streams_all_land(store: Arc<dyn EventStore>) {
    let barrier = Arc::new(Barrier::new(8));
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let claim = StreamId::new("claim", writer);
                barrier.wait().await;
                for version in 0..5 {
                    store
                        .append(vec![append(
                            &claim,
                            ExpectedVersion::from_loaded(version),
                            vec![event("ClaimEvent")],
                        )])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }

    let all = everything(store.as_ref()).await;
    assert_eq!(all.len(), 40);
    let positions: HashSet<_> = all.iter().map(|event| event.position).collect();
    assert_eq!(positions.len(), 40);
    assert!(
        all.windows(2)
            .all(|pair| pair[0].position < pair[1].position)
    );
    for writer in 0..8 {
        let versions: Vec<_> = store
            .read_stream(&StreamId::new("claim", writer), 1)
            .await
            .unwrap()
            .iter()
            .map(|event| event.version)
            .collect();
        assert_eq!(versions, vec![1, 2, 3, 4, 5]);
    }
}

async fn payloads_keep_every_digit_of_an_amount(store: Arc<dyn EventStore>) {
    let claim = StreamId::from_raw("claim-1");
    let payload = json!({
        "billed": { "value": "12345678901234567890.123456789", "currency": "USD" },
        "allowed": { "value": "0.10", "currency": "USD" },
        "units": 18446744073709551615_u64,
        "note": "naïve café — 100 %",
    });
    let submitted = NewEvent {
        payload: payload.clone(),
        ..event("ClaimSubmitted")
    };
    store
        .append(vec![append(
            &claim,
            ExpectedVersion::NoStream,
            vec![submitted],
        )])
        .await
        .unwrap();

    let stored = store.read_stream(&claim, 1).await.unwrap();
    assert_eq!(stored[0].payload, payload);
    let read = stored[0].payload.to_value();
    assert_eq!(read["billed"]["value"], "12345678901234567890.123456789");
    assert_eq!(read["allowed"]["value"], "0.10");
    assert_eq!(read["units"].as_u64(), Some(u64::MAX));
}

/// Long enough that a subscription woken within it was woken by a hint, not by its poll.
const NEVER_POLLS: Duration = Duration::from_secs(3600);

/// How long a hint may take to arrive (a cross-process hint makes a round trip).
const HINT_DEADLINE: Duration = Duration::from_secs(5);

async fn a_subscription_catches_up_then_hears_new_commits_without_polling(
    store: Arc<dyn EventStore>,
) {
    let claim = StreamId::from_raw("claim-1");
    let earlier = vec![event("ClaimSubmitted"), event("ClaimAdjudicated")];
    store
        .append(vec![append(
            &claim,
            ExpectedVersion::NoStream,
            earlier.clone(),
        )])
        .await
        .unwrap();

    let mut subscription = LogSubscription::after(store.clone(), LogPosition::START)
        .with_page_size(1)
        .with_poll_interval(NEVER_POLLS);
    let mut caught_up = Vec::new();
    for _ in 0..earlier.len() {
        caught_up.extend(subscription.next_page().await.unwrap());
    }
    assert_eq!(
        ids(&caught_up),
        ids_of(&earlier),
        "catch-up, a page at a time"
    );

    let waiting = tokio::spawn(async move {
        let page = subscription.next_page().await.unwrap();
        (page, subscription)
    });
    // Let the subscription find the log exhausted and start waiting.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "handed out a page with nothing new");

    let later = vec![event("ClaimPayoutScheduled")];
    store
        .append(vec![append(
            &claim,
            ExpectedVersion::Exact(2),
            later.clone(),
        )])
        .await
        .unwrap();
    let (live, subscription) = tokio::time::timeout(HINT_DEADLINE, waiting)
        .await
        .expect("the commit did not wake the waiting subscription")
        .unwrap();
    assert_eq!(ids(&live), ids_of(&later));
    assert_eq!(subscription.position(), live[0].position);
}

async fn a_rewound_subscription_delivers_the_same_events_again(store: Arc<dyn EventStore>) {
    let claim = StreamId::from_raw("claim-1");
    let sent = vec![event("A"), event("B"), event("C")];
    store
        .append(vec![append(
            &claim,
            ExpectedVersion::NoStream,
            sent.clone(),
        )])
        .await
        .unwrap();
    let mut subscription =
        LogSubscription::after(store.clone(), LogPosition::START).with_page_size(2);
    let first = subscription.next_page().await.unwrap();
    assert_eq!(ids(&first), ids_of(&sent[..2]));

    // The subscriber failed to handle the page: back to its stored position.
    subscription.rewind(LogPosition::START);
    let again = subscription.next_page().await.unwrap();
    assert_eq!(again, first, "at least once: the failed page comes again");
    let rest = subscription.try_next_page().await.unwrap().unwrap();
    assert_eq!(ids(&rest), ids_of(&sent[2..]));
    assert!(subscription.try_next_page().await.unwrap().is_none());
}
