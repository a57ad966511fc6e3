//! Benefit plans: what a member's coverage pays for, and how cost is shared.
//!
//! A plan is published in two parts: the [`BenefitPlan`] (cost sharing and the fee
//! schedule) and its [`PlanRules`] (network, family limits, benefit limits, prior
//! authorisation, exclusions, code-pair edits, timely filing, coordination of benefits).
//! Every rule is optional and off by default, so a plan published before the rules existed
//! still reads, and still adjudicates, exactly as it did.

use crate::accumulator::Accumulated;
use crate::decider::Decider;
use crate::ids::{DiagnosisCode, PlanId, ProcedureCode, ProviderId, ServiceCategory};
use crate::money::{Currency, Money, Rate};
use crate::rule_set::{PlanParameters, RuleSetVersion};
use chrono::{Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub mod terms;

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

/// The plan's rules beyond cost sharing. Each is off when absent: no network (every
/// registered provider is in network), no family limits, no benefit limits, no prior
/// authorisation, no exclusions, no code-pair edits, no filing limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRules {
    /// The providers the plan contracts with, and what it does for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// The family deductible: once the family together has paid it, no member pays more
    /// deductible that year, even below their own ("embedded" deductible).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_deductible: Option<Money>,
    /// The family out-of-pocket maximum, embedded the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_out_of_pocket_max: Option<Money>,
    /// The most visits (service lines) a member may have per benefit year, by category.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub visit_limits: BTreeMap<ServiceCategory, u32>,
    /// The most the plan pays for a member in a benefit year; beyond it the member pays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annual_maximum: Option<Money>,
    /// Procedures the plan pays only with a prior authorisation.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub prior_authorization: BTreeSet<ProcedureCode>,
    /// Procedures the plan excludes even where the fee schedule prices them.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub excluded_procedures: BTreeSet<ProcedureCode>,
    /// Diagnoses whose treatment the plan does not cover (cosmetic care, for instance).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub excluded_diagnoses: BTreeSet<DiagnosisCode>,
    /// Pairs of procedures that are not paid separately on the same day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code_pair_edits: Vec<CodePairEdit>,
    /// How long after the date of service a claim may be filed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filing_limit: Option<FilingLimit>,
    /// How the plan pays when it pays second, after another payer.
    #[serde(default, skip_serializing_if = "CoordinationMethod::is_standard")]
    pub coordination: CoordinationMethod,
}

/// The providers a plan contracts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The providers in network.
    pub providers: BTreeSet<ProviderId>,
    /// What the plan does for a provider outside the network.
    pub out_of_network: OutOfNetwork,
}

/// The plan's benefit for care from a provider outside its network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "benefit", rename_all = "kebab-case", deny_unknown_fields)]
pub enum OutOfNetwork {
    /// Not covered: the member owes the whole line (PR-242).
    NotCovered,
    /// Covered with the member's own deductible and coinsurance. The deductible
    /// cross-accumulates: what the member paid toward either deductible counts toward both.
    Covered {
        /// The out-of-network deductible.
        deductible: Money,
        /// The out-of-network coinsurance.
        coinsurance: Rate,
    },
}

/// A procedure-to-procedure edit (as in the NCCI tables): billed on the same day as the
/// column-one procedure, the column-two procedure is not paid separately (CO-97).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodePairEdit {
    /// The comprehensive procedure, which is paid.
    pub column_one: ProcedureCode,
    /// The component procedure, which is bundled into it.
    pub column_two: ProcedureCode,
    /// True when a distinct-service modifier (59, XE, XS, XP, XU) on the column-two line
    /// lets the pair through (NCCI modifier indicator 1); false when never (indicator 0).
    #[serde(default)]
    pub modifier_allowed: bool,
}

/// How long after the date of service a claim may be filed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FilingLimit {
    /// Within this many days.
    Days(u32),
    /// Within this many calendar months; a date of service at the end of a longer month
    /// is due by the end of the shorter one (service on 29 February, twelve months: due
    /// 28 February the next year).
    Months(u32),
}

impl FilingLimit {
    /// The last day a claim for care given on `date_of_service` may be received, or
    /// `None` if it falls beyond the calendar (no limit in practice).
    pub fn last_day(self, date_of_service: NaiveDate) -> Option<NaiveDate> {
        match self {
            FilingLimit::Days(days) => date_of_service.checked_add_days(Days::new(days.into())),
            FilingLimit::Months(months) => date_of_service.checked_add_months(Months::new(months)),
        }
    }
}

/// How a plan pays as the secondary payer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CoordinationMethod {
    /// Standard (traditional) COB: the plan pays its normal benefit, but never more than
    /// what the primary payer left of the allowed amount.
    #[default]
    Standard,
    /// Non-duplication (carve-out): the plan pays its normal benefit less what the primary
    /// payer paid.
    NonDuplication,
}

impl CoordinationMethod {
    fn is_standard(&self) -> bool {
        *self == CoordinationMethod::Standard
    }
}

impl PlanRules {
    /// True when no rule is set (a plan as published before rules existed).
    pub fn is_none(&self) -> bool {
        *self == PlanRules::default()
    }

    /// The most a member's accumulators may reach under this plan: the larger of the in-
    /// and out-of-network deductibles (they cross-accumulate), and the out-of-pocket maximum.
    pub fn accumulator_limits(&self, plan: &BenefitPlan) -> Accumulated {
        let deductible = match self.network.as_ref().map(|network| network.out_of_network) {
            Some(OutOfNetwork::Covered { deductible, .. })
                if deductible.amount() > plan.deductible.amount() =>
            {
                deductible
            }
            _ => plan.deductible,
        };
        Accumulated {
            deductible,
            out_of_pocket: plan.out_of_pocket_max,
        }
    }

    /// The most a family's accumulators may reach, or `None` when the plan has no family
    /// limit. With only a family deductible the family's out-of-pocket is not limited
    /// (`Decimal::MAX`); with only a family out-of-pocket maximum it also bounds the
    /// deductible, which is part of out-of-pocket.
    pub fn family_limits(&self, currency: Currency) -> Option<Accumulated> {
        let unlimited = Money::new(rust_decimal::Decimal::MAX, currency);
        match (self.family_deductible, self.family_out_of_pocket_max) {
            (None, None) => None,
            (deductible, out_of_pocket) => Some(Accumulated {
                deductible: deductible.or(out_of_pocket).unwrap_or(unlimited),
                out_of_pocket: out_of_pocket.unwrap_or(unlimited),
            }),
        }
    }

    /// Every problem with the rules' amounts for a plan in `currency`, as sentences.
    pub fn problems(&self, currency: Currency) -> Vec<String> {
        let mut problems = Vec::new();
        let mut amount = |what: &str, money: &Money| {
            if money.currency() != currency {
                problems.push(format!(
                    "{what} is in {}, but the plan is in {currency}",
                    money.currency()
                ));
            }
            if money.is_negative() {
                problems.push(format!("{what} is negative"));
            }
            if !money.is_in_minor_units() {
                problems.push(format!("{what} is not a whole number of cents"));
            }
        };
        if let Some(OutOfNetwork::Covered { deductible, .. }) =
            self.network.as_ref().map(|network| network.out_of_network)
        {
            amount("the out-of-network deductible", &deductible);
        }
        if let Some(limit) = &self.family_deductible {
            amount("the family deductible", limit);
        }
        if let Some(limit) = &self.family_out_of_pocket_max {
            amount("the family out-of-pocket maximum", limit);
        }
        if let Some(limit) = &self.annual_maximum {
            amount("the annual maximum", limit);
        }
        for edit in &self.code_pair_edits {
            if edit.column_one == edit.column_two {
                problems.push(format!(
                    "the code-pair edit {} / {} pairs a procedure with itself",
                    edit.column_one, edit.column_two
                ));
            }
        }
        problems
    }
}

/// Commands on a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanCommand {
    /// Publishes the plan, or a new revision of it, with no rules beyond cost sharing.
    Publish(BenefitPlan),
    /// Publishes the plan, or a new revision of it, with its rules.
    PublishWithRules {
        /// Cost sharing and fee schedule.
        plan: BenefitPlan,
        /// Everything else (boxed: it is large and most commands carry none).
        rules: Box<PlanRules>,
    },
    /// Publishes the plan as a version of a rule set holds it: a new revision naming that
    /// version, even when the plan's parameters did not change, so that decisions record
    /// the version in force.
    PublishFromRuleSet {
        /// The plan and its rules as the rule set holds them.
        parameters: Box<PlanParameters>,
        /// The rule set's version.
        rule_set: RuleSetVersion,
    },
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
        /// Its rules beyond cost sharing; absent in events stored before rules existed,
        /// and left out when there are none, so such events read and write unchanged.
        #[serde(default, skip_serializing_if = "PlanRules::is_none")]
        rules: PlanRules,
        /// The rule-set version this revision was published from; absent for a plan
        /// published on its own (reference data), and in events stored before rule sets.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule_set: Option<RuleSetVersion>,
    },
}

/// What is known of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanState {
    /// The plan in force and its revision, if published.
    pub current: Option<(BenefitPlan, u32)>,
    /// The rules in force with it.
    pub rules: PlanRules,
    /// The rule-set version the revision in force came from, if it came from one.
    pub rule_set: Option<RuleSetVersion>,
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
        let (plan, rules, rule_set) = match command {
            PlanCommand::Publish(plan) => (plan, PlanRules::default(), None),
            PlanCommand::PublishWithRules { plan, rules } => (plan, *rules, None),
            PlanCommand::PublishFromRuleSet {
                parameters,
                rule_set,
            } => {
                let PlanParameters { plan, rules } = *parameters;
                (plan, rules, Some(rule_set))
            }
        };
        let mut problems = plan.problems();
        problems.extend(rules.problems(plan.currency));
        if !problems.is_empty() {
            return Err(PlanError::Invalid {
                plan: plan.id.clone(),
                problems,
            });
        }
        match &state.current {
            Some((current, _))
                if *current == plan && state.rules == rules && state.rule_set == rule_set =>
            {
                Ok(vec![])
            }
            Some((_, revision)) => Ok(vec![PlanEvent::Published {
                plan,
                revision: revision + 1,
                rules,
                rule_set,
            }]),
            None => Ok(vec![PlanEvent::Published {
                plan,
                revision: 1,
                rules,
                rule_set,
            }]),
        }
    }

    fn evolve(_state: PlanState, event: &PlanEvent) -> PlanState {
        let PlanEvent::Published {
            plan,
            revision,
            rules,
            rule_set,
        } = event;
        PlanState {
            current: Some((plan.clone(), *revision)),
            rules: rules.clone(),
            rule_set: rule_set.clone(),
        }
    }
}
