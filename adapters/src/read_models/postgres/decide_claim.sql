-- A claim adjudicated; a row never moves back to an earlier event of its stream.
UPDATE claim_status
SET status = $1, decided_on = $2::date, payer_paid = $3::numeric, member_responsibility = $4::numeric,
    stream_version = $5
WHERE claim_id = $6 AND stream_version < $7
