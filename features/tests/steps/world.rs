//! The world a scenario runs in: the reference data its `Given` steps describe, the engine
//! (started on first use, with that data loaded), and what the scenario has submitted.

use super::services::{RealServices, real_services_wanted};
use chrono::{Datelike, NaiveDate};
use claims::clock::FixedClock;
use claims::engine::{Database, EmbeddedConfig, Engine};
use claims::intake::IntakeReply;
use claims::reference::ReferenceData;
use claims::settler::SettlerConfig;
use claims_adapters::aggregate::{load, streams};
use claims_domain::accumulator::{AccumulatorDecider, BenefitYearState, FamilyAccumulatorDecider};
use claims_domain::adjudication::Adjudication;
use claims_domain::claim::{ClaimState, ClaimStatus};
use claims_domain::member::{CoveragePeriod, Member};
use claims_domain::plan::{BenefitPlan, PlanRules};
use claims_domain::provider::Provider;
use claims_domain::rules::authorization::Authorization;
use claims_domain::{ClaimId, FamilyId, InsurerId, MemberId, Money, PlanId, WalletAddress};
use claims_features::{Rows, slug};
use cucumber::World;
use cucumber::gherkin::Step;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The insurer every scenario submits as.
pub const INSURER: &str = "acme-health";

/// How long a step waits for the engine before it says what it was waiting for.
const PATIENCE: Duration = Duration::from_secs(10);

/// What the member had paid in the claim's benefit year just before the latest claim, so
/// a failure can say what the claim found ("deductible applied 0.00 of 250.00 remaining").
#[derive(Debug, Clone)]
pub struct Before {
    /// The member's plan as the scenario defined it.
    pub plan: BenefitPlan,
    /// The member's year.
    pub member: BenefitYearState,
}

#[derive(World)]
#[world(init = Self::new)]
pub struct ClaimsWorld {
    pub reference: ReferenceData,
    /// Authorisations on file, granted once the engine runs.
    pub authorizations: Vec<(MemberId, Authorization)>,
    pub clock: Arc<FixedClock>,
    pub engine: Option<Engine>,
    /// PostgreSQL, NATS and anvil of the scenario's own, in the e2e run.
    pub services: Option<RealServices>,
    reference_loaded: bool,
    pub submitted: Vec<ClaimId>,
    /// The insurer's reference of every claim accepted, for voids and replacements.
    pub claim_refs: BTreeMap<ClaimId, String>,
    /// The claim the latest void or replacement named.
    pub original: Option<ClaimId>,
    pub last_reply: Option<IntakeReply>,
    pub before: Option<Before>,
    pub balances_before: BTreeMap<String, Decimal>,
    next_claim: u32,
}

impl fmt::Debug for ClaimsWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimsWorld")
            .field("reference", &self.reference)
            .field("submitted", &self.submitted)
            .field("last_reply", &self.last_reply)
            .finish_non_exhaustive()
    }
}

/// Turns a parse error into the sentence a step fails with.
pub fn invalid<E: fmt::Display>(error: E) -> String {
    error.to_string()
}

impl ClaimsWorld {
    fn new() -> Self {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        Self {
            reference: ReferenceData::default(),
            authorizations: Vec::new(),
            clock: Arc::new(FixedClock::on(today)),
            engine: None,
            services: None,
            reference_loaded: false,
            submitted: Vec::new(),
            claim_refs: BTreeMap::new(),
            original: None,
            last_reply: None,
            before: None,
            balances_before: BTreeMap::new(),
            next_claim: 1,
        }
    }

    /// The running engine with every reference-data step so far loaded into it.
    pub async fn engine(&mut self) -> Result<&Engine, String> {
        if self.engine.is_none() {
            let mut config = EmbeddedConfig::new(Database::InMemory, self.clock.clone());
            // Payouts happen when a step says so, never on a timer.
            config.settler = SettlerConfig {
                max_batch: usize::MAX,
                max_wait: None,
            };
            config.adjudicators = 1;
            if real_services_wanted() {
                let services = RealServices::start().await?;
                services.configure(&mut config);
                self.services = Some(services);
            }
            let engine = Engine::start_embedded(config)
                .await
                .map_err(|error| format!("the engine did not start: {error:#}"))?;
            if let Some(services) = &mut self.services {
                services.connect_chain(engine.store().clone()).await?;
            }
            self.engine = Some(engine);
        }
        if !self.reference_loaded {
            let engine = self.engine.as_ref().ok_or("the engine is not running")?;
            engine
                .load_reference_data(&self.reference)
                .await
                .map_err(|error| {
                    format!("the plans, members and providers were refused: {error}")
                })?;
            for (member, authorization) in &self.authorizations {
                engine
                    .grant_authorization(member, authorization.clone())
                    .await
                    .map_err(|error| {
                        format!(
                            "authorisation {} was refused: {error:#}",
                            authorization.number
                        )
                    })?;
            }
            self.reference_loaded = true;
        }
        self.engine
            .as_ref()
            .ok_or_else(|| "the engine is not running".to_owned())
    }

    /// Pays these claims now, in one batch: on anvil in the e2e run, else on the engine's
    /// embedded chain.
    pub async fn settle_now(
        &mut self,
        claims: &[ClaimId],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String> {
        self.engine().await?;
        if let Some(services) = &self.services {
            return services.settle(claims, now).await;
        }
        let engine = self.engine.as_ref().ok_or("the engine is not running")?;
        engine
            .settle_now(claims, now)
            .await
            .map(|_| ())
            .map_err(|error| format!("settlement failed: {error:#}"))
    }

    /// A wallet's balance of the payout stablecoin, on whichever chain pays.
    pub async fn balance(&mut self, wallet: WalletAddress) -> Result<Money, String> {
        self.engine().await?;
        if let Some(services) = &self.services {
            return services.balance(wallet).await;
        }
        let engine = self.engine.as_ref().ok_or("the engine is not running")?;
        engine.balance(wallet).await.map_err(invalid)
    }

    /// Stops the engine, then its services.
    pub async fn stop(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine.shutdown().await;
        }
        if let Some(services) = self.services.take() {
            services.clean_up().await;
        }
    }

    /// Changes the reference data; it is loaded into the engine before the next step that
    /// needs the engine.
    pub fn define(&mut self, change: impl FnOnce(&mut ReferenceData)) {
        change(&mut self.reference);
        self.reference_loaded = false;
    }

    pub fn plan_id(name: &str) -> Result<PlanId, String> {
        PlanId::new(slug(name)).map_err(invalid)
    }

    pub fn plan_mut(&mut self, name: &str) -> Result<&mut BenefitPlan, String> {
        let id = slug(name);
        self.reference_loaded = false;
        self.reference
            .plans
            .iter_mut()
            .find(|plan| plan.id.as_str() == id)
            .ok_or_else(|| format!("there is no plan \"{name}\"; define it first with 'Given the plan \"{name}\" in USD with:'"))
    }

    /// The rules of a plan defined earlier in the scenario, to change them.
    pub fn rules_mut(&mut self, name: &str) -> Result<&mut PlanRules, String> {
        let id = self.plan_mut(name)?.id.clone();
        Ok(self.reference.plan_rules.entry(id).or_default())
    }

    pub fn provider(&self, name: &str) -> Result<&Provider, String> {
        let id = slug(name);
        self.reference
            .providers
            .iter()
            .find(|provider| provider.id.as_str() == id)
            .ok_or_else(|| format!("there is no provider \"{name}\"; register it with 'Given the provider \"{name}\" is paid to wallet 0x…'"))
    }

    pub fn member_mut(&mut self, id: &str) -> Result<&mut Member, String> {
        self.reference_loaded = false;
        self.reference
            .members
            .iter_mut()
            .find(|member| member.id.as_str() == id)
            .ok_or_else(|| format!("there is no member \"{id}\"; enrol them first with 'Given the member \"{id}\" is covered by \"…\" from …'"))
    }

    pub fn enrol(
        &mut self,
        member: &str,
        plan: &str,
        period: CoveragePeriod,
    ) -> Result<(), String> {
        let member = Member {
            id: member.parse().map_err(invalid)?,
            insurer: InsurerId::new(INSURER).map_err(invalid)?,
            plan: Self::plan_id(plan)?,
            coverage: vec![period],
            family: None,
            primary_payer: None,
        };
        self.define(|reference| replace(&mut reference.members, member, |entry| entry.id.clone()));
        Ok(())
    }

    /// The claim the latest submission created.
    pub fn last_claim(&self) -> Result<ClaimId, String> {
        self.submitted
            .last()
            .copied()
            .ok_or_else(|| "no claim has been accepted yet in this scenario".to_owned())
    }

    pub async fn last_claim_state(&mut self) -> Result<ClaimState, String> {
        let claim = self.last_claim()?;
        let engine = self.engine().await?;
        engine.claim(claim).await.map_err(invalid)
    }

    pub async fn last_adjudication(&mut self) -> Result<Adjudication, String> {
        let state = self.last_claim_state().await?;
        let status = describe_status(&state);
        state
            .adjudication
            .ok_or_else(|| format!("the claim has not been adjudicated; it is {status}"))
    }

    /// A member's benefit year as the engine holds it.
    pub async fn member_year(
        &mut self,
        member: &str,
        year: i32,
    ) -> Result<BenefitYearState, String> {
        let member: MemberId = member.parse().map_err(invalid)?;
        let engine = self.engine().await?;
        load::<AccumulatorDecider>(engine.store().as_ref(), streams::accumulator(&member, year))
            .await
            .map(|loaded| loaded.state)
            .map_err(invalid)
    }

    /// A family's benefit year as the engine holds it.
    pub async fn family_year(
        &mut self,
        family: &str,
        year: i32,
    ) -> Result<BenefitYearState, String> {
        let family: FamilyId = family.parse().map_err(invalid)?;
        let engine = self.engine().await?;
        load::<FamilyAccumulatorDecider>(
            engine.store().as_ref(),
            streams::family_accumulator(&family, year),
        )
        .await
        .map(|loaded| loaded.state)
        .map_err(invalid)
    }

    /// Submits a claim whose lines are the step's table, received on `received` (by
    /// default its latest date of service), and waits until the engine decides it.
    pub async fn submit(
        &mut self,
        provider: &str,
        member: &str,
        received: Option<NaiveDate>,
        step: &Step,
    ) -> Result<(), String> {
        self.submit_correcting(provider, member, received, step, None)
            .await
    }

    /// The next claim reference of the scenario.
    pub fn next_claim_ref(&mut self) -> String {
        let claim_ref = format!("SPEC-{:04}", self.next_claim);
        self.next_claim += 1;
        claim_ref
    }

    /// The insurer's reference of an accepted claim.
    pub fn claim_ref(&self, claim: ClaimId) -> Result<String, String> {
        self.claim_refs
            .get(&claim)
            .cloned()
            .ok_or_else(|| format!("claim {claim} was not submitted in this scenario"))
    }

    /// [`Self::submit`], with the submission's `corrects` field (a replacement).
    pub async fn submit_correcting(
        &mut self,
        provider: &str,
        member: &str,
        received: Option<NaiveDate>,
        step: &Step,
        corrects: Option<serde_json::Value>,
    ) -> Result<(), String> {
        let table = step
            .table
            .as_ref()
            .ok_or("the claim needs a table of service lines")?;
        let rows = Rows::with_header(&table.rows)?;
        let mut lines = Vec::new();
        let mut latest = None;
        for row in rows.iter() {
            let date: NaiveDate = row.get("date of service")?;
            latest = latest.max(Some(date));
            let list = |text: Option<String>| -> Vec<String> {
                text.map(|codes| {
                    codes
                        .split(',')
                        .map(|code| code.trim().to_owned())
                        .collect()
                })
                .unwrap_or_default()
            };
            let mut line = serde_json::json!({
                "procedure": row.get::<String>("procedure")?,
                "diagnoses": list(row.optional("diagnoses")?),
                "date_of_service": date,
                "units": row.optional::<u32>("units")?.unwrap_or(1),
                "billed": row.get::<Money>("billed")?.to_string(),
                "modifiers": list(row.optional("modifiers")?),
            });
            if let Some(number) = row.optional::<String>("authorisation")? {
                line["authorization"] = serde_json::json!(number);
            }
            if let Some(paid) = row.optional::<Money>("primary paid")? {
                line["primary_paid"] = serde_json::json!(paid.to_string());
            }
            lines.push(line);
        }
        let latest = latest.ok_or("the claim has no service lines")?;
        self.remember_before(member, latest.year()).await?;
        let claim_ref = self.next_claim_ref();
        let mut body = serde_json::json!({
            "claim_ref": claim_ref,
            "member": member,
            "provider": slug(provider),
            "received_on": received.unwrap_or(latest),
            "lines": lines,
        });
        if let Some(corrects) = corrects {
            body["corrects"] = corrects;
        }
        let insurer = InsurerId::new(INSURER).map_err(invalid)?;
        let engine = self.engine().await?;
        let reply = engine
            .submit(&insurer, serde_json::to_vec(&body).map_err(invalid)?)
            .await
            .map_err(|error| format!("the submission got no answer: {error:#}"))?;
        if let Some(claim) = reply.claim_id {
            engine
                .wait_for_claim(claim, "decided", PATIENCE, |state| {
                    !matches!(state.status, None | Some(ClaimStatus::Submitted))
                })
                .await
                .map_err(invalid)?;
            self.submitted.push(claim);
            self.claim_refs.insert(claim, claim_ref);
        }
        self.last_reply = Some(reply);
        Ok(())
    }

    /// Keeps the member's plan and year as they stand before a claim, for explanations.
    async fn remember_before(&mut self, member: &str, year: i32) -> Result<(), String> {
        let enrolled = self
            .reference
            .members
            .iter()
            .find(|enrolled| enrolled.id.as_str() == member)
            .map(|enrolled| enrolled.plan.clone());
        let plan = enrolled.and_then(|plan| {
            self.reference
                .plans
                .iter()
                .find(|candidate| candidate.id == plan)
                .cloned()
        });
        self.before = match plan {
            Some(plan) => Some(Before {
                plan,
                member: self.member_year(member, year).await?,
            }),
            None => None,
        };
        Ok(())
    }
}

/// Puts `entry` in `entries`, replacing one with the same key: a later step redefines.
pub fn replace<T, K: PartialEq>(entries: &mut Vec<T>, entry: T, key: impl Fn(&T) -> K) {
    entries.retain(|existing| key(existing) != key(&entry));
    entries.push(entry);
}

/// The claim's status in the analysts' words.
pub fn describe_status(state: &ClaimState) -> String {
    state
        .status
        .map_or_else(|| "not submitted".to_owned(), |status| status.to_string())
}
