-- A named reader's stored position.
SELECT txn, sequence
FROM checkpoints
WHERE reader = ?1
