//! A member's benefit-year accumulators: how much of the deductible and of the
//! out-of-pocket maximum the member has already paid this year.
//!
//! Claims of the same member share this state, which is why it is an aggregate of its own:
//! a claim's decision and the accumulator's events are stored together, each at the
//! version it was decided on, so two workers can never both apply the same deductible.
//!
//! The same stream records what the plan provided that year (visits by category, what it
//! paid, the services it allowed), for the visit limits, the annual maximum and duplicate
//! detection; stored with the decision, a duplicate can never slip in between two workers.
//! A family's benefit year ([`FamilyAccumulatorDecider`]) totals the cost sharing of all its
//! members, for the family deductible and out-of-pocket maximum.
//!
//! A claim that is voided, replaced or appealed gives back what it used: the year records
//! each claim's own contribution, so [`AccumulatorCommand::Reverse`] decides the exact
//! opposite of what the claim added, from the year's own events.

use crate::decider::Decider;
use crate::ids::{ClaimId, MemberId, ServiceCategory};
use crate::money::{Currency, Money, MoneyError};
use crate::rules::duplicates::{EarlierServices, PriorService};
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
    /// Visits the plan allowed, by category.
    pub visits: BTreeMap<ServiceCategory, u32>,
    /// What the plan paid, once it paid anything.
    pub plan_paid: Option<Money>,
    /// The services the plan allowed, for duplicate detection (kept in order of date of
    /// service as they are added).
    pub services: EarlierServices,
    /// The claims whose benefits are included.
    pub provided_claims: BTreeSet<ClaimId>,
    /// Each claim's cost sharing still included in the totals, to reverse it exactly.
    pub cost_sharing_by_claim: BTreeMap<ClaimId, Accumulated>,
    /// What the plan provided on each claim still included, to reverse it exactly.
    pub benefits_by_claim: BTreeMap<ClaimId, BenefitsUsed>,
}

impl BenefitYearState {
    /// The totals in `currency`, zero if nothing has been applied yet.
    pub fn accumulated(&self, currency: Currency) -> Accumulated {
        self.totals.unwrap_or(Accumulated::zero(currency))
    }

    /// What the plan has provided this year, in `currency`.
    pub fn benefits_used(&self, currency: Currency) -> BenefitsUsed {
        BenefitsUsed {
            visits: self.visits.clone(),
            plan_paid: self.plan_paid.unwrap_or(Money::zero(currency)),
        }
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
    /// Adds what the plan provided on one claim: visits, payment and allowed services.
    RecordBenefits {
        /// The member.
        member: MemberId,
        /// The claim (recorded at most once).
        claim: ClaimId,
        /// Visits and payment.
        benefits: BenefitsUsed,
        /// The lines the plan allowed.
        services: Vec<PriorService>,
    },
    /// Gives back everything one claim added to the year (its cost sharing, visits,
    /// payment and allowed services), because the claim was voided, replaced or is decided
    /// again. A claim that added nothing, or was already reversed, decides nothing.
    Reverse {
        /// The member.
        member: MemberId,
        /// The claim whose contribution is given back.
        claim: ClaimId,
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
    /// What the plan provided on a claim was added to the year's benefits used.
    BenefitsProvided {
        /// The member.
        member: MemberId,
        /// The claim.
        claim: ClaimId,
        /// Visits and payment added.
        benefits: BenefitsUsed,
        /// The lines the plan allowed.
        #[serde(default)]
        services: Vec<PriorService>,
    },
    /// A claim's cost sharing was taken back out of the year's totals (the claim was
    /// voided, replaced or is decided again).
    CostSharingReversed {
        /// The member.
        member: MemberId,
        /// The claim.
        claim: ClaimId,
        /// Taken off the deductible paid.
        deductible: Money,
        /// Taken off the out-of-pocket paid.
        out_of_pocket: Money,
    },
    /// What the plan provided on a claim was taken back out of the year's benefits used:
    /// its visits, its payment and its allowed services.
    BenefitsReversed {
        /// The member.
        member: MemberId,
        /// The claim.
        claim: ClaimId,
        /// Visits and payment taken off.
        benefits: BenefitsUsed,
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
        let (member, claim, deductible, out_of_pocket, limits) = match command {
            AccumulatorCommand::ApplyCostSharing {
                member,
                claim,
                deductible,
                out_of_pocket,
                limits,
            } => (member, claim, deductible, out_of_pocket, limits),
            AccumulatorCommand::RecordBenefits {
                member,
                claim,
                benefits,
                services,
            } => {
                if state.provided_claims.contains(&claim) {
                    return Ok(vec![]);
                }
                if benefits.plan_paid.is_negative() {
                    return Err(AccumulatorError::Negative(benefits.plan_paid));
                }
                return Ok(vec![AccumulatorEvent::BenefitsProvided {
                    member,
                    claim,
                    benefits,
                    services,
                }]);
            }
            AccumulatorCommand::Reverse { member, claim } => {
                return Ok(reverse(state, member, claim));
            }
        };
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
        let (claim, deductible, out_of_pocket) = match event {
            AccumulatorEvent::CostSharingReversed {
                claim,
                deductible,
                out_of_pocket,
                ..
            } => {
                let totals = state.accumulated(deductible.currency());
                state.totals = Some(Accumulated {
                    deductible: totals
                        .deductible
                        .checked_sub(*deductible)
                        .unwrap_or(totals.deductible),
                    out_of_pocket: totals
                        .out_of_pocket
                        .checked_sub(*out_of_pocket)
                        .unwrap_or(totals.out_of_pocket),
                });
                state.applied_claims.remove(claim);
                state.cost_sharing_by_claim.remove(claim);
                return state;
            }
            AccumulatorEvent::BenefitsReversed {
                claim, benefits, ..
            } => {
                for (category, visits) in &benefits.visits {
                    if let Some(used) = state.visits.get_mut(category) {
                        *used = used.saturating_sub(*visits);
                    }
                }
                if let Some(paid) = state.plan_paid {
                    state.plan_paid = Some(paid.checked_sub(benefits.plan_paid).unwrap_or(paid));
                }
                state.services.retain(|service| service.claim != *claim);
                state.provided_claims.remove(claim);
                state.benefits_by_claim.remove(claim);
                return state;
            }
            AccumulatorEvent::CostSharingApplied {
                claim,
                deductible,
                out_of_pocket,
                ..
            } => (claim, deductible, out_of_pocket),
            AccumulatorEvent::BenefitsProvided {
                claim,
                benefits,
                services,
                ..
            } => {
                for (category, visits) in &benefits.visits {
                    *state.visits.entry(category.clone()).or_insert(0) += visits;
                }
                let paid = state
                    .plan_paid
                    .unwrap_or(Money::zero(benefits.plan_paid.currency()));
                state.plan_paid = Some(paid.checked_add(benefits.plan_paid).unwrap_or(paid));
                for service in services {
                    state.services.insert(service.clone());
                }
                state.provided_claims.insert(*claim);
                state.benefits_by_claim.insert(*claim, benefits.clone());
                return state;
            }
        };
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
        state.cost_sharing_by_claim.insert(
            *claim,
            Accumulated {
                deductible: *deductible,
                out_of_pocket: *out_of_pocket,
            },
        );
        state
    }
}

/// The exact opposite of what `claim` added to the year, from the year's own record of it.
fn reverse(state: &BenefitYearState, member: MemberId, claim: ClaimId) -> Vec<AccumulatorEvent> {
    let mut events = Vec::new();
    if let Some(shared) = state.cost_sharing_by_claim.get(&claim) {
        events.push(AccumulatorEvent::CostSharingReversed {
            member: member.clone(),
            claim,
            deductible: shared.deductible,
            out_of_pocket: shared.out_of_pocket,
        });
    }
    if let Some(benefits) = state.benefits_by_claim.get(&claim) {
        events.push(AccumulatorEvent::BenefitsReversed {
            member,
            claim,
            benefits: benefits.clone(),
        });
    }
    events
}

/// A family's benefit year: the cost sharing of every member of the family together, for
/// the family deductible and out-of-pocket maximum. It decides exactly as a member's
/// ([`AccumulatorDecider`]), with the family's limits; it is stored in a stream of its own.
pub struct FamilyAccumulatorDecider;

impl Decider for FamilyAccumulatorDecider {
    type State = BenefitYearState;
    type Command = AccumulatorCommand;
    type Event = AccumulatorEvent;
    type Error = AccumulatorError;

    fn decide(
        state: &BenefitYearState,
        command: AccumulatorCommand,
    ) -> Result<Vec<AccumulatorEvent>, AccumulatorError> {
        AccumulatorDecider::decide(state, command)
    }

    fn evolve(state: BenefitYearState, event: &AccumulatorEvent) -> BenefitYearState {
        AccumulatorDecider::evolve(state, event)
    }
}
