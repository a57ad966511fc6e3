-- Every payout batch, by id.
SELECT batch_id, created_at, transaction_hash, block
FROM payout_batches
ORDER BY batch_id
