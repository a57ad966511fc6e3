-- The event log: the truth of every claim, plan, member, provider, accumulator and payout.
--
-- One row per event. `global_position` is unique and increases with insertion, but several
-- writers insert at once, so positions are not handed out in commit order: a reader that
-- followed `global_position` alone would skip a row whose transaction commits after a
-- later-numbered row's. `tx_id` is the writing transaction's id; readers order by
-- `(tx_id, global_position)` and stop below the oldest transaction still in flight (see
-- `read_all.sql`), which never skips. Requires PostgreSQL 13 or later (`xid8`).
CREATE TABLE events (
    global_position bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid        NOT NULL,
    stream_id       text        NOT NULL,
    version         bigint      NOT NULL CHECK (version >= 1),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    tx_id           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    -- Idempotency: a client-assigned id is stored once.
    CONSTRAINT events_event_id_unique UNIQUE (event_id),
    -- Optimistic concurrency: of two writers at one version, the second one's insert fails.
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, version)
);

-- The gap-safe reading order (`read_all.sql`).
CREATE INDEX events_tx_id_global_position ON events (tx_id, global_position);

-- Stored events are facts: nothing may change or remove them.
CREATE FUNCTION refuse_to_change_stored_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stored events are immutable (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_are_immutable_on_update_or_delete
BEFORE UPDATE OR DELETE ON events
FOR EACH ROW EXECUTE FUNCTION refuse_to_change_stored_events();

CREATE TRIGGER events_are_immutable_on_truncate
BEFORE TRUNCATE ON events
FOR EACH STATEMENT EXECUTE FUNCTION refuse_to_change_stored_events();

-- Where each named reader of the log (a relay, a projection) has got to. `txn` has the
-- type of `events.tx_id`, so any position a reader was given can be stored.
CREATE TABLE checkpoints (
    reader     text        PRIMARY KEY,
    txn        xid8        NOT NULL,
    sequence   bigint      NOT NULL CHECK (sequence >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
