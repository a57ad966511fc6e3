//! Answering a message from an insurer: every intake (claims, reference data, reviews)
//! answers the same way, so the rule of where an answer may go lives in one place.

use crate::intake::NATIVE_CONTENT_TYPE;
use crate::subjects;
use claims_adapters::bus::{Message, MessageBus, Subject};
use claims_domain::InsurerId;
use serde::Serialize;
use std::fmt::Display;
use tracing::warn;

/// Publishes `reply` as native JSON on `ack` (the insurer's answer subject) and, when
/// `message` asked for it on one of `insurer`'s inboxes, there too
/// ([`subjects::answer_targets`]). An answer that cannot be sent is logged with `what`
/// ("intake reply", …) and not retried: the decision it reports is stored either way.
pub async fn send(
    bus: &dyn MessageBus,
    insurer: &InsurerId,
    ack: Subject,
    message: &Message,
    reply: &impl Serialize,
    what: &str,
) {
    publish_each(bus, compose(insurer, ack, message, reply, what), what).await;
}

/// The messages [`send`] would publish, for a caller that answers a whole batch at once
/// with [`send_all`]. Empty (and logged) if `reply` cannot be serialised.
pub fn compose(
    insurer: &InsurerId,
    ack: Subject,
    message: &Message,
    reply: &impl Serialize,
    what: &str,
) -> Vec<Message> {
    let body = match serde_json::to_vec(reply) {
        Ok(body) => body,
        Err(error) => {
            warn!(%error, "{what} cannot be serialised");
            return Vec::new();
        }
    };
    subjects::answer_targets(insurer, ack, message.reply_to.as_ref())
        .into_iter()
        .map(|subject| {
            Message::new(subject, body.clone()).with_header("Content-Type", NATIVE_CONTENT_TYPE)
        })
        .collect()
}

/// Publishes a batch's answers in order with one wait for the bus
/// ([`MessageBus::publish_all`]). If that fails, each answer is published on its own, so
/// one answer the bus refuses does not silence the others; an insurer may then hear an
/// answer twice (answers carry the claim reference to key on).
pub async fn send_all(bus: &dyn MessageBus, answers: Vec<Message>, what: &str) {
    if answers.is_empty() {
        return;
    }
    let Err(error) = bus.publish_all(answers.clone()).await else {
        return;
    };
    warn!(%error, "publishing a batch of answers failed; publishing them one by one");
    publish_each(bus, answers, what).await;
}

/// Publishes each answer on its own; one the bus refuses is logged and does not stop the
/// others.
async fn publish_each(bus: &dyn MessageBus, answers: Vec<Message>, what: &str) {
    for answer in answers {
        let subject = answer.subject.clone();
        if let Err(error) = bus.publish(answer).await {
            warn!(%subject, %error, "{what} could not be published");
        }
    }
}

/// Why a message whose last attempt failed is answered `rejected`: the bus dead-letters it
/// ([`claims_adapters::bus::Delivery::is_last_attempt`]), so the sender hears that
/// `what` ("this claim", …) is not stored, and why, rather than nothing.
pub fn not_stored(what: &str, attempts: u32, fault: &impl Display) -> String {
    format!(
        "the engine could not store {what} in {attempts} attempts; the message is kept for \
         the engine's operators, who will send it through again once the fault is fixed \
         (you will then hear `accepted`), or you may send it again after 2 minutes \
         (what was stored meanwhile is answered as already stored). The fault: {fault}"
    )
}
