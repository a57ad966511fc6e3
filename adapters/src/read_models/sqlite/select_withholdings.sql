-- What a batch withheld, by claim paid and claim recouped.
SELECT claim_id, recouped_claim_id, currency, amount
FROM remittance_withholdings
WHERE batch_id = ?
ORDER BY claim_id, recouped_claim_id
