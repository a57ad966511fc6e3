-- One claim paid in a batch.
INSERT INTO remittances (batch_id, claim_id, provider_id, wallet, currency, amount)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (batch_id, claim_id) DO NOTHING
