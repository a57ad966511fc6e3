//! The adjudication worker: decides submitted claims.
//!
//! For each `ClaimSubmitted` event it loads the claim, the member, the member's plan and
//! the member's accumulators for the claim's benefit year, applies the rules (pure domain),
//! and appends the claim's decision and the accumulator's cost sharing in one atomic
//! append, each at the version it was decided on. If another worker moved either stream
//! first (two claims of the same member at once), the append fails as a whole and the
//! decision is made again on fresh state: a deductible is never applied twice.
//!
//! Any number of workers may pull from the same queue, in one process or many.

use crate::clock::Clock;
use crate::retry;
use crate::verdict::{Verdict, conclude};
use claims_adapters::aggregate::{self, AggregateError, streams};
use claims_adapters::bus::{Delivery, WorkQueue};
use claims_adapters::event_store::{EventStore, RecordedEvent};
use claims_domain::ClaimId;
use claims_domain::Decider;
use claims_domain::accumulator::{
    AccumulatorCommand, AccumulatorDecider, AccumulatorError, BenefitsUsed,
};
use claims_domain::adjudication::{AdjudicationContext, Decision};
use claims_domain::claim::{ClaimCommand, ClaimDecider, ClaimError};
use claims_domain::member::MemberDecider;
use claims_domain::plan::PlanDecider;
use claims_domain::provider::ProviderDecider;
use std::sync::Arc;
use std::time::Duration;
use tracing::{Instrument, info, warn};

/// What adjudicating a claim did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adjudicated {
    /// The claim was decided now.
    Decided(Decision),
    /// It had already been decided (a redelivery).
    AlreadyDecided,
}

/// Why a claim could not be adjudicated.
#[derive(Debug, thiserror::Error)]
pub enum AdjudicatorError {
    /// The store failed or kept conflicting; worth another attempt later.
    #[error(transparent)]
    Store(#[from] AggregateError),
    /// The claim cannot be decided as it stands (it will not get better by retrying).
    #[error("claim {claim} cannot be adjudicated: {reason}")]
    Unprocessable {
        /// The claim.
        claim: ClaimId,
        /// Why.
        reason: String,
    },
}

impl AdjudicatorError {
    fn is_conflict(&self) -> bool {
        matches!(self, AdjudicatorError::Store(AggregateError::Store(store)) if store.is_conflict())
    }
}

/// The adjudication worker.
#[derive(Clone)]
pub struct Adjudicator {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
}

impl Adjudicator {
    /// A worker over a store, deciding with the given clock's date.
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Decides claims from the queue until it closes.
    pub async fn run(self, mut queue: Box<dyn WorkQueue>) {
        while let Some(delivery) = queue.next().await {
            self.handle(delivery).await;
        }
    }

    /// Processes one `ClaimSubmitted` delivery: acked once the decision is stored,
    /// handed back on a store failure, dead-lettered if it can never be decided.
    pub async fn handle(&self, delivery: Delivery) {
        let claim = serde_json::from_slice::<RecordedEvent>(&delivery.message.payload)
            .ok()
            .and_then(|event| streams::claim_of(&event.stream));
        let Some(claim) = claim else {
            let reason =
                "not a stored claim event: the adjudication queue only takes ClaimSubmitted events";
            conclude(delivery, Verdict::Unprocessable(reason.to_owned())).await;
            return;
        };
        let span = tracing::info_span!("adjudicate", %claim, attempt = delivery.attempt);
        let verdict = match self.adjudicate(claim).instrument(span.clone()).await {
            Ok(_) => Verdict::Done,
            Err(error @ AdjudicatorError::Unprocessable { .. }) => {
                Verdict::Unprocessable(error.to_string())
            }
            Err(error) => {
                span.in_scope(|| warn!(%error, "adjudication failed; it will be retried"));
                Verdict::retry(&delivery, Duration::from_millis(100), error)
            }
        };
        conclude(delivery, verdict).instrument(span).await;
    }

    /// Decides a claim, retrying on fresh state if another worker moved the claim or the
    /// member's accumulators first.
    pub async fn adjudicate(&self, claim: ClaimId) -> Result<Adjudicated, AdjudicatorError> {
        retry::on_conflict(|| self.try_adjudicate(claim), AdjudicatorError::is_conflict).await
    }

    async fn try_adjudicate(&self, claim_id: ClaimId) -> Result<Adjudicated, AdjudicatorError> {
        let store = self.store.as_ref();
        let unprocessable = |reason: String| AdjudicatorError::Unprocessable {
            claim: claim_id,
            reason,
        };
        let claim = aggregate::load::<ClaimDecider>(store, streams::claim(claim_id)).await?;
        let Some(submitted) = claim.state.claim.clone() else {
            return Err(unprocessable("no such claim has been submitted".to_owned()));
        };
        if claim.state.adjudication.is_some() {
            return Ok(Adjudicated::AlreadyDecided);
        }
        let member = aggregate::load::<MemberDecider>(store, streams::member(&submitted.member))
            .await?
            .state
            .member
            .ok_or_else(|| {
                unprocessable(format!("member {} is no longer enrolled", submitted.member))
            })?;
        let plan_state = aggregate::load::<PlanDecider>(store, streams::plan(&member.plan))
            .await?
            .state;
        let rules = plan_state.rules;
        let (plan, plan_revision) = plan_state
            .current
            .ok_or_else(|| unprocessable(format!("plan {} is not published", member.plan)))?;
        let provider =
            aggregate::load::<ProviderDecider>(store, streams::provider(&submitted.provider))
                .await?
                .state
                .provider;
        let year = submitted.benefit_year();
        let accumulator =
            aggregate::load::<AccumulatorDecider>(store, streams::accumulator(&member.id, year))
                .await?;
        // Not loaded yet (see the rules catalogue's wiring notes): family accumulators,
        // benefits used, earlier services, authorisations, line coding and other coverage.
        // Left empty, the rules that need them let every line through.
        let limits = rules.accumulator_limits(&plan);
        let context = AdjudicationContext {
            decided_on: self.clock.today(),
            accumulated: accumulator.state.accumulated(plan.currency),
            plan: plan.clone(),
            plan_revision,
            rules,
            member: member.clone(),
            provider,
            family: None,
            benefits_used: BenefitsUsed::none(plan.currency),
            history: Vec::new(),
            authorizations: Vec::new(),
            coding: Default::default(),
            coordination: Default::default(),
        };
        let claim_events =
            ClaimDecider::decide(&claim.state, ClaimCommand::Adjudicate(Box::new(context)))
                .map_err(|error: ClaimError| unprocessable(error.to_string()))?;
        let Some(claims_domain::claim::ClaimEvent::Adjudicated { adjudication }) =
            claim_events.first()
        else {
            return Ok(Adjudicated::AlreadyDecided);
        };
        let decision = adjudication.decision.clone();
        let metadata = serde_json::json!({ "claim": claim_id });

        let mut appends = Vec::with_capacity(2);
        appends.extend(claim.append(&claim_events, &metadata)?);
        let shares = adjudication.cost_sharing;
        if shares.deductible.is_positive() || shares.out_of_pocket.is_positive() {
            let command = AccumulatorCommand::ApplyCostSharing {
                member: member.id.clone(),
                claim: claim_id,
                deductible: shares.deductible,
                out_of_pocket: shares.out_of_pocket,
                limits,
            };
            let accumulator_events = AccumulatorDecider::decide(&accumulator.state, command)
                .map_err(|error: AccumulatorError| unprocessable(error.to_string()))?;
            appends.extend(accumulator.append(&accumulator_events, &metadata)?);
        }
        store.append(appends).await.map_err(AggregateError::from)?;
        info!(decision = ?decision, payer = %adjudication.payer_paid, member = %adjudication.member_responsibility, "claim adjudicated");
        Ok(Adjudicated::Decided(decision))
    }
}
