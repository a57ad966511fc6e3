-- A claim paid on chain.
UPDATE claim_status
SET status = 'paid', transaction_hash = ?, stream_version = ?
WHERE claim_id = ? AND stream_version < ?
