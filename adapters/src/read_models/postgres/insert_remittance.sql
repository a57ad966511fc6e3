-- One claim paid in a batch.
INSERT INTO remittances (batch_id, claim_id, provider_id, wallet, currency, amount)
VALUES ($1, $2, $3, $4, $5, $6::numeric)
ON CONFLICT (batch_id, claim_id) DO NOTHING
