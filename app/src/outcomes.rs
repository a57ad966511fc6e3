//! Outcome notices: tells the insurer, on `claims.outcome.<insurer>`, when one of its
//! claims is decided (a FHIR R4 `ClaimResponse`, `Content-Type: application/fhir+json`,
//! header `Claims-Notice: decided`) and when it is paid (a native JSON payment notice,
//! `Content-Type: application/json`, header `Claims-Notice: paid`).
//!
//! Driven by the stored events (at least once, from the relay), so a notice is never lost
//! to a crash; an insurer may see the same notice twice and should key on the claim id and
//! `kind`.

use crate::fhir;
use crate::intake::NATIVE_CONTENT_TYPE;
use crate::subjects;
use crate::verdict::{Verdict, conclude};
use claims_adapters::aggregate::{self, AggregateError, streams};
use claims_adapters::bus::{Delivery, Message, MessageBus, WorkQueue};
use claims_adapters::event_store::{EventStore, RecordedEvent};
use claims_domain::ClaimId;
use claims_domain::claim::{ClaimDecider, ClaimEvent, ConfirmedPayout};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tracing::{Instrument, warn};

/// The header that says which notice a message on `claims.outcome.<insurer>` is.
pub const NOTICE_HEADER: &str = "Claims-Notice";

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
}

impl Outcomes {
    /// Outcomes over a store and a bus.
    pub fn new(store: Arc<dyn EventStore>, bus: Arc<dyn MessageBus>) -> Self {
        Self { store, bus }
    }

    /// Publishes notices until the queue closes.
    pub async fn run(self, mut queue: Box<dyn WorkQueue>) {
        while let Some(delivery) = queue.next().await {
            self.handle(delivery).await;
        }
    }

    async fn handle(&self, delivery: Delivery) {
        let verdict = match serde_json::from_slice::<RecordedEvent>(&delivery.message.payload) {
            Err(error) => Verdict::Unprocessable(format!("not a stored event: {error}")),
            Ok(recorded) => match self.notify(&recorded).await {
                Ok(()) => Verdict::Done,
                Err(error) => {
                    warn!(%error, "outcome notice failed; it will be retried");
                    Verdict::retry(&delivery, Duration::from_millis(500), error)
                }
            },
        };
        conclude(delivery, verdict).await;
    }

    async fn notify(&self, recorded: &RecordedEvent) -> Result<(), OutcomeError> {
        let Some(claim_id) = streams::claim_of(&recorded.stream) else {
            return Ok(());
        };
        let span = tracing::info_span!("outcome", claim = %claim_id);
        self.notify_claim(claim_id, recorded).instrument(span).await
    }

    async fn notify_claim(
        &self,
        claim_id: ClaimId,
        recorded: &RecordedEvent,
    ) -> Result<(), OutcomeError> {
        let claim =
            aggregate::load::<ClaimDecider>(self.store.as_ref(), streams::claim(claim_id)).await?;
        let Some(submitted) = claim.state.claim else {
            return Ok(());
        };
        let claim_ref = submitted.insurer_ref.to_string();
        let (kind, content_type, body) = match aggregate::decode::<ClaimDecider>(recorded)? {
            ClaimEvent::Adjudicated { adjudication } => (
                "decided",
                fhir::FHIR_CONTENT_TYPE,
                fhir::claim_response::claim_response(claim_id, &submitted, &adjudication)
                    .map_err(OutcomeError::Encode)?,
            ),
            ClaimEvent::PayoutConfirmed { payout } => (
                "paid",
                NATIVE_CONTENT_TYPE,
                serde_json::to_vec(&OutcomeNotice::Paid {
                    claim_id,
                    claim_ref,
                    payout,
                })
                .map_err(OutcomeError::Encode)?,
            ),
            ClaimEvent::Submitted { .. }
            | ClaimEvent::Reviewed { .. }
            | ClaimEvent::Appealed { .. }
            | ClaimEvent::Voided { .. }
            | ClaimEvent::PayoutScheduled { .. } => return Ok(()),
        };
        let message = Message::new(subjects::outcome(&submitted.insurer), body)
            .with_id(format!("outcome-{}", recorded.id))
            .with_header("Content-Type", content_type)
            .with_header(NOTICE_HEADER, kind)
            .with_header("Claims-Claim-Id", claim_id.to_string());
        self.bus
            .publish(message)
            .await
            .map_err(|error| OutcomeError::Bus(error.to_string()))?;
        Ok(())
    }
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
