-- A payout batch confirmed on chain.
UPDATE payout_batches
SET transaction_hash = $1, block = $2
WHERE batch_id = $3
