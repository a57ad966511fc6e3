-- Stores a named reader's position, replacing the one it had.
INSERT INTO checkpoints (reader, txn, sequence, updated_at)
VALUES ($1, $2::text::xid8, $3, now())
ON CONFLICT (reader) DO UPDATE SET
    txn = excluded.txn,
    sequence = excluded.sequence,
    updated_at = excluded.updated_at
