-- A claim accepted: its status row starts (once, however often the event is applied).
INSERT INTO claim_status
    (claim_id, stream_version, insurer, insurer_ref, member_id, provider_id, status,
     received_on, currency, billed)
VALUES (?, ?, ?, ?, ?, ?, 'submitted', ?, ?, ?)
ON CONFLICT (claim_id) DO NOTHING
