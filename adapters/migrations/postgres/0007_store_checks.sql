-- The one row `EventStore::check` writes. A database that answers reads but refuses
-- writes (a standby not yet promoted after a failover, a database set read-only for
-- maintenance, a full disk) is as unavailable to the roles as one that does not answer,
-- so the check is a write.
CREATE TABLE store_checks (
    id smallint PRIMARY KEY CHECK (id = 1),
    checked_at timestamptz NOT NULL
);
