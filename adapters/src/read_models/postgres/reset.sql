-- Empties every read model and forgets their position: the start of a rebuild.
DELETE FROM claim_status;
DELETE FROM claim_adjustments;
DELETE FROM payout_batches;
DELETE FROM remittances;
DELETE FROM remittance_owed;
DELETE FROM remittance_withholdings;
DELETE FROM member_cost_sharing;
DELETE FROM checkpoints WHERE reader = 'read-models';
