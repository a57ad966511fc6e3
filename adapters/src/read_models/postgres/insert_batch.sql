-- A payout batch opened.
INSERT INTO payout_batches (batch_id, created_at)
VALUES ($1, $2::timestamptz)
ON CONFLICT (batch_id) DO NOTHING
