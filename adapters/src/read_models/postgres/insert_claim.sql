-- A claim accepted: its status row starts (once, however often the event is applied).
INSERT INTO claim_status
    (claim_id, stream_version, insurer, insurer_ref, member_id, provider_id, status,
     received_on, currency, billed)
VALUES ($1, $2, $3, $4, $5, $6, 'submitted', $7::date, $8, $9::numeric)
ON CONFLICT (claim_id) DO NOTHING
