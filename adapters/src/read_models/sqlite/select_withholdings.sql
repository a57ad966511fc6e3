-- What batches (a JSON array of ids) withheld, by batch, claim paid and claim recouped.
SELECT batch_id, claim_id, recouped_claim_id, currency, amount
FROM remittance_withholdings
WHERE batch_id IN (SELECT value FROM json_each(?))
ORDER BY batch_id, claim_id, recouped_claim_id
