-- The API lists the newest payout batches first, a page at a time. `created_at` is
-- RFC 3339 text with as many fractional digits as it needs, which does not sort as text
-- within a second, so batches are ordered (and indexed) by its Julian day number.
CREATE INDEX payout_batches_by_time ON payout_batches (julianday(created_at) DESC, batch_id DESC);
