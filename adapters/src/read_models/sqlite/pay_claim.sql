-- A claim paid on chain; one voided while its batch was on its way stays voided.
UPDATE claim_status
SET status = CASE WHEN status IN ('voided', 'replaced') THEN status ELSE 'paid' END,
    transaction_hash = ?, stream_version = ?
WHERE claim_id = ? AND stream_version < ?
