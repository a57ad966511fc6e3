//! Aggregates on the event store: load a decider's state from its stream, and turn the
//! events it decides into an append that expects the version it was decided on.
//!
//! This is where each domain aggregate gets its stream name, its stored event type names
//! and its schema version. Every command handler in the engine goes through [`load`] and
//! [`Loaded::append`], so optimistic concurrency is applied the same way everywhere.

use crate::event_store::{
    EventId, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError, StreamAppend,
    StreamId, StreamVersion,
};
use crate::fold_cache::{FoldCache, Folded};
use claims_domain::Decider;
use claims_domain::accumulator::{
    AccumulatorDecider, AccumulatorEvent, BenefitYear, FamilyAccumulatorDecider,
};
use claims_domain::authorizations::{AuthorizationEvent, AuthorizationsDecider};
use claims_domain::claim::{ClaimDecider, ClaimEvent};
use claims_domain::ids::{
    ClaimId, FamilyId, MemberId, PayoutBatchId, PlanId, ProviderId, RuleSetId,
};
use claims_domain::member::{MemberDecider, MemberEvent};
use claims_domain::payout::{
    PayoutBatchDecider, PayoutBatchEvent, SettlementIndexDecider, SettlementIndexEvent,
};
use claims_domain::plan::{PlanDecider, PlanEvent};
use claims_domain::provider::{ProviderDecider, ProviderEvent};
use claims_domain::provider_ledger::{ProviderLedgerDecider, ProviderLedgerEvent};
use claims_domain::rule_set::{RuleSetDecider, RuleSetEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Arc;

/// A domain aggregate whose events are kept in the event store.
///
/// Its state can be cloned and shared between tasks, so that a [`FoldCache`] can keep it.
pub trait StoredAggregate:
    Decider<Event: Serialize + DeserializeOwned, State: Clone + Send + Sync + 'static>
{
    /// The stream category, the first part of every stream id of this aggregate.
    const CATEGORY: &'static str;

    /// The stored type name of an event, such as `ClaimSubmitted`.
    fn event_type(event: &Self::Event) -> &'static str;

    /// The schema version an event type is written and read with today. Start at 1; when an
    /// event's shape changes, raise it and add the step from the old shape to [`Self::upcast`].
    fn schema_version(_event_type: &str) -> u32 {
        1
    }

    /// Rewrites a payload stored with schema version `from` of `event_type` into version
    /// `from + 1`, or `None` if the aggregate knows no such step.
    ///
    /// The log is never rewritten: an event stored years ago keeps its bytes, and every read
    /// brings it up to date one version at a time, so a replay decides from the same facts.
    fn upcast(
        _event_type: &str,
        _from: u32,
        _payload: serde_json::Value,
    ) -> Option<serde_json::Value> {
        None
    }
}

/// An aggregate's state as loaded, with the version it was loaded at.
pub struct Loaded<D: Decider> {
    /// The stream.
    pub stream: StreamId,
    /// The state: the fold of every stored event.
    pub state: D::State,
    /// The stream's version (0 when it has no events).
    pub version: StreamVersion,
}

impl<D: Decider<State: std::fmt::Debug>> std::fmt::Debug for Loaded<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("stream", &self.stream)
            .field("state", &self.state)
            .field("version", &self.version)
            .finish()
    }
}

impl<D: StoredAggregate> Loaded<D> {
    /// An append of decided events that expects the stream to be where it was loaded.
    /// `None` when nothing was decided (the command had already taken effect).
    pub fn append(
        &self,
        events: &[D::Event],
        metadata: &serde_json::Value,
    ) -> Result<Option<StreamAppend>, AggregateError> {
        if events.is_empty() {
            return Ok(None);
        }
        let events = events
            .iter()
            .map(|event| {
                Ok(NewEvent {
                    id: EventId::random(),
                    event_type: D::event_type(event).to_owned(),
                    schema_version: D::schema_version(D::event_type(event)),
                    payload: serde_json::to_value(event)?,
                    metadata: metadata.clone(),
                })
            })
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(|source| AggregateError::Encode {
                stream: self.stream.clone(),
                source,
            })?;
        Ok(Some(StreamAppend {
            stream: self.stream.clone(),
            expected: ExpectedVersion::from_loaded(self.version),
            events,
        }))
    }
}

/// Loads an aggregate by folding every event of its stream.
pub async fn load<D: StoredAggregate>(
    store: &dyn EventStore,
    stream: StreamId,
) -> Result<Loaded<D>, AggregateError> {
    let recorded = store.read_stream(&stream, 1).await?;
    fold(stream, &recorded)
}

/// Loads several aggregates of one kind in one read (see [`StreamsRead`]), in the order
/// of `streams`.
pub async fn load_many<D: StoredAggregate>(
    store: &dyn EventStore,
    streams: Vec<StreamId>,
) -> Result<Vec<Loaded<D>>, AggregateError> {
    let read = StreamsRead::read(store, streams.iter().cloned()).await?;
    streams
        .into_iter()
        .map(|stream| read.load::<D>(&stream))
        .collect()
}

/// Streams read together in one round trip ([`EventStore::read_streams`]), from which
/// aggregates of any kind are then loaded without touching the store again: a role
/// handling a batch of claims reads every claim's, member's and provider's stream at once.
///
/// Each aggregate loaded from it carries the version it was read at, exactly as [`load`]
/// gives it, so an append decided on it is checked against the store as usual.
#[derive(Debug, Default)]
pub struct StreamsRead {
    /// Each stream's events read: all of them, or those after its state in `folded`.
    events: HashMap<StreamId, Vec<RecordedEvent>>,
    /// The states taken from the cache, which the events read continue.
    folded: HashMap<StreamId, FoldedBase>,
    cache: Option<FoldCache>,
}

/// A state taken from the cache, for [`StreamsRead`]'s `Debug`.
struct FoldedBase(Folded);

impl std::fmt::Debug for FoldedBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "folded up to version {}", self.0.version)
    }
}

impl StreamsRead {
    /// Reads the streams named (each once, however often named).
    pub async fn read(
        store: &dyn EventStore,
        streams: impl IntoIterator<Item = StreamId>,
    ) -> Result<Self, AggregateError> {
        Self::read_through(None, store, streams).await
    }

    /// Nothing read yet; what [`StreamsRead::read_more`] reads goes through `cache`: the
    /// states it keeps are taken and only the events after them read, and what is then
    /// loaded is kept in it in turn.
    pub fn through(cache: Option<FoldCache>) -> Self {
        Self {
            cache,
            ..Self::default()
        }
    }

    /// As [`StreamsRead::read`], through `cache` ([`StreamsRead::through`]).
    pub async fn read_through(
        cache: Option<FoldCache>,
        store: &dyn EventStore,
        streams: impl IntoIterator<Item = StreamId>,
    ) -> Result<Self, AggregateError> {
        let mut read = Self::through(cache);
        read.read_more(store, streams).await?;
        Ok(read)
    }

    /// Reads those of `streams` not read yet, adding them to the rest: one round trip, or
    /// none when every one was read already. What was read before is kept as it was
    /// read, not refreshed.
    pub async fn read_more(
        &mut self,
        store: &dyn EventStore,
        streams: impl IntoIterator<Item = StreamId>,
    ) -> Result<(), AggregateError> {
        let mut missing: Vec<StreamId> = streams
            .into_iter()
            .filter(|stream| !self.events.contains_key(stream))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort_unstable();
        missing.dedup();
        let Some(cache) = &self.cache else {
            self.events.extend(store.read_streams(&missing).await?);
            return Ok(());
        };
        let mut from = Vec::with_capacity(missing.len());
        let mut folded = Vec::new();
        for stream in missing {
            match cache.take(&stream) {
                Some(base) => {
                    from.push((stream.clone(), base.version + 1));
                    folded.push((stream, FoldedBase(base)));
                }
                None => from.push((stream, 1)),
            }
        }
        self.events.extend(store.read_streams_from(&from).await?);
        self.folded.extend(folded);
        Ok(())
    }

    /// True when `stream` was among the streams read.
    pub fn contains(&self, stream: &StreamId) -> bool {
        self.events.contains_key(stream)
    }

    /// Folds one of the streams read into its aggregate, from the state the cache kept if
    /// it kept one. A stream that was not among them is [`AggregateError::NotRead`]:
    /// loading it as empty would decide on a state that was never looked at.
    pub fn load<D: StoredAggregate>(&self, stream: &StreamId) -> Result<Loaded<D>, AggregateError> {
        let recorded = self
            .events
            .get(stream)
            .ok_or_else(|| AggregateError::NotRead(stream.clone()))?;
        let Some(FoldedBase(base)) = self.folded.get(stream) else {
            let loaded = fold::<D>(stream.clone(), recorded)?;
            if loaded.version > 0 {
                self.keep(&loaded);
            }
            return Ok(loaded);
        };
        let state = base
            .state
            .downcast_ref::<D::State>()
            .ok_or_else(|| AggregateError::FoldedAsAnother(stream.clone()))?;
        let mut loaded = Loaded {
            state: state.clone(),
            stream: stream.clone(),
            version: base.version,
        };
        if recorded.is_empty() {
            return Ok(loaded);
        }
        for event in recorded {
            loaded.state = D::evolve(loaded.state, &decode::<D>(event)?);
            loaded.version = event.version;
        }
        self.keep(&loaded);
        Ok(loaded)
    }

    /// The aggregate as it was just before `version` of its stream: the fold of the
    /// events read before it. This is how a reader handling one event of a stream sees
    /// what the stream held when it was stored, without decoding that event or the later
    /// ones. Only a stream read whole can be folded to an earlier version: one whose
    /// state was taken from a cache is [`AggregateError::NotRead`], as is one not read.
    pub fn load_before<D: StoredAggregate>(
        &self,
        stream: &StreamId,
        version: StreamVersion,
    ) -> Result<Loaded<D>, AggregateError> {
        let recorded = self
            .events
            .get(stream)
            .ok_or_else(|| AggregateError::NotRead(stream.clone()))?;
        if self.folded.contains_key(stream) {
            return Err(AggregateError::NotRead(stream.clone()));
        }
        let before = recorded.partition_point(|event| event.version < version);
        fold(stream.clone(), &recorded[..before])
    }

    /// Hands a state just folded to the cache, if reading through one.
    fn keep<D: StoredAggregate>(&self, loaded: &Loaded<D>) {
        if let Some(cache) = &self.cache
            && cache.keeps(&loaded.stream)
        {
            cache.keep(
                &loaded.stream,
                Folded {
                    version: loaded.version,
                    state: Arc::new(loaded.state.clone()),
                },
            );
        }
    }
}

/// An aggregate's state and version from its stream's events, in version order.
fn fold<D: StoredAggregate>(
    stream: StreamId,
    recorded: &[RecordedEvent],
) -> Result<Loaded<D>, AggregateError> {
    let version = recorded.last().map_or(0, |event| event.version);
    let events = recorded
        .iter()
        .map(decode::<D>)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Loaded {
        state: D::fold(&events),
        stream,
        version,
    })
}

/// Decodes one stored event of an aggregate, upcasting it first if it was stored with an
/// older schema version.
pub fn decode<D: StoredAggregate>(recorded: &RecordedEvent) -> Result<D::Event, AggregateError> {
    let current = D::schema_version(&recorded.event_type);
    let unreadable = |reason: String| AggregateError::Schema {
        stream: recorded.stream.clone(),
        version: recorded.version,
        event_type: recorded.event_type.clone(),
        reason,
    };
    if recorded.schema_version > current {
        return Err(unreadable(format!(
            "it was written with schema version {}, newer than this engine's {current}; upgrade the engine",
            recorded.schema_version
        )));
    }
    let decode_error = |source| AggregateError::Decode {
        stream: recorded.stream.clone(),
        version: recorded.version,
        event_type: recorded.event_type.clone(),
        source,
    };
    if recorded.schema_version == current {
        // The common case decodes straight from the stored text, without a JSON tree.
        return recorded.payload.decode().map_err(decode_error);
    }
    let mut payload = recorded.payload.to_value();
    for from in recorded.schema_version..current {
        payload = D::upcast(&recorded.event_type, from, payload).ok_or_else(|| {
            unreadable(format!(
                "no upcast from schema version {from} to {}",
                from + 1
            ))
        })?;
    }
    serde_json::from_value(payload).map_err(decode_error)
}

/// Why an aggregate could not be loaded or its events encoded.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored event does not read as the aggregate's event.
    #[error("event {version} ({event_type}) of stream {stream} cannot be read: {source}")]
    Decode {
        /// The stream.
        stream: StreamId,
        /// The event's version.
        version: StreamVersion,
        /// Its stored type.
        event_type: String,
        /// Why.
        source: serde_json::Error,
    },
    /// A stored event's schema version cannot be brought to the one this engine reads.
    #[error("event {version} ({event_type}) of stream {stream} cannot be read: {reason}")]
    Schema {
        /// The stream.
        stream: StreamId,
        /// The event's version in its stream.
        version: StreamVersion,
        /// Its stored type.
        event_type: String,
        /// Why.
        reason: String,
    },
    /// A caller asked a [`StreamsRead`] for a stream it did not read: a bug in the caller,
    /// reported rather than deciding on a state nobody looked at.
    #[error("stream {0} was not among the streams read together")]
    NotRead(StreamId),
    /// The state a [`FoldCache`] kept for a stream is of another aggregate than the one
    /// asked for: a bug in the caller (streams of one category belong to one aggregate).
    #[error("the state kept for stream {0} is of another aggregate")]
    FoldedAsAnother(StreamId),
    /// A decided event could not be serialised.
    #[error("an event for stream {stream} cannot be serialised: {source}")]
    Encode {
        /// The stream.
        stream: StreamId,
        /// Why.
        source: serde_json::Error,
    },
}

/// Stream ids of the engine's aggregates.
pub mod streams {
    use super::*;

    /// A claim's stream.
    pub fn claim(id: ClaimId) -> StreamId {
        StreamId::new(ClaimDecider::CATEGORY, id)
    }

    /// A member's enrolment stream.
    pub fn member(id: &MemberId) -> StreamId {
        StreamId::new(MemberDecider::CATEGORY, id)
    }

    /// A plan's stream.
    pub fn plan(id: &PlanId) -> StreamId {
        StreamId::new(PlanDecider::CATEGORY, id)
    }

    /// A rule set's stream: every version published.
    pub fn rule_set(id: &RuleSetId) -> StreamId {
        StreamId::new(RuleSetDecider::CATEGORY, id)
    }

    /// A provider's stream.
    pub fn provider(id: &ProviderId) -> StreamId {
        StreamId::new(ProviderDecider::CATEGORY, id)
    }

    /// What a provider owes back (recoupments) and what its payouts withheld.
    pub fn provider_ledger(id: &ProviderId) -> StreamId {
        StreamId::new(ProviderLedgerDecider::CATEGORY, id)
    }

    /// A member's accumulators for one benefit year.
    pub fn accumulator(member: &MemberId, year: BenefitYear) -> StreamId {
        StreamId::new(AccumulatorDecider::CATEGORY, format!("{member}-{year}"))
    }

    /// The benefit year of a member's accumulator stream, if it is one: the last part of
    /// `accumulator-<member>-<year>` (a member id may itself contain `-`).
    pub fn accumulator_year_of(stream: &StreamId) -> Option<BenefitYear> {
        stream
            .as_str()
            .strip_prefix(AccumulatorDecider::CATEGORY)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.rsplit_once('-'))
            .and_then(|(_member, year)| year.parse().ok())
    }

    /// A family's accumulators for one benefit year.
    pub fn family_accumulator(family: &FamilyId, year: BenefitYear) -> StreamId {
        StreamId::new(
            FamilyAccumulatorDecider::CATEGORY,
            format!("{family}-{year}"),
        )
    }

    /// A member's prior authorisations on file.
    pub fn authorizations(member: &MemberId) -> StreamId {
        StreamId::new(AuthorizationsDecider::CATEGORY, member)
    }

    /// A payout batch's stream.
    pub fn payout_batch(id: PayoutBatchId) -> StreamId {
        StreamId::new(PayoutBatchDecider::CATEGORY, id)
    }

    /// The payout batch a payout-batch stream belongs to, if it is one.
    pub fn payout_batch_of(stream: &StreamId) -> Option<PayoutBatchId> {
        stream
            .as_str()
            .strip_prefix(PayoutBatchDecider::CATEGORY)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|id| id.parse().ok())
    }

    /// The claim a claim stream belongs to, if it is one.
    pub fn claim_of(stream: &StreamId) -> Option<ClaimId> {
        stream
            .as_str()
            .strip_prefix(ClaimDecider::CATEGORY)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|id| id.parse().ok())
    }
}

impl StoredAggregate for ClaimDecider {
    const CATEGORY: &'static str = "claim";
    fn event_type(event: &ClaimEvent) -> &'static str {
        event.event_type()
    }

    /// `ClaimAdjudicated` 2 records the rule-set version the decision used.
    fn schema_version(event_type: &str) -> u32 {
        match event_type {
            "ClaimAdjudicated" => 2,
            _ => 1,
        }
    }

    fn upcast(
        event_type: &str,
        from: u32,
        mut payload: serde_json::Value,
    ) -> Option<serde_json::Value> {
        match (event_type, from) {
            // Decided before rule sets: the plan revision alone says what was applied.
            ("ClaimAdjudicated", 1) => {
                payload
                    .get_mut("adjudication")?
                    .as_object_mut()?
                    .insert("rule_set".to_owned(), serde_json::Value::Null);
                Some(payload)
            }
            _ => None,
        }
    }
}

impl StoredAggregate for RuleSetDecider {
    // No dash: the category is the part of a stream id before the first one.
    const CATEGORY: &'static str = "ruleset";
    fn event_type(event: &RuleSetEvent) -> &'static str {
        match event {
            RuleSetEvent::Published { .. } => "RuleSetPublished",
        }
    }
}

impl StoredAggregate for AccumulatorDecider {
    const CATEGORY: &'static str = "accumulator";
    fn event_type(event: &AccumulatorEvent) -> &'static str {
        match event {
            AccumulatorEvent::CostSharingApplied { .. } => "CostSharingApplied",
            AccumulatorEvent::BenefitsProvided { .. } => "BenefitsProvided",
            AccumulatorEvent::CostSharingReversed { .. } => "CostSharingReversed",
            AccumulatorEvent::BenefitsReversed { .. } => "BenefitsReversed",
        }
    }
}

impl StoredAggregate for FamilyAccumulatorDecider {
    const CATEGORY: &'static str = "familyaccumulator";
    fn event_type(event: &AccumulatorEvent) -> &'static str {
        AccumulatorDecider::event_type(event)
    }
}

impl StoredAggregate for AuthorizationsDecider {
    const CATEGORY: &'static str = "authorizations";
    fn event_type(event: &AuthorizationEvent) -> &'static str {
        match event {
            AuthorizationEvent::Granted { .. } => "AuthorizationGranted",
        }
    }
}

impl StoredAggregate for PlanDecider {
    const CATEGORY: &'static str = "plan";
    fn event_type(event: &PlanEvent) -> &'static str {
        match event {
            PlanEvent::Published { .. } => "PlanPublished",
        }
    }
}

impl StoredAggregate for MemberDecider {
    const CATEGORY: &'static str = "member";
    fn event_type(event: &MemberEvent) -> &'static str {
        match event {
            MemberEvent::Enrolled { .. } => "MemberEnrolled",
        }
    }
}

impl StoredAggregate for ProviderDecider {
    const CATEGORY: &'static str = "provider";
    fn event_type(event: &ProviderEvent) -> &'static str {
        match event {
            ProviderEvent::Registered { .. } => "ProviderRegistered",
        }
    }
}

impl StoredAggregate for PayoutBatchDecider {
    const CATEGORY: &'static str = "payout";
    fn event_type(event: &PayoutBatchEvent) -> &'static str {
        event.event_type()
    }
}

/// The per-contract ledger of settlement indices (see `claims_settlement::index_ledger`).
impl StoredAggregate for SettlementIndexDecider {
    // No dash: the category is the part of a stream id before the first one.
    const CATEGORY: &'static str = "settlementindex";

    fn event_type(event: &SettlementIndexEvent) -> &'static str {
        event.event_type()
    }
}

/// A provider's recoupments and withholdings (see `claims_domain::provider_ledger`).
impl StoredAggregate for ProviderLedgerDecider {
    // No dash: the category is the part of a stream id before the first one.
    const CATEGORY: &'static str = "providerledger";

    fn event_type(event: &ProviderLedgerEvent) -> &'static str {
        event.event_type()
    }
}
