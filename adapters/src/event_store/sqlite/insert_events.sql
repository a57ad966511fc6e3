-- New events; the rows are appended by `QueryBuilder::push_values`, one tuple per event.
INSERT INTO events (event_id, stream_id, version, event_type, schema_version, payload, metadata, recorded_at)
