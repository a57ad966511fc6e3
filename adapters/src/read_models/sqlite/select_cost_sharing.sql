-- Every contribution to a member's benefit years.
SELECT member_id, benefit_year, claim_id, currency, deductible, out_of_pocket
FROM member_cost_sharing
WHERE member_id = ?
