-- The fast path of an append whose every stream names the version it expects: the new rows
-- at the versions that follow, in one statement and its own implicit transaction (one round
-- trip), inserted only if every expected version above zero is stored. Anything else, a
-- stream behind its expected version (no row inserted) or a version or event id already
-- taken (a unique violation), sends the append down the full path, which says why.
-- $8 and $9 list each stream expected at a version above zero.
INSERT INTO events (event_id, stream_id, version, event_type, schema_version, payload, metadata)
SELECT event_id, stream_id, version, event_type, schema_version, payload::json, metadata::json
FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::integer[], $6::text[], $7::text[])
     WITH ORDINALITY AS new_events (event_id, stream_id, version, event_type, schema_version,
                                    payload, metadata, ordinal)
WHERE NOT EXISTS (
    SELECT 1
    FROM UNNEST($8::text[], $9::bigint[]) AS expected (stream_id, version)
    WHERE NOT EXISTS (
        SELECT 1
        FROM events AS stored
        WHERE stored.stream_id = expected.stream_id
          AND stored.version = expected.version
    )
)
ORDER BY ordinal
