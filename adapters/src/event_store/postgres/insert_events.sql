-- Every new event of an append, for all its streams, in one statement: one array per column,
-- one element per event. `WITH ORDINALITY ... ORDER BY` makes the positions follow the
-- order of the arrays. The payload and metadata arrive as JSON text and are stored as json;
-- `tx_id` and `recorded_at` take their defaults, the same for every row of the transaction.
INSERT INTO events (event_id, stream_id, version, event_type, schema_version, payload, metadata)
SELECT event_id, stream_id, version, event_type, schema_version, payload::json, metadata::json
FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::integer[], $6::text[], $7::text[])
     WITH ORDINALITY AS new_events (event_id, stream_id, version, event_type, schema_version,
                                    payload, metadata, ordinal)
ORDER BY ordinal
