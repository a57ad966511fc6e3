-- The scratch table of the raw insert ceiling: the event log's exact definition (columns,
-- defaults, identity, checks, unique constraints and indexes), in the benchmark's schema,
-- without the store in front of it. Triggers are not copied; the log's only fire on
-- UPDATE, DELETE and TRUNCATE, which the benchmark never does.
CREATE TABLE raw_events (LIKE events INCLUDING ALL)
