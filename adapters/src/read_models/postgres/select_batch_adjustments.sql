-- Every adjustment of every claim that batches ($1, an array of ids) pay, by batch.
SELECT r.batch_id, a.claim_id, a.line, a.sequence, a.group_code, a.reason_code, a.currency, a.amount::text AS amount
FROM claim_adjustments a
JOIN remittances r ON r.claim_id = a.claim_id
WHERE r.batch_id = ANY($1)
