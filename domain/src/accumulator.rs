//! A member's benefit-year accumulators: how much of the deductible and of the
//! out-of-pocket maximum the member has already paid this year.
//!
//! Claims of the same member share this state, which is why it is an aggregate of its own:
//! a claim's decision and the accumulator's events are stored together, each at the
//! version it was decided on, so two workers can never both apply the same deductible.

use crate::decider::Decider;
use crate::ids::{ClaimId, MemberId, ServiceCategory};
use crate::money::{Currency, Money, MoneyError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A benefit year: the calendar year of the date of service.
pub type BenefitYear = i32;

/// What a member has paid so far in one benefit year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accumulated {
    /// Paid toward the deductible.
    pub deductible: Money,
    /// Paid toward the out-of-pocket maximum (deductible, copays and coinsurance).
    pub out_of_pocket: Money,
}

impl Accumulated {
    /// Nothing paid yet.
    pub fn zero(currency: Currency) -> Self {
        Self {
            deductible: Money::zero(currency),
            out_of_pocket: Money::zero(currency),
        }
    }
}

/// What the plan has provided a member so far in one benefit year, for its benefit limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenefitsUsed {
    /// Visits (lines the plan allowed) by service category.
    #[serde(default)]
    pub visits: BTreeMap<ServiceCategory, u32>,
    /// What the plan has paid (counts toward its annual maximum).
    pub plan_paid: Money,
}

impl BenefitsUsed {
    /// Nothing used yet.
    pub fn none(currency: Currency) -> Self {
        Self {
            visits: BTreeMap::new(),
            plan_paid: Money::zero(currency),
        }
    }

    /// Visits used in a category.
    pub fn visits_in(&self, category: &ServiceCategory) -> u32 {
        self.visits.get(category).copied().unwrap_or(0)
    }
}

/// A member's accumulators for one benefit year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BenefitYearState {
    /// The totals, once anything has been applied.
    pub totals: Option<Accumulated>,
    /// The claims whose cost sharing is included.
    pub applied_claims: BTreeSet<ClaimId>,
}

impl BenefitYearState {
    /// The totals in `currency`, zero if nothing has been applied yet.
    pub fn accumulated(&self, currency: Currency) -> Accumulated {
        self.totals.unwrap_or(Accumulated::zero(currency))
    }
}

/// Commands on a benefit year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccumulatorCommand {
    /// Adds one claim's cost sharing to the year's totals.
    ApplyCostSharing {
        /// The member.
        member: MemberId,
        /// The claim whose cost sharing it is (applied at most once).
        claim: ClaimId,
        /// What the member pays toward the deductible.
        deductible: Money,
        /// What the member pays in all (counts toward the out-of-pocket maximum).
        out_of_pocket: Money,
        /// The plan's limits the totals must stay within.
        limits: Accumulated,
    },
}

/// What happened to a benefit year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AccumulatorEvent {
    /// A claim's cost sharing was added to the year's totals.
    CostSharingApplied {
        /// The member.
        member: MemberId,
        /// The claim.
        claim: ClaimId,
        /// Added to the deductible paid.
        deductible: Money,
        /// Added to the out-of-pocket paid.
        out_of_pocket: Money,
    },
}

/// Why cost sharing could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccumulatorError {
    /// The claim's deductible would take the year past the plan's deductible: the claim
    /// was decided on stale totals and must be decided again.
    #[error(
        "applying {applied} would take the deductible paid to {total}, above the plan's {limit}"
    )]
    DeductibleExceeded {
        /// What the claim applies.
        applied: Money,
        /// What the total would become.
        total: Money,
        /// The plan's deductible.
        limit: Money,
    },
    /// The claim's cost sharing would take the year past the out-of-pocket maximum.
    #[error(
        "applying {applied} would take the out-of-pocket paid to {total}, above the plan's maximum of {limit}"
    )]
    OutOfPocketExceeded {
        /// What the claim applies.
        applied: Money,
        /// What the total would become.
        total: Money,
        /// The plan's maximum.
        limit: Money,
    },
    /// Negative cost sharing is a refund, which this command does not do.
    #[error("cost sharing cannot be negative ({0})")]
    Negative(Money),
    /// Amounts in different currencies, or out of range.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// The benefit-year accumulator aggregate.
pub struct AccumulatorDecider;

impl Decider for AccumulatorDecider {
    type State = BenefitYearState;
    type Command = AccumulatorCommand;
    type Event = AccumulatorEvent;
    type Error = AccumulatorError;

    fn decide(
        state: &BenefitYearState,
        command: AccumulatorCommand,
    ) -> Result<Vec<AccumulatorEvent>, AccumulatorError> {
        let AccumulatorCommand::ApplyCostSharing {
            member,
            claim,
            deductible,
            out_of_pocket,
            limits,
        } = command;
        if state.applied_claims.contains(&claim) {
            return Ok(vec![]);
        }
        for amount in [deductible, out_of_pocket] {
            if amount.is_negative() {
                return Err(AccumulatorError::Negative(amount));
            }
        }
        let totals = state.accumulated(limits.deductible.currency());
        // Only an addition can pass a limit. The totals may already stand above a limit that
        // a later plan revision lowered; adjudication then leaves nothing of it to pay and
        // the claim adds zero to that total, which must still be accepted, or the claim
        // could never be decided.
        let deductible_total = totals.deductible.checked_add(deductible)?;
        if deductible.is_positive() && deductible_total.amount() > limits.deductible.amount() {
            return Err(AccumulatorError::DeductibleExceeded {
                applied: deductible,
                total: deductible_total,
                limit: limits.deductible,
            });
        }
        let out_of_pocket_total = totals.out_of_pocket.checked_add(out_of_pocket)?;
        if out_of_pocket.is_positive()
            && out_of_pocket_total.amount() > limits.out_of_pocket.amount()
        {
            return Err(AccumulatorError::OutOfPocketExceeded {
                applied: out_of_pocket,
                total: out_of_pocket_total,
                limit: limits.out_of_pocket,
            });
        }
        Ok(vec![AccumulatorEvent::CostSharingApplied {
            member,
            claim,
            deductible,
            out_of_pocket,
        }])
    }

    fn evolve(mut state: BenefitYearState, event: &AccumulatorEvent) -> BenefitYearState {
        let AccumulatorEvent::CostSharingApplied {
            claim,
            deductible,
            out_of_pocket,
            ..
        } = event;
        let totals = state.accumulated(deductible.currency());
        // Events were validated when decided; an overflow here would mean a corrupt log,
        // and keeping the previous total is the least surprising fold.
        state.totals = Some(Accumulated {
            deductible: totals
                .deductible
                .checked_add(*deductible)
                .unwrap_or(totals.deductible),
            out_of_pocket: totals
                .out_of_pocket
                .checked_add(*out_of_pocket)
                .unwrap_or(totals.out_of_pocket),
        });
        state.applied_claims.insert(*claim);
        state
    }
}
