-- The whole log strictly after a position ($1: transaction as text, $2: sequence), in log
-- order, a page at a time ($3).
--
-- Only rows of transactions older than the oldest one still in flight are returned. A
-- transaction that is still open may yet commit rows, and its id is at least that horizon,
-- so every row it commits sorts after everything returned here: the reader meets it on a
-- later page instead of having already moved past it.
SELECT global_position, tx_id::text AS tx_id, event_id, stream_id, version, event_type,
       schema_version, payload, metadata, recorded_at
FROM events
WHERE (tx_id, global_position) > ($1::text::xid8, $2::bigint)
  AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
-- Qualified on purpose: a bare `tx_id` here would name the text output column above and
-- sort transaction ids as text ('100' before '99'), skipping events once ids cross a power
-- of ten, and forcing a sort of the whole rest of the log on every page. The table's
-- columns order as numbers and match the (tx_id, global_position) index.
ORDER BY events.tx_id, events.global_position
LIMIT $3
