-- Several whole streams at once ($1: text[] of stream ids), each in version order: the
-- aggregates of a batch of claims in one round trip. The (stream_id, version) index serves
-- each stream as read_stream.sql does.
SELECT global_position, tx_id::text AS tx_id, event_id, stream_id, version, event_type,
       schema_version, payload, metadata, recorded_at
FROM events
WHERE stream_id = ANY($1::text[])
ORDER BY stream_id, version
