//! Replaying a stored decision: the claim decided again from the inputs it was decided on,
//! to show that the log alone reproduces it.
//!
//! The plan and its rules come from the rule-set version the decision recorded (whatever
//! was published since), or, for a plan published on its own, from the plan's stream up
//! to the revision recorded. The member, the provider, the benefit years and the
//! authorisations are folded from the events stored before the decision; the date is the
//! decision's own. Nothing is stored.
//!
//! A decision that gave benefits back first (an appeal of a denial that used them, or a
//! replacement cancelling its original) stored that reversal in its own append, after the
//! decision in the log; the replay decides the same reversal into the benefit years it
//! read, as the adjudicator did before deciding, so that it sees the years the decision
//! saw.
//!
//! "Before the decision" is by log position. On SQLite that is commit order; on PostgreSQL
//! the position orders transactions by their id, so an event a concurrent writer committed
//! while the decision was being made may be counted on the wrong side of it.

use claims_adapters::aggregate::{self, AggregateError, StoredAggregate, streams};
use claims_adapters::event_store::{EventStore, LogPosition, RecordedEvent, StreamId};
use claims_domain::accumulator::{
    AccumulatorCommand, AccumulatorDecider, AccumulatorError, AccumulatorEvent, BenefitYearState,
    FamilyAccumulatorDecider,
};
use claims_domain::adjudication::{Adjudication, AdjudicationContext};
use claims_domain::authorizations::AuthorizationsDecider;
use claims_domain::claim::{ClaimCommand, ClaimDecider, ClaimEvent, CorrectionKind};
use claims_domain::member::MemberDecider;
use claims_domain::plan::terms::PlanTerms;
use claims_domain::plan::{PlanDecider, PlanEvent};
use claims_domain::provider::ProviderDecider;
use claims_domain::rule_set::RuleSetDecider;
use claims_domain::{ClaimId, Decider, MemberId};
use std::sync::Arc;

/// A stored decision and the same claim decided again from its recorded inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayedDecision {
    /// The decision as stored.
    pub original: Adjudication,
    /// The decision made again.
    pub replayed: Adjudication,
}

/// Why a decision could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The store failed or an event does not read.
    #[error(transparent)]
    Store(#[from] AggregateError),
    /// Something the decision took is no longer in the log as recorded.
    #[error("the decision of claim {claim} cannot be replayed: {reason}")]
    Missing {
        /// The claim.
        claim: ClaimId,
        /// What is missing.
        reason: String,
    },
}

/// Decides the claim's latest decision again from the inputs it recorded.
pub async fn replay_decision(
    store: &dyn EventStore,
    claim: ClaimId,
) -> Result<ReplayedDecision, ReplayError> {
    let missing = |reason: String| ReplayError::Missing { claim, reason };
    let recorded = read::<ClaimDecider>(store, streams::claim(claim)).await?;
    let Some(at) = recorded
        .iter()
        .rposition(|(_, event)| matches!(event, ClaimEvent::Adjudicated { .. }))
    else {
        return Err(missing("it has not been decided".to_owned()));
    };
    let (decided_at, ClaimEvent::Adjudicated { adjudication }) = &recorded[at] else {
        return Err(missing("it has not been decided".to_owned()));
    };
    let original = adjudication.clone();
    let position = decided_at.position;
    // A review or an appeal is stored just before the decision it led to.
    let (before, why) = match at.checked_sub(1).map(|index| &recorded[index].1) {
        Some(ClaimEvent::Reviewed { review }) => (at - 1, Some(Ok(review.clone()))),
        Some(ClaimEvent::Appealed { appeal }) => (at - 1, Some(Err(appeal.clone()))),
        _ => (at, None),
    };
    let state = ClaimDecider::fold(recorded[..before].iter().map(|(_, event)| event));
    let submitted = state
        .claim
        .clone()
        .ok_or_else(|| missing("its submission is not stored".to_owned()))?;

    let member = as_of::<MemberDecider>(store, streams::member(&submitted.member), position)
        .await?
        .member
        .ok_or_else(|| missing(format!("member {} was not enrolled", submitted.member)))?;
    let (plan, rules) = match &original.rule_set {
        Some(version) => {
            let published =
                as_of::<RuleSetDecider>(store, streams::rule_set(&version.rule_set), position)
                    .await?;
            let parameters = published
                .plan(version.version, &original.plan)
                .ok_or_else(|| missing(format!("{version} holds no plan {}", original.plan)))?;
            (parameters.plan.clone(), parameters.rules.clone())
        }
        None => {
            let revisions = read::<PlanDecider>(store, streams::plan(&original.plan)).await?;
            let events = revisions.iter().map(|(_, event)| event).filter(
                |PlanEvent::Published { revision, .. }| *revision <= original.plan_revision,
            );
            let state = PlanDecider::fold(events);
            match state.current {
                Some((plan, revision)) if revision == original.plan_revision => (plan, state.rules),
                _ => {
                    return Err(missing(format!(
                        "plan {} revision {} is not stored",
                        original.plan, original.plan_revision
                    )));
                }
            }
        }
    };
    let provider =
        as_of::<ProviderDecider>(store, streams::provider(&submitted.provider), position)
            .await?
            .provider;
    // The claim whose benefits the decision gave back first, in its own append: the
    // appealed claim itself, or the claim a replacement cancels.
    let reversed = match (&why, submitted.corrects) {
        (Some(Err(_)), _) => Some(claim),
        (None, Some(correction)) if correction.kind == CorrectionKind::Replacement => {
            Some(correction.claim)
        }
        _ => None,
    };
    let refused = |error: AccumulatorError| {
        missing(format!(
            "the benefit year refused the reversal it stored: {error}"
        ))
    };
    let year = as_of::<AccumulatorDecider>(
        store,
        streams::accumulator(&member.id, original.benefit_year),
        position,
    )
    .await?;
    let year = reversing::<AccumulatorDecider>(year, &member.id, reversed).map_err(refused)?;
    let family = match (&member.family, rules.family_limits(plan.currency)) {
        (Some(family), Some(_)) => {
            let family = as_of::<FamilyAccumulatorDecider>(
                store,
                streams::family_accumulator(family, original.benefit_year),
                position,
            )
            .await?;
            Some(
                reversing::<FamilyAccumulatorDecider>(family, &member.id, reversed)
                    .map_err(refused)?
                    .accumulated(plan.currency),
            )
        }
        _ => None,
    };
    let authorizations =
        as_of::<AuthorizationsDecider>(store, streams::authorizations(&member.id), position)
            .await?
            .authorizations;
    // One decision replayed: the revision's terms are gathered for it alone.
    let terms = Arc::new(PlanTerms::of(&plan, &rules));
    let context = Box::new(AdjudicationContext {
        decided_on: original.decided_on,
        terms,
        accumulated: year.accumulated(plan.currency),
        family,
        benefits_used: year.benefits_used(plan.currency),
        history: year.services.clone(),
        authorizations,
        coding: submitted.coding(),
        coordination: submitted.coordination(&member),
        plan,
        plan_revision: original.plan_revision,
        rule_set: original.rule_set.clone(),
        member,
        provider,
        rules,
    });
    let command = match why {
        None => ClaimCommand::Adjudicate(context),
        Some(Ok(review)) => ClaimCommand::Review { review, context },
        // The years no longer count the appealed denial: its reversal was decided into
        // them above, as the adjudicator decided it before the appeal's decision.
        Some(Err(appeal)) => ClaimCommand::Appeal {
            appeal,
            context,
            benefits_restored: true,
        },
    };
    let decided = ClaimDecider::decide(&state, command)
        .map_err(|error| missing(format!("the claim decider refused it: {error}")))?;
    let replayed = decided
        .into_iter()
        .find_map(|event| match event {
            ClaimEvent::Adjudicated { adjudication } => Some(adjudication),
            _ => None,
        })
        .ok_or_else(|| missing("deciding it again decided nothing".to_owned()))?;
    Ok(ReplayedDecision { original, replayed })
}

/// A benefit year with a claim's contribution given back (`Reverse` decides nothing for a
/// claim the year does not count, or no longer counts).
fn reversing<D>(
    year: BenefitYearState,
    member: &MemberId,
    claim: Option<ClaimId>,
) -> Result<BenefitYearState, AccumulatorError>
where
    D: Decider<
            State = BenefitYearState,
            Command = AccumulatorCommand,
            Event = AccumulatorEvent,
            Error = AccumulatorError,
        >,
{
    let Some(claim) = claim else {
        return Ok(year);
    };
    let events = D::decide(
        &year,
        AccumulatorCommand::Reverse {
            member: member.clone(),
            claim,
        },
    )?;
    Ok(events.iter().fold(year, D::evolve))
}

/// Every event of a stream, decoded, with its record.
async fn read<D: StoredAggregate>(
    store: &dyn EventStore,
    stream: StreamId,
) -> Result<Vec<(RecordedEvent, D::Event)>, AggregateError> {
    store
        .read_stream(&stream, 1)
        .await?
        .into_iter()
        .map(|recorded| {
            let event = aggregate::decode::<D>(&recorded)?;
            Ok((recorded, event))
        })
        .collect()
}

/// An aggregate's state from the events stored before `position`.
async fn as_of<D: StoredAggregate>(
    store: &dyn EventStore,
    stream: StreamId,
    position: LogPosition,
) -> Result<D::State, AggregateError> {
    let events = read::<D>(store, stream).await?;
    Ok(D::fold(
        events
            .iter()
            .filter(|(recorded, _)| recorded.position < position)
            .map(|(_, event)| event),
    ))
}
