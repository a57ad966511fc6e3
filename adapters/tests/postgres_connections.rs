//! The PostgreSQL store's pool of connections. It hands out a connection used within the
//! last second without testing it first (sqlx would send a round trip in front of every
//! statement), so it must still test, and replace, one that sat idle longer: the server
//! may have restarted or closed it in the meantime.

#![allow(
    clippy::unwrap_used,
    reason = "tests: an unexpected error should fail them loudly"
)]

mod pg_support;

use claims_adapters::event_store::{EventStore, PostgresEventStore, StreamId};
use pg_support::{TestSchema, one_event};
use std::time::Duration;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_closed_while_idle_is_replaced_not_used() {
    let schema = TestSchema::new().await;
    // Named, so that the test closes this store's connections and no one else's.
    let name = format!("claims-idle-{}", Uuid::new_v4().simple());
    let store = PostgresEventStore::connect_in_schema(&schema.url_named(&name), &schema.name)
        .await
        .unwrap();
    store.append(vec![one_event("claim-1")]).await.unwrap();

    let closed = schema.close_connections_of(&name).await;
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
