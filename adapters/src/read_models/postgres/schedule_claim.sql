-- A claim's payout put in a batch.
UPDATE claim_status
SET status = 'payout-scheduled', batch_id = $1, stream_version = $2
WHERE claim_id = $3 AND stream_version < $4
