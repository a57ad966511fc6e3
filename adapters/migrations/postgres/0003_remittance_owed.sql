-- What a payout batch could not transfer to a provider and the contract holds as owed
-- until the provider withdraws it (one row per provider's wallet and batch).
CREATE TABLE remittance_owed (
    batch_id TEXT NOT NULL,
    wallet   TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount   NUMERIC NOT NULL,
    PRIMARY KEY (batch_id, wallet)
);
