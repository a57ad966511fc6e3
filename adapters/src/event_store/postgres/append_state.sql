-- What an append decides on, in one statement so that both parts come from one snapshot:
-- the current version of each named stream that has events ($1: text[] of stream ids; a
-- stream without a row is at version 0), and the stored events among the append's ids
-- ($2: uuid[]), to tell idempotent repeats from new events and from reused ids. Rows of the
-- first part have no event_id.
SELECT stream_id, MAX(version) AS version,
       NULL::bigint AS global_position, NULL::text AS tx_id, NULL::uuid AS event_id,
       NULL::text AS event_type, NULL::integer AS schema_version,
       NULL::json AS payload, NULL::json AS metadata
FROM events
WHERE stream_id = ANY($1::text[])
GROUP BY stream_id
UNION ALL
SELECT stream_id, version,
       global_position, tx_id::text, event_id,
       event_type, schema_version,
       payload, metadata
FROM events
WHERE event_id = ANY($2::uuid[])
