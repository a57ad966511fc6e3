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
    /// 15: the authorisation number is missing, invalid, or does not apply to the billed
    /// services or provider.
    AuthorizationInvalid,
    /// 18: exact duplicate claim or service.
    Duplicate,
    /// 22: this care may be covered by another payer per coordination of benefits.
    OtherPayerFirst,
    /// 23: the impact of prior payer(s) adjudication, including payments and adjustments.
    PriorPayerImpact,
    /// 27: expenses incurred after coverage terminated (or before it began).
    CoverageNotActive,
    /// 29: the time limit for filing has expired.
    FilingLimitExpired,
    /// 31: the patient cannot be identified as our insured.
    NotOurInsured,
    /// 45: charge exceeds the fee schedule or maximum allowable amount.
    ExceedsFeeSchedule,
    /// 96: non-covered charge.
    NonCovered,
    /// 97: the benefit for this service is included in the payment for another service
    /// adjudicated with it.
    Bundled,
    /// 119: benefit maximum for this time period or occurrence has been reached.
    BenefitMaximumReached,
    /// 185: the rendering provider is not eligible to perform the service billed.
    ProviderNotEligible,
    /// 197: precertification, authorisation, notification or pre-treatment absent.
    AuthorizationAbsent,
    /// 204: this service is not covered under the patient's current benefit plan.
    NotCoveredByPlan,
    /// 242: services not provided by network/primary care providers.
    OutOfNetwork,
}

impl ReasonCode {
    /// The CARC number.
    pub fn code(self) -> u16 {
        match self {
            ReasonCode::Deductible => 1,
            ReasonCode::Coinsurance => 2,
            ReasonCode::Copay => 3,
            ReasonCode::AuthorizationInvalid => 15,
            ReasonCode::Duplicate => 18,
            ReasonCode::OtherPayerFirst => 22,
            ReasonCode::PriorPayerImpact => 23,
            ReasonCode::CoverageNotActive => 27,
            ReasonCode::FilingLimitExpired => 29,
            ReasonCode::NotOurInsured => 31,
            ReasonCode::ExceedsFeeSchedule => 45,
            ReasonCode::NonCovered => 96,
            ReasonCode::Bundled => 97,
            ReasonCode::BenefitMaximumReached => 119,
            ReasonCode::ProviderNotEligible => 185,
            ReasonCode::AuthorizationAbsent => 197,
            ReasonCode::NotCoveredByPlan => 204,
            ReasonCode::OutOfNetwork => 242,
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
            ReasonCode::AuthorizationInvalid => {
                "authorization number missing, invalid, or does not apply to the billed services or provider"
            }
            ReasonCode::Duplicate => "exact duplicate claim/service",
            ReasonCode::OtherPayerFirst => {
                "this care may be covered by another payer per coordination of benefits"
            }
            ReasonCode::PriorPayerImpact => {
                "the impact of prior payer(s) adjudication including payments and/or adjustments"
            }
            ReasonCode::FilingLimitExpired => "time limit for filing has expired",
            ReasonCode::NotOurInsured => "patient cannot be identified as our insured",
            ReasonCode::Bundled => {
                "the benefit for this service is included in the payment/allowance for another service/procedure that has already been adjudicated"
            }
            ReasonCode::BenefitMaximumReached => {
                "benefit maximum for this time period or occurrence has been reached"
            }
            ReasonCode::ProviderNotEligible => {
                "the rendering provider is not eligible to perform the service billed"
            }
            ReasonCode::AuthorizationAbsent => {
                "precertification/authorization/notification/pre-treatment absent"
            }
            ReasonCode::NotCoveredByPlan => {
                "this service/equipment/drug is not covered under the patient's current benefit plan"
            }
            ReasonCode::OutOfNetwork => "services not provided by network/primary care providers",
        }
    }
}

impl ReasonCode {
    /// Every code the engine emits, in CARC order.
    pub const ALL: [ReasonCode; 18] = [
        ReasonCode::Deductible,
        ReasonCode::Coinsurance,
        ReasonCode::Copay,
        ReasonCode::AuthorizationInvalid,
        ReasonCode::Duplicate,
        ReasonCode::OtherPayerFirst,
        ReasonCode::PriorPayerImpact,
        ReasonCode::CoverageNotActive,
        ReasonCode::FilingLimitExpired,
        ReasonCode::NotOurInsured,
        ReasonCode::ExceedsFeeSchedule,
        ReasonCode::NonCovered,
        ReasonCode::Bundled,
        ReasonCode::BenefitMaximumReached,
        ReasonCode::ProviderNotEligible,
        ReasonCode::AuthorizationAbsent,
        ReasonCode::NotCoveredByPlan,
        ReasonCode::OutOfNetwork,
    ];
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
            15 => ReasonCode::AuthorizationInvalid,
            18 => ReasonCode::Duplicate,
            22 => ReasonCode::OtherPayerFirst,
            23 => ReasonCode::PriorPayerImpact,
            27 => ReasonCode::CoverageNotActive,
            29 => ReasonCode::FilingLimitExpired,
            31 => ReasonCode::NotOurInsured,
            45 => ReasonCode::ExceedsFeeSchedule,
            96 => ReasonCode::NonCovered,
            97 => ReasonCode::Bundled,
            119 => ReasonCode::BenefitMaximumReached,
            185 => ReasonCode::ProviderNotEligible,
            197 => ReasonCode::AuthorizationAbsent,
            204 => ReasonCode::NotCoveredByPlan,
            242 => ReasonCode::OutOfNetwork,
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
