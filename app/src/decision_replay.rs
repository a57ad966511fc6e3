//! Replaying a stored decision: the claim decided again from the inputs it was decided on,
//! to show that the log alone reproduces it.
//!
//! The plan and its rules come from the rule-set version the decision recorded (whatever
//! was published since), or, for a plan published on its own, from the plan's stream up
//! to the revision recorded. The member, the provider, the benefit years and the
//! authorisations are folded from the events stored before the decision; the date is the
//! decision's own. Nothing is stored.
//!
//! "Before the decision" is by log position. On SQLite that is commit order; on PostgreSQL
//! the position orders transactions by their id, so an event a concurrent writer committed
//! while the decision was being made may be counted on the wrong side of it.

use claims_adapters::aggregate::{self, AggregateError, StoredAggregate, streams};
use claims_adapters::event_store::{EventStore, LogPosition, RecordedEvent, StreamId};
use claims_domain::accumulator::{AccumulatorDecider, FamilyAccumulatorDecider};
use claims_domain::adjudication::{Adjudication, AdjudicationContext};
use claims_domain::authorizations::AuthorizationsDecider;
use claims_domain::claim::{ClaimCommand, ClaimDecider, ClaimEvent};
use claims_domain::member::MemberDecider;
use claims_domain::plan::{PlanDecider, PlanEvent};
use claims_domain::provider::ProviderDecider;
use claims_domain::rule_set::RuleSetDecider;
use claims_domain::{ClaimId, Decider};

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
    let year = as_of::<AccumulatorDecider>(
        store,
        streams::accumulator(&member.id, original.benefit_year),
        position,
    )
    .await?;
    let family = match (&member.family, rules.family_limits(plan.currency)) {
        (Some(family), Some(_)) => Some(
            as_of::<FamilyAccumulatorDecider>(
                store,
                streams::family_accumulator(family, original.benefit_year),
                position,
            )
            .await?
            .accumulated(plan.currency),
        ),
        _ => None,
    };
    let authorizations =
        as_of::<AuthorizationsDecider>(store, streams::authorizations(&member.id), position)
            .await?
            .authorizations;
    let context = Box::new(AdjudicationContext {
        decided_on: original.decided_on,
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
        // A replay stores nothing, so the decider's guard against counting a denial's
        // benefits twice does not apply. (The years are read as they stood before the
        // decision: for an appeal of a denial that used benefits, that is before the
        // reversal stored with it, which the replay does not take off; see docs/status.md.)
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
