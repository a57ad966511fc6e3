-- A wake-up hint to the readers of the log: sent outside every append's transaction,
-- signed with the sending store's id so that its own listener can skip it.
SELECT pg_notify($1, $2)
