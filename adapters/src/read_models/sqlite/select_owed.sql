-- What batches (a JSON array of ids) left owed, by batch and wallet.
SELECT batch_id, wallet, currency, amount
FROM remittance_owed
WHERE batch_id IN (SELECT value FROM json_each(?))
ORDER BY batch_id, wallet
