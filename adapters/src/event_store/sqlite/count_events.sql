-- How many events the log holds (for progress reports).
SELECT count(*) FROM events
