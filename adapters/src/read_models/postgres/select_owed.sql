-- What a batch left owed, by wallet.
SELECT wallet, currency, amount::text AS amount
FROM remittance_owed
WHERE batch_id = $1
ORDER BY wallet
