-- A claim paid on chain; one voided while its batch was on its way stays voided.
UPDATE claim_status
SET status = CASE WHEN status IN ('voided', 'replaced') THEN status ELSE 'paid' END,
    transaction_hash = $1, stream_version = $2
WHERE claim_id = $3 AND stream_version < $4
