-- One claim's contribution to a member's benefit year.
INSERT INTO member_cost_sharing
    (member_id, benefit_year, claim_id, currency, deductible, out_of_pocket)
VALUES ($1, $2, $3, $4, $5::numeric, $6::numeric)
ON CONFLICT (member_id, benefit_year, claim_id) DO NOTHING
