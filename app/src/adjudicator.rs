//! The adjudication worker: decides submitted claims.
//!
//! For each `ClaimSubmitted` event it loads everything the rules take: the claim (with its
//! lines' modifiers, authorisation numbers and primary-payer payments), the member, the
//! member's plan and rules, the provider, the member's benefit year (cost sharing, visits,
//! plan payments, services allowed), the family's benefit year when the plan has family
//! limits, and the member's authorisations on file. It applies the rules (pure domain), and
//! appends the claim's decision, the member's year and the family's year in one atomic
//! append, each at the version it was decided on. If another worker moved any of them
//! first (two claims of the same member or family at once), the append fails as a whole and
//! the decision is made again on fresh state: a deductible is never applied twice, and a
//! duplicate never slips past the history it should be compared with.
//!
//! Any number of workers may pull from the same queue, in one process or many.

use crate::clock::Clock;
use crate::retry;
use crate::verdict::{Verdict, conclude};
use claims_adapters::aggregate::{self, AggregateError, Loaded, streams};
use claims_adapters::bus::{Delivery, WorkQueue};
use claims_adapters::event_store::{EventStore, RecordedEvent, StreamAppend};
use claims_domain::Decider;
use claims_domain::accumulator::{
    Accumulated, AccumulatorCommand, AccumulatorDecider, AccumulatorError, BenefitYearState,
    FamilyAccumulatorDecider,
};
use claims_domain::adjudication::{
    Adjudication, AdjudicationContext, Decision, benefits_used_by, services_allowed,
};
use claims_domain::authorizations::AuthorizationsDecider;
use claims_domain::claim::{
    Appeal, Claim, ClaimCommand, ClaimDecider, ClaimError, ClaimEvent, Review,
};
use claims_domain::member::MemberDecider;
use claims_domain::plan::BenefitPlan;
use claims_domain::plan::PlanDecider;
use claims_domain::provider::ProviderDecider;
use claims_domain::{ClaimId, MemberId};
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

/// Why a claim already decided is decided again.
enum Redecide {
    /// It is not: only a claim not yet decided is adjudicated.
    No,
    /// A reviewer decided the pended claim.
    Review(Review),
    /// The provider appealed the denied claim.
    Appeal(Appeal),
}

/// A claim that can never be decided as it stands.
fn unprocessable(claim: ClaimId, reason: impl ToString) -> AdjudicatorError {
    AdjudicatorError::Unprocessable {
        claim,
        reason: reason.to_string(),
    }
}

/// The benefit years a decision reads and adds to, loaded at the versions the decision
/// is appended at.
struct Inputs {
    member: MemberId,
    plan: BenefitPlan,
    /// The member's year.
    year: Loaded<AccumulatorDecider>,
    /// The plan's limits on the member's year.
    limits: Accumulated,
    /// The family's year and its limits, when the plan has family limits.
    family: Option<(Loaded<FamilyAccumulatorDecider>, Accumulated)>,
}

impl Adjudicator {
    /// Everything the rules take for a claim: the member, plan and rules, provider, the
    /// member's (and family's) benefit year, authorisations on file, the lines' coding and
    /// the coordination of benefits.
    async fn load_inputs(
        &self,
        claim: &Claim,
    ) -> Result<(Inputs, AdjudicationContext), AdjudicatorError> {
        let store = self.store.as_ref();
        // The streams named by the claim alone are read at once: one wait, not four.
        let year_of_claim = claim.benefit_year();
        let (member, provider, year, authorizations) = futures::try_join!(
            aggregate::load::<MemberDecider>(store, streams::member(&claim.member)),
            aggregate::load::<ProviderDecider>(store, streams::provider(&claim.provider)),
            aggregate::load::<AccumulatorDecider>(
                store,
                streams::accumulator(&claim.member, year_of_claim),
            ),
            aggregate::load::<AuthorizationsDecider>(store, streams::authorizations(&claim.member)),
        )?;
        let provider = provider.state.provider;
        let authorizations = authorizations.state.authorizations;
        let member = member.state.member.ok_or_else(|| {
            unprocessable(
                claim.id,
                format!("member {} is no longer enrolled", claim.member),
            )
        })?;
        let plan_state = aggregate::load::<PlanDecider>(store, streams::plan(&member.plan))
            .await?
            .state;
        let rules = plan_state.rules;
        let (plan, plan_revision) = plan_state.current.ok_or_else(|| {
            unprocessable(claim.id, format!("plan {} is not published", member.plan))
        })?;
        // The family's year is read (and later appended at the version read) only when the
        // plan has a family limit: otherwise nothing the family paid changes a decision.
        let family = match (&member.family, rules.family_limits(plan.currency)) {
            (Some(family), Some(limits)) => Some((
                aggregate::load::<FamilyAccumulatorDecider>(
                    store,
                    streams::family_accumulator(family, year_of_claim),
                )
                .await?,
                limits,
            )),
            _ => None,
        };
        let context = AdjudicationContext {
            decided_on: self.clock.today(),
            accumulated: year.state.accumulated(plan.currency),
            family: family
                .as_ref()
                .map(|(family, _)| family.state.accumulated(plan.currency)),
            benefits_used: year.state.benefits_used(plan.currency),
            history: year.state.services.clone(),
            authorizations,
            coding: claim.coding(),
            coordination: claim.coordination(&member),
            plan: plan.clone(),
            plan_revision,
            member: member.clone(),
            provider,
            rules: rules.clone(),
        };
        let inputs = Inputs {
            member: member.id,
            limits: rules.accumulator_limits(&plan),
            plan,
            year,
            family,
        };
        Ok((inputs, context))
    }
}

impl Inputs {
    /// What a decision adds to the member's benefit year (cost sharing, and the visits,
    /// payment and services the plan provided) and to the family's (cost sharing), as
    /// appends at the versions read.
    fn benefit_year_appends(
        &self,
        claim: &Claim,
        adjudication: &Adjudication,
        metadata: &serde_json::Value,
    ) -> Result<Vec<StreamAppend>, AdjudicatorError> {
        let decide = |state: &BenefitYearState, command: AccumulatorCommand| {
            AccumulatorDecider::decide(state, command)
                .map_err(|error: AccumulatorError| unprocessable(claim.id, error))
        };
        let shares = adjudication.cost_sharing;
        let cost_sharing = |limits| AccumulatorCommand::ApplyCostSharing {
            member: self.member.clone(),
            claim: claim.id,
            deductible: shares.deductible,
            out_of_pocket: shares.out_of_pocket,
            limits,
        };
        let shared = shares.deductible.is_positive() || shares.out_of_pocket.is_positive();
        let mut year_events = Vec::new();
        if shared {
            year_events.extend(decide(&self.year.state, cost_sharing(self.limits))?);
        }
        let benefits = benefits_used_by(claim, &self.plan, adjudication);
        let services = services_allowed(claim, adjudication);
        if !services.is_empty() || benefits.plan_paid.is_positive() {
            year_events.extend(decide(
                &self.year.state,
                AccumulatorCommand::RecordBenefits {
                    member: self.member.clone(),
                    claim: claim.id,
                    benefits,
                    services,
                },
            )?);
        }
        let mut appends: Vec<StreamAppend> = self
            .year
            .append(&year_events, metadata)?
            .into_iter()
            .collect();
        if let Some((family, limits)) = &self.family
            && shared
        {
            let family_events = decide(&family.state, cost_sharing(*limits))?;
            appends.extend(family.append(&family_events, metadata)?);
        }
        Ok(appends)
    }
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
        retry::on_conflict(
            || self.try_decide(claim, Redecide::No),
            AdjudicatorError::is_conflict,
        )
        .await
    }

    /// Records a reviewer's decision on a pended claim and decides it again with the same
    /// inputs as an adjudication (an approval applies the plan's rules, without the review
    /// threshold), retrying on fresh state like [`Adjudicator::adjudicate`].
    pub async fn review(
        &self,
        claim: ClaimId,
        review: Review,
    ) -> Result<Adjudicated, AdjudicatorError> {
        let span = tracing::info_span!("review", %claim, reviewer = %review.reviewer);
        retry::on_conflict(
            || self.try_decide(claim, Redecide::Review(review.clone())),
            AdjudicatorError::is_conflict,
        )
        .instrument(span)
        .await
    }

    /// Records a provider's appeal of a denied claim and decides the claim again on today's
    /// inputs (an authorisation on file since, for instance), retrying on fresh state.
    pub async fn appeal(
        &self,
        claim: ClaimId,
        appeal: Appeal,
    ) -> Result<Adjudicated, AdjudicatorError> {
        let span = tracing::info_span!("appeal", %claim, by = %appeal.by);
        retry::on_conflict(
            || self.try_decide(claim, Redecide::Appeal(appeal.clone())),
            AdjudicatorError::is_conflict,
        )
        .instrument(span)
        .await
    }

    /// Decides a claim: adjudicates it, or decides it again on a review or an appeal.
    async fn try_decide(
        &self,
        claim_id: ClaimId,
        redecide: Redecide,
    ) -> Result<Adjudicated, AdjudicatorError> {
        let store = self.store.as_ref();
        let claim = aggregate::load::<ClaimDecider>(store, streams::claim(claim_id)).await?;
        let Some(submitted) = claim.state.claim.clone() else {
            return Err(unprocessable(claim_id, "no such claim has been submitted"));
        };
        if matches!(redecide, Redecide::No) && claim.state.adjudication.is_some() {
            return Ok(Adjudicated::AlreadyDecided);
        }
        let (inputs, context) = self.load_inputs(&submitted).await?;
        let context = Box::new(context);
        let command = match redecide {
            Redecide::No => ClaimCommand::Adjudicate(context),
            Redecide::Review(review) => ClaimCommand::Review { review, context },
            Redecide::Appeal(appeal) => ClaimCommand::Appeal { appeal, context },
        };
        let claim_events = ClaimDecider::decide(&claim.state, command)
            .map_err(|error: ClaimError| unprocessable(claim_id, error))?;
        let Some(adjudication) = claim_events.iter().find_map(|event| match event {
            ClaimEvent::Adjudicated { adjudication } => Some(adjudication),
            _ => None,
        }) else {
            return Ok(Adjudicated::AlreadyDecided);
        };
        let decision = adjudication.decision.clone();
        let metadata = serde_json::json!({ "claim": claim_id });
        let mut appends = Vec::with_capacity(3);
        appends.extend(claim.append(&claim_events, &metadata)?);
        appends.extend(inputs.benefit_year_appends(&submitted, adjudication, &metadata)?);
        store.append(appends).await.map_err(AggregateError::from)?;
        info!(decision = ?decision, payer = %adjudication.payer_paid, member = %adjudication.member_responsibility, "claim adjudicated");
        Ok(Adjudicated::Decided(decision))
    }
}
