-- The raw insert with a wake-up NOTIFY in the same transaction: what sending the hint from
-- inside every append would cost. The statement is one implicit transaction, like the raw
-- insert, so the only difference is the notification (PostgreSQL serialises the commits of
-- notifying transactions on a database-wide lock).
WITH inserted AS (
    INSERT INTO raw_events (event_id, stream_id, version, event_type, schema_version, payload, metadata)
    SELECT event_id, stream_id, version, event_type, schema_version, payload::json, metadata::json
    FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::integer[], $6::text[], $7::text[])
         WITH ORDINALITY AS new_events (event_id, stream_id, version, event_type, schema_version,
                                        payload, metadata, ordinal)
    ORDER BY ordinal
    RETURNING 1
)
SELECT pg_notify('claims_bench_log', '') FROM (SELECT count(*) FROM inserted) AS written
