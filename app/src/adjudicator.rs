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
//! The decision's claim events record, in their metadata, the version of every stream the
//! context was folded from (`crate::decision_inputs`), so that a replay decides on exactly
//! what the decision read, whatever committed around it.
//!
//! A replacement claim (frequency code 7) cancels the claim it replaces in the same append
//! (`crate::corrections`): the original's `ClaimVoided`, the reversal of what it used, its
//! provider's recoupment if it was already paid, and the replacement's decision, made on
//! the benefit year as it was without the original. An appeal of a denial that used
//! benefits gives them back the same way before the claim is decided again.
//!
//! Any number of workers may pull from the same queue, in one process or many.
//!
//! # Batches
//!
//! A worker takes its queue a batch at a time ([`WorkQueue::next_batch`], up to
//! [`DEFAULT_BATCH`]) and decides the batch's claims together ([`Adjudicator::adjudicate_all`]):
//! their claim streams, and for a run of plain claims their members, providers, benefit
//! years and authorisations, and their plans and family years, read together (in one read
//! when the events carry the enrolment intake checked, [`crate::foresight`]; in up to
//! three when not); each claim decided in memory, in queue order; and every decision with its
//! benefit-year events stored in **one** append, each stream at the version read. A claim
//! whose member's or family's benefit year an earlier claim of the run already read ends
//! the run: the run is stored first, and a new run reads that year afresh, so two claims of
//! one batch never decide on the same version of a year and a deductible is applied once.
//! If the append fails (another worker moved a stream, or the store refused it), each
//! claim of the run is decided on its own by the claim-by-claim path, which retries on
//! fresh state. Replacements, and a claim given twice in one batch, take that path at
//! their place in the batch; reviews and appeals always do. A claim that cannot be decided
//! fails alone: it is reported (and dead-lettered) without holding the others back.

use crate::clock::Clock;
use crate::corrections::{self, CorrectionError, Year};
use crate::decision_inputs::DecisionInputs;
use crate::foresight::Enrolment;
use crate::retry;
use crate::store_gate::{Concluded, StoreGate};
use crate::verdict::Verdict;
use claims_adapters::aggregate::{self, AggregateError, Loaded, StreamsRead, streams};
use claims_adapters::bus::{Delivery, WorkQueue};
use claims_adapters::event_store::{EventStore, RecordedEvent, StreamAppend, StreamId};
use claims_adapters::fold_cache::FoldCache;
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
use claims_domain::plan::terms::PlanTerms;
use claims_domain::plan::{BenefitPlan, PlanDecider, PlanRules};
use claims_domain::provider::ProviderDecider;
use claims_domain::{ClaimId, MemberId, PlanId};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tracing::{Instrument, Span, info, warn};

/// `ClaimSubmitted` events a worker takes from its queue at once, unless configured
/// otherwise.
pub const DEFAULT_BATCH: usize = 32;

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
    /// Every stream the context was folded from, at the version read (the claim's own
    /// stream is added when the decision is made).
    read: DecisionInputs,
}

/// How a claim of a batch is decided.
enum Plan {
    /// Settled from its claim stream alone (already decided, never submitted, unreadable).
    Settled(Result<Adjudicated, AdjudicatorError>),
    /// Decided with the batch.
    Batched(Box<Loaded<ClaimDecider>>, Box<Claim>),
    /// Decided on its own, at its place in the batch (a replacement, a repeat).
    Alone,
    /// Its outcome is known.
    Done,
}

impl Adjudicator {
    /// Everything the rules take for each claim: the member, plan and rules, provider, the
    /// member's (and family's) benefit year, authorisations on file, the lines' coding and
    /// the coordination of benefits. At most two reads for any number of claims: what the
    /// claims name, then the members' plans and family years; none of what `stored` already
    /// holds is read again (see [`crate::foresight`]). A claim whose member is gone or whose
    /// plan is not published gets its own error; a failed read fails them all.
    async fn read_inputs(
        &self,
        claims: &[&Claim],
        stored: Option<StreamsRead>,
    ) -> Result<Vec<Result<(Inputs, AdjudicationContext), AdjudicatorError>>, AggregateError> {
        let store = self.store.as_ref();
        let mut stored = stored.unwrap_or_else(|| StreamsRead::through(self.folds.clone()));
        stored
            .read_more(
                store,
                claims
                    .iter()
                    .flat_map(|claim| Enrolment::decision_streams(claim, None)),
            )
            .await?;
        let mut members = Vec::with_capacity(claims.len());
        for claim in claims {
            members.push(stored.load::<MemberDecider>(&streams::member(&claim.member))?);
        }
        // The family's year is read (and appended at the version read) whenever the member
        // has a family: a correction may give back what an earlier claim added to it.
        let family_year = |claim: &Claim, member: &claims_domain::member::Member| {
            member
                .family
                .as_ref()
                .map(|family| streams::family_accumulator(family, claim.benefit_year()))
        };
        stored
            .read_more(
                store,
                claims
                    .iter()
                    .zip(&members)
                    .filter_map(|(claim, member)| {
                        member.state.member.as_ref().map(|member| (claim, member))
                    })
                    .flat_map(|(claim, member)| {
                        std::iter::once(streams::plan(&member.plan))
                            .chain(family_year(claim, member))
                    }),
            )
            .await?;
        let mut inputs = Vec::with_capacity(claims.len());
        for (claim, loaded_member) in claims.iter().zip(members) {
            let mut read = DecisionInputs::default();
            read.read(&loaded_member);
            let Some(member) = loaded_member.state.member else {
                inputs.push(Err(unprocessable(
                    claim.id,
                    format!("member {} is no longer enrolled", claim.member),
                )));
                continue;
            };
            let loaded_plan = stored.load::<PlanDecider>(&streams::plan(&member.plan))?;
            read.read(&loaded_plan);
            let plan_state = loaded_plan.state;
            let Some((plan, plan_revision)) = plan_state.current else {
                inputs.push(Err(unprocessable(
                    claim.id,
                    format!("plan {} is not published", member.plan),
                )));
                continue;
            };
            let year = stored.load::<AccumulatorDecider>(&streams::accumulator(
                &claim.member,
                claim.benefit_year(),
            ))?;
            read.read(&year);
            let year = Year::new(year);
            let family = match family_year(claim, &member) {
                Some(stream) => {
                    let family = stored.load::<FamilyAccumulatorDecider>(&stream)?;
                    read.read(&family);
                    Some(Year::new(family))
                }
                None => None,
            };
            let authorizations =
                stored.load::<AuthorizationsDecider>(&streams::authorizations(&claim.member))?;
            read.read(&authorizations);
            let provider = stored.load::<ProviderDecider>(&streams::provider(&claim.provider))?;
            read.read(&provider);
            let rules = plan_state.rules;
            let family_limits = rules.family_limits(plan.currency);
            let mut context = AdjudicationContext {
                decided_on: self.clock.today(),
                accumulated: Accumulated::zero(plan.currency),
                family: None,
                benefits_used: claims_domain::accumulator::BenefitsUsed::none(plan.currency),
                history: Default::default(),
                authorizations: authorizations.state.authorizations,
                coding: claim.coding(),
                coordination: claim.coordination(&member),
                terms: self.terms_of(&plan, plan_revision, &rules),
                plan: plan.clone(),
                plan_revision,
                rule_set: plan_state.rule_set,
                provider: provider.state.provider,
                member: member.clone(),
                rules: rules.clone(),
            };
            let claim_inputs = Inputs {
                member: member.id,
                limits: rules.accumulator_limits(&plan),
                plan,
                year,
                family,
                family_limits,
                read,
            };
            claim_inputs.refresh(&mut context);
            inputs.push(Ok((claim_inputs, context)));
        }
        Ok(inputs)
    }

    /// [`Adjudicator::read_inputs`] for one claim.
    async fn load_inputs(
        &self,
        claim: &Claim,
    ) -> Result<(Inputs, AdjudicationContext), AdjudicatorError> {
        self.read_inputs(&[claim], None)
            .await?
            .pop()
            .unwrap_or_else(|| Err(unprocessable(claim.id, "its inputs could not be read")))
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
    batch: usize,
    /// Each plan revision's terms by procedure, gathered for the first claim decided under
    /// it and shared by every later one (and by the worker's clones). A published revision
    /// never changes (a change is a new revision), so its terms never go stale.
    plan_terms: Arc<Mutex<TermsByRevision>>,
    /// Holds claims to be retried while the store takes no writes.
    gate: StoreGate,
    /// The plans, providers, members and benefit years folded before, if the process
    /// keeps them, so a batch reads only what was appended to them since.
    folds: Option<FoldCache>,
}

/// Plan revisions' terms, by plan and revision.
type TermsByRevision = HashMap<(PlanId, u32), Arc<PlanTerms>>;

impl Adjudicator {
    /// A worker over a store, deciding with the given clock's date, taking
    /// [`DEFAULT_BATCH`] claims at a time.
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            gate: StoreGate::new(store.clone()),
            store,
            clock,
            batch: DEFAULT_BATCH,
            plan_terms: Arc::default(),
            folds: None,
        }
    }

    /// Reads the aggregates a decision rests on through `cache` ([`FoldCache`]): the
    /// process's, shared with its intake.
    pub fn with_fold_cache(mut self, cache: Option<FoldCache>) -> Self {
        self.folds = cache;
        self
    }

    /// Holds the claims to be retried while the store takes no writes through `gate`
    /// (see [`StoreGate`]): the process's, which ends a hold at shutdown and counts what
    /// it holds, rather than one of its own.
    pub fn with_gate(mut self, gate: StoreGate) -> Self {
        self.gate = gate;
        self
    }

    /// What holds this worker's failed work while the store takes no writes; reviewers'
    /// commands, decided by the same worker, wait on it too.
    pub(crate) fn gate(&self) -> &StoreGate {
        &self.gate
    }

    /// A plan revision's terms, gathered once per revision.
    fn terms_of(&self, plan: &BenefitPlan, revision: u32, rules: &PlanRules) -> Arc<PlanTerms> {
        // Nothing is left half-done under the lock: a poisoned map is still whole.
        let mut known = self
            .plan_terms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            known
                .entry((plan.id.clone(), revision))
                .or_insert_with(|| Arc::new(PlanTerms::of(plan, rules))),
        )
    }

    /// Takes up to `batch` claims from the queue at a time (at least one).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Decides claims from the queue until it closes.
    pub async fn run(self, mut queue: Box<dyn WorkQueue>) {
        loop {
            let batch = queue.next_batch(self.batch).await;
            if batch.is_empty() {
                return;
            }
            self.handle_batch(batch).await;
        }
    }

    /// Processes one `ClaimSubmitted` delivery: acked once the decision is stored,
    /// handed back on a store failure, dead-lettered if it can never be decided.
    pub async fn handle(&self, delivery: Delivery) {
        self.handle_batch(vec![delivery]).await;
    }

    /// Processes a batch of `ClaimSubmitted` deliveries (see the module docs); each is
    /// acked once its decision is stored, handed back on a store failure, or
    /// dead-lettered if it can never be decided.
    pub async fn handle_batch(&self, deliveries: Vec<Delivery>) {
        let events: Vec<Option<RecordedEvent>> = deliveries
            .iter()
            .map(|delivery| serde_json::from_slice(&delivery.message.payload).ok())
            .collect();
        let claims: Vec<Option<ClaimId>> = events
            .iter()
            .map(|event| {
                event
                    .as_ref()
                    .and_then(|event| streams::claim_of(&event.stream))
            })
            .collect();
        // The claims as their events carry them, with the enrolment intake checked them
        // against, tell what their decisions will read, so that is read with their streams;
        // the decisions themselves go by the streams as read.
        let foreseen = events
            .iter()
            .flatten()
            .filter_map(|event| match aggregate::decode::<ClaimDecider>(event) {
                Ok(ClaimEvent::Submitted { claim }) => Some(Enrolment::decision_streams(
                    &claim,
                    Enrolment::recorded_with(event).as_ref(),
                )),
                _ => None,
            })
            .flatten()
            .collect();
        let mut outcomes = self
            .decide_batch(
                &claims.iter().flatten().copied().collect::<Vec<_>>(),
                foreseen,
            )
            .await
            .into_iter();
        let mut verdicts: Vec<(Verdict, Span)> = Vec::with_capacity(deliveries.len());
        for (delivery, claim) in deliveries.iter().zip(&claims) {
            let Some(claim) = *claim else {
                let reason = "not a stored claim event: the adjudication queue only takes ClaimSubmitted events";
                verdicts.push((Verdict::Unprocessable(reason.to_owned()), Span::none()));
                continue;
            };
            let span = tracing::info_span!("adjudicate", %claim, attempt = delivery.attempt);
            let outcome = outcomes.next().unwrap_or_else(|| {
                Err(AdjudicatorError::Store(AggregateError::NotRead(
                    streams::claim(claim),
                )))
            });
            let verdict = verdict_on(delivery, outcome, &span);
            verdicts.push((verdict, span));
        }
        self.retry_last_attempts_after_outage(&deliveries, &claims, &mut verdicts)
            .await;
        let concluded: Vec<Concluded> = deliveries
            .into_iter()
            .zip(verdicts)
            .map(|(delivery, (verdict, span))| Concluded::in_span(delivery, verdict, span))
            .collect();
        self.gate.conclude_all("adjudication", concluded).await;
    }

    /// Decides once more, claim by claim, the last attempts that failed while the store took
    /// no writes, once it takes them again ([`StoreGate::last_attempts_to_retry`]):
    /// otherwise the bus would dead-letter them although the store is back. A failure
    /// then stands.
    async fn retry_last_attempts_after_outage(
        &self,
        deliveries: &[Delivery],
        claims: &[Option<ClaimId>],
        verdicts: &mut [(Verdict, Span)],
    ) {
        let again = self
            .gate
            .last_attempts_to_retry("adjudication", deliveries, |index| {
                matches!(verdicts[index].0, Verdict::Retry { .. })
            })
            .await;
        for index in again {
            let Some(claim) = claims[index] else { continue };
            let (verdict, span) = &mut verdicts[index];
            let outcome = self.adjudicate(claim).instrument(span.clone()).await;
            *verdict = verdict_on(&deliveries[index], outcome, span);
        }
    }

    /// Decides several claims, in order, as one worker deciding them one after another
    /// would, with a few reads and one append per run of plain claims (see the module
    /// docs). One result per claim, in the order given.
    pub async fn adjudicate_all(
        &self,
        claims: &[ClaimId],
    ) -> Vec<Result<Adjudicated, AdjudicatorError>> {
        self.decide_batch(claims, Vec::new()).await
    }

    /// [`Adjudicator::adjudicate_all`], reading the `foreseen` streams with the claims'
    /// own, for the first run of the batch to decide on.
    async fn decide_batch(
        &self,
        claims: &[ClaimId],
        foreseen: Vec<StreamId>,
    ) -> Vec<Result<Adjudicated, AdjudicatorError>> {
        let read = match StreamsRead::read_through(
            self.folds.clone(),
            self.store.as_ref(),
            claims
                .iter()
                .map(|claim| streams::claim(*claim))
                .chain(foreseen),
        )
        .await
        {
            Ok(read) => read,
            Err(error) => {
                warn!(%error, claims = claims.len(), "reading a batch of claims failed; deciding them one by one");
                let mut outcomes = Vec::with_capacity(claims.len());
                for claim in claims {
                    outcomes.push(self.adjudicate_one(*claim).await);
                }
                return outcomes;
            }
        };
        let mut seen = HashSet::new();
        let mut plans: Vec<Plan> = claims
            .iter()
            .map(|claim| {
                if !seen.insert(*claim) {
                    return Plan::Alone;
                }
                let loaded = match read.load::<ClaimDecider>(&streams::claim(*claim)) {
                    Ok(loaded) => loaded,
                    Err(error) => return Plan::Settled(Err(error.into())),
                };
                match loaded.state.claim.clone() {
                    None => Plan::Settled(Err(unprocessable(
                        *claim,
                        "no such claim has been submitted",
                    ))),
                    Some(_)
                        if loaded.state.adjudication.is_some()
                            || loaded.state.voiding.is_some() =>
                    {
                        Plan::Settled(Ok(Adjudicated::AlreadyDecided))
                    }
                    Some(submitted) if submitted.corrects.is_some() => Plan::Alone,
                    Some(submitted) => Plan::Batched(Box::new(loaded), Box::new(submitted)),
                }
            })
            .collect();

        // What was read with the claims serves the batch's first run only: by the next one,
        // a claim decided alone or the run before may have moved what it holds.
        let mut read = Some(read);
        let mut outcomes: Vec<Option<Result<Adjudicated, AdjudicatorError>>> =
            claims.iter().map(|_| None).collect();
        let mut next = 0;
        while next < claims.len() {
            match std::mem::replace(&mut plans[next], Plan::Done) {
                Plan::Done => next += 1,
                Plan::Settled(outcome) => {
                    outcomes[next] = Some(outcome);
                    next += 1;
                }
                Plan::Alone => {
                    read = None;
                    outcomes[next] = Some(self.adjudicate_one(claims[next]).await);
                    next += 1;
                }
                Plan::Batched(claim, submitted) => {
                    // The run: this claim and the batched ones after it, up to the next
                    // claim that goes alone.
                    let mut run = vec![(next, *claim, *submitted)];
                    let mut end = next + 1;
                    while end < claims.len() && !matches!(plans[end], Plan::Alone) {
                        match std::mem::replace(&mut plans[end], Plan::Done) {
                            Plan::Settled(outcome) => outcomes[end] = Some(outcome),
                            Plan::Batched(claim, submitted) => run.push((end, *claim, *submitted)),
                            Plan::Alone | Plan::Done => {}
                        }
                        end += 1;
                    }
                    let (decided, left) = self.decide_run(run, read.take()).await;
                    for (index, outcome) in decided {
                        outcomes[index] = Some(outcome);
                    }
                    // What the run left (from a claim sharing a benefit year with an
                    // earlier one) is batched again, on a fresh read.
                    next = left.first().map_or(end, |(index, _, _)| *index);
                    for (index, claim, submitted) in left {
                        plans[index] = Plan::Batched(Box::new(claim), Box::new(submitted));
                    }
                }
            }
        }
        outcomes
            .into_iter()
            .zip(claims)
            .map(|(outcome, claim)| {
                outcome.unwrap_or_else(|| {
                    Err(AdjudicatorError::Store(AggregateError::NotRead(
                        streams::claim(*claim),
                    )))
                })
            })
            .collect()
    }

    /// Decides a run of plain claims, in order, on one read of their inputs (beyond what
    /// `read` holds already), and stores every decision in one append. Stops before a claim whose member's or family's
    /// benefit year an earlier claim of the run read, and hands it and the claims after it
    /// back, to be decided on a fresh read once this run is stored.
    #[allow(clippy::type_complexity, reason = "index, outcome; and what was left")]
    async fn decide_run(
        &self,
        run: Vec<(usize, Loaded<ClaimDecider>, Claim)>,
        read: Option<StreamsRead>,
    ) -> (
        Vec<(usize, Result<Adjudicated, AdjudicatorError>)>,
        Vec<(usize, Loaded<ClaimDecider>, Claim)>,
    ) {
        let mut outcomes = Vec::with_capacity(run.len());
        let submitted: Vec<&Claim> = run.iter().map(|(_, _, claim)| claim).collect();
        let inputs = match self.read_inputs(&submitted, read).await {
            Ok(inputs) => inputs,
            Err(error) => {
                warn!(%error, claims = run.len(), "reading a batch's inputs failed; deciding them one by one");
                for (index, _, submitted) in &run {
                    outcomes.push((*index, self.adjudicate_one(submitted.id).await));
                }
                return (outcomes, Vec::new());
            }
        };
        let mut read_years: HashSet<StreamId> = HashSet::new();
        let mut appends = Vec::new();
        let mut decided = Vec::new();
        let mut left = Vec::new();
        let mut run = run.into_iter().zip(inputs);
        for ((index, claim, submitted), inputs) in run.by_ref() {
            let (mut inputs, context) = match inputs {
                Ok(inputs) => inputs,
                Err(error) => {
                    outcomes.push((index, Err(error)));
                    continue;
                }
            };
            let years: Vec<StreamId> = std::iter::once(inputs.year.loaded.stream.clone())
                .chain(
                    inputs
                        .family
                        .as_ref()
                        .map(|family| family.loaded.stream.clone()),
                )
                .collect();
            if years.iter().any(|year| read_years.contains(year)) {
                left.push((index, claim, submitted));
                break;
            }
            read_years.extend(years);
            let span = tracing::info_span!("adjudicate", claim = %submitted.id);
            match decide(
                &claim,
                &submitted,
                &mut inputs,
                context,
                Redecide::No,
                false,
            ) {
                Ok(Some((claim_appends, adjudication))) => {
                    appends.extend(claim_appends);
                    decided.push((index, submitted.id, adjudication, span));
                }
                Ok(None) => outcomes.push((index, Ok(Adjudicated::AlreadyDecided))),
                Err(error) => outcomes.push((index, Err(error))),
            }
        }
        left.extend(run.map(|(claim, _)| claim));
        if decided.is_empty() {
            return (outcomes, left);
        }
        match self.store.append(appends).await {
            Ok(_) => {
                for (index, _, adjudication, span) in decided {
                    span.in_scope(|| log_decided(&adjudication));
                    outcomes.push((index, Ok(Adjudicated::Decided(adjudication.decision))));
                }
            }
            Err(error) => {
                warn!(%error, claims = decided.len(), "storing a batch of decisions failed; deciding them one by one");
                for (index, claim, _, span) in decided {
                    outcomes.push((index, self.adjudicate_one(claim).instrument(span).await));
                }
            }
        }
        (outcomes, left)
    }

    /// [`Adjudicator::adjudicate`] within the claim's span.
    async fn adjudicate_one(&self, claim: ClaimId) -> Result<Adjudicated, AdjudicatorError> {
        let span = tracing::info_span!("adjudicate", %claim);
        self.adjudicate(claim).instrument(span).await
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
        let (mut inputs, context) = self.load_inputs(&submitted).await?;
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
        let Some((decided, adjudication)) = decide(
            &claim,
            &submitted,
            &mut inputs,
            context,
            redecide,
            benefits_restored,
        )?
        else {
            return Ok(Adjudicated::AlreadyDecided);
        };
        appends.extend(decided);
        store.append(appends).await.map_err(AggregateError::from)?;
        log_decided(&adjudication);
        Ok(Adjudicated::Decided(adjudication.decision))
    }
}

/// Decides a claim on its inputs (with any reversal already decided into them): the
/// claim's events and what they add to the benefit years, as appends at the versions
/// read, with the adjudication. `None` when nothing new is decided.
fn decide(
    claim: &Loaded<ClaimDecider>,
    submitted: &Claim,
    inputs: &mut Inputs,
    mut context: AdjudicationContext,
    redecide: Redecide,
    benefits_restored: bool,
) -> Result<Option<(Vec<StreamAppend>, Adjudication)>, AdjudicatorError> {
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
        .map_err(|error: ClaimError| unprocessable(submitted.id, error))?;
    let Some(adjudication) = claim_events.iter().find_map(|event| match event {
        ClaimEvent::Adjudicated { adjudication } => Some(adjudication),
        _ => None,
    }) else {
        return Ok(None);
    };
    let metadata = serde_json::json!({ "claim": submitted.id });
    // The claim's events record what the decision read, so that a replay folds exactly
    // that (`crate::decision_replay`); the benefit years' events need not repeat it.
    let mut read = inputs.read.clone();
    read.read(claim);
    let mut appends: Vec<StreamAppend> = claim
        .append(&claim_events, &read.stamp(metadata.clone()))?
        .into_iter()
        .collect();
    appends.extend(inputs.benefit_year_appends(submitted, adjudication, &metadata)?);
    Ok(Some((appends, adjudication.clone())))
}

/// Logs a decision once it is stored.
fn log_decided(adjudication: &Adjudication) {
    info!(decision = ?adjudication.decision, payer = %adjudication.payer_paid, member = %adjudication.member_responsibility, "claim adjudicated");
}

/// What becomes of a `ClaimSubmitted` delivery, given its claim's adjudication.
fn verdict_on(
    delivery: &Delivery,
    outcome: Result<Adjudicated, AdjudicatorError>,
    span: &Span,
) -> Verdict {
    match outcome {
        Ok(_) => Verdict::Done,
        Err(error @ AdjudicatorError::Unprocessable { .. }) => {
            Verdict::Unprocessable(error.to_string())
        }
        Err(error) => {
            span.in_scope(|| warn!(%error, "adjudication failed; it will be retried"));
            Verdict::retry(delivery, Duration::from_millis(100), error)
        }
    }
}
