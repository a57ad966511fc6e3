//! The adjudication rules beyond pricing and cost sharing, one family per file. Each rule
//! is a small pure function that looks at one service line and what it needs of the
//! claim, the plan and the adjudication input, and returns what it adjusted and why
//! (group code, reason code, amount). [`crate::adjudication`] applies them in its
//! documented order.

pub mod authorization;
pub mod code_pairs;
pub mod coordination;
pub mod duplicates;
pub mod eligibility;
pub mod exclusions;
pub mod filing;
pub mod limits;

use crate::claim::ServiceLine;
use crate::reason::{Adjustment, GroupCode, ReasonCode};

/// The whole billed amount of a line, not paid for one reason.
fn whole_line(line: &ServiceLine, group: GroupCode, reason: ReasonCode) -> Adjustment {
    Adjustment {
        group,
        reason,
        amount: line.billed,
    }
}
