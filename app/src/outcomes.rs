//! Outcome notices: tells the insurer, on `claims.outcome.<insurer>`, when one of its
//! claims is decided (a FHIR R4 `ClaimResponse`, `Content-Type: application/fhir+json`,
//! header `Claims-Notice: decided`), when it is paid (a native JSON payment notice,
//! `Content-Type: application/json`, header `Claims-Notice: paid`) and when a void or a
//! replacement cancels it (the `ClaimResponse` with `status` `cancelled`, header
//! `Claims-Notice: cancelled`: the same document the API serves for the claim from then on).
//!
//! Driven by the stored events (at least once, from the relay), so a notice is never lost
//! to a crash; an insurer may see the same notice twice and should key on the claim id and
//! `kind`.
//!
//! A notifier takes its queue a batch at a time ([`WorkQueue::next_batch`], up to
//! [`DEFAULT_BATCH`] events): the claims' streams in one read, every notice published with
//! one wait for the bus ([`MessageBus::publish_all`], in the batch's order), then each event
//! acked. If the batch cannot be read or published whole, each event is handled on its
//! own, so one that fails is retried without holding the others back. (The decision itself
//! travels in the relayed event; the claim is read for what the `ClaimResponse` repeats of
//! the submission.)

use crate::fhir;
use crate::intake::NATIVE_CONTENT_TYPE;
use crate::store_gate::StoreGate;
use crate::subjects;
use crate::verdict::{Verdict, conclude};
use claims_adapters::aggregate::{self, AggregateError, StreamsRead, streams};
use claims_adapters::bus::{Delivery, Message, MessageBus, WorkQueue};
use claims_adapters::event_store::{EventStore, RecordedEvent};
use claims_domain::ClaimId;
use claims_domain::claim::{ClaimDecider, ClaimEvent, ClaimState, ConfirmedPayout};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tracing::{Instrument, warn};

/// Events a notifier takes from its queue at once, unless configured otherwise.
pub const DEFAULT_BATCH: usize = 64;

/// The header that says which notice a message on `claims.outcome.<insurer>` is.
pub const NOTICE_HEADER: &str = "Claims-Notice";
/// [`NOTICE_HEADER`] of a decision's `ClaimResponse`.
pub const DECIDED_NOTICE: &str = "decided";
/// [`NOTICE_HEADER`] of a payment notice.
pub const PAID_NOTICE: &str = "paid";
/// [`NOTICE_HEADER`] of the `ClaimResponse` of a claim a void or a replacement cancelled.
pub const CANCELLED_NOTICE: &str = "cancelled";

/// A native notice to the insurer about one of its claims (decisions go out as FHIR
/// `ClaimResponse`s instead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OutcomeNotice {
    /// The claim was paid on chain.
    Paid {
        /// The engine's claim id.
        claim_id: ClaimId,
        /// The insurer's reference.
        claim_ref: String,
        /// The batch, transaction and block.
        payout: ConfirmedPayout,
    },
}

/// The outcomes role.
#[derive(Clone)]
pub struct Outcomes {
    store: Arc<dyn EventStore>,
    bus: Arc<dyn MessageBus>,
    batch: usize,
    /// Holds notices to be retried while the store takes no writes.
    gate: StoreGate,
}

impl Outcomes {
    /// Outcomes over a store and a bus, taking [`DEFAULT_BATCH`] events at a time.
    pub fn new(store: Arc<dyn EventStore>, bus: Arc<dyn MessageBus>) -> Self {
        Self {
            gate: StoreGate::new(store.clone()),
            store,
            bus,
            batch: DEFAULT_BATCH,
        }
    }

    /// Holds the notices to be retried while the store takes no writes through `gate`
    /// (see [`StoreGate`]): the process's, which ends a hold at shutdown and counts what
    /// it holds, rather than one of its own.
    pub fn with_gate(mut self, gate: StoreGate) -> Self {
        self.gate = gate;
        self
    }

    /// Takes up to `batch` events from the queue at a time (at least one).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Publishes notices until the queue closes.
    pub async fn run(self, mut queue: Box<dyn WorkQueue>) {
        loop {
            let batch = queue.next_batch(self.batch).await;
            if batch.is_empty() {
                return;
            }
            self.handle_batch(batch).await;
        }
    }

    /// Publishes the notices of a batch of events, then acks each.
    async fn handle_batch(&self, deliveries: Vec<Delivery>) {
        let events: Vec<Result<RecordedEvent, String>> = deliveries
            .iter()
            .map(|delivery| {
                serde_json::from_slice::<RecordedEvent>(&delivery.message.payload)
                    .map_err(|error| format!("not a stored event: {error}"))
            })
            .collect();
        let claims = events
            .iter()
            .flatten()
            .filter_map(|event| streams::claim_of(&event.stream))
            .map(streams::claim);
        let read = match StreamsRead::read(self.store.as_ref(), claims).await {
            Ok(read) => read,
            Err(error) => {
                warn!(%error, events = deliveries.len(), "reading a batch of claims failed; notifying one by one");
                return self.one_by_one(deliveries, events).await;
            }
        };
        let mut notices = Vec::new();
        for event in events.iter().flatten() {
            match notice_from(&read, event) {
                Ok(notice) => notices.extend(notice),
                Err(error) => {
                    warn!(%error, "a notice of the batch failed; notifying one by one");
                    return self.one_by_one(deliveries, events).await;
                }
            }
        }
        if !notices.is_empty()
            && let Err(error) = self.bus.publish_all(notices).await
        {
            // Notices carry message ids, so those already published are dropped as repeats.
            warn!(%error, "publishing a batch of notices failed; notifying one by one");
            return self.one_by_one(deliveries, events).await;
        }
        for (delivery, event) in deliveries.into_iter().zip(events) {
            let verdict = match event {
                Ok(_) => Verdict::Done,
                Err(reason) => Verdict::Unprocessable(reason),
            };
            conclude(delivery, verdict).await;
        }
    }

    async fn one_by_one(
        &self,
        deliveries: Vec<Delivery>,
        events: Vec<Result<RecordedEvent, String>>,
    ) {
        let mut verdicts = Vec::with_capacity(deliveries.len());
        for (delivery, event) in deliveries.iter().zip(&events) {
            verdicts.push(match event {
                Err(reason) => Verdict::Unprocessable(reason.clone()),
                Ok(recorded) => self.verdict(delivery, recorded).await,
            });
        }
        // A last attempt that failed while the store took no writes is worked once more
        // once it takes them again, rather than dead-lettered (see `StoreGate`).
        let again = self
            .gate
            .last_attempts_to_retry("outcomes", &deliveries, |index| {
                matches!(verdicts[index], Verdict::Retry { .. })
            })
            .await;
        for index in again {
            if let Ok(recorded) = &events[index] {
                verdicts[index] = self.verdict(&deliveries[index], recorded).await;
            }
        }
        let concluded: Vec<(Delivery, Verdict)> = deliveries.into_iter().zip(verdicts).collect();
        self.gate.conclude_all("outcomes", concluded).await;
    }

    /// Notifies one event's outcome: done, or to be tried again.
    async fn verdict(&self, delivery: &Delivery, recorded: &RecordedEvent) -> Verdict {
        match self.notify(recorded).await {
            Ok(()) => Verdict::Done,
            Err(error) => {
                warn!(%error, "outcome notice failed; it will be retried");
                Verdict::retry(delivery, Duration::from_millis(500), error)
            }
        }
    }

    async fn notify(&self, recorded: &RecordedEvent) -> Result<(), OutcomeError> {
        let Some(claim_id) = streams::claim_of(&recorded.stream) else {
            return Ok(());
        };
        let span = tracing::info_span!("outcome", claim = %claim_id);
        async {
            let stream = streams::claim(claim_id);
            let read = StreamsRead::read(self.store.as_ref(), [stream.clone()]).await?;
            let claim = read.load_before::<ClaimDecider>(&stream, recorded.version)?;
            let Some(message) = notice(claim_id, &claim.state, recorded)? else {
                return Ok(());
            };
            self.bus
                .publish(message)
                .await
                .map_err(|error| OutcomeError::Bus(error.to_string()))?;
            Ok(())
        }
        .instrument(span)
        .await
    }
}

/// The notice an event calls for, from the claims read with the batch.
fn notice_from(
    read: &StreamsRead,
    recorded: &RecordedEvent,
) -> Result<Option<Message>, OutcomeError> {
    let Some(claim_id) = streams::claim_of(&recorded.stream) else {
        return Ok(None);
    };
    // The claim as the event found it: for a decision, only its submission is decoded.
    let claim = read.load_before::<ClaimDecider>(&streams::claim(claim_id), recorded.version)?;
    tracing::info_span!("outcome", claim = %claim_id)
        .in_scope(|| notice(claim_id, &claim.state, recorded))
}

/// The notice a claim's event calls for: a `ClaimResponse` for a decision, a payment
/// notice for a confirmed payout, a cancelled `ClaimResponse` for a void or a replacement,
/// nothing for the rest. `claim` is the claim as the event found it: its stream's events
/// before the event's own.
fn notice(
    claim_id: ClaimId,
    claim: &ClaimState,
    recorded: &RecordedEvent,
) -> Result<Option<Message>, OutcomeError> {
    let Some(submitted) = &claim.claim else {
        return Ok(None);
    };
    let claim_ref = submitted.insurer_ref.to_string();
    let (kind, content_type, body) = match aggregate::decode::<ClaimDecider>(recorded)? {
        ClaimEvent::Adjudicated { adjudication } => (
            DECIDED_NOTICE,
            fhir::FHIR_CONTENT_TYPE,
            serde_json::to_vec(&fhir::claim_response::claim_response(
                claim_id,
                submitted,
                &adjudication,
            )),
        ),
        ClaimEvent::PayoutConfirmed { payout } => (
            PAID_NOTICE,
            NATIVE_CONTENT_TYPE,
            serde_json::to_vec(&OutcomeNotice::Paid {
                claim_id,
                claim_ref,
                payout,
            }),
        ),
        // A voided claim is decided no more, so its last decision is the state's.
        ClaimEvent::Voided { voiding } => (
            CANCELLED_NOTICE,
            fhir::FHIR_CONTENT_TYPE,
            serde_json::to_vec(&fhir::claim_response::cancelled_claim_response(
                claim_id,
                submitted,
                claim.adjudication.as_ref(),
                &voiding,
                recorded.recorded_at.date_naive(),
            )),
        ),
        ClaimEvent::Submitted { .. }
        | ClaimEvent::Reviewed { .. }
        | ClaimEvent::Appealed { .. }
        | ClaimEvent::PayoutScheduled { .. } => return Ok(None),
    };
    let body = body.map_err(OutcomeError::Encode)?;
    Ok(Some(
        Message::new(subjects::outcome(&submitted.insurer), body)
            .with_id(format!("outcome-{}", recorded.id))
            .with_header("Content-Type", content_type)
            .with_header(NOTICE_HEADER, kind)
            .with_header("Claims-Claim-Id", claim_id.to_string()),
    ))
}

/// Why a notice could not be published.
#[derive(Debug, thiserror::Error)]
pub enum OutcomeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] AggregateError),
    /// The notice could not be serialised.
    #[error("outcome notice cannot be serialised: {0}")]
    Encode(serde_json::Error),
    /// The bus failed.
    #[error("outcome notice could not be published: {0}")]
    Bus(String),
}
