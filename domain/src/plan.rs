//! Benefit plans: what a member's coverage pays for, and how cost is shared.

use crate::decider::Decider;
use crate::ids::{PlanId, ProcedureCode, ServiceCategory};
use crate::money::{Currency, Money, Rate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A benefit plan. Amounts are per member per benefit year (the calendar year of the date
/// of service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenefitPlan {
    /// The plan's identifier.
    pub id: PlanId,
    /// Its name, for people.
    pub name: String,
    /// The currency of every amount in the plan, and of the claims it pays.
    pub currency: Currency,
    /// What the member pays each benefit year before the plan shares cost.
    pub deductible: Money,
    /// The member's share after copay and deductible.
    pub coinsurance: Rate,
    /// The most a member pays in a benefit year (deductible, copays and coinsurance);
    /// beyond it the plan pays all of the allowed amount.
    pub out_of_pocket_max: Money,
    /// Fixed amounts the member pays per service, by category.
    #[serde(default)]
    pub copays: BTreeMap<ServiceCategory, Money>,
    /// The allowed amount per unit of each covered procedure. A procedure not listed is
    /// not covered.
    pub fee_schedule: BTreeMap<ProcedureCode, FeeScheduleEntry>,
    /// A claim billed above this total waits for a reviewer instead of being decided
    /// automatically.
    #[serde(default)]
    pub review_threshold: Option<Money>,
}

/// What the plan recognises for one procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeScheduleEntry {
    /// The service category (for copays).
    pub category: ServiceCategory,
    /// The most the plan recognises per unit of service.
    pub allowed_per_unit: Money,
}

impl BenefitPlan {
    /// The copay for a category, zero if the plan has none.
    pub fn copay_for(&self, category: &ServiceCategory) -> Money {
        self.copays
            .get(category)
            .copied()
            .unwrap_or(Money::zero(self.currency))
    }

    /// Every problem with the plan's own amounts, as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut amount = |what: &str, money: &Money| {
            if money.currency() != self.currency {
                problems.push(format!(
                    "{what} is in {}, but the plan is in {}",
                    money.currency(),
                    self.currency
                ));
            }
            if money.is_negative() {
                problems.push(format!("{what} is negative"));
            }
            // Claims are refused when they bill fractions of a cent; a plan amount with
            // them would carry fractions of a cent into allowed amounts and payouts.
            if !money.is_in_minor_units() {
                problems.push(format!("{what} is not a whole number of cents"));
            }
        };
        amount("the deductible", &self.deductible);
        amount("the out-of-pocket maximum", &self.out_of_pocket_max);
        for (category, copay) in &self.copays {
            amount(&format!("the copay for {category}"), copay);
        }
        for (code, entry) in &self.fee_schedule {
            amount(
                &format!("the allowed amount for {code}"),
                &entry.allowed_per_unit,
            );
        }
        if let Some(threshold) = &self.review_threshold {
            amount("the review threshold", threshold);
        }
        if self.name.trim().is_empty() {
            problems.push("the plan has no name".to_owned());
        }
        problems
    }
}

/// Commands on a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanCommand {
    /// Publishes the plan, or a new revision of it.
    Publish(BenefitPlan),
}

/// What happened to a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PlanEvent {
    /// The plan (or a new revision of it) is in force for claims adjudicated from now on.
    Published {
        /// The plan as published.
        plan: BenefitPlan,
        /// 1 for the first publication, then counting up.
        revision: u32,
    },
}

/// What is known of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanState {
    /// The plan in force and its revision, if published.
    pub current: Option<(BenefitPlan, u32)>,
}

/// Why a plan command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The plan's amounts do not make sense.
    #[error("plan {plan} is not valid: {}", problems.join("; "))]
    Invalid {
        /// The plan.
        plan: PlanId,
        /// Every problem found.
        problems: Vec<String>,
    },
}

/// The plan aggregate.
pub struct PlanDecider;

impl Decider for PlanDecider {
    type State = PlanState;
    type Command = PlanCommand;
    type Event = PlanEvent;
    type Error = PlanError;

    fn decide(state: &PlanState, command: PlanCommand) -> Result<Vec<PlanEvent>, PlanError> {
        let PlanCommand::Publish(plan) = command;
        let problems = plan.problems();
        if !problems.is_empty() {
            return Err(PlanError::Invalid {
                plan: plan.id.clone(),
                problems,
            });
        }
        match &state.current {
            Some((current, _)) if *current == plan => Ok(vec![]),
            Some((_, revision)) => Ok(vec![PlanEvent::Published {
                plan,
                revision: revision + 1,
            }]),
            None => Ok(vec![PlanEvent::Published { plan, revision: 1 }]),
        }
    }

    fn evolve(_state: PlanState, event: &PlanEvent) -> PlanState {
        let PlanEvent::Published { plan, revision } = event;
        PlanState {
            current: Some((plan.clone(), *revision)),
        }
    }
}
