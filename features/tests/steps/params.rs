//! The values analysts write in steps, each with its own parameter name so a step reads
//! as the business writes it: `400.00 USD`, `600.00` (USDC), `2026-03-02`, `20%`.

use chrono::NaiveDate;
use claims_domain::{Money, Rate};
use cucumber::Parameter;
use rust_decimal::Decimal;
use std::str::FromStr;

/// An amount of money with its currency: `400.00 USD`.
#[derive(Debug, Clone, Copy, Parameter)]
#[param(name = "money", regex = r"-?\d+(?:\.\d+)? [A-Z]{3}")]
pub struct MoneyParam(pub Money);

impl FromStr for MoneyParam {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse()
            .map(MoneyParam)
            .map_err(|error: claims_domain::MoneyError| error.to_string())
    }
}

/// A number of tokens: `600.00`.
#[derive(Debug, Clone, Copy, Parameter)]
#[param(name = "amount", regex = r"\d+(?:\.\d+)?")]
pub struct AmountParam(pub Decimal);

impl FromStr for AmountParam {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decimal::from_str_exact(s)
            .map(AmountParam)
            .map_err(|error| error.to_string())
    }
}

/// A day: `2026-03-02`.
#[derive(Debug, Clone, Copy, Parameter)]
#[param(name = "date", regex = r"\d{4}-\d{2}-\d{2}")]
pub struct DateParam(pub NaiveDate);

impl FromStr for DateParam {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse()
            .map(DateParam)
            .map_err(|error: chrono::ParseError| format!("{s} is not a date: {error}"))
    }
}

/// A percentage: `20%`.
#[derive(Debug, Clone, Copy, Parameter)]
#[param(name = "percent", regex = r"\d+(?:\.\d+)?%")]
pub struct PercentParam(pub Rate);

impl FromStr for PercentParam {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse()
            .map(PercentParam)
            .map_err(|error: claims_domain::MoneyError| error.to_string())
    }
}

/// A claim's status as analysts say it: `approved`, `denied`, `pended`, `paid`, `voided`
/// or `replaced`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Parameter)]
#[param(name = "status", regex = "approved|denied|pended|paid|voided|replaced")]
pub struct StatusParam(pub &'static str);

impl FromStr for StatusParam {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ["approved", "denied", "pended", "paid", "voided", "replaced"]
            .into_iter()
            .find(|status| *status == s)
            .map(StatusParam)
            .ok_or_else(|| {
                format!("{s:?} is not approved, denied, pended, paid, voided or replaced")
            })
    }
}

/// A period unit for filing limits: `days` or `months`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Parameter)]
#[param(name = "period", regex = "days|months")]
pub enum PeriodParam {
    /// Calendar days.
    Days,
    /// Calendar months.
    Months,
}

impl FromStr for PeriodParam {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "months" => Ok(PeriodParam::Months),
            "days" => Ok(PeriodParam::Days),
            other => Err(format!("{other:?} is neither days nor months")),
        }
    }
}
