//! Wake-up hints between processes sharing one PostgreSQL log: a subscription in one engine
//! process hears commits made by another without polling, and not its own commits twice.

#![allow(
    clippy::unwrap_used,
    reason = "tests: an unexpected error should fail them loudly"
)]

mod pg_support;

use claims_adapters::event_store::{
    EventId, EventStore, ExpectedVersion, LogPosition, LogSubscription, NewEvent, StreamAppend,
    StreamId,
};
use pg_support::{TestSchema, one_event};
use serde_json::json;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_in_one_process_wakes_a_subscription_in_another() {
    let schema = TestSchema::new().await;
    // Two stores with their own pools and hint tasks: as two engine processes would be.
    let writer = schema.store().await;
    let reader: Arc<dyn EventStore> = Arc::new(schema.store().await);

    let mut subscription = LogSubscription::after(reader, LogPosition::START)
        .with_poll_interval(Duration::from_secs(3600));
    let waiting = tokio::spawn(async move { subscription.next_page().await.unwrap() });
    // Let the reader's listener subscribe and the subscription start waiting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished());

    let id = EventId::random();
    writer
        .append(vec![StreamAppend {
            stream: StreamId::from_raw("claim-1"),
            expected: ExpectedVersion::NoStream,
            events: vec![NewEvent {
                id,
                event_type: "ClaimSubmitted".to_owned(),
                schema_version: 1,
                payload: json!({"claim": "1"}),
                metadata: json!({}),
            }],
        }])
        .await
        .unwrap();

    let page = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the other process's commit never woke the subscription")
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, id);
    writer.close().await;
}

/// A store's own notice comes back to its own listener. Its readers were woken when the
/// commit returned, so the notice must not wake them again: each would read the log once
/// more for nothing, which at a steady load was a read for almost every commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stores_own_notice_does_not_wake_its_readers_a_second_time() {
    let schema = TestSchema::new().await;
    let store = schema.store().await;
    let other = schema.store().await;
    let mut waiter = store.log_waiter();
    // Let both stores' listeners subscribe.
    tokio::time::sleep(Duration::from_millis(500)).await;

    waiter.mark_seen();
    store.append(vec![one_event("claim-1")]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(1), waiter.log_grew())
        .await
        .expect("the store's own commit did not wake its readers");
    waiter.mark_seen();
    // The notice reaches the listener within milliseconds of the commit.
    assert!(
        tokio::time::timeout(Duration::from_millis(700), waiter.log_grew())
            .await
            .is_err(),
        "the store's own notice woke its readers a second time"
    );

    // Another store's notice still wakes them.
    other.append(vec![one_event("claim-2")]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), waiter.log_grew())
        .await
        .expect("another store's commit never woke the readers");
    store.close().await;
    other.close().await;
}

/// A hint is a statement for PostgreSQL on every burst of commits, and with every role in
/// one process it woke no one. A store sends them only while a store in another process
/// has readers, which it hears from that store's announcements on the same channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_hints_only_while_another_store_has_readers() {
    let schema = TestSchema::new().await;
    let writer = schema.store().await;
    let other = schema.store().await;
    // The writer's own readers are woken in process and need no notice.
    let _own_reader = writer.log_waiter();
    let mut overheard = PgListener::connect(&schema.url).await.unwrap();
    overheard
        .listen(&format!("claims_log_{}", schema.name))
        .await
        .unwrap();
    // Let both stores' listeners subscribe and the stores introduce themselves.
    tokio::time::sleep(Duration::from_millis(500)).await;

    writer.append(vec![one_event("claim-1")]).await.unwrap();
    let heard = hints_within(&mut overheard, Duration::from_millis(700)).await;
    assert_eq!(
        heard, 0,
        "a hint went out with no reader in another process"
    );

    let mut reader = other.log_waiter();
    // Its announcement reaches the writer within milliseconds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    reader.mark_seen();
    writer.append(vec![one_event("claim-2")]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), reader.log_grew())
        .await
        .expect("the other store's reader was never hinted");
    let heard = hints_within(&mut overheard, Duration::from_millis(700)).await;
    assert!(heard >= 1, "no hint went out for the other store's reader");
    writer.close().await;
    other.close().await;
}

/// How many commit hints (not the stores' announcements and questions) arrive within
/// `window`.
async fn hints_within(listener: &mut PgListener, window: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + window;
    let mut hints = 0;
    while let Ok(notice) = tokio::time::timeout_at(deadline, listener.recv()).await {
        let payload = notice.unwrap().payload().to_owned();
        if !payload.starts_with("reader:") && !payload.starts_with("who:") {
            hints += 1;
        }
    }
    hints
}
