//! Benefit limits: visits per benefit year by category, and the plan's annual maximum.

use super::whole_line;
use crate::claim::ServiceLine;
use crate::money::{Money, MoneyError};
use crate::reason::{Adjustment, GroupCode, ReasonCode};

/// **Visit limit (CARC 119).** With `used` visits of a category already used this year
/// (earlier claims and earlier lines of this one), a line beyond the category's limit is
/// not paid (CO-119). One line is one visit.
pub fn visit_limit(limit: Option<u32>, used: u32, line: &ServiceLine) -> Option<Adjustment> {
    let limit = limit?;
    (used >= limit).then(|| whole_line(line, GroupCode::CO, ReasonCode::BenefitMaximumReached))
}

/// What the plan pays on a line once its annual maximum is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WithinMaximum {
    /// What the plan pays.
    pub plan_pays: Money,
    /// What moves to the member because the maximum is reached (PR-119).
    pub beyond_maximum: Money,
}

/// **Annual maximum (CARC 119).** The plan never pays more in a benefit year than its
/// annual maximum: of what it would pay on a line, the part beyond what remains of the
/// maximum moves to the member (PR-119). No maximum, no change.
pub fn cap_at_annual_maximum(
    plan_pays: Money,
    remaining: Option<Money>,
) -> Result<WithinMaximum, MoneyError> {
    let Some(remaining) = remaining else {
        return Ok(WithinMaximum {
            plan_pays,
            beyond_maximum: Money::zero(plan_pays.currency()),
        });
    };
    let capped = plan_pays.min(remaining.at_least_zero())?;
    Ok(WithinMaximum {
        plan_pays: capped,
        beyond_maximum: plan_pays.checked_sub(capped)?,
    })
}
