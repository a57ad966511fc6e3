-- Several streams at once, each from its own version on ($1: text[] of stream ids, $2:
-- bigint[] of the first version wanted of each): what a reader that kept a stream's
-- state up to some version still needs. Each stream is read by the (stream_id, version)
-- index from its version on, as read_stream.sql is.
--
-- `OFFSET 0` keeps the lateral subquery a per-stream index scan. Without it PostgreSQL
-- flattens it into a join, and a connection that first ran the statement while the log
-- was small caches a plan that hashes the whole table on every later run (measured: a
-- sequential scan of 200,000 events for 150 streams, 31 ms instead of 2 ms).
SELECT e.global_position, e.tx_id::text AS tx_id, e.event_id, e.stream_id, e.version,
       e.event_type, e.schema_version, e.payload, e.metadata, e.recorded_at
FROM unnest($1::text[], $2::bigint[]) AS wanted(stream_id, from_version)
CROSS JOIN LATERAL (
    SELECT *
    FROM events
    WHERE events.stream_id = wanted.stream_id AND events.version >= wanted.from_version
    OFFSET 0
) AS e
ORDER BY e.stream_id, e.version
