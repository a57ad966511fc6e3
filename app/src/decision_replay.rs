//! Replaying a stored decision: the claim decided again from the inputs it was decided on,
//! to show that the log alone reproduces it.
//!
//! The plan and its rules come from the rule-set version the decision recorded (whatever
//! was published since), or, for a plan published on its own, from the plan's stream up
//! to the revision recorded. The claim, the member, the provider, the benefit years and
//! the authorisations are folded up to exactly the versions the decision recorded reading
//! them ([`DecisionInputs`], in the metadata of the decision's claim events); the date is
//! the decision's own. Nothing is stored.
//!
//! A decision that gave benefits back first (an appeal of a denial that used them, or a
//! replacement cancelling its original) stored that reversal in its own append, after the
//! decision in the log; the replay decides the same reversal into the benefit years it
//! read, as the adjudicator did before deciding, so that it sees the years the decision
//! saw.
//!
//! The recorded versions make the replay exact on both stores. A decision stored before
//! decisions recorded them is replayed, as it always was, from the events stored before it
//! by log position ([`InputsRead::BeforeInLog`]). On SQLite that is commit order; on
//! PostgreSQL a position orders transactions by their id, so an event that a concurrent
//! writer committed after the adjudicator read its inputs, in a transaction older than the
//! decision's, is counted before such a decision although it never saw it.

use crate::decision_inputs::{DecisionInputs, UnreadableInputs};
use claims_adapters::aggregate::{self, AggregateError, StoredAggregate, streams};
use claims_adapters::event_store::{
    EventStore, LogPosition, RecordedEvent, StreamId, StreamVersion,
};
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
    /// Which events of its input streams it was made on.
    pub inputs: InputsRead,
}

/// Which events of the decision's input streams a replay folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputsRead {
    /// Each stream's up to the version the decision recorded reading it: exactly what it
    /// saw, on either store.
    Recorded,
    /// Those stored before the decision in the log, for a decision stored before decisions
    /// recorded their inputs: exact on SQLite, not always on PostgreSQL (see the module
    /// docs).
    BeforeInLog,
}

/// Which events of an input stream the replay folds.
enum Cut {
    /// Up to the version recorded for the stream.
    Recorded(DecisionInputs),
    /// Those before the decision's log position.
    BeforeInLog(LogPosition),
}

/// Why a decision could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The store failed or an event does not read.
    #[error(transparent)]
    Store(#[from] AggregateError),
    /// The inputs the decision recorded do not read.
    #[error(transparent)]
    Inputs(#[from] UnreadableInputs),
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
    let cut = match DecisionInputs::of(decided_at)? {
        Some(inputs) => Cut::Recorded(inputs),
        None => Cut::BeforeInLog(decided_at.position),
    };
    // A review or an appeal is stored just before the decision it led to.
    let (before, why) = match at.checked_sub(1).map(|index| &recorded[index].1) {
        Some(ClaimEvent::Reviewed { review }) => (at - 1, Some(Ok(review.clone()))),
        Some(ClaimEvent::Appealed { appeal }) => (at - 1, Some(Err(appeal.clone()))),
        _ => (at, None),
    };
    // The claim as the decision read it: the version recorded or, without it, every event
    // before the review, appeal or decision (the decision's append expected the claim at
    // the version it read, so its events follow right after).
    let claim_read = match &cut {
        Cut::Recorded(inputs) => recorded_version(inputs, &streams::claim(claim), claim)?,
        Cut::BeforeInLog(_) => StreamVersion::try_from(before).unwrap_or(StreamVersion::MAX),
    };
    let state = ClaimDecider::fold(
        recorded
            .iter()
            .filter(|(event, _)| event.version <= claim_read)
            .map(|(_, event)| event),
    );
    let submitted = state
        .claim
        .clone()
        .ok_or_else(|| missing("its submission is not stored".to_owned()))?;

    let member = as_of::<MemberDecider>(store, streams::member(&submitted.member), &cut, claim)
        .await?
        .member
        .ok_or_else(|| missing(format!("member {} was not enrolled", submitted.member)))?;
    let (plan, rules) = match &original.rule_set {
        Some(version) => {
            let stream = streams::rule_set(&version.rule_set);
            let published = match &cut {
                // The decision took the plan's parameters from the plan's stream, not
                // this one; the version it names never changes once published, so every
                // event of the rule set may be read.
                Cut::Recorded(_) => {
                    let events = read::<RuleSetDecider>(store, stream).await?;
                    RuleSetDecider::fold(events.iter().map(|(_, event)| event))
                }
                Cut::BeforeInLog(_) => as_of::<RuleSetDecider>(store, stream, &cut, claim).await?,
            };
            let parameters = published
                .plan(version.version, &original.plan)
                .ok_or_else(|| missing(format!("{version} holds no plan {}", original.plan)))?;
            (parameters.plan.clone(), parameters.rules.clone())
        }
        None => {
            let stream = streams::plan(&original.plan);
            let state = match &cut {
                Cut::Recorded(_) => as_of::<PlanDecider>(store, stream, &cut, claim).await?,
                Cut::BeforeInLog(_) => {
                    let revisions = read::<PlanDecider>(store, stream).await?;
                    PlanDecider::fold(revisions.iter().map(|(_, event)| event).filter(
                        |PlanEvent::Published { revision, .. }| *revision <= original.plan_revision,
                    ))
                }
            };
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
        as_of::<ProviderDecider>(store, streams::provider(&submitted.provider), &cut, claim)
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
        &cut,
        claim,
    )
    .await?;
    let year = reversing::<AccumulatorDecider>(year, &member.id, reversed).map_err(refused)?;
    let family = match (&member.family, rules.family_limits(plan.currency)) {
        (Some(family), Some(_)) => {
            let family = as_of::<FamilyAccumulatorDecider>(
                store,
                streams::family_accumulator(family, original.benefit_year),
                &cut,
                claim,
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
        as_of::<AuthorizationsDecider>(store, streams::authorizations(&member.id), &cut, claim)
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
    let inputs = match cut {
        Cut::Recorded(_) => InputsRead::Recorded,
        Cut::BeforeInLog(_) => InputsRead::BeforeInLog,
    };
    Ok(ReplayedDecision {
        original,
        replayed,
        inputs,
    })
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

/// An aggregate's state as the decision of `claim` read it: up to the version it recorded,
/// or from the events stored before it in the log.
async fn as_of<D: StoredAggregate>(
    store: &dyn EventStore,
    stream: StreamId,
    cut: &Cut,
    claim: ClaimId,
) -> Result<D::State, ReplayError> {
    let events = read::<D>(store, stream.clone()).await?;
    let kept: Vec<&D::Event> = match cut {
        Cut::Recorded(inputs) => {
            let version = recorded_version(inputs, &stream, claim)?;
            if events.last().map_or(0, |(recorded, _)| recorded.version) < version {
                return Err(ReplayError::Missing {
                    claim,
                    reason: format!("{stream} no longer holds version {version} it read"),
                });
            }
            events
                .iter()
                .filter(|(recorded, _)| recorded.version <= version)
                .map(|(_, event)| event)
                .collect()
        }
        Cut::BeforeInLog(position) => events
            .iter()
            .filter(|(recorded, _)| recorded.position < *position)
            .map(|(_, event)| event)
            .collect(),
    };
    Ok(D::fold(kept))
}

/// The version of `stream` the decision of `claim` recorded reading.
fn recorded_version(
    inputs: &DecisionInputs,
    stream: &StreamId,
    claim: ClaimId,
) -> Result<StreamVersion, ReplayError> {
    inputs.version(stream).ok_or_else(|| ReplayError::Missing {
        claim,
        reason: format!("it did not record reading {stream}"),
    })
}
