-- The newest payout batches, at most $1.
SELECT batch_id, to_json(created_at) #>> '{}' AS created_at, transaction_hash, block
FROM payout_batches
ORDER BY created_at DESC, batch_id DESC
LIMIT $1
