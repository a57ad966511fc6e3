-- One stream's events from a version on, in version order.
SELECT global_position, tx_id::text AS tx_id, event_id, stream_id, version, event_type,
       schema_version, payload, metadata, recorded_at
FROM events
WHERE stream_id = $1 AND version >= $2
ORDER BY version
