-- Several whole streams at once (?1 is a JSON array of stream ids), each in version order:
-- the aggregates of a batch of claims in one statement.
SELECT sequence, event_id, stream_id, version, event_type, schema_version, payload, metadata, recorded_at
FROM events
WHERE stream_id IN (SELECT value FROM json_each(?1))
ORDER BY stream_id, version
