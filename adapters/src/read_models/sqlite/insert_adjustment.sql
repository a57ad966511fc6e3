-- One adjustment of one line of a decided claim.
INSERT INTO claim_adjustments
    (claim_id, line, sequence, group_code, reason_code, currency, amount)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (claim_id, line, sequence) DO NOTHING
