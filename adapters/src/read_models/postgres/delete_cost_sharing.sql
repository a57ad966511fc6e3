-- A claim's contribution to a member's benefit year, given back (voided, replaced, appealed).
DELETE FROM member_cost_sharing
WHERE member_id = $1 AND benefit_year = $2 AND claim_id = $3
