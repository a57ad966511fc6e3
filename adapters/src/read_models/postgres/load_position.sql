-- The read models' position.
SELECT txn::text AS txn, sequence FROM checkpoints WHERE reader = $1
