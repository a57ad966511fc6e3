//! Code-pair edits: a component procedure billed with its comprehensive procedure on the
//! same day is included in the latter's payment.

use super::whole_line;
use crate::claim::ServiceLine;
use crate::coding::Modifier;
use crate::plan::terms::ProcedureTerms;
use crate::reason::{Adjustment, GroupCode, ReasonCode};
use std::collections::BTreeSet;

/// **Code-pair edit (CARC 97).** A line whose procedure is the column-two code of one of the
/// plan's edits, billed on the same day as a line with the column-one code, is bundled into
/// that line and not paid (CO-97), unless the edit allows a modifier and the line carries
/// a distinct-service modifier (59, XE, XS, XP, XU).
/// `procedure` is what the plan says about the line's procedure: the edits whose column-two
/// code it is.
pub fn bundled(
    procedure: &ProcedureTerms,
    line: &ServiceLine,
    modifiers: &BTreeSet<Modifier>,
    claim_lines: &[ServiceLine],
) -> Option<Adjustment> {
    // Most procedures are the column-two code of no edit.
    if procedure.bundled_into.is_empty() {
        return None;
    }
    let distinct = modifiers.iter().any(Modifier::marks_distinct_service);
    procedure
        .bundled_into
        .iter()
        .filter(|edit| !(edit.modifier_allowed && distinct))
        .any(|edit| {
            claim_lines.iter().any(|other| {
                other.number != line.number
                    && other.procedure == edit.column_one
                    && other.date_of_service == line.date_of_service
            })
        })
        .then(|| whole_line(line, GroupCode::CO, ReasonCode::Bundled))
}
