-- The event log: the truth of every claim, plan, member, provider, accumulator and payout.
--
-- One row per event. `sequence` orders the whole log; SQLite has one writer at a time, so
-- insertion order is commit order and `sequence` doubles as the log position's transaction.
-- AUTOINCREMENT guarantees a sequence is never reused, even after the last row is deleted,
-- so a reader's checkpoint can never point at a different event later.
CREATE TABLE events (
    sequence       INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT    NOT NULL UNIQUE,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL CHECK (version >= 1),
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        TEXT    NOT NULL CHECK (json_valid(payload)),
    metadata       TEXT    NOT NULL CHECK (json_valid(metadata)),
    recorded_at    TEXT    NOT NULL,
    UNIQUE (stream_id, version)
);

-- Stored events are facts: nothing may change or remove them.
CREATE TRIGGER events_are_immutable_on_update
BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'stored events are immutable');
END;

CREATE TRIGGER events_are_immutable_on_delete
BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'stored events are immutable');
END;

-- Where each named reader of the log (a relay, a projection) has got to.
CREATE TABLE checkpoints (
    reader     TEXT    PRIMARY KEY,
    txn        INTEGER NOT NULL,
    sequence   INTEGER NOT NULL,
    updated_at TEXT    NOT NULL
);
