-- A claim adjudicated; a row never moves back to an earlier event of its stream.
UPDATE claim_status
SET status = ?, decided_on = ?, payer_paid = ?, member_responsibility = ?,
    stream_version = ?
WHERE claim_id = ? AND stream_version < ?
