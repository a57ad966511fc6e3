//! Reference data over the bus: an insurer publishes plans, members (with their coverage)
//! and providers (with their payout wallets) to `claims.reference.<insurer>`, as JSON of
//! the same shape as the reference-data file ([`ReferenceData`]), and hears `accepted`
//! (how many entries were stored, how many were already stored as given) or `rejected`
//! (why) on the message's reply subject and always on `claims.reference-ack.<insurer>`.
//!
//! The entries are stored as events, through the same deciders as the file loader, so a
//! re-sent message stores nothing new. A member must belong to the insurer the subject
//! names. Entries are stored one by one, plans first: when one is refused, those before it
//! stay stored (sending the message again after fixing it stores the rest). An insurer
//! changes only the entries it sent; plans and providers another insurer sent, or the
//! operator loaded, are refused ([`Keeper`]), and its members may be on its own plans or
//! the operator's, not on another insurer's.
//!
//! A rule set travels on the same subject as its files, with the content type
//! [`RULE_SET_CONTENT_TYPE`]: `{"files": {"rule-set.toml": "…", "plans.toml": "…", …}}`,
//! paths relative to the rule set's directory. It is checked and stored exactly as
//! `claims rules load` does (all or nothing); a bad file is answered with its path, line
//! and column. Like plans in reference data, a rule set and the plans it revises are kept
//! by the insurer that first sent them.

use crate::answer;
use crate::keeper::Keeper;
use crate::reference::{ReferenceData, ReferenceError};
use crate::rule_sets::{self, RuleSetLoadError, RuleSetLoaded};
use crate::store_gate::{StoreGate, WorksOne};
use crate::subjects;
use crate::verdict::Verdict;
use claims_adapters::bus::{Delivery, Message, MessageBus, WorkQueue};
use claims_adapters::event_store::EventStore;
use claims_domain::InsurerId;
use claims_domain::rule_set::files;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// Holds messages to be retried while the store takes no writes.
    gate: StoreGate,
}

impl WorksOne for ReferenceIntake {
    type Deferred = NotStored;

    fn work(
        &self,
        delivery: &Delivery,
        deferred: &mut Option<NotStored>,
    ) -> impl Future<Output = Verdict> + Send {
        self.verdict(delivery, deferred)
    }
}

impl ReferenceIntake {
    /// The role over a store and a bus.
    pub fn new(store: Arc<dyn EventStore>, bus: Arc<dyn MessageBus>) -> Self {
        Self {
            gate: StoreGate::new(store.clone()),
            store,
            bus,
        }
    }

    /// Holds the messages to be retried while the store takes no writes through `gate`
    /// (see [`StoreGate`]): the process's, which ends a hold at shutdown and counts what
    /// it holds, rather than one of its own.
    pub fn with_gate(mut self, gate: StoreGate) -> Self {
        self.gate = gate;
        self
    }

    /// Processes reference-data messages until the queue closes.
    pub async fn run(self, mut queue: Box<dyn WorkQueue>) {
        while let Some(delivery) = queue.next().await {
            // A last attempt that failed while the store took no writes is worked once more
            // once it takes them again, rather than dead-lettered (see `StoreGate`).
            let (verdict, not_stored) = self.gate.work_one("reference", &delivery, &self).await;
            if let Some((insurer, reply)) = not_stored {
                self.answer(&insurer, &delivery.message, &reply).await;
            }
            self.gate.conclude("reference", delivery, verdict).await;
        }
    }

    /// Handles one message and answers it, except for a last attempt that failed to store:
    /// its `rejected` answer is left in `not_stored`, sent once the gate has decided it is
    /// not worked again.
    async fn verdict(&self, delivery: &Delivery, not_stored: &mut Option<NotStored>) -> Verdict {
        let message = &delivery.message;
        let Some(insurer) = subjects::reference_sender(&message.subject) else {
            return Verdict::Unprocessable(format!(
                "{} is not a reference-data subject (claims.reference.<insurer>)",
                message.subject
            ));
        };
        if message
            .header("Content-Type")
            .is_some_and(|media| media.trim().eq_ignore_ascii_case(RULE_SET_CONTENT_TYPE))
        {
            return self.rule_set(&insurer, delivery, not_stored).await;
        }
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
        match data
            .store_as(self.store.as_ref(), &Keeper::Insurer(insurer.clone()))
            .await
        {
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
                warn!(%insurer, %error, attempt = delivery.attempt, "storing reference data failed; it will be retried");
                *not_stored = not_stored_if_last(&insurer, delivery, "this reference data", &error);
                Verdict::retry(delivery, Duration::from_millis(200), error)
            }
            Err(error) => {
                self.answer(&insurer, message, &ReferenceReply::rejected(&error))
                    .await;
                Verdict::Done
            }
        }
    }

    /// Checks and stores a rule set sent as its files.
    async fn rule_set(
        &self,
        insurer: &InsurerId,
        delivery: &Delivery,
        not_stored: &mut Option<NotStored>,
    ) -> Verdict {
        let message = &delivery.message;
        let files = match serde_json::from_slice::<RuleSetMessage>(&message.payload) {
            Ok(sent) => sent.files,
            Err(error) => {
                let reason = format!(
                    "the message is not a rule set ({{\"files\": {{\"rule-set.toml\": \"…\", …}}}}): {error}"
                );
                self.answer(insurer, message, &ReferenceReply::rejected(&reason))
                    .await;
                return Verdict::Unprocessable(reason);
            }
        };
        let rule_set = match files::parse(&files) {
            Ok(rule_set) => rule_set,
            Err(error) => {
                let reason = RuleSetLoadError::Invalid(error);
                self.answer(insurer, message, &ReferenceReply::rejected(reason))
                    .await;
                return Verdict::Done;
            }
        };
        let sender = Keeper::Insurer(insurer.clone());
        let (stored, unchanged) = match rule_sets::store_as(self.store.as_ref(), &rule_set, &sender)
            .await
        {
            Ok(RuleSetLoaded::Published { plans, .. }) => (plans + 1, 0),
            Ok(RuleSetLoaded::Unchanged(_)) => (0, 1),
            Err(RuleSetLoadError::Store(error)) => {
                warn!(%insurer, %error, attempt = delivery.attempt, "storing a rule set failed; it will be retried");
                *not_stored = not_stored_if_last(insurer, delivery, "this rule set", &error);
                return Verdict::retry(delivery, Duration::from_millis(200), error);
            }
            Err(error) => {
                self.answer(insurer, message, &ReferenceReply::rejected(error))
                    .await;
                return Verdict::Done;
            }
        };
        info!(%insurer, rule_set = %rule_set.id, stored, "rule set stored");
        let reply = ReferenceReply {
            status: crate::intake::ReplyStatus::Accepted,
            stored,
            unchanged,
            reasons: vec![],
        };
        self.answer(insurer, message, &reply).await;
        Verdict::Done
    }

    async fn answer(&self, insurer: &InsurerId, message: &Message, reply: &ReferenceReply) {
        answer::send(
            self.bus.as_ref(),
            insurer,
            subjects::reference_ack(insurer),
            message,
            reply,
            "reference-data reply",
        )
        .await;
    }
}

/// The content type of a rule set sent over the bus as its files.
pub const RULE_SET_CONTENT_TYPE: &str = "application/vnd.claims.rule-set+json";

/// A rule set as a message: every file of its directory by relative path.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSetMessage {
    files: BTreeMap<String, String>,
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

/// The `rejected` answer to a message whose last delivery failed to store, and its sender.
type NotStored = (InsurerId, ReferenceReply);

/// The answer for a delivery whose work just failed, if it was its last: the bus
/// dead-letters it rather than trying again.
fn not_stored_if_last(
    insurer: &InsurerId,
    delivery: &Delivery,
    what: &str,
    fault: &impl std::fmt::Display,
) -> Option<NotStored> {
    delivery.is_last_attempt().then(|| {
        let reason = answer::not_stored(what, delivery.attempt, fault);
        (insurer.clone(), ReferenceReply::rejected(reason))
    })
}
