-- What a payout withheld from a claim to recover a provider's recouped claim (one row per
-- batch, claim paid and claim recouped): the provider-level overpayment recovery of an 835.
CREATE TABLE remittance_withholdings (
    batch_id          TEXT NOT NULL,
    claim_id          TEXT NOT NULL,
    recouped_claim_id TEXT NOT NULL,
    currency          TEXT NOT NULL,
    amount            NUMERIC NOT NULL,
    PRIMARY KEY (batch_id, claim_id, recouped_claim_id)
);
