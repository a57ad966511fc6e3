//! The engine wired in one process with the embedded defaults: SQLite event store,
//! in-process bus, embedded EVM. Every role runs as a task: intake, relay, adjudication
//! workers, outcome notices, the settler and the read-model projector.
//!
//! The bus is a choice ([`BusChoice`]): the in-process bus by default, or NATS JetStream
//! given a server's URL ([`BusChoice::nats`]), on which insurers reach the engine from
//! outside and several processes share the work queues.
//!
//! This is what `claims demo` and the analysts' specifications run. The roles talk to each
//! other only through the store and the bus, exactly as they do when each runs in its own
//! process on its own host.

use crate::adjudicator::{Adjudicated, Adjudicator};
use crate::clock::Clock;
use crate::intake::{Intake, IntakeReply, NATIVE_CONTENT_TYPE};
use crate::metrics::EngineMetrics;
use crate::outcomes::Outcomes;
use crate::reference::{ReferenceData, ReferenceError, ReferenceSummary};
use crate::reference_intake::ReferenceIntake;
use crate::relay::Relay;
use crate::review_intake::ReviewIntake;
use crate::settlement_chain::{self, ChainSettings};
use crate::settler::{RETRY_OPEN_BATCHES, Settler, SettlerConfig};
use crate::shutdown::{self, ShutdownTrigger};
use crate::store_gate::StoreGate;
use crate::subjects;
use anyhow::{Context, bail};
use claims_adapters::aggregate::{self, StoredAggregate, streams};
use claims_adapters::bus::{
    InProcessBus, Message, MessageBus, NatsBus, NatsBusConfig, Subject, SubjectPattern,
    WorkQueueSpec,
};
use claims_adapters::event_store::{EventStore, PostgresEventStore, SqliteEventStore};
use claims_adapters::fold_cache::FoldCache;
use claims_adapters::read_models::{PostgresReadModels, Projector, ReadModels, SqliteReadModels};
use claims_domain::Decider;
use claims_domain::accumulator::{AccumulatorDecider, FamilyAccumulatorDecider};
use claims_domain::authorizations::{AuthorizationCommand, AuthorizationsDecider};
use claims_domain::claim::{Appeal, ClaimDecider, ClaimState, Review};
use claims_domain::member::MemberDecider;
use claims_domain::plan::PlanDecider;
use claims_domain::provider::ProviderDecider;
use claims_domain::rules::authorization::Authorization;
use claims_domain::{ClaimId, Currency, InsurerId, MemberId, Money, WalletAddress};
use claims_settlement::service::{SettledBatch, SettlementService, TokenDenomination};
use claims_settlement::{EmbeddedChain, PayoutToken, SettlementChain, TokenAmount};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Where the event store (and the read models beside it) keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// In memory: gone when the engine stops (specifications, tests).
    InMemory,
    /// An SQLite file, created if missing.
    File(PathBuf),
    /// PostgreSQL at `url`, in `schema` (created if missing) or else in the connection's
    /// default schema; several engine processes share it.
    Postgres {
        /// Such as `postgres://claims@db:5432/claims`.
        url: String,
        /// A plain identifier, such as `claims`.
        schema: Option<String>,
    },
}

/// A role an engine process runs; any set of them may run in one process, and each may
/// run in many processes sharing one PostgreSQL log and one NATS server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Claim submissions, reference data and reviewers' commands from insurers become
    /// events.
    Intake,
    /// Stored events are published to the bus.
    Relay,
    /// Submitted claims are decided.
    Adjudicator,
    /// Approved claims are batched and paid on chain.
    Settler,
    /// Decisions and payments are announced to insurers.
    Outcomes,
    /// The read models are kept current and served over HTTP.
    Api,
}

impl Role {
    /// Every role, in the order a claim meets them.
    pub const ALL: [Role; 6] = [
        Role::Intake,
        Role::Relay,
        Role::Adjudicator,
        Role::Settler,
        Role::Outcomes,
        Role::Api,
    ];

    /// The role's name on the command line and in the configuration file.
    pub fn name(self) -> &'static str {
        match self {
            Role::Intake => "intake",
            Role::Relay => "relay",
            Role::Adjudicator => "adjudicator",
            Role::Settler => "settler",
            Role::Outcomes => "outcomes",
            Role::Api => "api",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a role: use intake, relay, adjudicator, settler, outcomes or api")]
pub struct UnknownRole(pub String);

impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.name() == text.trim())
            .ok_or_else(|| UnknownRole(text.to_owned()))
    }
}

/// Which message bus the roles talk over.
#[derive(Debug, Clone, Default)]
pub enum BusChoice {
    /// In this process only (the embedded default).
    #[default]
    InProcess,
    /// NATS JetStream: insurers and other processes reach the engine through the server.
    Nats(Box<NatsBusConfig>),
}

impl BusChoice {
    /// The stream the engine keeps on NATS by default.
    pub const DEFAULT_STREAM: &str = "CLAIMS";

    /// NATS JetStream at `url` (`nats://127.0.0.1:4222`), keeping what insurers send, the
    /// events and dead letters ([`subjects::stream_subjects`]) in the stream `stream`.
    pub fn nats(url: impl Into<String>, stream: impl Into<String>) -> Self {
        BusChoice::Nats(Box::new(NatsBusConfig::new(
            url,
            stream,
            subjects::stream_subjects(),
        )))
    }
}

/// The bus the engine runs on.
#[derive(Clone)]
enum EngineBus {
    InProcess(InProcessBus),
    Nats(NatsBus),
}

impl EngineBus {
    async fn connect(choice: &BusChoice) -> anyhow::Result<Self> {
        Ok(match choice {
            BusChoice::InProcess => EngineBus::InProcess(InProcessBus::new()),
            BusChoice::Nats(config) => EngineBus::Nats(
                NatsBus::connect(NatsBusConfig::clone(config))
                    .await
                    .context("connecting the engine to NATS")?,
            ),
        })
    }

    fn shared(&self) -> Arc<dyn MessageBus> {
        match self {
            EngineBus::InProcess(bus) => Arc::new(bus.clone()),
            EngineBus::Nats(bus) => Arc::new(bus.clone()),
        }
    }

    fn shutdown(&self) {
        match self {
            EngineBus::InProcess(bus) => bus.shutdown(),
            EngineBus::Nats(bus) => bus.shutdown(),
        }
    }
}

/// How the embedded engine is wired.
pub struct EmbeddedConfig {
    /// The message bus.
    pub bus: BusChoice,
    /// The event store's location.
    pub database: Database,
    /// The clock decisions are dated by.
    pub clock: Arc<dyn Clock>,
    /// When the settler pays batches.
    pub settler: SettlerConfig,
    /// How often the settler sends again a batch the chain refused.
    pub retry_open_batches: Duration,
    /// Adjudication workers to run.
    pub adjudicators: usize,
    /// Intake tasks pulling submissions at once (each claim still goes to one of them; a
    /// re-sent claim racing its original is settled by the claim stream's version).
    pub intakes: usize,
    /// Outcome-notice tasks per notice queue. One keeps a claim's notices in order (a
    /// pended decision before its review's); a batch per task keeps one task fast.
    pub notifiers: usize,
    /// Messages intake, each adjudication worker and each notifier take from their queue
    /// at once (whatever is waiting, up to this many): their reads and appends are shared
    /// by the batch, which is what lets one process keep up with thousands of claims a
    /// second. 1 handles a message at a time.
    pub batch: usize,
    /// How long a message taken from a work queue may stay unacknowledged before the bus
    /// gives it to another worker. On NATS it is part of each queue's consumer, so every
    /// process sharing a queue must use the same value.
    pub ack_wait: Duration,
    /// How long the relay, once caught up, waits for a wake-up hint before looking anyway.
    pub relay_poll: Duration,
    /// The chain payouts are settled on: the embedded EVM unless configured otherwise.
    pub chain: ChainSettings,
    /// The stablecoin float minted into the embedded settlement contract, in whole tokens
    /// (a chain over JSON-RPC is funded from treasury instead).
    pub float: u64,
    /// How often to reconcile the chain's logs with the event store in the background
    /// (discrepancies are logged as warnings); `None` never does. Claims still on their
    /// way to the chain show as approved and not paid, so keep the interval well above
    /// the settler's batching delay.
    pub reconcile_every: Option<Duration>,
    /// The roles this process runs (every one by default).
    pub roles: BTreeSet<Role>,
    /// The most streams intake and the adjudicators keep folded between batches
    /// ([`FoldCache`]); 0 keeps none.
    pub folded_streams: usize,
}

impl EmbeddedConfig {
    /// Defaults for one process: two adjudication workers, one intake task and one notifier
    /// per queue, each taking up to [`DEFAULT_BATCH`] messages at a time, a 30-second
    /// `ack_wait`, a 250 ms relay poll, payout batches of up to 100 claims or 2 seconds, refused batches sent again every [`RETRY_OPEN_BATCHES`]
    /// (30 seconds), a float of 10 million tokens.
    pub fn new(database: Database, clock: Arc<dyn Clock>) -> Self {
        Self {
            bus: BusChoice::InProcess,
            database,
            clock,
            settler: SettlerConfig {
                max_batch: 100,
                max_wait: Some(Duration::from_secs(2)),
            },
            retry_open_batches: RETRY_OPEN_BATCHES,
            adjudicators: 2,
            intakes: 1,
            notifiers: 1,
            batch: DEFAULT_BATCH,
            ack_wait: DEFAULT_ACK_WAIT,
            relay_poll: Duration::from_millis(250),
            chain: ChainSettings::Embedded { caps: None },
            float: 10_000_000,
            reconcile_every: None,
            roles: Role::ALL.into_iter().collect(),
            folded_streams: DEFAULT_FOLDED_STREAMS,
        }
    }
}

/// Messages a role takes from its queue at once unless configured otherwise: enough to
/// share a read and an append among many claims under load, few enough that a batch is
/// decided in milliseconds.
pub const DEFAULT_BATCH: usize = 64;

/// How long a delivery may stay unacknowledged unless configured otherwise.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);

/// The durable queues the roles pull from. Each reads one subject pattern: a queue on
/// several subjects needs nats-server 2.10 (`filter_subjects`), and the Debian server is
/// 2.9, so outcome notices read three queues, one per event type.
mod queues {
    pub const INTAKE: &str = "intake";
    pub const REFERENCE: &str = "reference";
    pub const REVIEWS: &str = "reviews";
    pub const ADJUDICATION: &str = "adjudication";
    pub const SETTLEMENT: &str = "settlement";
    pub const OUTCOMES_DECIDED: &str = "outcomes-decided";
    pub const OUTCOMES_PAID: &str = "outcomes-paid";
    pub const OUTCOMES_CANCELLED: &str = "outcomes-cancelled";
}

/// The most streams a process keeps folded by default ([`FoldCache`]): a member's
/// enrolment, benefit year and authorisations are three, so 20,000 members met recently;
/// the least recently used half goes when it is full.
pub const DEFAULT_FOLDED_STREAMS: usize = 60_000;

/// The cache of what intake checks submissions against and adjudication decides on: plans,
/// providers, members, their authorisations and benefit years (and their families'), at
/// most `capacity` of them; none when `capacity` is 0. Not the claims: each is read once
/// or twice in its life.
fn decision_fold_cache(capacity: usize) -> Option<FoldCache> {
    (capacity > 0).then(|| {
        FoldCache::new(
            &[
                PlanDecider::CATEGORY,
                ProviderDecider::CATEGORY,
                MemberDecider::CATEGORY,
                AuthorizationsDecider::CATEGORY,
                AccumulatorDecider::CATEGORY,
                FamilyAccumulatorDecider::CATEGORY,
            ],
            capacity,
        )
    })
}

/// A running engine.
pub struct Engine {
    metrics: EngineMetrics,
    store: Arc<dyn EventStore>,
    read_models: Arc<dyn ReadModels>,
    bus: EngineBus,
    dyn_bus: Arc<dyn MessageBus>,
    chain: Arc<dyn SettlementChain>,
    embedded_chain: Option<Arc<EmbeddedChain>>,
    settlement: Arc<SettlementService>,
    /// Records reviewers' decisions and appeals, with the same inputs and clock as
    /// adjudication.
    reviews: Adjudicator,
    shutdown: ShutdownTrigger,
    tasks: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Starts every role in this process on the embedded adapters.
    pub async fn start_embedded(config: EmbeddedConfig) -> anyhow::Result<Engine> {
        let (store, read_models) = open_database(&config.database).await?;
        let bus = EngineBus::connect(&config.bus).await?;
        let connected = settlement_chain::connect(
            &config.chain,
            TokenAmount::from_base_units(u128::from(config.float) * 1_000_000),
            store.clone(),
        )
        .await?;
        let chain = connected.chain;
        if chain.token().decimals != 6 {
            bail!(
                "the payout token {} has {} decimals; expected a 6-decimal USD stablecoin",
                chain.token().symbol,
                chain.token().decimals
            );
        }
        let settlement = Arc::new(SettlementService::new(
            store.clone(),
            chain.clone(),
            TokenDenomination(Currency::USD),
        ));
        let dyn_bus = bus.shared();
        let (trigger, shutdown) = shutdown::channel();

        // Queues first, so they capture everything the relay publishes from its first pass.
        // Only the queues of this process's roles: a durable queue nobody reads would
        // keep its messages for ever.
        let runs = |role| config.roles.contains(&role);
        let mut tasks = Vec::new();
        let metrics = EngineMetrics::new().with_bus(dyn_bus.clone());
        // One gate for every role of the process: a shutdown ends its holds, and
        // `/metrics` shows what it holds.
        let gate = StoreGate::new(store.clone())
            .with_shutdown(shutdown.clone())
            .with_held(metrics.held());
        // One cache of folded aggregates for intake and the adjudicators: both read the
        // same plans, providers and members batch after batch.
        let folds = decision_fold_cache(config.folded_streams);
        if runs(Role::Intake) {
            for _ in 0..config.intakes.max(1) {
                let intake_queue = dyn_bus
                    .work_queue(queue_spec(
                        queues::INTAKE,
                        subjects::all_submissions(),
                        config.ack_wait,
                    ))
                    .await?;
                tasks.push(tokio::spawn(
                    Intake::new(store.clone(), dyn_bus.clone())
                        .with_batch(config.batch)
                        .with_gate(gate.clone())
                        .with_fold_cache(folds.clone())
                        .run(intake_queue),
                ));
            }
            let reference_queue = dyn_bus
                .work_queue(queue_spec(
                    queues::REFERENCE,
                    subjects::all_reference_data(),
                    config.ack_wait,
                ))
                .await?;
            let review_queue = dyn_bus
                .work_queue(queue_spec(
                    queues::REVIEWS,
                    subjects::all_reviews(),
                    config.ack_wait,
                ))
                .await?;
            tasks.push(tokio::spawn(
                ReviewIntake::new(
                    Adjudicator::new(store.clone(), config.clock.clone()).with_gate(gate.clone()),
                    dyn_bus.clone(),
                )
                .run(review_queue),
            ));
            tasks.push(tokio::spawn(
                ReferenceIntake::new(store.clone(), dyn_bus.clone())
                    .with_gate(gate.clone())
                    .run(reference_queue),
            ));
        }
        if runs(Role::Settler) {
            let settlement_queue = dyn_bus
                .work_queue(queue_spec(
                    queues::SETTLEMENT,
                    subjects::events_of_type("claim", "ClaimAdjudicated"),
                    config.ack_wait,
                ))
                .await?;
            tasks.push(tokio::spawn(
                Settler::new(settlement.clone(), config.clock.clone(), config.settler)
                    .retrying_open_batches_every(config.retry_open_batches)
                    .with_gate(gate.clone())
                    .run(settlement_queue, shutdown.clone()),
            ));
        }
        if runs(Role::Outcomes) {
            for (name, event_type) in [
                (queues::OUTCOMES_DECIDED, "ClaimAdjudicated"),
                (queues::OUTCOMES_PAID, "ClaimPayoutConfirmed"),
                (queues::OUTCOMES_CANCELLED, "ClaimVoided"),
            ] {
                let spec = queue_spec(
                    name,
                    subjects::events_of_type("claim", event_type),
                    config.ack_wait,
                );
                for _ in 0..config.notifiers.max(1) {
                    let queue = dyn_bus.work_queue(spec.clone()).await?;
                    tasks.push(tokio::spawn(
                        Outcomes::new(store.clone(), dyn_bus.clone())
                            .with_batch(config.batch)
                            .with_gate(gate.clone())
                            .run(queue),
                    ));
                }
            }
        }
        if runs(Role::Adjudicator) {
            let adjudication_spec = queue_spec(
                queues::ADJUDICATION,
                subjects::events_of_type("claim", "ClaimSubmitted"),
                config.ack_wait,
            );
            for _ in 0..config.adjudicators.max(1) {
                let queue = dyn_bus.work_queue(adjudication_spec.clone()).await?;
                tasks.push(tokio::spawn(
                    Adjudicator::new(store.clone(), config.clock.clone())
                        .with_batch(config.batch)
                        .with_gate(gate.clone())
                        .with_fold_cache(folds.clone())
                        .run(queue),
                ));
            }
        }
        if runs(Role::Relay) {
            tasks.push(tokio::spawn(
                Relay::new(store.clone(), dyn_bus.clone(), config.relay_poll).run(shutdown.clone()),
            ));
        }
        // The read models and metrics are what the API serves, so the process serving them
        // keeps them.
        if runs(Role::Api) {
            tasks.push(tokio::spawn(
                metrics.clone().follow_log(store.clone(), shutdown.clone()),
            ));
            tasks.push(tokio::spawn(
                metrics
                    .clone()
                    .count_dead_letters(dyn_bus.clone(), shutdown.clone()),
            ));
            let mut projector_shutdown = shutdown.clone();
            tasks.push(tokio::spawn(
                Projector::new(store.clone(), read_models.clone())
                    .run(async move { projector_shutdown.wait().await }),
            ));
        }
        if runs(Role::Settler)
            && let Some(interval) = config.reconcile_every
        {
            tasks.push(tokio::spawn(crate::reconciliation::run_periodically(
                store.clone(),
                chain.clone(),
                interval,
                shutdown.clone(),
            )));
        }

        Ok(Engine {
            reviews: Adjudicator::new(store.clone(), config.clock.clone()),
            metrics,
            store,
            read_models,
            bus,
            dyn_bus,
            chain,
            embedded_chain: connected.embedded,
            settlement,
            shutdown: trigger,
            tasks,
        })
    }

    /// The event store.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The read models, kept current by the engine's projector.
    pub fn read_models(&self) -> &Arc<dyn ReadModels> {
        &self.read_models
    }

    /// The metrics, counted while the API role runs.
    pub fn metrics(&self) -> &EngineMetrics {
        &self.metrics
    }

    /// The bus.
    pub fn bus(&self) -> &Arc<dyn MessageBus> {
        &self.dyn_bus
    }

    /// The chain payouts are settled on.
    pub fn settlement_chain(&self) -> &Arc<dyn SettlementChain> {
        &self.chain
    }

    /// The embedded chain, when the engine settles on it (the default).
    pub fn embedded_chain(&self) -> Option<&Arc<EmbeddedChain>> {
        self.embedded_chain.as_ref()
    }

    /// Stores plans, members and providers as the operator's.
    pub async fn load_reference_data(
        &self,
        data: &ReferenceData,
    ) -> Result<ReferenceSummary, ReferenceError> {
        data.store(self.store.as_ref()).await
    }

    /// Stores plans, members and providers on behalf of `keeper` (an insurer may then
    /// change them over the bus).
    pub async fn load_reference_data_as(
        &self,
        data: &ReferenceData,
        keeper: &crate::keeper::Keeper,
    ) -> Result<ReferenceSummary, ReferenceError> {
        data.store_as(self.store.as_ref(), keeper).await
    }

    /// Stores a rule-set version and its plans' new revisions; in force from now on.
    pub async fn load_rule_set(
        &self,
        rule_set: &claims_domain::rule_set::RuleSet,
    ) -> Result<crate::rule_sets::RuleSetLoaded, crate::rule_sets::RuleSetLoadError> {
        crate::rule_sets::store(self.store.as_ref(), rule_set).await
    }

    /// Decides a stored claim again with the rule-set version and inputs its latest
    /// decision recorded (nothing is stored).
    pub async fn replay_decision(
        &self,
        claim: ClaimId,
    ) -> Result<crate::decision_replay::ReplayedDecision, crate::decision_replay::ReplayError> {
        crate::decision_replay::replay_decision(self.store.as_ref(), claim).await
    }

    /// Records a reviewer's decision on a pended claim, and the claim's new decision.
    pub async fn review(&self, claim: ClaimId, review: Review) -> anyhow::Result<Adjudicated> {
        Ok(self.reviews.review(claim, review).await?)
    }

    /// Records a provider's appeal of a denied claim, and the claim's new decision.
    pub async fn appeal(&self, claim: ClaimId, appeal: Appeal) -> anyhow::Result<Adjudicated> {
        Ok(self.reviews.appeal(claim, appeal).await?)
    }

    /// Records a prior authorisation the payer approved for a member (idempotent: the same
    /// authorisation again stores nothing).
    pub async fn grant_authorization(
        &self,
        member: &MemberId,
        authorization: Authorization,
    ) -> anyhow::Result<()> {
        let store = self.store.as_ref();
        let on_file =
            aggregate::load::<AuthorizationsDecider>(store, streams::authorizations(member))
                .await?;
        let events = AuthorizationsDecider::decide(
            &on_file.state,
            AuthorizationCommand::Grant {
                member: member.clone(),
                authorization,
            },
        )?;
        let metadata = serde_json::json!({ "member": member });
        if let Some(append) = on_file.append(&events, &metadata)? {
            store.append(vec![append]).await?;
        }
        Ok(())
    }

    /// Publishes a native JSON submission as `insurer` and waits for the engine's answer.
    pub async fn submit(
        &self,
        insurer: &InsurerId,
        body: impl Into<bytes::Bytes>,
    ) -> anyhow::Result<IntakeReply> {
        self.submit_as(insurer, body, NATIVE_CONTENT_TYPE).await
    }

    /// Publishes a submission of `content_type` (native JSON or FHIR) as `insurer` and
    /// waits for the engine's answer.
    pub async fn submit_as(
        &self,
        insurer: &InsurerId,
        body: impl Into<bytes::Bytes>,
        content_type: &str,
    ) -> anyhow::Result<IntakeReply> {
        let inbox = Subject::new(format!(
            "{}.{}",
            subjects::inbox_prefix(insurer),
            uuid::Uuid::new_v4().simple()
        ))?;
        let mut replies = self
            .dyn_bus
            .subscribe(SubjectPattern::from(inbox.clone()))
            .await?;
        let message = Message::new(subjects::submit(insurer), body)
            .with_header("Content-Type", content_type)
            .with_reply_to(inbox);
        self.dyn_bus.publish(message).await?;
        let reply = tokio::time::timeout(Duration::from_secs(10), replies.next())
            .await
            .context("intake did not answer the submission within 10 seconds")?
            .context("the bus shut down before intake answered")?;
        serde_json::from_slice(&reply.payload).context("intake's answer is not a valid reply")
    }

    /// A claim's state, folded from its events.
    pub async fn claim(&self, claim: ClaimId) -> anyhow::Result<ClaimState> {
        Ok(
            aggregate::load::<ClaimDecider>(self.store.as_ref(), streams::claim(claim))
                .await?
                .state,
        )
    }

    /// Waits until a claim's state satisfies `done`, or fails after `timeout` saying what
    /// it was waiting for.
    pub async fn wait_for_claim(
        &self,
        claim: ClaimId,
        what: &str,
        timeout: Duration,
        done: impl Fn(&ClaimState) -> bool,
    ) -> anyhow::Result<ClaimState> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let state = self.claim(claim).await?;
            if done(&state) {
                return Ok(state);
            }
            if tokio::time::Instant::now() >= deadline {
                let status = state
                    .status
                    .map_or_else(|| "not submitted".to_owned(), |status| status.to_string());
                bail!("claim {claim} was not {what} within {timeout:?}; it is {status}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Pays these claims now, in one batch (those approved and not yet in a batch).
    pub async fn settle_now(
        &self,
        claims: &[ClaimId],
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Option<SettledBatch>> {
        Ok(self.settlement.settle(claims, now).await?)
    }

    /// A wallet's balance of the payout stablecoin, in dollars.
    pub async fn balance(&self, wallet: WalletAddress) -> anyhow::Result<Money> {
        let amount = self.chain.token_balance(wallet).await?;
        Ok(self.payout_token().money(amount)?)
    }

    /// What the settlement contract owes a provider whose transfer failed, in dollars; the
    /// provider withdraws it from the contract.
    pub async fn owed(&self, wallet: WalletAddress) -> anyhow::Result<Money> {
        let amount = self.chain.owed(wallet).await?;
        Ok(self.payout_token().money(amount)?)
    }

    fn payout_token(&self) -> PayoutToken {
        PayoutToken {
            currency: Currency::USD,
            decimals: self.chain.token().decimals,
        }
    }

    /// Stops every role and waits for them.
    pub async fn shutdown(mut self) {
        self.shutdown.trigger();
        self.bus.shutdown();
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        if let EngineBus::Nats(bus) = &self.bus {
            bus.handed_back().await;
        }
    }
}

impl Drop for Engine {
    /// An engine dropped without [`Engine::shutdown`] still stops its roles, so no task
    /// outlives it.
    fn drop(&mut self) {
        self.shutdown.trigger();
        self.bus.shutdown();
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Opens the event store and the read models beside it (creating an SQLite file or a
/// PostgreSQL schema that is missing).
pub async fn open_database(
    database: &Database,
) -> anyhow::Result<(Arc<dyn EventStore>, Arc<dyn ReadModels>)> {
    let sqlite = match database {
        Database::InMemory => SqliteEventStore::in_memory().await?,
        Database::File(path) => {
            if let Some(parent) = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).with_context(|| {
                    format!(
                        "creating the directory for the event store at {}",
                        path.display()
                    )
                })?;
            }
            SqliteEventStore::open(path)
                .await
                .with_context(|| format!("opening the event store at {}", path.display()))?
        }
        Database::Postgres { url, schema } => {
            // The URL may carry a password: never put it in an error or a log.
            let postgres = match schema {
                Some(schema) => PostgresEventStore::connect_in_schema(url, schema).await,
                None => PostgresEventStore::connect(url).await,
            }
            .context("connecting to the PostgreSQL event store")?;
            let read_models: Arc<dyn ReadModels> = Arc::new(PostgresReadModels::of(&postgres));
            return Ok((Arc::new(postgres), read_models));
        }
    };
    let read_models: Arc<dyn ReadModels> = Arc::new(SqliteReadModels::of(&sqlite));
    Ok((Arc::new(sqlite), read_models))
}

fn queue_spec(name: &str, subjects: SubjectPattern, ack_wait: Duration) -> WorkQueueSpec {
    WorkQueueSpec {
        name: name.to_owned(),
        subjects: vec![subjects],
        max_deliveries: 5,
        ack_wait,
        dead_letter: subjects::dead_letter(name),
    }
}
