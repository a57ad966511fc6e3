-- A claim's contribution to a member's benefit year, given back (voided, replaced, appealed).
DELETE FROM member_cost_sharing
WHERE member_id = ? AND benefit_year = ? AND claim_id = ?
