//! What a decision read: the version of every stream whose events the adjudicator folded
//! into the decision's context, recorded in the metadata of the decision's claim events.
//!
//! A replay (`crate::decision_replay`) folds each of those streams up to exactly the
//! version recorded, so it sees what the decision saw on either store. The log position
//! cannot say as much on PostgreSQL: positions order transactions by id, and a transaction
//! that began before the decision's append but committed after the adjudicator read its
//! inputs sorts before the decision although the decision never saw its events.
//!
//! The versions live in metadata, not in `ClaimAdjudicated` itself: stream versions are
//! the store's business, and the domain knows nothing of them.

use claims_adapters::aggregate::Loaded;
use claims_adapters::event_store::{RecordedEvent, StreamId, StreamVersion};
use claims_domain::Decider;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The metadata key under which a decision's claim events record what it read.
const DECISION_INPUTS: &str = "decision_inputs";

/// The streams a decision was made on, each at the version it was read at (0 for a stream
/// that had no events): the claim, the member, the provider, the plan, the member's benefit
/// year, the family's benefit year when the member has a family, and the member's
/// authorisations. Stored as `{"<stream>": <version>, …}`.
///
/// The rule-set stream is not among them: the adjudicator takes the plan's parameters from
/// the plan's stream, whose revision names the rule-set version, and a published version
/// never changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DecisionInputs {
    versions: BTreeMap<StreamId, StreamVersion>,
}

/// Why the inputs a decision recorded cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("the inputs recorded with event {event} of {stream} do not read: {source}")]
pub struct UnreadableInputs {
    /// The event's stream.
    stream: StreamId,
    /// The event's version in its stream.
    event: StreamVersion,
    /// What did not read.
    source: serde_json::Error,
}

impl DecisionInputs {
    /// Records that the decision read `loaded` at the version it was loaded at.
    pub fn read<D: Decider>(&mut self, loaded: &Loaded<D>) {
        self.versions.insert(loaded.stream.clone(), loaded.version);
    }

    /// The version `stream` was read at, if the decision read it.
    pub fn version(&self, stream: &StreamId) -> Option<StreamVersion> {
        self.versions.get(stream).copied()
    }

    /// Every stream read, with its version.
    pub fn streams(&self) -> impl Iterator<Item = (&StreamId, StreamVersion)> {
        self.versions
            .iter()
            .map(|(stream, version)| (stream, *version))
    }

    /// `metadata` with these inputs recorded in it (unchanged if it is not an object).
    pub fn stamp(&self, mut metadata: Value) -> Value {
        if let Value::Object(fields) = &mut metadata {
            // A map of strings to integers always serialises.
            if let Ok(versions) = serde_json::to_value(self) {
                fields.insert(DECISION_INPUTS.to_owned(), versions);
            }
        }
        metadata
    }

    /// The inputs a stored decision recorded; `None` for one stored before decisions
    /// recorded them.
    pub fn of(event: &RecordedEvent) -> Result<Option<Self>, UnreadableInputs> {
        event
            .metadata
            .field(DECISION_INPUTS)
            .map_err(|source| UnreadableInputs {
                stream: event.stream.clone(),
                event: event.version,
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_versions_read_are_stamped_beside_the_rest_of_the_metadata() {
        let mut inputs = DecisionInputs::default();
        inputs
            .versions
            .insert(StreamId::from_raw("member-M-1001"), 2);
        inputs
            .versions
            .insert(StreamId::from_raw("authorizations-M-1001"), 0);
        assert_eq!(
            inputs.stamp(json!({ "claim": "c" })),
            json!({
                "claim": "c",
                "decision_inputs": { "authorizations-M-1001": 0, "member-M-1001": 2 }
            })
        );
        assert_eq!(
            inputs.version(&StreamId::from_raw("member-M-1001")),
            Some(2)
        );
        assert_eq!(inputs.version(&StreamId::from_raw("provider-x")), None);
    }
}
