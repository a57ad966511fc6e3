-- A claim's payout put in a batch.
UPDATE claim_status
SET status = 'payout-scheduled', batch_id = ?, stream_version = ?
WHERE claim_id = ? AND stream_version < ?
