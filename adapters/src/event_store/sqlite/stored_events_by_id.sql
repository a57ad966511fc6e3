-- The stored events among the ids of an append (?1 is a JSON array of event ids), to tell
-- idempotent repeats from new events and from reused ids.
SELECT sequence, event_id, stream_id, event_type, schema_version, payload, metadata
FROM events
WHERE event_id IN (SELECT value FROM json_each(?1))
