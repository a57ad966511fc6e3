//! Services the plan excludes.

use super::whole_line;
use crate::claim::ServiceLine;
use crate::plan::terms::{PlanTerms, ProcedureTerms};
use crate::reason::{Adjustment, GroupCode, ReasonCode};

/// **Exclusions (CARC 204, 96).** A procedure the plan excludes is not covered under the
/// member's benefit plan (CO-204), even where the fee schedule prices it; a line treating a
/// diagnosis the plan excludes is a non-covered charge (CO-96). The provider writes it off.
/// `procedure` is what the plan's `terms` say about the line's procedure.
pub fn excluded(
    terms: &PlanTerms,
    procedure: &ProcedureTerms,
    line: &ServiceLine,
) -> Option<Adjustment> {
    if procedure.excluded {
        return Some(whole_line(
            line,
            GroupCode::CO,
            ReasonCode::NotCoveredByPlan,
        ));
    }
    line.diagnoses
        .iter()
        .any(|diagnosis| terms.excludes_diagnosis(diagnosis))
        .then(|| whole_line(line, GroupCode::CO, ReasonCode::NonCovered))
}
