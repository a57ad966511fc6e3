-- The API lists the newest payout batches first, a page at a time.
CREATE INDEX payout_batches_by_time ON payout_batches (created_at DESC, batch_id DESC);
