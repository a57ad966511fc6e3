//! Runs the analysts' `.feature` files against the engine wired with its embedded adapters
//! (SQLite in memory, in-process bus, embedded EVM), one fresh engine per scenario.
//!
//! Steps speak the analysts' language and fail in it: a failing step says what the
//! specification expected and what the engine did. An undefined or skipped step fails the
//! run.

use chrono::NaiveDate;
use claims::clock::FixedClock;
use claims::engine::{Database, EmbeddedConfig, Engine};
use claims::intake::{IntakeReply, ReplyStatus};
use claims::reference::ReferenceData;
use claims::settler::SettlerConfig;
use claims_domain::adjudication::{Adjudication, Decision};
use claims_domain::claim::{ClaimState, ClaimStatus};
use claims_domain::member::{CoveragePeriod, Member};
use claims_domain::plan::{BenefitPlan, FeeScheduleEntry};
use claims_domain::provider::Provider;
use claims_domain::{ClaimId, Currency, InsurerId, Money, Rate, WalletAddress};
use claims_features::{Rows, slug};
use cucumber::gherkin::Step;
use cucumber::{Parameter, World, given, then, when};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The insurer every scenario submits as.
const INSURER: &str = "acme-health";

/// How long a step waits for the engine before it says what it was waiting for.
const PATIENCE: Duration = Duration::from_secs(10);

#[derive(World)]
#[world(init = Self::new)]
struct ClaimsWorld {
    reference: ReferenceData,
    clock: Arc<FixedClock>,
    engine: Option<Engine>,
    reference_loaded: bool,
    submitted: Vec<ClaimId>,
    last_reply: Option<IntakeReply>,
    balances_before: BTreeMap<String, Decimal>,
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

impl ClaimsWorld {
    fn new() -> Self {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        Self {
            reference: ReferenceData::default(),
            clock: Arc::new(FixedClock::on(today)),
            engine: None,
            reference_loaded: false,
            submitted: Vec::new(),
            last_reply: None,
            balances_before: BTreeMap::new(),
            next_claim: 1,
        }
    }

    /// The running engine with every reference-data step so far loaded into it.
    async fn engine(&mut self) -> Result<&Engine, String> {
        if self.engine.is_none() {
            let mut config = EmbeddedConfig::new(Database::InMemory, self.clock.clone());
            // Payouts happen when a step says so, never on a timer.
            config.settler = SettlerConfig {
                max_batch: usize::MAX,
                max_wait: None,
            };
            config.adjudicators = 1;
            let engine = Engine::start_embedded(config)
                .await
                .map_err(|error| format!("the engine did not start: {error:#}"))?;
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
            self.reference_loaded = true;
        }
        self.engine
            .as_ref()
            .ok_or_else(|| "the engine is not running".to_owned())
    }

    /// Changes the reference data; it is loaded into the engine before the next step that
    /// needs the engine.
    fn define(&mut self, change: impl FnOnce(&mut ReferenceData)) {
        change(&mut self.reference);
        self.reference_loaded = false;
    }

    fn plan_mut(&mut self, name: &str) -> Result<&mut BenefitPlan, String> {
        let id = slug(name);
        self.reference_loaded = false;
        self.reference
            .plans
            .iter_mut()
            .find(|plan| plan.id.as_str() == id)
            .ok_or_else(|| format!("there is no plan \"{name}\"; define it first with 'Given the plan \"{name}\" in USD with:'"))
    }

    fn plan_id(&self, name: &str) -> Result<claims_domain::PlanId, String> {
        claims_domain::PlanId::new(slug(name)).map_err(|error| error.to_string())
    }

    fn provider(&self, name: &str) -> Result<&Provider, String> {
        let id = slug(name);
        self.reference
            .providers
            .iter()
            .find(|provider| provider.id.as_str() == id)
            .ok_or_else(|| format!("there is no provider \"{name}\"; register it with 'Given the provider \"{name}\" is paid to wallet 0x…'"))
    }

    fn enrol(&mut self, member: &str, plan: &str, period: CoveragePeriod) -> Result<(), String> {
        let member = Member {
            id: member
                .parse()
                .map_err(|error: claims_domain::InvalidId| error.to_string())?,
            insurer: InsurerId::new(INSURER).map_err(|error| error.to_string())?,
            plan: self.plan_id(plan)?,
            coverage: vec![period],
            family: None,
            primary_payer: None,
        };
        self.define(|reference| replace(&mut reference.members, member, |entry| entry.id.clone()));
        Ok(())
    }

    /// The claim the latest submission created.
    fn last_claim(&self) -> Result<ClaimId, String> {
        self.submitted
            .last()
            .copied()
            .ok_or_else(|| "no claim has been accepted yet in this scenario".to_owned())
    }

    async fn last_claim_state(&mut self) -> Result<ClaimState, String> {
        let claim = self.last_claim()?;
        let engine = self.engine().await?;
        engine.claim(claim).await.map_err(|error| error.to_string())
    }

    async fn last_adjudication(&mut self) -> Result<Adjudication, String> {
        let state = self.last_claim_state().await?;
        let status = describe_status(&state);
        state
            .adjudication
            .ok_or_else(|| format!("the claim has not been adjudicated; it is {status}"))
    }

    async fn submit(&mut self, provider: &str, member: &str, step: &Step) -> Result<(), String> {
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
            let diagnoses: Option<String> = row.optional("diagnoses")?;
            lines.push(serde_json::json!({
                "procedure": row.get::<String>("procedure")?,
                "diagnoses": diagnoses.map(|codes| codes.split(',').map(|code| code.trim().to_owned()).collect::<Vec<_>>()).unwrap_or_default(),
                "date_of_service": date,
                "units": row.optional::<u32>("units")?.unwrap_or(1),
                "billed": row.get::<Money>("billed")?.to_string(),
            }));
        }
        let received = latest.ok_or("the claim has no service lines")?;
        let claim_ref = format!("SPEC-{:04}", self.next_claim);
        self.next_claim += 1;
        let body = serde_json::json!({
            "claim_ref": claim_ref,
            "member": member,
            "provider": slug(provider),
            "received_on": received,
            "lines": lines,
        });
        let insurer = InsurerId::new(INSURER).map_err(|error| error.to_string())?;
        let engine = self.engine().await?;
        let reply = engine
            .submit(
                &insurer,
                serde_json::to_vec(&body).map_err(|error| error.to_string())?,
            )
            .await
            .map_err(|error| format!("the submission got no answer: {error:#}"))?;
        if let Some(claim) = reply.claim_id {
            engine
                .wait_for_claim(claim, "decided", PATIENCE, |state| {
                    !matches!(state.status, None | Some(ClaimStatus::Submitted))
                })
                .await
                .map_err(|error| error.to_string())?;
            self.submitted.push(claim);
        }
        self.last_reply = Some(reply);
        Ok(())
    }
}

/// Puts `entry` in `entries`, replacing one with the same key: a later step redefines.
fn replace<T, K: PartialEq>(entries: &mut Vec<T>, entry: T, key: impl Fn(&T) -> K) {
    entries.retain(|existing| key(existing) != key(&entry));
    entries.push(entry);
}

/// An amount of money as analysts write it: `400.00 USD`.
#[derive(Debug, Clone, Copy, Parameter)]
#[param(name = "money", regex = r"-?\d+(?:\.\d+)? [A-Z]{3}")]
struct MoneyParam(Money);

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
struct AmountParam(Decimal);

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
struct DateParam(NaiveDate);

impl FromStr for DateParam {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse()
            .map(DateParam)
            .map_err(|error: chrono::ParseError| format!("{s} is not a date: {error}"))
    }
}

fn describe_status(state: &ClaimState) -> String {
    state
        .status
        .map_or_else(|| "not submitted".to_owned(), |status| status.to_string())
}

/// What the engine decided, in a sentence, for failure messages.
fn explain(adjudication: &Adjudication) -> String {
    let lines: Vec<String> = adjudication
        .lines
        .iter()
        .map(|line| {
            let adjustments: Vec<String> =
                line.adjustments.iter().map(ToString::to_string).collect();
            format!(
                "line {}: allowed {}, payer {}, adjustments [{}]",
                line.line,
                line.allowed,
                line.payer_paid,
                adjustments.join(", ")
            )
        })
        .collect();
    let decision = match &adjudication.decision {
        Decision::Approved => "approved".to_owned(),
        Decision::Denied => "denied".to_owned(),
        Decision::Pended { reason } => format!("pended: {reason}"),
    };
    format!("the claim was {decision}; {}", lines.join("; "))
}

// ---------------------------------------------------------------------------------------
// Plans, members, providers

#[given(expr = "the plan {string} in {word} with:")]
fn plan_with(
    world: &mut ClaimsWorld,
    name: String,
    currency: String,
    step: &Step,
) -> Result<(), String> {
    let table = step
        .table
        .as_ref()
        .ok_or("the plan needs a table of its terms")?;
    let terms = Rows::pairs(&table.rows)?;
    let currency: Currency = currency
        .parse()
        .map_err(|error: claims_domain::MoneyError| error.to_string())?;
    let term = |name: &str| {
        terms
            .get(name)
            .ok_or_else(|| format!("the plan table has no '{name}' row"))
    };
    let money = |name: &str| -> Result<Money, String> {
        term(name)?
            .parse()
            .map_err(|error: claims_domain::MoneyError| format!("'{name}': {error}"))
    };
    let plan = BenefitPlan {
        id: world.plan_id(&name)?,
        name: name.clone(),
        currency,
        deductible: money("deductible")?,
        coinsurance: term("coinsurance")?
            .parse::<Rate>()
            .map_err(|error| format!("'coinsurance': {error}"))?,
        out_of_pocket_max: money("out-of-pocket max")?,
        copays: BTreeMap::new(),
        fee_schedule: BTreeMap::new(),
        review_threshold: if terms.contains_key("review threshold") {
            Some(money("review threshold")?)
        } else {
            None
        },
    };
    world.define(|reference| replace(&mut reference.plans, plan, |entry| entry.id.clone()));
    Ok(())
}

#[given(expr = "the plan {string} allows these procedures:")]
fn plan_allows(world: &mut ClaimsWorld, name: String, step: &Step) -> Result<(), String> {
    let table = step
        .table
        .as_ref()
        .ok_or("the fee schedule needs a table")?;
    let rows = Rows::with_header(&table.rows)?;
    let mut entries = Vec::new();
    for row in rows.iter() {
        entries.push((
            row.get("procedure")?,
            FeeScheduleEntry {
                category: row.get("category")?,
                allowed_per_unit: row.get("allowed per unit")?,
            },
        ));
    }
    let plan = world.plan_mut(&name)?;
    plan.fee_schedule.extend(entries);
    Ok(())
}

#[given(expr = "the plan {string} has a copay of {money} for {string}")]
fn plan_copay(
    world: &mut ClaimsWorld,
    name: String,
    copay: MoneyParam,
    category: String,
) -> Result<(), String> {
    let category = category
        .parse()
        .map_err(|error: claims_domain::InvalidId| error.to_string())?;
    world.plan_mut(&name)?.copays.insert(category, copay.0);
    Ok(())
}

#[given(expr = "the member {string} is covered by {string} from {date}")]
fn member_covered(
    world: &mut ClaimsWorld,
    member: String,
    plan: String,
    start: DateParam,
) -> Result<(), String> {
    world.enrol(
        &member,
        &plan,
        CoveragePeriod {
            start: start.0,
            end: None,
        },
    )
}

#[given(expr = "the member {string} was covered by {string} from {date} to {date}")]
fn member_was_covered(
    world: &mut ClaimsWorld,
    member: String,
    plan: String,
    start: DateParam,
    end: DateParam,
) -> Result<(), String> {
    world.enrol(
        &member,
        &plan,
        CoveragePeriod {
            start: start.0,
            end: Some(end.0),
        },
    )
}

#[given(expr = "the provider {string} is paid to wallet {word}")]
fn provider_wallet(world: &mut ClaimsWorld, name: String, wallet: String) -> Result<(), String> {
    let provider = Provider {
        id: slug(&name)
            .parse()
            .map_err(|error: claims_domain::InvalidId| error.to_string())?,
        name,
        wallet: wallet
            .parse::<WalletAddress>()
            .map_err(|error| error.to_string())?,
    };
    world.define(|reference| replace(&mut reference.providers, provider, |entry| entry.id.clone()));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Claims

#[given(expr = "{string} submitted a claim for member {string} with:")]
#[when(expr = "{string} submits a claim for member {string} with:")]
async fn submits_claim(
    world: &mut ClaimsWorld,
    provider: String,
    member: String,
    step: &Step,
) -> Result<(), String> {
    world.submit(&provider, &member, step).await
}

#[then(expr = "the submission is rejected because {string}")]
fn submission_rejected(world: &mut ClaimsWorld, reason: String) -> Result<(), String> {
    let reply = world
        .last_reply
        .as_ref()
        .ok_or("nothing has been submitted yet")?;
    if reply.status != ReplyStatus::Rejected {
        return Err(format!(
            "expected the submission to be rejected because \"{reason}\"; the engine accepted it as claim {}",
            reply.claim_id.map(|id| id.to_string()).unwrap_or_default()
        ));
    }
    if !reply.reasons.iter().any(|given| given.message == reason) {
        return Err(format!(
            "expected the submission to be rejected because \"{reason}\"; the engine gave: {}",
            reply.reasons_text()
        ));
    }
    Ok(())
}

#[then(expr = "the claim is {word}")]
async fn claim_is(world: &mut ClaimsWorld, expected: String) -> Result<(), String> {
    let state = world.last_claim_state().await?;
    let actual = describe_status(&state);
    if actual == expected {
        return Ok(());
    }
    let why = state.adjudication.as_ref().map(explain).unwrap_or_default();
    Err(format!(
        "expected the claim to be {expected}; it is {actual}. {why}"
    ))
}

#[then(expr = "the payer pays {money}")]
async fn payer_pays(world: &mut ClaimsWorld, expected: MoneyParam) -> Result<(), String> {
    let adjudication = world.last_adjudication().await?;
    if adjudication.payer_paid == expected.0 {
        return Ok(());
    }
    Err(format!(
        "expected the payer to pay {}; the engine paid {} ({})",
        expected.0,
        adjudication.payer_paid,
        explain(&adjudication)
    ))
}

#[then(expr = "the member owes {money}")]
async fn member_owes(world: &mut ClaimsWorld, expected: MoneyParam) -> Result<(), String> {
    let adjudication = world.last_adjudication().await?;
    if adjudication.member_responsibility == expected.0 {
        return Ok(());
    }
    Err(format!(
        "expected the member to owe {}; the engine made the member responsible for {} ({})",
        expected.0,
        adjudication.member_responsibility,
        explain(&adjudication)
    ))
}

#[then(expr = "line {int} has these adjustments:")]
async fn line_adjustments(world: &mut ClaimsWorld, line: u32, step: &Step) -> Result<(), String> {
    let table = step
        .table
        .as_ref()
        .ok_or("list the adjustments in a table: code | amount")?;
    let rows = Rows::with_header(&table.rows)?;
    let mut expected = BTreeSet::new();
    for row in rows.iter() {
        expected.insert((
            row.get::<String>("code")?,
            row.get::<Money>("amount")?.to_string(),
        ));
    }
    let adjudication = world.last_adjudication().await?;
    let actual_line = adjudication
        .lines
        .iter()
        .find(|adjudicated| adjudicated.line == line)
        .ok_or_else(|| format!("the claim has no line {line}"))?;
    let actual: BTreeSet<(String, String)> = actual_line
        .adjustments
        .iter()
        .map(|adjustment| (adjustment.code(), adjustment.amount.to_string()))
        .collect();
    if actual == expected {
        return Ok(());
    }
    let show = |set: &BTreeSet<(String, String)>| {
        if set.is_empty() {
            "none".to_owned()
        } else {
            set.iter()
                .map(|(code, amount)| format!("{code} {amount}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    Err(format!(
        "expected line {line} to be adjusted by {}; the engine adjusted it by {}",
        show(&expected),
        show(&actual)
    ))
}

#[then(expr = "member {string} has met {money} of the {int} deductible")]
async fn deductible_met(
    world: &mut ClaimsWorld,
    member: String,
    expected: MoneyParam,
    year: i32,
) -> Result<(), String> {
    let member_id: claims_domain::MemberId = member
        .parse()
        .map_err(|error: claims_domain::InvalidId| error.to_string())?;
    let engine = world.engine().await?;
    let accumulator = accumulator_of(engine, &member_id, year).await?;
    let met = accumulator.accumulated(expected.0.currency()).deductible;
    if met == expected.0 {
        return Ok(());
    }
    Err(format!(
        "expected member {member} to have met {} of the {year} deductible; the engine has {met}",
        expected.0
    ))
}

async fn accumulator_of(
    engine: &Engine,
    member: &claims_domain::MemberId,
    year: i32,
) -> Result<claims_domain::accumulator::BenefitYearState, String> {
    use claims_adapters::aggregate::{load, streams};
    load::<claims_domain::accumulator::AccumulatorDecider>(
        engine.store().as_ref(),
        streams::accumulator(member, year),
    )
    .await
    .map(|loaded| loaded.state)
    .map_err(|error| error.to_string())
}

// ---------------------------------------------------------------------------------------
// Payouts

#[given(expr = "{string} holds {amount} USDC on chain")]
async fn provider_holds(
    world: &mut ClaimsWorld,
    name: String,
    amount: AmountParam,
) -> Result<(), String> {
    let wallet = world.provider(&name)?.wallet;
    let engine = world.engine().await?;
    let balance = engine
        .balance(wallet)
        .await
        .map_err(|error| error.to_string())?;
    if balance.amount() != amount.0 {
        return Err(format!(
            "expected \"{name}\" to hold {} USDC; its wallet holds {}",
            amount.0,
            balance.amount()
        ));
    }
    world.balances_before.insert(name, balance.amount());
    Ok(())
}

#[when("the payer settles the approved claims")]
async fn payer_settles(world: &mut ClaimsWorld) -> Result<(), String> {
    let claims = world.submitted.clone();
    let now = claims::clock::Clock::now(world.clock.as_ref());
    let engine = world.engine().await?;
    engine
        .settle_now(&claims, now)
        .await
        .map_err(|error| format!("settlement failed: {error:#}"))?;
    Ok(())
}

#[then(expr = "{string} receives {amount} USDC on chain")]
async fn provider_receives(
    world: &mut ClaimsWorld,
    name: String,
    amount: AmountParam,
) -> Result<(), String> {
    let wallet = world.provider(&name)?.wallet;
    let before = world
        .balances_before
        .get(&name)
        .copied()
        .unwrap_or(Decimal::ZERO);
    let engine = world.engine().await?;
    let balance = engine
        .balance(wallet)
        .await
        .map_err(|error| error.to_string())?;
    let received = balance.amount() - before;
    if received == amount.0 {
        return Ok(());
    }
    Err(format!(
        "expected \"{name}\" to receive {} USDC on chain; its wallet received {received} (it holds {})",
        amount.0,
        balance.amount()
    ))
}

#[tokio::main]
async fn main() {
    ClaimsWorld::cucumber()
        .fail_on_skipped()
        .max_concurrent_scenarios(4)
        .after(|_, _, _, _, world| {
            Box::pin(async move {
                if let Some(world) = world
                    && let Some(engine) = world.engine.take()
                {
                    engine.shutdown().await;
                }
            })
        })
        .run_and_exit(env!("CARGO_MANIFEST_DIR"))
        .await;
}
