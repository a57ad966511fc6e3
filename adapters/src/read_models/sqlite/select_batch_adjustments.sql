-- Every adjustment of every claim a batch pays.
SELECT a.claim_id, a.line, a.sequence, a.group_code, a.reason_code, a.currency, a.amount
FROM claim_adjustments a
JOIN remittances r ON r.claim_id = a.claim_id
WHERE r.batch_id = ?
