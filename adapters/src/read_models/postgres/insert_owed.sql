-- A provider's netted payout from a batch, credited as owed instead of transferred.
INSERT INTO remittance_owed (batch_id, wallet, currency, amount)
VALUES ($1, $2, $3, $4::numeric)
ON CONFLICT (batch_id, wallet) DO NOTHING
