//! Adjudication spread over processes: 1,000 claims through three `claims serve --role
//! adjudicator` processes, with intake and relay in a fourth, on PostgreSQL and a real
//! nats-server configured by `claims nats-config` (the engine as its own user, the claims
//! sent as the insurer's). Every claim is decided exactly once, and each member's benefit
//! year holds exactly the cost sharing of its claims' decisions, also when one worker is
//! killed with SIGKILL midway.
//!
//! Each test starts its own nats-server and PostgreSQL schema. Claims are small (one line)
//! and spread over 50 members, 20 each, on different days so none is a duplicate of another.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

#[path = "../../adapters/tests/pg_support/mod.rs"]
mod pg_support;
mod support;

use async_nats::HeaderMap;
use claims_adapters::aggregate::{load, streams};
use claims_adapters::event_store::{EventStore, LogPosition, PostgresEventStore};
use claims_domain::accumulator::{AccumulatorDecider, AccumulatorEvent};
use claims_domain::claim::ClaimDecider;
use claims_domain::{ClaimId, Currency, InsurerClaimRef, InsurerId, MemberId, Money};
use pg_support::TestSchema;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};
use support::engine_process::EngineProcess;
use support::nats_server::NatsServer;

const CLAIMS: usize = 1000;
const MEMBERS: usize = 50;
const INSURER: &str = "acme-health";
const ENGINE_USER: &str = "claims-engine";
const STREAM: &str = "CLAIMS";

fn member(index: usize) -> String {
    format!("W-{:03}", index % MEMBERS)
}

/// The example plan and providers, and the test's members.
fn reference_file(directory: &Path) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reference-data.toml"),
    )
    .unwrap();
    for index in 0..MEMBERS {
        text.push_str(&format!(
            "\n[[member]]\nid = {:?}\ninsurer = {INSURER:?}\nplan = \"gold-ppo\"\n\
             coverage = [{{ start = \"2026-01-01\" }}]\n",
            member(index)
        ));
    }
    let path = directory.join("reference.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn claim_ref(index: usize) -> String {
    format!("W-{index:04}")
}

/// Claim `index`: an office visit of its member, on the member's `index / MEMBERS`-th day.
fn claim(index: usize) -> Vec<u8> {
    let day = 1 + index / MEMBERS;
    serde_json::to_vec(&serde_json::json!({
        "claim_ref": claim_ref(index),
        "member": member(index),
        "provider": "clinic-a",
        "received_on": "2026-02-01",
        "lines": [{ "procedure": "99213", "date_of_service": format!("2026-01-{day:02}"),
                    "billed": "180.00 USD" }]
    }))
    .unwrap()
}

fn claim_id(index: usize) -> ClaimId {
    ClaimId::for_submission(
        &InsurerId::new(INSURER).unwrap(),
        &InsurerClaimRef::new(claim_ref(index)).unwrap(),
    )
}

/// A front process (intake, relay) and three adjudicator processes, two workers each.
struct Cluster {
    server: NatsServer,
    schema: TestSchema,
    front: EngineProcess,
    workers: Vec<EngineProcess>,
}

impl Cluster {
    async fn start() -> Self {
        let schema = TestSchema::new().await;
        let server = NatsServer::start_with_access(&[INSURER]).await;
        let directory = tempfile::tempdir().unwrap();
        let loaded = std::process::Command::new(env!("CARGO_BIN_EXE_claims"))
            .args(["reference", "load"])
            .arg(reference_file(directory.path()))
            .args([
                "--database-url",
                &schema.url,
                "--database-schema",
                &schema.name,
            ])
            .output()
            .unwrap();
        assert!(loaded.status.success(), "{loaded:?}");
        let config = format!(
            "database_url = {:?}\ndatabase_schema = {:?}\nnats_url = {:?}\nstream = {STREAM:?}\n\
             nats_user = {ENGINE_USER:?}\nlog_level = \"info\"\n",
            schema.url, schema.name, server.url,
        );
        let password = server.password(ENGINE_USER);
        let env = [("CLAIMS_NATS_PASSWORD", password.as_str())];
        let front =
            EngineProcess::start(&format!("{config}roles = [\"intake\", \"relay\"]\n"), &env).await;
        let mut workers = Vec::new();
        for _ in 0..3 {
            workers.push(
                EngineProcess::start_with_args(
                    &format!("{config}adjudicators = 2\n"),
                    &env,
                    &["--role", "adjudicator"],
                )
                .await,
            );
        }
        Cluster {
            server,
            schema,
            front,
            workers,
        }
    }

    /// Publishes every claim as the insurer, through JetStream, and waits until each is stored.
    async fn submit_all(&self) {
        let client = async_nats::ConnectOptions::with_user_and_password(
            INSURER.to_owned(),
            self.server.password(INSURER),
        )
        .custom_inbox_prefix(format!("_INBOX.{INSURER}"))
        .connect(&self.server.url)
        .await
        .unwrap();
        let jetstream = async_nats::jetstream::new(client);
        let mut stored = Vec::new();
        for index in 0..CLAIMS {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", claim_ref(index).as_str());
            headers.insert("Content-Type", "application/json");
            stored.push(
                jetstream
                    .publish_with_headers(
                        format!("claims.submit.{INSURER}"),
                        headers,
                        claim(index).into(),
                    )
                    .await
                    .unwrap(),
            );
        }
        for ack in stored {
            assert!(!ack.await.unwrap().duplicate);
        }
    }

    /// The engine's view of the adjudication queue: (waiting, delivered and not yet acked).
    async fn adjudication_queue(&self) -> (u64, usize) {
        let client = async_nats::ConnectOptions::with_user_and_password(
            ENGINE_USER.to_owned(),
            self.server.password(ENGINE_USER),
        )
        .connect(&self.server.url)
        .await
        .unwrap();
        let jetstream = async_nats::jetstream::new(client);
        let mut consumer: async_nats::jetstream::consumer::PullConsumer = jetstream
            .get_stream(STREAM)
            .await
            .unwrap()
            .get_consumer("adjudication")
            .await
            .unwrap();
        let info = consumer.info().await.unwrap();
        (info.num_pending, info.num_ack_pending)
    }
}

/// Counts events of one type (`ClaimAdjudicated` unless told) as the log grows.
struct DecisionCounter {
    after: LogPosition,
    decided: usize,
    event_type: &'static str,
}

impl DecisionCounter {
    fn new() -> Self {
        Self::of("ClaimAdjudicated")
    }

    fn of(event_type: &'static str) -> Self {
        Self {
            after: LogPosition::START,
            decided: 0,
            event_type,
        }
    }

    async fn update(&mut self, store: &PostgresEventStore) -> usize {
        loop {
            let page = store.read_all(self.after, 1000).await.unwrap();
            let Some(last) = page.last() else {
                return self.decided;
            };
            self.after = last.position;
            self.decided += page
                .iter()
                .filter(|event| event.event_type == self.event_type)
                .count();
        }
    }
}

/// Waits until `count` events are in the log, or fails after two minutes.
async fn until_decided(
    counter: &mut DecisionCounter,
    store: &PostgresEventStore,
    count: usize,
) -> usize {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let decided = counter.update(store).await;
        if decided >= count {
            return decided;
        }
        assert!(
            Instant::now() < deadline,
            "only {decided} of {count} {} events within 2 minutes",
            counter.event_type
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until no adjudication is waiting or in hand (redeliveries included).
async fn until_queue_drained(cluster: &Cluster) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (waiting, in_hand) = cluster.adjudication_queue().await;
        if waiting == 0 && in_hand == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the adjudication queue still has {waiting} waiting and {in_hand} in hand"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every claim was submitted once and decided once; every member's benefit year holds
/// each of its decided claims' cost sharing exactly once, and its totals are their sum.
async fn assert_decided_exactly_once(store: &PostgresEventStore) {
    let usd = Currency::USD;
    // Per member: deductible, out of pocket, every claim, the claims that cost it anything.
    type Expected = (Money, Money, BTreeSet<ClaimId>, BTreeSet<ClaimId>);
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    for index in 0..CLAIMS {
        let events = store
            .read_stream(&streams::claim(claim_id(index)), 1)
            .await
            .unwrap();
        let count = |kind: &str| {
            events
                .iter()
                .filter(|event| event.event_type == kind)
                .count()
        };
        assert_eq!(count("ClaimSubmitted"), 1, "{}", claim_ref(index));
        assert_eq!(count("ClaimAdjudicated"), 1, "{}", claim_ref(index));
        let state = load::<ClaimDecider>(store, streams::claim(claim_id(index)))
            .await
            .unwrap()
            .state;
        let adjudication = state.adjudication.unwrap();
        let entry = expected.entry(member(index)).or_insert_with(|| {
            (
                Money::zero(usd),
                Money::zero(usd),
                BTreeSet::new(),
                BTreeSet::new(),
            )
        });
        entry.0 = entry
            .0
            .checked_add(adjudication.cost_sharing.deductible)
            .unwrap();
        entry.1 = entry
            .1
            .checked_add(adjudication.cost_sharing.out_of_pocket)
            .unwrap();
        entry.2.insert(claim_id(index));
        if !adjudication.cost_sharing.out_of_pocket.is_zero() {
            entry.3.insert(claim_id(index));
        }
    }
    // The check means something only if claims did cost members: every member's first
    // visits go to its deductible.
    assert!(
        expected
            .values()
            .all(|(deductible, ..)| deductible.is_positive()),
        "a member paid no deductible: were the claims decided as the plan says?"
    );
    for (member_id, (deductible, out_of_pocket, claims, costing)) in expected {
        let member_id = MemberId::new(&member_id).unwrap();
        let stream = streams::accumulator(&member_id, 2026);
        let mut applied = BTreeMap::<ClaimId, usize>::new();
        for event in store.read_stream(&stream, 1).await.unwrap() {
            if let AccumulatorEvent::CostSharingApplied { claim, .. } =
                event.payload.decode::<AccumulatorEvent>().unwrap()
            {
                *applied.entry(claim).or_default() += 1;
            }
        }
        assert!(
            applied.values().all(|times| *times == 1),
            "{member_id}: cost sharing applied twice: {applied:?}"
        );
        let applied: BTreeSet<ClaimId> = applied.keys().copied().collect();
        assert!(
            applied.is_subset(&claims) && costing.is_subset(&applied),
            "{member_id}: cost sharing applied for {applied:?}; its claims {claims:?}, those \
             that cost the member something {costing:?}"
        );
        let year = load::<AccumulatorDecider>(store, stream)
            .await
            .unwrap()
            .state;
        let totals = year.accumulated(usd);
        assert_eq!(totals.deductible, deductible, "{member_id}: deductible");
        assert_eq!(
            totals.out_of_pocket, out_of_pocket,
            "{member_id}: out of pocket"
        );
        assert!(
            deductible.amount() <= "250.00 USD".parse::<Money>().unwrap().amount(),
            "{member_id}: more deductible than the plan has: {deductible}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_claims_through_three_worker_processes_are_each_decided_once() {
    let cluster = Cluster::start().await;
    let store = cluster.schema.store().await;
    let started = Instant::now();
    cluster.submit_all().await;
    let mut counter = DecisionCounter::new();
    until_decided(&mut counter, &store, CLAIMS).await;
    eprintln!("{CLAIMS} claims decided in {:?}", started.elapsed());
    until_queue_drained(&cluster).await;
    assert_decided_exactly_once(&store).await;

    let Cluster { front, workers, .. } = cluster;
    for worker in workers {
        let (status, log) = worker.terminate().await;
        assert!(status.success(), "{log}");
        // Each worker did its share.
        assert!(
            log.contains("claim adjudicated"),
            "a worker decided nothing:\n{log}"
        );
    }
    let (status, log) = front.terminate().await;
    assert!(status.success(), "{log}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_midway_leaves_every_claim_decided_exactly_once() {
    let mut cluster = Cluster::start().await;
    let store = cluster.schema.store().await;
    // The workers are paused while intake takes every claim in, so that once they resume
    // they are busy with a backlog and the one killed surely holds claims in hand.
    for worker in &cluster.workers {
        worker.signal("STOP");
    }
    let started = Instant::now();
    cluster.submit_all().await;
    until_decided(&mut DecisionCounter::of("ClaimSubmitted"), &store, CLAIMS).await;
    for worker in &cluster.workers {
        worker.signal("CONT");
    }
    let mut counter = DecisionCounter::new();
    let before = until_decided(&mut counter, &store, CLAIMS / 4).await;
    let killed = cluster.workers.remove(0);
    let killed_log = killed.kill();
    eprintln!(
        "killed a worker with SIGKILL after {before} decisions, at {:?}",
        started.elapsed()
    );
    assert!(
        killed_log.contains("claim adjudicated"),
        "the killed worker had decided nothing:\n{killed_log}"
    );
    until_decided(&mut counter, &store, CLAIMS).await;
    eprintln!("{CLAIMS} claims decided in {:?}", started.elapsed());
    until_queue_drained(&cluster).await;
    eprintln!("adjudication queue drained at {:?}", started.elapsed());
    assert_decided_exactly_once(&store).await;

    let Cluster { front, workers, .. } = cluster;
    for worker in workers {
        let (status, log) = worker.terminate().await;
        assert!(status.success(), "{log}");
    }
    let (status, log) = front.terminate().await;
    assert!(status.success(), "{log}");
    store.close().await;
}
