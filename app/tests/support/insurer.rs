//! An insurer's side of NATS, as the tests play it: a plain NATS client that publishes
//! through JetStream and listens on the engine's subjects.
//!
//! Each test runs its own nats-server (`support/nats_server.rs`), so the stream name
//! [`STREAM`] and the engine's fixed subjects (`claims.submit.>`, …) collide with nothing:
//! on the machine's shared server, concurrent runs (another checkout's, say) deleted each
//! other's stream.

use async_nats::jetstream;
use async_nats::{HeaderMap, Subscriber};
use futures::StreamExt;
use std::time::Duration;

/// The stream the engine keeps during a test.
pub const STREAM: &str = "CLAIMS_ENGINE_TEST";

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
