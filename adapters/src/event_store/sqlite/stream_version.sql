-- A stream's current version: its last event's version, or 0 when it has none.
SELECT COALESCE(MAX(version), 0)
FROM events
WHERE stream_id = ?1
