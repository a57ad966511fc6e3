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
//! A replacement claim (frequency code 7) cancels the claim it replaces in the same append
//! (`crate::corrections`): the original's `ClaimVoided`, the reversal of what it used, its
//! provider's recoupment if it was already paid, and the replacement's decision, made on
//! the benefit year as it was without the original. An appeal of a denial that used
//! benefits gives them back the same way before the claim is decided again.
//!
//! Any number of workers may pull from the same queue, in one process or many.

use crate::clock::Clock;
use crate::corrections::{self, CorrectionError, Year};
use crate::retry;
use crate::verdict::{Verdict, conclude};
use claims_adapters::aggregate::{self, AggregateError, streams};
use claims_adapters::bus::{Delivery, WorkQueue};
use claims_adapters::event_store::{EventStore, RecordedEvent, StreamAppend};
use claims_domain::Decider;
use claims_domain::accumulator::{
    Accumulated, AccumulatorCommand, AccumulatorDecider, AccumulatorError, FamilyAccumulatorDecider,
};
use claims_domain::adjudication::{
    Adjudication, AdjudicationContext, Decision, benefits_used_by, services_allowed,
};
use claims_domain::authorizations::AuthorizationsDecider;
use claims_domain::claim::{
    Appeal, Claim, ClaimCommand, ClaimDecider, ClaimError, ClaimEvent, CorrectionKind, Review,
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

/// A replacement whose original cannot be cancelled: the store's failures are retried, the
/// rest (the original was already replaced by another claim) can never succeed.
fn correction_failed(claim: ClaimId, error: CorrectionError) -> AdjudicatorError {
    match error {
        CorrectionError::Store(error) => AdjudicatorError::Store(error),
        refused => unprocessable(
            claim,
            format!("the claim it replaces cannot be cancelled: {refused}"),
        ),
    }
}

/// The benefit years a decision reads and adds to, loaded at the versions the decision
/// is appended at, with any reversal already decided into them.
struct Inputs {
    member: MemberId,
    plan: BenefitPlan,
    /// The member's year.
    year: Year<AccumulatorDecider>,
    /// The plan's limits on the member's year.
    limits: Accumulated,
    /// The family's year, when the member has a family.
    family: Option<Year<FamilyAccumulatorDecider>>,
    /// The family's limits, when the plan has family limits.
    family_limits: Option<Accumulated>,
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
        // The family's year is read (and appended at the version read) whenever the member
        // has a family: a correction may give back what an earlier claim added to it.
        let (member, provider, (year, family), authorizations) = futures::try_join!(
            aggregate::load::<MemberDecider>(store, streams::member(&claim.member)),
            aggregate::load::<ProviderDecider>(store, streams::provider(&claim.provider)),
            corrections::benefit_years(store, &claim.member, year_of_claim),
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
        let rule_set = plan_state.rule_set;
        let (plan, plan_revision) = plan_state.current.ok_or_else(|| {
            unprocessable(claim.id, format!("plan {} is not published", member.plan))
        })?;
        let family_limits = rules.family_limits(plan.currency);
        let mut context = AdjudicationContext {
            decided_on: self.clock.today(),
            accumulated: Accumulated::zero(plan.currency),
            family: None,
            benefits_used: claims_domain::accumulator::BenefitsUsed::none(plan.currency),
            history: Vec::new(),
            authorizations,
            coding: claim.coding(),
            coordination: claim.coordination(&member),
            plan: plan.clone(),
            plan_revision,
            rule_set,
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
            family_limits,
        };
        inputs.refresh(&mut context);
        Ok((inputs, context))
    }
}

impl Inputs {
    /// Sets what the context says the member and family have used to the benefit years
    /// as they now stand (after any reversal decided into them).
    fn refresh(&self, context: &mut AdjudicationContext) {
        let currency = self.plan.currency;
        context.accumulated = self.year.state.accumulated(currency);
        context.benefits_used = self.year.state.benefits_used(currency);
        context.history = self.year.state.services.clone();
        // The family's totals only change a decision when the plan has family limits.
        context.family = self
            .family
            .as_ref()
            .filter(|_| self.family_limits.is_some())
            .map(|family| family.state.accumulated(currency));
    }

    /// Gives back what a claim used of the member's (and family's) year, for the claim to
    /// be decided again.
    fn reverse(&mut self, claim: ClaimId) -> Result<(), AdjudicatorError> {
        let member = self.member.clone();
        let refused = |error: AccumulatorError| unprocessable(claim, error);
        self.year.reverse(&member, claim).map_err(refused)?;
        if let Some(family) = &mut self.family {
            family.reverse(&member, claim).map_err(refused)?;
        }
        Ok(())
    }

    /// What a decision adds to the member's benefit year (cost sharing, and the visits,
    /// payment and services the plan provided) and to the family's (cost sharing), with any
    /// reversal decided before it, as appends at the versions read.
    fn benefit_year_appends(
        &mut self,
        claim: &Claim,
        adjudication: &Adjudication,
        metadata: &serde_json::Value,
    ) -> Result<Vec<StreamAppend>, AdjudicatorError> {
        let refused = |error: AccumulatorError| unprocessable(claim.id, error);
        let shares = adjudication.cost_sharing;
        let cost_sharing = |limits| AccumulatorCommand::ApplyCostSharing {
            member: self.member.clone(),
            claim: claim.id,
            deductible: shares.deductible,
            out_of_pocket: shares.out_of_pocket,
            limits,
        };
        let shared = shares.deductible.is_positive() || shares.out_of_pocket.is_positive();
        if shared {
            let command = cost_sharing(self.limits);
            self.year.decide(command).map_err(refused)?;
        }
        let benefits = benefits_used_by(claim, &self.plan, adjudication);
        let services = services_allowed(claim, adjudication);
        if !services.is_empty() || benefits.plan_paid.is_positive() {
            self.year
                .decide(AccumulatorCommand::RecordBenefits {
                    member: self.member.clone(),
                    claim: claim.id,
                    benefits,
                    services,
                })
                .map_err(refused)?;
        }
        if let (Some(family), Some(limits)) = (&mut self.family, self.family_limits)
            && shared
        {
            let command = AccumulatorCommand::ApplyCostSharing {
                member: self.member.clone(),
                claim: claim.id,
                deductible: shares.deductible,
                out_of_pocket: shares.out_of_pocket,
                limits,
            };
            family.decide(command).map_err(refused)?;
        }
        let mut appends: Vec<StreamAppend> = self.year.append(metadata)?.into_iter().collect();
        if let Some(family) = &self.family {
            appends.extend(family.append(metadata)?);
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

    /// A claim's current decision and what the plan pays, once decided.
    pub async fn decision_of(
        &self,
        claim: ClaimId,
    ) -> Result<Option<(Decision, claims_domain::Money)>, AggregateError> {
        Ok(
            aggregate::load::<ClaimDecider>(self.store.as_ref(), streams::claim(claim))
                .await?
                .state
                .adjudication
                .map(|adjudication| (adjudication.decision, adjudication.payer_paid)),
        )
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
        if matches!(redecide, Redecide::No)
            && (claim.state.adjudication.is_some() || claim.state.voiding.is_some())
        {
            return Ok(Adjudicated::AlreadyDecided);
        }
        let (mut inputs, mut context) = self.load_inputs(&submitted).await?;
        let metadata = serde_json::json!({ "claim": claim_id });
        let mut appends = Vec::with_capacity(5);
        let mut benefits_restored = false;
        match (&redecide, submitted.corrects) {
            (Redecide::Appeal(_), _) if claim.state.used_benefits() => {
                inputs.reverse(claim_id)?;
                benefits_restored = true;
            }
            (Redecide::No, Some(correction)) if correction.kind == CorrectionKind::Replacement => {
                let original =
                    aggregate::load::<ClaimDecider>(store, streams::claim(correction.claim))
                        .await?;
                let same_year = original.state.claim.as_ref().is_some_and(|original| {
                    original.member == submitted.member
                        && original.benefit_year() == submitted.benefit_year()
                });
                if !same_year {
                    return Err(unprocessable(
                        claim_id,
                        format!(
                            "claim {} it replaces is not of the same member and benefit year",
                            correction.claim
                        ),
                    ));
                }
                let (cancelled, _) = corrections::cancel(
                    store,
                    &original,
                    CorrectionKind::Replacement,
                    claim_id,
                    &mut inputs.year,
                    inputs.family.as_mut(),
                    &serde_json::json!({ "claim": correction.claim, "corrected_by": claim_id }),
                )
                .await
                .map_err(|error| correction_failed(claim_id, error))?;
                appends.extend(cancelled);
            }
            _ => {}
        }
        inputs.refresh(&mut context);
        let context = Box::new(context);
        let command = match redecide {
            Redecide::No => ClaimCommand::Adjudicate(context),
            Redecide::Review(review) => ClaimCommand::Review { review, context },
            Redecide::Appeal(appeal) => ClaimCommand::Appeal {
                appeal,
                context,
                benefits_restored,
            },
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
        appends.extend(claim.append(&claim_events, &metadata)?);
        appends.extend(inputs.benefit_year_appends(&submitted, adjudication, &metadata)?);
        store.append(appends).await.map_err(AggregateError::from)?;
        info!(decision = ?decision, payer = %adjudication.payer_paid, member = %adjudication.member_responsibility, "claim adjudicated");
        Ok(Adjudicated::Decided(decision))
    }
}
