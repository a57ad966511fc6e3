-- What batches ($1, an array of ids) left owed, by batch and wallet.
SELECT batch_id, wallet, currency, amount::text AS amount
FROM remittance_owed
WHERE batch_id = ANY($1)
ORDER BY batch_id, wallet
