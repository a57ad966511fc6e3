//! Rule sets: the parameters of the plans' rules as data analysts maintain, published as
//! numbered versions.
//!
//! A rule set is a directory of readable files (benefit plans and limits in TOML, fee
//! schedules, code-pair edit tables and prior-authorisation lists in CSV; see
//! [`files`]) with a manifest naming it and its version. Loading it stores the whole set
//! as one `RuleSetPublished` event on `ruleset-<id>`, and each plan it holds as a new plan
//! revision that names the rule-set version it came from. Every decision records that
//! version ([`crate::adjudication::Adjudication::rule_set`]), so a replay takes the very
//! parameters the original decision took, whatever was published since.
//!
//! A published version never changes: publishing the same version again with other
//! contents is refused, and a version must be higher than every one before it.

pub mod files;
pub mod table;

use crate::decider::Decider;
use crate::ids::{PlanId, RuleSetId};
use crate::plan::{BenefitPlan, PlanRules};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Which version of which rule set: recorded with every decision made under it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSetVersion {
    /// The rule set.
    pub rule_set: RuleSetId,
    /// Its version, from 1.
    pub version: u32,
}

impl fmt::Display for RuleSetVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} version {}", self.rule_set, self.version)
    }
}

/// One version of a rule set: every plan it holds with its rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// The rule set and this version of it.
    pub id: RuleSetVersion,
    /// What changed in this version, for people.
    #[serde(default)]
    pub description: String,
    /// The plans, by id.
    pub plans: BTreeMap<PlanId, PlanParameters>,
}

/// A plan as a rule set publishes it: cost sharing and fee schedule, and its other rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanParameters {
    /// Cost sharing and the fee schedule.
    pub plan: BenefitPlan,
    /// Network, limits, prior authorisation, exclusions, code-pair edits, filing limit,
    /// coordination of benefits.
    #[serde(default)]
    pub rules: PlanRules,
}

impl RuleSet {
    /// Every problem with the set's contents, as sentences naming the plan.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.id.version == 0 {
            problems.push("versions count from 1".to_owned());
        }
        if self.plans.is_empty() {
            problems.push("the rule set holds no plan".to_owned());
        }
        for (id, parameters) in &self.plans {
            if parameters.plan.id != *id {
                problems.push(format!(
                    "plan {id} is filed under another plan's id ({})",
                    parameters.plan.id
                ));
            }
            let plan = &parameters.plan;
            problems.extend(
                plan.problems()
                    .into_iter()
                    .chain(parameters.rules.problems(plan.currency))
                    .map(|problem| format!("plan {id}: {problem}")),
            );
        }
        problems
    }
}

/// Commands on a rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSetCommand {
    /// Publishes a version (boxed: a rule set with its fee schedules is large).
    Publish(Box<RuleSet>),
}

/// What happened to a rule set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RuleSetEvent {
    /// A version was published; from now on it is in force for its plans.
    Published {
        /// The version as published.
        rule_set: Box<RuleSet>,
    },
}

/// Every version of a rule set published so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSetState {
    /// By version number.
    pub versions: BTreeMap<u32, RuleSet>,
}

impl RuleSetState {
    /// The latest version, the one in force.
    pub fn in_force(&self) -> Option<&RuleSet> {
        self.versions.values().next_back()
    }

    /// A plan's parameters as one version published them.
    pub fn plan(&self, version: u32, plan: &PlanId) -> Option<&PlanParameters> {
        self.versions.get(&version)?.plans.get(plan)
    }
}

/// Why a rule set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleSetError {
    /// Its contents do not make sense.
    #[error("{rule_set} is not valid: {}", problems.join("; "))]
    Invalid {
        /// The version.
        rule_set: RuleSetVersion,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// The version was published before with other contents; versions never change.
    #[error(
        "{0} was published before with other contents; a published version never changes, so publish these as a new version"
    )]
    VersionChanged(RuleSetVersion),
    /// A later version is already published.
    #[error(
        "{attempted} is older than version {latest}, which is already published; number a new version above it"
    )]
    VersionNotNewer {
        /// The version given.
        attempted: RuleSetVersion,
        /// The latest one published.
        latest: u32,
    },
}

/// The rule-set aggregate.
pub struct RuleSetDecider;

impl Decider for RuleSetDecider {
    type State = RuleSetState;
    type Command = RuleSetCommand;
    type Event = RuleSetEvent;
    type Error = RuleSetError;

    fn decide(
        state: &RuleSetState,
        command: RuleSetCommand,
    ) -> Result<Vec<RuleSetEvent>, RuleSetError> {
        let RuleSetCommand::Publish(rule_set) = command;
        let problems = rule_set.problems();
        if !problems.is_empty() {
            return Err(RuleSetError::Invalid {
                rule_set: rule_set.id.clone(),
                problems,
            });
        }
        if let Some(published) = state.versions.get(&rule_set.id.version) {
            return if *published == *rule_set {
                Ok(vec![])
            } else {
                Err(RuleSetError::VersionChanged(rule_set.id.clone()))
            };
        }
        if let Some(&latest) = state.versions.keys().next_back()
            && latest > rule_set.id.version
        {
            return Err(RuleSetError::VersionNotNewer {
                attempted: rule_set.id.clone(),
                latest,
            });
        }
        Ok(vec![RuleSetEvent::Published { rule_set }])
    }

    fn evolve(mut state: RuleSetState, event: &RuleSetEvent) -> RuleSetState {
        let RuleSetEvent::Published { rule_set } = event;
        state
            .versions
            .insert(rule_set.id.version, rule_set.as_ref().clone());
        state
    }
}
