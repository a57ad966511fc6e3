//! Reference data sent over an engine's bus as an insurer sends it.

use claims::engine::Engine;
use claims::reference_intake::ReferenceReply;
use claims_adapters::bus::{Message, Subject, SubjectPattern};
use std::time::Duration;

/// Publishes `body` to `claims.reference.<insurer>` with `content_type`, asking for the
/// answer on the insurer's own inbox, and returns the engine's answer.
pub async fn send(
    engine: &Engine,
    insurer: &str,
    content_type: &str,
    body: &serde_json::Value,
) -> ReferenceReply {
    let inbox = Subject::new(format!(
        "_INBOX.{insurer}.{}",
        uuid::Uuid::new_v4().simple()
    ))
    .unwrap();
    let mut replies = engine
        .bus()
        .subscribe(SubjectPattern::from(inbox.clone()))
        .await
        .unwrap();
    let message = Message::new(
        Subject::new(format!("claims.reference.{insurer}")).unwrap(),
        serde_json::to_vec(body).unwrap(),
    )
    .with_header("Content-Type", content_type)
    .with_reply_to(inbox);
    engine.bus().publish(message).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), replies.next())
        .await
        .expect("the engine answers reference data within 10 s")
        .unwrap();
    serde_json::from_slice(&reply.payload).unwrap()
}
