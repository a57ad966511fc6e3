//! The PostgreSQL store's pool of connections. It hands out a connection used within the
//! last second without testing it first (sqlx would send a round trip in front of every
//! statement), so it must still test, and replace, one that sat idle longer: the server
//! may have restarted or closed it in the meantime.

#![allow(
    clippy::unwrap_used,
    reason = "tests: an unexpected error should fail them loudly"
)]

mod pg_support;

use claims_adapters::event_store::{
    EventId, EventStore, ExpectedVersion, NewEvent, PostgresEventStore, StreamAppend, StreamId,
};
use pg_support::TestSchema;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_closed_while_idle_is_replaced_not_used() {
    let schema = TestSchema::new().await;
    // Named, so that the test closes this store's connections and no one else's.
    let name = format!("claims-idle-{}", Uuid::new_v4().simple());
    let separator = if schema.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}application_name={name}", schema.url);
    let store = PostgresEventStore::connect_in_schema(&url, &schema.name)
        .await
        .unwrap();
    store.append(vec![one_event("claim-1")]).await.unwrap();

    let mut admin = schema.connection().await;
    let closed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1) AS closed",
    )
    .bind(&name)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(closed >= 1, "the store held no connection to close");
    // Idle for longer than the store trusts a connection untested.
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    store
        .append(vec![one_event("claim-2")])
        .await
        .expect("the store handed out a connection the server had closed");
    let read = store
        .read_stream(&StreamId::from_raw("claim-2"), 1)
        .await
        .unwrap();
    assert_eq!(read.len(), 1);
    store.close().await;
}

fn one_event(stream: &str) -> StreamAppend {
    StreamAppend {
        stream: StreamId::from_raw(stream),
        expected: ExpectedVersion::NoStream,
        events: vec![NewEvent {
            id: EventId::random(),
            event_type: "ClaimSubmitted".to_owned(),
            schema_version: 1,
            payload: json!({"claim": stream}),
            metadata: json!({}),
        }],
    }
}
