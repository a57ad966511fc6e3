//! An insurer's side of NATS, as the tests play it: a plain NATS client that publishes
//! through JetStream and listens on the engine's subjects.
//!
//! The tests need nats-server with JetStream at `CLAIMS_TEST_NATS_URL` (default
//! `nats://127.0.0.1:4222`; `scripts/test.sh` starts one) and fail, never skip, without it.
//! They share one JetStream stream, [`STREAM`], which each deletes first so a run starts
//! clean; test binaries run one after another, and a binary that holds more than one
//! NATS test runs them one at a time with [`one_at_a_time`].
//! JetStream refuses two streams capturing the same subjects, so no other stream on the
//! server may capture `claims.>` while they run (a `claims serve` on the same server
//! keeps its stream, `CLAIMS` by default, after it stops: delete it first).

use async_nats::jetstream;
use async_nats::{HeaderMap, Subscriber};
use futures::StreamExt;
use std::time::Duration;

/// The stream the engine keeps during a test.
pub const STREAM: &str = "CLAIMS_ENGINE_TEST";

/// The server.
pub fn url() -> String {
    std::env::var("CLAIMS_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// Held for a whole test by every test of a binary that has several: libtest runs them on
/// parallel threads, and two engines on one stream and one set of subjects would take each
/// other's messages (one's adjudicator pulling a claim stored in the other's schema).
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static NATS_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    NATS_TESTS.lock().await
}

/// Connects as an insurer and deletes the test stream a previous run may have left.
pub async fn connect() -> (async_nats::Client, jetstream::Context) {
    let client = async_nats::connect(url()).await.unwrap_or_else(|error| {
        panic!(
            "no NATS server at {} (scripts/test.sh starts one; or set CLAIMS_TEST_NATS_URL): {error}",
            url()
        )
    });
    let jetstream = jetstream::new(client.clone());
    let _ = jetstream.delete_stream(STREAM).await;
    (client, jetstream)
}

/// Publishes to `subject` through JetStream, and returns whether the stream dropped it
/// as a duplicate of an earlier message id.
pub async fn publish(
    jetstream: &jetstream::Context,
    subject: &str,
    message_id: &str,
    content_type: &str,
    reply_to: Option<&str>,
    body: Vec<u8>,
) -> bool {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", message_id);
    headers.insert("Content-Type", content_type);
    if let Some(inbox) = reply_to {
        headers.insert("Claims-Reply-To", inbox);
    }
    jetstream
        .publish_with_headers(subject.to_owned(), headers, body.into())
        .await
        .expect("JetStream takes the message")
        .await
        .expect("JetStream stores the message")
        .duplicate
}

/// The next message, or a failure naming what did not come within 20 seconds.
pub async fn next(subscriber: &mut Subscriber, what: &str) -> async_nats::Message {
    tokio::time::timeout(Duration::from_secs(20), subscriber.next())
        .await
        .unwrap_or_else(|_| panic!("no {what} within 20 seconds"))
        .expect("the subscription is open")
}

/// A header's value.
pub fn header<'a>(message: &'a async_nats::Message, name: &str) -> Option<&'a str> {
    message
        .headers
        .as_ref()?
        .get(name)
        .map(|value| value.as_str())
}
