-- A payout batch confirmed on chain.
UPDATE payout_batches
SET transaction_hash = ?, block = ?
WHERE batch_id = ?
