-- The one row `EventStore::check` writes. A database that answers reads but refuses
-- writes (a full disk, a read-only file) is as unavailable to the roles as one that
-- does not answer, so the check is a write.
CREATE TABLE store_checks (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TEXT NOT NULL
);
