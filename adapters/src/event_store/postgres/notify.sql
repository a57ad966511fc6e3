-- A wake-up hint to the readers of the log: sent outside every append's transaction.
SELECT pg_notify($1, '')
