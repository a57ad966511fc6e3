-- A claim voided or replaced; a row never moves back to an earlier event of its stream.
UPDATE claim_status
SET status = ?, stream_version = ?
WHERE claim_id = ? AND stream_version < ?
