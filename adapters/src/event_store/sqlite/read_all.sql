-- The whole log strictly after a sequence, in log order, a page at a time.
SELECT sequence, event_id, stream_id, version, event_type, schema_version, payload, metadata, recorded_at
FROM events
WHERE sequence > ?1
ORDER BY sequence
LIMIT ?2
