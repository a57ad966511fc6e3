-- A claim paid on chain.
UPDATE claim_status
SET status = 'paid', transaction_hash = $1, stream_version = $2
WHERE claim_id = $3 AND stream_version < $4
