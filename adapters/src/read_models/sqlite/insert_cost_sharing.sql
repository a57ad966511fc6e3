-- One claim's contribution to a member's benefit year.
INSERT INTO member_cost_sharing
    (member_id, benefit_year, claim_id, currency, deductible, out_of_pocket)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (member_id, benefit_year, claim_id) DO NOTHING
