//! Services the plan excludes.

use super::whole_line;
use crate::claim::ServiceLine;
use crate::plan::PlanRules;
use crate::reason::{Adjustment, GroupCode, ReasonCode};

/// **Exclusions (CARC 204, 96).** A procedure the plan excludes is not covered under the
/// member's benefit plan (CO-204), even where the fee schedule prices it; a line treating a
/// diagnosis the plan excludes is a non-covered charge (CO-96). The provider writes it off.
pub fn excluded(rules: &PlanRules, line: &ServiceLine) -> Option<Adjustment> {
    if rules.excluded_procedures.contains(&line.procedure) {
        return Some(whole_line(
            line,
            GroupCode::CO,
            ReasonCode::NotCoveredByPlan,
        ));
    }
    line.diagnoses
        .iter()
        .any(|diagnosis| rules.excluded_diagnoses.contains(diagnosis))
        .then(|| whole_line(line, GroupCode::CO, ReasonCode::NonCovered))
}
