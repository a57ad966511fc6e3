//! Duplicate detection against the member's earlier claims.

use super::whole_line;
use crate::claim::{Claim, ServiceLine};
use crate::coding::Modifier;
use crate::ids::{ClaimId, ProcedureCode, ProviderId};
use crate::money::Money;
use crate::reason::{Adjustment, GroupCode, ReasonCode};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A line of one of the member's earlier claims that the plan allowed: what duplicate
/// detection compares a new line with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorService {
    /// The earlier claim.
    pub claim: ClaimId,
    /// Its provider.
    pub provider: ProviderId,
    /// The line's date of service.
    pub date_of_service: NaiveDate,
    /// The line's procedure.
    pub procedure: ProcedureCode,
    /// The line's modifiers.
    #[serde(default)]
    pub modifiers: BTreeSet<Modifier>,
    /// The line's units.
    pub units: u32,
    /// What the line billed.
    pub billed: Money,
}

/// **Duplicate (CARC 18).** A line that repeats a service the plan already allowed on
/// another claim (same provider, date of service, procedure, modifiers, units and billed
/// amount) is not paid again (OA-18). The claim's own earlier decision is not a duplicate
/// of itself.
pub fn duplicate(
    claim: &Claim,
    line: &ServiceLine,
    modifiers: &BTreeSet<Modifier>,
    history: &[PriorService],
) -> Option<Adjustment> {
    // Every line is compared with the whole year, so the cheapest and most telling
    // comparisons come first: the date and units (integers) rule out almost every earlier
    // service before a code or an id is compared as text.
    history
        .iter()
        .any(|prior| {
            prior.date_of_service == line.date_of_service
                && prior.units == line.units
                && prior.procedure == line.procedure
                && prior.billed == line.billed
                && prior.provider == claim.provider
                && prior.modifiers == *modifiers
                && prior.claim != claim.id
        })
        .then(|| whole_line(line, GroupCode::OA, ReasonCode::Duplicate))
}
