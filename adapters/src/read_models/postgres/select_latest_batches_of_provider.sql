-- The newest payout batches that pay provider $1, at most $2.
SELECT batch_id, to_json(created_at) #>> '{}' AS created_at, transaction_hash, block
FROM payout_batches
WHERE batch_id IN (SELECT batch_id FROM remittances WHERE provider_id = $1)
ORDER BY created_at DESC, batch_id DESC
LIMIT $2
