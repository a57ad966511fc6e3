-- The position of the last event whose changes are stored, in the same transaction.
INSERT INTO checkpoints (reader, txn, sequence, updated_at)
VALUES ($1, $2::text::xid8, $3, now())
ON CONFLICT (reader) DO UPDATE SET
    txn = excluded.txn,
    sequence = excluded.sequence,
    updated_at = excluded.updated_at
