-- Every claim, by id.
SELECT claim_id, insurer, insurer_ref, member_id, provider_id, status, received_on::text AS received_on,
       currency, billed::text AS billed, decided_on::text AS decided_on,
       payer_paid::text AS payer_paid,
       member_responsibility::text AS member_responsibility, batch_id,
       transaction_hash
FROM claim_status
ORDER BY claim_id
