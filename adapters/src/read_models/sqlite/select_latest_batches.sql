-- The newest payout batches, at most ?.
SELECT batch_id, created_at, transaction_hash, block
FROM payout_batches
ORDER BY julianday(created_at) DESC, batch_id DESC
LIMIT ?
