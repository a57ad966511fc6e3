-- The newest payout batches that pay a provider, at most ?.
SELECT batch_id, created_at, transaction_hash, block
FROM payout_batches
WHERE batch_id IN (SELECT batch_id FROM remittances WHERE provider_id = ?)
ORDER BY julianday(created_at) DESC, batch_id DESC
LIMIT ?
