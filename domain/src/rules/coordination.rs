//! Coordination of benefits: when the member's other coverage pays first, this plan pays
//! second and takes the primary payer's payment into account.

use super::whole_line;
use crate::adjudication::CostShares;
use crate::claim::ServiceLine;
use crate::money::{Money, MoneyError};
use crate::plan::CoordinationMethod;
use crate::reason::{Adjustment, GroupCode, ReasonCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether this plan pays first or second for the claim.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "order", rename_all = "kebab-case")]
pub enum Coordination {
    /// This plan pays first (the member has no other coverage, or it pays second).
    #[default]
    Primary,
    /// Another payer pays first. Its payment per line number, from its remittance; a line
    /// missing here has not been adjudicated by the primary payer yet.
    Secondary {
        /// What the primary payer paid, by line number.
        primary_paid: BTreeMap<u32, Money>,
    },
}

/// **Other payer first (CARC 22).** When this plan pays second and the primary payer's
/// adjudication of a line is missing, the line goes to the primary payer first: not paid
/// here (CO-22).
pub fn primary_adjudication_missing(
    coordination: &Coordination,
    line: &ServiceLine,
) -> Option<Adjustment> {
    match coordination {
        Coordination::Secondary { primary_paid } if !primary_paid.contains_key(&line.number) => {
            Some(whole_line(line, GroupCode::CO, ReasonCode::OtherPayerFirst))
        }
        _ => None,
    }
}

/// A line's cost sharing after the primary payer's payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coordinated {
    /// What the member still owes.
    pub shares: CostShares,
    /// The part of the allowed amount settled by the primary payer (OA-23).
    pub prior_payer: Money,
}

/// **Prior payer's impact (CARC 23).** As secondary payer, with `normal` the member's cost
/// sharing had this plan paid first (so the plan's normal benefit is allowed − normal):
///
/// - *standard*: the plan pays its normal benefit but never more than the primary left of
///   the allowed amount; the primary's payment settles the member's share first
///   (coinsurance, then deductible, then copay) and the rest of it is OA-23;
/// - *non-duplication*: the plan pays its normal benefit less the primary's payment; the
///   member's share stays, and what the primary paid of the plan's benefit is OA-23.
///
/// The primary's payment counts at most up to the allowed amount.
pub fn coordinate(
    method: CoordinationMethod,
    allowed: Money,
    normal: CostShares,
    primary_paid: Money,
) -> Result<Coordinated, MoneyError> {
    let primary_paid = primary_paid.at_least_zero().min(allowed)?;
    match method {
        CoordinationMethod::Standard => {
            let mut credit = primary_paid;
            let mut shares = normal;
            for share in [
                &mut shares.coinsurance,
                &mut shares.deductible,
                &mut shares.copay,
            ] {
                let settled = credit.min(*share)?;
                *share = share.checked_sub(settled)?;
                credit = credit.checked_sub(settled)?;
            }
            Ok(Coordinated {
                shares,
                prior_payer: primary_paid,
            })
        }
        CoordinationMethod::NonDuplication => {
            let normal_benefit = allowed.checked_sub(normal.total()?)?;
            Ok(Coordinated {
                shares: normal,
                prior_payer: primary_paid.min(normal_benefit)?,
            })
        }
    }
}
