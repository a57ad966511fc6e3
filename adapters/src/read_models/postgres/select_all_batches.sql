-- Every payout batch, by id.
SELECT batch_id, to_json(created_at) #>> '{}' AS created_at, transaction_hash, block
FROM payout_batches
ORDER BY batch_id
