-- One payout batch.
SELECT batch_id, created_at, transaction_hash, block
FROM payout_batches
WHERE batch_id = ?
