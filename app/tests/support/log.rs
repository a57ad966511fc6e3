//! Event logs copied between stores, as a test rebuilds or rearranges one.

use claims_adapters::event_store::{
    EventStore, ExpectedVersion, NewEvent, RecordedEvent, StreamAppend,
};

/// Appends `event` to `to` as it was recorded (id, type, schema version, payload and its
/// stream version), with `metadata` in place of its own.
pub async fn append_as_recorded(
    to: &dyn EventStore,
    event: &RecordedEvent,
    metadata: serde_json::Value,
) {
    to.append(vec![StreamAppend {
        stream: event.stream.clone(),
        expected: ExpectedVersion::from_loaded(event.version - 1),
        events: vec![NewEvent {
            id: event.id,
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            payload: event.payload.to_value(),
            metadata,
        }],
    }])
    .await
    .unwrap();
}
