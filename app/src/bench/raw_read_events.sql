COPY (
    -- What `read_all` selects, in log order, for every row the cases committed (the
    -- benchmark waits for all of them before it replays, so no horizon applies).
    SELECT global_position, tx_id::text AS tx_id, event_id, stream_id, version, event_type,
           schema_version, payload, metadata, recorded_at
    FROM events
    ORDER BY events.tx_id, events.global_position
) TO STDOUT (FORMAT binary)
