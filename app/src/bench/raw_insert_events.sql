-- The raw insert ceiling: the same rows the store inserts, with the store's own insert
-- statement (one array per column, one element per event), sent alone in its own implicit
-- transaction: no version read, no idempotency check, no BEGIN and COMMIT round trips.
INSERT INTO raw_events (event_id, stream_id, version, event_type, schema_version, payload, metadata)
SELECT event_id, stream_id, version, event_type, schema_version, payload::json, metadata::json
FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::integer[], $6::text[], $7::text[])
     WITH ORDINALITY AS new_events (event_id, stream_id, version, event_type, schema_version,
                                    payload, metadata, ordinal)
ORDER BY ordinal
