-- What batches ($1, an array of ids) pay for each claim, with what the claim billed. A claim row always exists
-- before its batch does (the batch is built from decided claims).
SELECT r.batch_id, r.claim_id, r.provider_id, r.wallet, r.currency, r.amount::text AS amount,
       c.insurer_ref, c.currency AS billed_currency, c.billed::text AS billed
FROM remittances r
JOIN claim_status c ON c.claim_id = r.claim_id
WHERE r.batch_id = ANY($1)
