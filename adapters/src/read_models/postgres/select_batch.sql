-- One payout batch.
SELECT batch_id, to_json(created_at) #>> '{}' AS created_at, transaction_hash, block
FROM payout_batches
WHERE batch_id = $1
