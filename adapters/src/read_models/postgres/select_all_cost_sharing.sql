-- Every contribution to every member's benefit years.
SELECT member_id, benefit_year, claim_id, currency, deductible::text AS deductible,
       out_of_pocket::text AS out_of_pocket
FROM member_cost_sharing
