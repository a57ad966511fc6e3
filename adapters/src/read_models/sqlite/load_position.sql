-- The read models' position.
SELECT txn, sequence FROM checkpoints WHERE reader = ?
