-- One claim's status.
SELECT claim_id, insurer, insurer_ref, member_id, provider_id, status, received_on,
       currency, billed, decided_on, payer_paid, member_responsibility, batch_id,
       transaction_hash
FROM claim_status
WHERE claim_id = ?
