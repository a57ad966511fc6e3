-- What a payout withheld from a claim to recover a recouped claim.
INSERT INTO remittance_withholdings (batch_id, claim_id, recouped_claim_id, currency, amount)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (batch_id, claim_id, recouped_claim_id) DO NOTHING
