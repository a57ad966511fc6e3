//! Claim adjustment reason codes (CARC) and group codes: why a cent of what was billed was
//! not paid by the plan, in the words every payer and provider back office already uses.

use crate::money::Money;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Who bears an adjustment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GroupCode {
    /// Contractual obligation: the provider writes it off; the member never owes it.
    CO,
    /// Patient responsibility: the member owes it.
    PR,
    /// Other adjustment.
    OA,
    /// Payer-initiated reduction.
    PI,
}

/// A claim adjustment reason code (X12 CARC), by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "u16", try_from = "u16")]
pub enum ReasonCode {
    /// 1: deductible amount.
    Deductible,
    /// 2: coinsurance amount.
    Coinsurance,
    /// 3: co-payment amount.
    Copay,
    /// 27: expenses incurred after coverage terminated (or before it began).
    CoverageNotActive,
    /// 45: charge exceeds the fee schedule or maximum allowable amount.
    ExceedsFeeSchedule,
    /// 96: non-covered charge.
    NonCovered,
}

impl ReasonCode {
    /// The CARC number.
    pub fn code(self) -> u16 {
        match self {
            ReasonCode::Deductible => 1,
            ReasonCode::Coinsurance => 2,
            ReasonCode::Copay => 3,
            ReasonCode::CoverageNotActive => 27,
            ReasonCode::ExceedsFeeSchedule => 45,
            ReasonCode::NonCovered => 96,
        }
    }

    /// The standard description.
    pub fn description(self) -> &'static str {
        match self {
            ReasonCode::Deductible => "deductible amount",
            ReasonCode::Coinsurance => "coinsurance amount",
            ReasonCode::Copay => "co-payment amount",
            ReasonCode::CoverageNotActive => "expenses incurred outside the coverage period",
            ReasonCode::ExceedsFeeSchedule => "charge exceeds fee schedule/maximum allowable",
            ReasonCode::NonCovered => "non-covered charge",
        }
    }
}

impl From<ReasonCode> for u16 {
    fn from(code: ReasonCode) -> u16 {
        code.code()
    }
}

impl TryFrom<u16> for ReasonCode {
    type Error = String;

    fn try_from(code: u16) -> Result<Self, Self::Error> {
        Ok(match code {
            1 => ReasonCode::Deductible,
            2 => ReasonCode::Coinsurance,
            3 => ReasonCode::Copay,
            27 => ReasonCode::CoverageNotActive,
            45 => ReasonCode::ExceedsFeeSchedule,
            96 => ReasonCode::NonCovered,
            other => return Err(format!("reason code {other} is not one the engine knows")),
        })
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// One reason the plan did not pay part of a line: `PR-1 250.00 USD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Adjustment {
    /// Who bears it.
    pub group: GroupCode,
    /// Why.
    pub reason: ReasonCode,
    /// How much.
    pub amount: Money,
}

impl Adjustment {
    /// `group-reason`, such as `PR-1`.
    pub fn code(&self) -> String {
        format!("{:?}-{}", self.group, self.reason)
    }
}

impl fmt::Display for Adjustment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.amount)
    }
}
