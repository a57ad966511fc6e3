-- A claim's adjustments, replaced when the claim is decided again.
DELETE FROM claim_adjustments WHERE claim_id = ?
