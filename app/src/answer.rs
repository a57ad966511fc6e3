//! Answering a message from an insurer: every intake (claims, reference data, reviews)
//! answers the same way, so the rule of where an answer may go lives in one place.

use crate::intake::NATIVE_CONTENT_TYPE;
use crate::subjects;
use claims_adapters::bus::{Message, MessageBus, Subject};
use serde::Serialize;
use tracing::warn;

/// Publishes `reply` as native JSON on `ack` (the insurer's answer subject) and, when
/// `message` asked for it on an inbox, there too ([`subjects::answer_targets`]). An answer
/// that cannot be sent is logged with `what` ("intake reply", …) and not retried: the
/// decision it reports is stored either way.
pub async fn send(
    bus: &dyn MessageBus,
    ack: Subject,
    message: &Message,
    reply: &impl Serialize,
    what: &str,
) {
    let body = match serde_json::to_vec(reply) {
        Ok(body) => body,
        Err(error) => {
            warn!(%error, "{what} cannot be serialised");
            return;
        }
    };
    for subject in subjects::answer_targets(ack, message.reply_to.as_ref()) {
        let answer = Message::new(subject.clone(), body.clone())
            .with_header("Content-Type", NATIVE_CONTENT_TYPE);
        if let Err(error) = bus.publish(answer).await {
            warn!(%subject, %error, "{what} could not be published");
        }
    }
}
