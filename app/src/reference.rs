//! Reference data: benefit plans, members and providers, read from a TOML file and stored
//! as events like everything else.
//!
//! ```toml
//! [[plan]]
//! id = "gold-ppo"
//! name = "Gold PPO"
//! currency = "USD"
//! deductible = "250.00 USD"
//! coinsurance = "20%"
//! out_of_pocket_max = "3000.00 USD"
//! copays = { office-visit = "25.00 USD" }
//! [plan.fee_schedule."99213"]
//! category = "office-visit"
//! allowed_per_unit = "120.00 USD"
//!
//! [[member]]
//! id = "M-1001"
//! insurer = "acme-health"
//! plan = "gold-ppo"
//! coverage = [{ start = "2026-01-01" }]
//!
//! [[provider]]
//! id = "clinic-a"
//! name = "Clinic A"
//! wallet = "0x52908400098527886E0F7030069857D2E4169EE7"
//!
//! # Optional: the plan's rules beyond cost sharing, by plan id.
//! [plan_rules.gold-ppo]
//! filing_limit = { months = 12 }
//! visit_limits = { physiotherapy = 20 }
//!
//! # Prior authorisations the payer approved, on file for the member.
//! [[authorization]]
//! member = "M-1001"
//! number = "PA-2026-0042"
//! procedure = "27447"
//! provider = "hospital-b"
//! from = "2026-03-01"
//! through = "2026-06-30"
//! ```
//!
//! Loading is idempotent: an unchanged entry stores nothing; a changed one stores a new
//! revision. Entries are stored on behalf of a [`Keeper`]: the operator (this file) may
//! change any entry, an insurer (over the bus) only those it sent.

use crate::keeper::Keeper;
use crate::retry;
use chrono::NaiveDate;
use claims_adapters::aggregate::{self, AggregateError, StoredAggregate, streams};
use claims_adapters::event_store::{EventStore, StreamId};
use claims_domain::authorizations::{AuthorizationCommand, AuthorizationsDecider};
use claims_domain::coding::AuthorizationNumber;
use claims_domain::member::{Member, MemberCommand, MemberDecider};
use claims_domain::plan::{BenefitPlan, PlanCommand, PlanDecider, PlanRules};
use claims_domain::provider::{Provider, ProviderCommand, ProviderDecider};
use claims_domain::rules::authorization::Authorization;
use claims_domain::{MemberId, PlanId, ProcedureCode, ProviderId};
use serde::Deserialize;
use std::fmt::Display;
use std::path::Path;

/// Plans, members and providers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceData {
    /// Benefit plans.
    #[serde(default, rename = "plan")]
    pub plans: Vec<BenefitPlan>,
    /// Members and their coverage.
    #[serde(default, rename = "member")]
    pub members: Vec<Member>,
    /// Providers and their payout wallets.
    #[serde(default, rename = "provider")]
    pub providers: Vec<Provider>,
    /// The plans' rules beyond cost sharing, by plan; a plan not listed has none.
    #[serde(default)]
    pub plan_rules: std::collections::BTreeMap<PlanId, PlanRules>,
    /// Prior authorisations on file, for enrolled members.
    #[serde(default, rename = "authorization")]
    pub authorizations: Vec<AuthorizationOnFile>,
}

/// A prior authorisation the payer approved, on file for a member: the claim line it
/// covers may quote its number, or is matched against it by procedure, provider and date.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationOnFile {
    /// The member it is for (enrolled, and of the sender's insurer).
    pub member: MemberId,
    /// Its number, unique for the member.
    pub number: AuthorizationNumber,
    /// The procedure approved.
    pub procedure: ProcedureCode,
    /// The provider approved to perform it.
    pub provider: ProviderId,
    /// The first day it covers.
    pub from: NaiveDate,
    /// The last day it covers.
    pub through: NaiveDate,
}

impl AuthorizationOnFile {
    fn authorization(&self) -> Authorization {
        Authorization {
            number: self.number.clone(),
            procedure: self.procedure.clone(),
            provider: self.provider.clone(),
            from: self.from,
            through: self.through,
        }
    }
}

/// Why reference data could not be read or stored.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid reference data.
    #[error("{path} is not valid reference data: {source}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, with its line and column.
        source: toml::de::Error,
    },
    /// An entry was refused by its domain rules.
    #[error("{entry} was refused: {reason}")]
    Refused {
        /// Which entry.
        entry: String,
        /// Why.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] AggregateError),
}

/// What loading stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReferenceSummary {
    /// Entries stored (new or changed).
    pub stored: usize,
    /// Entries already stored as given.
    pub unchanged: usize,
}

impl ReferenceData {
    /// Reads reference data from a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ReferenceError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReferenceError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text).map_err(|source| ReferenceError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    /// Reads reference data from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Stores every entry as the operator: plans first, then members, providers and
    /// authorisations.
    pub async fn store(&self, store: &dyn EventStore) -> Result<ReferenceSummary, ReferenceError> {
        self.store_as(store, &Keeper::Operator).await
    }

    /// Stores every entry on behalf of `sender`: plans first, then members, providers and
    /// authorisations. An entry `sender` may not change is refused, with the entries before
    /// it stored.
    pub async fn store_as(
        &self,
        store: &dyn EventStore,
        sender: &Keeper,
    ) -> Result<ReferenceSummary, ReferenceError> {
        let mut summary = ReferenceSummary::default();
        if let Some(unknown) = self
            .plan_rules
            .keys()
            .find(|id| !self.plans.iter().any(|plan| plan.id == **id))
        {
            return Err(ReferenceError::Refused {
                entry: format!("plan_rules.{unknown}"),
                reason: "there is no such plan in this file".to_owned(),
            });
        }
        for plan in &self.plans {
            let rules = self.plan_rules.get(&plan.id).cloned().unwrap_or_default();
            let stored = apply::<PlanDecider>(
                store,
                sender,
                streams::plan(&plan.id),
                || PlanCommand::PublishWithRules {
                    plan: plan.clone(),
                    rules: Box::new(rules.clone()),
                },
                format!("plan {}", plan.id),
            )
            .await?;
            summary.count(stored);
        }
        // Who keeps each plan, read once per plan however many members are on it (a plan's
        // keeper never changes).
        let mut plan_keepers: std::collections::BTreeMap<&PlanId, Option<Keeper>> =
            std::collections::BTreeMap::new();
        for member in &self.members {
            let plan_keeper = match plan_keepers.get(&member.plan) {
                Some(keeper) => keeper.clone(),
                None => {
                    let keeper = Keeper::of_stream(store, &streams::plan(&member.plan))
                        .await
                        .map_err(AggregateError::from)?;
                    plan_keepers.insert(&member.plan, keeper.clone());
                    keeper
                }
            };
            if let Some(reason) = plan_keeper.and_then(|keeper| sender.plan_refusal(&keeper)) {
                return Err(ReferenceError::Refused {
                    entry: format!("member {}", member.id),
                    reason: reason.to_owned(),
                });
            }
            let stored = apply::<MemberDecider>(
                store,
                sender,
                streams::member(&member.id),
                || MemberCommand::Enrol(member.clone()),
                format!("member {}", member.id),
            )
            .await?;
            summary.count(stored);
        }
        for provider in &self.providers {
            let stored = apply::<ProviderDecider>(
                store,
                sender,
                streams::provider(&provider.id),
                || ProviderCommand::Register(provider.clone()),
                format!("provider {}", provider.id),
            )
            .await?;
            summary.count(stored);
        }
        for entry in &self.authorizations {
            let name = format!("authorization {} of member {}", entry.number, entry.member);
            let member = aggregate::load::<MemberDecider>(store, streams::member(&entry.member))
                .await?
                .state
                .member;
            let refusal = match (&member, sender) {
                (None, _) => Some("the member is not enrolled".to_owned()),
                (Some(member), Keeper::Insurer(insurer)) if member.insurer != *insurer => {
                    Some(format!("the member belongs to insurer {}", member.insurer))
                }
                _ => None,
            };
            if let Some(reason) = refusal {
                return Err(ReferenceError::Refused {
                    entry: name,
                    reason,
                });
            }
            // The member's insurer, checked above, is who may grant it; a number once on
            // file never changes (the decider refuses), so no keeper is recorded.
            let stored = apply::<AuthorizationsDecider>(
                store,
                &Keeper::Operator,
                streams::authorizations(&entry.member),
                || AuthorizationCommand::Grant {
                    member: entry.member.clone(),
                    authorization: entry.authorization(),
                },
                name,
            )
            .await?;
            summary.count(stored);
        }
        Ok(summary)
    }
}

impl ReferenceSummary {
    fn count(&mut self, stored: bool) {
        if stored {
            self.stored += 1;
        } else {
            self.unchanged += 1;
        }
    }
}

/// Decides one reference-data command and stores its events on behalf of `sender`; true
/// if anything was stored. A change `sender` may not make is refused.
async fn apply<D>(
    store: &dyn EventStore,
    sender: &Keeper,
    stream: StreamId,
    command: impl Fn() -> D::Command,
    entry: String,
) -> Result<bool, ReferenceError>
where
    D: StoredAggregate<Error: Display>,
{
    let attempt = || async {
        let loaded = aggregate::load::<D>(store, stream.clone()).await?;
        let events =
            D::decide(&loaded.state, command()).map_err(|error| ReferenceError::Refused {
                entry: entry.clone(),
                reason: error.to_string(),
            })?;
        if !events.is_empty() && loaded.version > 0 {
            let kept_by = Keeper::of_stream(store, &stream)
                .await
                .map_err(AggregateError::from)?;
            if let Some(reason) = kept_by.and_then(|keeper| sender.refusal(&keeper)) {
                return Err(ReferenceError::Refused {
                    entry: entry.clone(),
                    reason: reason.to_owned(),
                });
            }
        }
        match loaded.append(&events, &sender.stamp(serde_json::json!({})))? {
            None => Ok(false),
            Some(append) => {
                store
                    .append(vec![append])
                    .await
                    .map_err(AggregateError::from)?;
                Ok(true)
            }
        }
    };
    retry::on_conflict(attempt, |error: &ReferenceError| {
        matches!(error, ReferenceError::Store(AggregateError::Store(store)) if store.is_conflict())
    })
    .await
}
