-- What batches ($1, an array of ids) withheld, by batch, claim paid and claim recouped.
SELECT batch_id, claim_id, recouped_claim_id, currency, amount::text AS amount
FROM remittance_withholdings
WHERE batch_id = ANY($1)
ORDER BY batch_id, claim_id, recouped_claim_id
