//! Reference data over the bus: an insurer publishes plans, members (with their coverage)
//! and providers (with their payout wallets) to `claims.reference.<insurer>`, as JSON of
//! the same shape as the reference-data file ([`ReferenceData`]), and hears `accepted`
//! (how many entries were stored, how many were already stored as given) or `rejected`
//! (why) on the message's reply subject and always on `claims.reference-ack.<insurer>`.
//!
//! The entries are stored as events, through the same deciders as the file loader, so a
//! re-sent message stores nothing new. A member must belong to the insurer the subject
//! names. Entries are stored one by one, plans first: when one is refused, those before it
//! stay stored (sending the message again after fixing it stores the rest).

use crate::intake::NATIVE_CONTENT_TYPE;
use crate::reference::{ReferenceData, ReferenceError};
use crate::subjects;
use crate::verdict::{Verdict, conclude};
use claims_adapters::bus::{Delivery, Message, MessageBus, WorkQueue};
use claims_adapters::event_store::EventStore;
use claims_domain::InsurerId;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// The engine's answer to a reference-data message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceReply {
    /// `accepted` or `rejected`.
    pub status: crate::intake::ReplyStatus,
    /// Entries stored (new or changed).
    pub stored: usize,
    /// Entries already stored as given.
    pub unchanged: usize,
    /// Why it was rejected (empty when accepted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

impl ReferenceReply {
    fn rejected(reason: impl ToString) -> Self {
        Self {
            status: crate::intake::ReplyStatus::Rejected,
            stored: 0,
            unchanged: 0,
            reasons: vec![reason.to_string()],
        }
    }
}

/// The reference-data role.
#[derive(Clone)]
pub struct ReferenceIntake {
    store: Arc<dyn EventStore>,
    bus: Arc<dyn MessageBus>,
}

impl ReferenceIntake {
    /// The role over a store and a bus.
    pub fn new(store: Arc<dyn EventStore>, bus: Arc<dyn MessageBus>) -> Self {
        Self { store, bus }
    }

    /// Processes reference-data messages until the queue closes.
    pub async fn run(self, mut queue: Box<dyn WorkQueue>) {
        while let Some(delivery) = queue.next().await {
            let verdict = self.verdict(&delivery).await;
            conclude(delivery, verdict).await;
        }
    }

    async fn verdict(&self, delivery: &Delivery) -> Verdict {
        let message = &delivery.message;
        let Some(insurer) = subjects::reference_sender(&message.subject) else {
            return Verdict::Unprocessable(format!(
                "{} is not a reference-data subject (claims.reference.<insurer>)",
                message.subject
            ));
        };
        let data = match parse(&message.payload) {
            Ok(data) => data,
            Err(reason) => {
                self.answer(&insurer, message, &ReferenceReply::rejected(&reason))
                    .await;
                return Verdict::Unprocessable(reason);
            }
        };
        if let Some(member) = data.members.iter().find(|member| member.insurer != insurer) {
            let reason = format!(
                "member {} belongs to insurer {}, not to {insurer} who sent it",
                member.id, member.insurer
            );
            self.answer(&insurer, message, &ReferenceReply::rejected(reason))
                .await;
            return Verdict::Done;
        }
        match data.store(self.store.as_ref()).await {
            Ok(summary) => {
                info!(%insurer, stored = summary.stored, unchanged = summary.unchanged, "reference data stored");
                let reply = ReferenceReply {
                    status: crate::intake::ReplyStatus::Accepted,
                    stored: summary.stored,
                    unchanged: summary.unchanged,
                    reasons: vec![],
                };
                self.answer(&insurer, message, &reply).await;
                Verdict::Done
            }
            Err(ReferenceError::Store(error)) => {
                warn!(%insurer, %error, "storing reference data failed; it will be retried");
                Verdict::retry(delivery, Duration::from_millis(200), error)
            }
            Err(error) => {
                self.answer(&insurer, message, &ReferenceReply::rejected(&error))
                    .await;
                Verdict::Done
            }
        }
    }

    async fn answer(&self, insurer: &InsurerId, message: &Message, reply: &ReferenceReply) {
        let body = match serde_json::to_vec(reply) {
            Ok(body) => body,
            Err(error) => {
                warn!(%error, "reference-data reply cannot be serialised");
                return;
            }
        };
        let mut targets = vec![subjects::reference_ack(insurer)];
        match &message.reply_to {
            Some(inbox) if subjects::is_inbox(inbox) => targets.push(inbox.clone()),
            Some(elsewhere) => {
                warn!(%insurer, subject = %elsewhere, "a reply subject that is not an inbox (_INBOX.…) is not answered");
            }
            None => {}
        }
        for subject in targets {
            let answer = Message::new(subject.clone(), body.clone())
                .with_header("Content-Type", NATIVE_CONTENT_TYPE);
            if let Err(error) = self.bus.publish(answer).await {
                warn!(%subject, %error, "reference-data reply could not be published");
            }
        }
    }
}

/// Reads a message body: JSON of the reference file's shape, naming the field at fault.
fn parse(payload: &[u8]) -> Result<ReferenceData, String> {
    let mut reader = serde_json::Deserializer::from_slice(payload);
    serde_path_to_error::deserialize(&mut reader).map_err(|error| {
        let path = error.path().to_string();
        format!(
            "the message is not valid reference data: {}{}",
            if path == "." {
                String::new()
            } else {
                format!("{path}: ")
            },
            error.into_inner()
        )
    })
}
