-- What a batch withheld, by claim paid and claim recouped.
SELECT claim_id, recouped_claim_id, currency, amount::text AS amount
FROM remittance_withholdings
WHERE batch_id = $1
ORDER BY claim_id, recouped_claim_id
