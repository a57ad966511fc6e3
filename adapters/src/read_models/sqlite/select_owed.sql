-- What a batch left owed, by wallet.
SELECT wallet, currency, amount
FROM remittance_owed
WHERE batch_id = ?
ORDER BY wallet
