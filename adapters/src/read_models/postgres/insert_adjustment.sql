-- One adjustment of one line of a decided claim.
INSERT INTO claim_adjustments
    (claim_id, line, sequence, group_code, reason_code, currency, amount)
VALUES ($1, $2, $3, $4, $5, $6, $7::numeric)
ON CONFLICT (claim_id, line, sequence) DO NOTHING
