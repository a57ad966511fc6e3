-- A claim voided or replaced; a row never moves back to an earlier event of its stream.
UPDATE claim_status
SET status = $1, stream_version = $2
WHERE claim_id = $3 AND stream_version < $4
