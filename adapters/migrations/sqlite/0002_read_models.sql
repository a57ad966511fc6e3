-- Read models, projected from the log (adapters/src/read_models). Dropping every row and
-- replaying the log rebuilds them identically. Amounts are exact decimal text beside their
-- currency: SQLite has no exact decimal type, and a REAL would round.

-- Where each claim is, and what it comes to.
CREATE TABLE claim_status (
    claim_id              TEXT    PRIMARY KEY,
    -- The version of the last event of the claim's stream applied: a row only moves forward.
    stream_version        INTEGER NOT NULL,
    insurer               TEXT    NOT NULL,
    insurer_ref           TEXT    NOT NULL,
    member_id             TEXT    NOT NULL,
    provider_id           TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    received_on           TEXT    NOT NULL,
    currency              TEXT    NOT NULL,
    billed                TEXT    NOT NULL,
    decided_on            TEXT,
    payer_paid            TEXT,
    member_responsibility TEXT,
    batch_id              TEXT,
    transaction_hash      TEXT
);

CREATE INDEX claim_status_by_insurer ON claim_status (insurer, received_on, claim_id);

-- Why each part of each line was not paid.
CREATE TABLE claim_adjustments (
    claim_id    TEXT    NOT NULL,
    line        INTEGER NOT NULL,
    sequence    INTEGER NOT NULL,
    group_code  TEXT    NOT NULL,
    reason_code INTEGER NOT NULL,
    currency    TEXT    NOT NULL,
    amount      TEXT    NOT NULL,
    PRIMARY KEY (claim_id, line, sequence)
);

-- Payout batches and, once confirmed, their transaction.
CREATE TABLE payout_batches (
    batch_id         TEXT    PRIMARY KEY,
    created_at       TEXT    NOT NULL,
    transaction_hash TEXT,
    block            INTEGER
);

-- What each batch pays for each claim.
CREATE TABLE remittances (
    batch_id    TEXT NOT NULL,
    claim_id    TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    wallet      TEXT NOT NULL,
    currency    TEXT NOT NULL,
    amount      TEXT NOT NULL,
    PRIMARY KEY (batch_id, claim_id)
);

CREATE INDEX remittances_by_provider ON remittances (provider_id, batch_id);

-- Each claim's contribution to a member's benefit year; the totals are their sums.
CREATE TABLE member_cost_sharing (
    member_id     TEXT    NOT NULL,
    benefit_year  INTEGER NOT NULL,
    claim_id      TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    deductible    TEXT    NOT NULL,
    out_of_pocket TEXT    NOT NULL,
    PRIMARY KEY (member_id, benefit_year, claim_id)
);
