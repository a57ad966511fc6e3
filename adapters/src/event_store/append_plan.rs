//! The rules of an append that do not depend on the database, shared by every store so
//! that they cannot drift apart: what a well-formed append is, when a re-sent event is a
//! repeat and when it reuses an id, when a stream is where its writer saw it, and what the
//! append reports. Each store only reads what these rules need and writes what they decide.

use super::{
    AppendOutcome, EventId, ExpectedVersion, NewEvent, StoreError, StreamAppend, StreamAppended,
    StreamId, StreamVersion,
};
use std::collections::HashSet;

/// An event ready to insert: its payload and metadata serialised once, before any round
/// trip or lock.
pub(super) struct EncodedEvent<'a> {
    pub(super) event: &'a NewEvent,
    pub(super) payload: String,
    pub(super) metadata: String,
}

/// What an append will do to one stream.
pub(super) struct PlannedStream<'a> {
    pub(super) append: &'a StreamAppend,
    /// The stream's version before the append.
    pub(super) before: StreamVersion,
    /// How many events are new (0 when the whole append is a repeat).
    pub(super) appended: usize,
}

impl PlannedStream<'_> {
    /// The new events' stream versions, in order, for the rows to insert.
    pub(super) fn new_versions(&self) -> impl Iterator<Item = StreamVersion> + '_ {
        (1..=to_version(self.appended)).map(|offset| self.before + offset)
    }
}

/// An event as stored, with just what decides whether a re-sent event is a repeat.
pub(super) struct StoredEvent<'a> {
    pub(super) stream: &'a str,
    pub(super) event_type: &'a str,
    pub(super) schema_version: i64,
    pub(super) payload: &'a serde_json::Value,
    pub(super) metadata: &'a serde_json::Value,
}

impl StoredEvent<'_> {
    /// Succeeds when `event`, appended to `stream`, is exactly this stored event. Payload
    /// and metadata are compared as JSON values: key order and whitespace are not part of
    /// an event.
    pub(super) fn require_same(
        &self,
        stream: &StreamId,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let same = self.stream == stream.as_str()
            && self.event_type == event.event_type
            && self.schema_version == i64::from(event.schema_version)
            && *self.payload == event.payload
            && *self.metadata == event.metadata;
        if same {
            Ok(())
        } else {
            Err(StoreError::EventIdReused {
                id: event.id,
                stream: StreamId::from_raw(self.stream.to_owned()),
            })
        }
    }
}

/// Refuses malformed appends before touching the database (a stream named twice, a stream
/// with no events, an event id used twice), and serialises every event.
pub(super) fn encode(appends: &[StreamAppend]) -> Result<Vec<Vec<EncodedEvent<'_>>>, StoreError> {
    let mut streams = HashSet::new();
    let mut ids = HashSet::new();
    appends
        .iter()
        .map(|append| {
            if !streams.insert(&append.stream) {
                return Err(StoreError::InvalidAppend(format!(
                    "stream {} appears more than once; put all its events in one StreamAppend",
                    append.stream
                )));
            }
            if append.events.is_empty() {
                return Err(StoreError::InvalidAppend(format!(
                    "the append to stream {} has no events",
                    append.stream
                )));
            }
            append
                .events
                .iter()
                .map(|event| {
                    if !ids.insert(event.id) {
                        return Err(StoreError::InvalidAppend(format!(
                            "event id {} appears more than once in the append",
                            event.id
                        )));
                    }
                    Ok(EncodedEvent {
                        event,
                        payload: encode_json(&event.payload, event.id, "payload")?,
                        metadata: encode_json(&event.metadata, event.id, "metadata")?,
                    })
                })
                .collect()
        })
        .collect()
}

fn encode_json(value: &serde_json::Value, id: EventId, part: &str) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| {
        StoreError::InvalidAppend(format!(
            "the {part} of event {id} cannot be stored: {error}"
        ))
    })
}

/// Decides what the append does to each stream, given each stream's version before it
/// (`before[i]` for `appends[i]`) and a lookup of the already stored event with an id.
///
/// Every repeated id must carry the content it was stored with, whatever the versions say
/// (a reused id is a bug in the writer, not a race), so every repeat is checked before any
/// version. A stream whose events are all repeats is a no-op and is not version-checked;
/// one that mixes repeats and new events is refused.
pub(super) fn plan<'a, 's>(
    appends: &'a [StreamAppend],
    before: &[StreamVersion],
    stored: impl Fn(EventId) -> Option<StoredEvent<'s>>,
) -> Result<Vec<PlannedStream<'a>>, StoreError> {
    let mut repeats = Vec::with_capacity(appends.len());
    for append in appends {
        let mut count = 0;
        for event in &append.events {
            if let Some(existing) = stored(event.id) {
                existing.require_same(&append.stream, event)?;
                count += 1;
            }
        }
        repeats.push(count);
    }

    let mut planned = Vec::with_capacity(appends.len());
    for ((append, repeated), before) in appends.iter().zip(repeats).zip(before.iter().copied()) {
        let total = append.events.len();
        if repeated == total {
            planned.push(PlannedStream {
                append,
                before,
                appended: 0,
            });
            continue;
        }
        if repeated > 0 {
            return Err(StoreError::InvalidAppend(format!(
                "{repeated} of the {total} events for stream {} are already stored and the \
                 others are new; re-send the original append unchanged, or only new events",
                append.stream
            )));
        }
        require_expected(append, before)?;
        planned.push(PlannedStream {
            append,
            before,
            appended: total,
        });
    }
    Ok(planned)
}

/// Refuses the append when its stream is not where the writer saw it.
fn require_expected(append: &StreamAppend, actual: StreamVersion) -> Result<(), StoreError> {
    let holds = match append.expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => actual == 0,
        ExpectedVersion::Exact(expected) => actual == expected,
    };
    if holds {
        Ok(())
    } else {
        Err(StoreError::VersionConflict {
            stream: append.stream.clone(),
            expected: append.expected,
            actual,
        })
    }
}

/// What the append reports: every stream's version after it, and how many events were new.
pub(super) fn outcome(planned: &[PlannedStream<'_>]) -> AppendOutcome {
    AppendOutcome {
        streams: planned
            .iter()
            .map(|stream| StreamAppended {
                stream: stream.append.stream.clone(),
                version: stream.before + to_version(stream.appended),
                appended: stream.appended,
            })
            .collect(),
    }
}

/// Logs an append once it has committed (not before: an attempt may still be rolled back
/// and retried).
pub(super) fn log_committed(outcome: &AppendOutcome) {
    for stream in &outcome.streams {
        tracing::debug!(
            stream = %stream.stream,
            version = stream.version,
            appended = stream.appended,
            "appended to stream"
        );
    }
}

/// A count of events as a version offset.
fn to_version(count: usize) -> StreamVersion {
    u64::try_from(count).unwrap_or(u64::MAX)
}
