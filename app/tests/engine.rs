//! The engine's roles wired together on the embedded adapters: intake answers every
//! message, concurrent adjudication never applies a deductible twice, and nothing that
//! reaches the chain carries health data.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use bytes::Bytes;
use chrono::NaiveDate;
use claims::adjudicator::Adjudicator;
use claims::clock::{Clock, FixedClock};
use claims::engine::{Database, EmbeddedConfig, Engine};
use claims::intake::{Intake, ReplyStatus};
use claims::reference::ReferenceData;
use claims::settler::SettlerConfig;
use claims::subjects;
use claims_adapters::aggregate::{load, streams};
use claims_adapters::bus::{
    InProcessBus, Message, MessageBus, Subject, SubjectPattern, WorkQueueSpec, dead_letter_headers,
};
use claims_adapters::event_store::{EventStore, SqliteEventStore};
use claims_domain::accumulator::AccumulatorDecider;
use claims_domain::claim::{Claim, ClaimDecider, ClaimStatus, ServiceLine};
use claims_domain::{ClaimId, InsurerClaimRef, InsurerId, MemberId, Money};
use std::sync::Arc;
use std::time::Duration;

const REFERENCE: &str = r#"
[[plan]]
id = "gold-ppo"
name = "Gold PPO"
currency = "USD"
deductible = "250.00 USD"
coinsurance = "20%"
out_of_pocket_max = "3000.00 USD"
[plan.fee_schedule."29881"]
category = "surgery"
allowed_per_unit = "1000.00 USD"

[[member]]
id = "M-1001"
insurer = "acme-health"
plan = "gold-ppo"
coverage = [{ start = "2026-01-01" }]

[[provider]]
id = "hospital-b"
name = "Hospital B"
wallet = "0xde709f2102306220921060314715629080e2fb77"
"#;

fn insurer() -> InsurerId {
    InsurerId::new("acme-health").unwrap()
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(FixedClock::on(
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
    ))
}

fn submission(claim_ref: &str, member: &str, billed: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "claim_ref": claim_ref,
        "member": member,
        "provider": "hospital-b",
        "received_on": "2026-03-05",
        "lines": [{ "procedure": "29881", "diagnoses": ["M23.205"], "date_of_service": "2026-03-02", "units": 1, "billed": billed }]
    }))
    .unwrap()
}

async fn engine() -> Engine {
    engine_keeping(claims::engine::DEFAULT_FOLDED_STREAMS).await
}

/// [`engine`], keeping at most `folded_streams` streams folded between batches.
async fn engine_keeping(folded_streams: usize) -> Engine {
    let mut config = EmbeddedConfig::new(Database::InMemory, clock());
    config.folded_streams = folded_streams;
    config.settler = SettlerConfig {
        max_batch: 1000,
        max_wait: None,
    };
    let engine = Engine::start_embedded(config).await.unwrap();
    engine
        .load_reference_data(&ReferenceData::from_toml(REFERENCE).unwrap())
        .await
        .unwrap();
    engine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_submission_is_answered_bad_ones_are_dead_lettered_and_good_ones_still_go_through() {
    let engine = engine().await;
    let mut acks = engine
        .bus()
        .subscribe(SubjectPattern::new("claims.ack.acme-health").unwrap())
        .await
        .unwrap();
    let mut dead = engine
        .bus()
        .subscribe(SubjectPattern::new("deadletter.intake").unwrap())
        .await
        .unwrap();

    let hostile: Vec<(&str, Bytes)> = vec![
        ("not json", Bytes::from_static(b"\x00\xff not json at all")),
        ("float amount", Bytes::from(submission("ACME-1", "M-1001", "x").replace_billed_with_number())),
        ("unknown field", Bytes::from(br#"{"claim_ref":"ACME-2","member":"M-1001","provider":"hospital-b","received_on":"2026-03-05","lines":[],"surprise":true}"#.to_vec())),
        ("json array", Bytes::from_static(b"[1,2,3]")),
    ];
    for (_, body) in &hostile {
        engine
            .bus()
            .publish(Message::new(subjects::submit(&insurer()), body.clone()))
            .await
            .unwrap();
    }
    let good = engine
        .submit(&insurer(), submission("ACME-3", "M-1001", "1200.00 USD"))
        .await
        .unwrap();
    assert_eq!(good.status, ReplyStatus::Accepted, "{good:?}");

    let mut rejected = 0;
    let mut accepted = 0;
    for _ in 0..hostile.len() + 1 {
        let ack = tokio::time::timeout(Duration::from_secs(5), acks.next())
            .await
            .unwrap()
            .unwrap();
        let reply: claims::intake::IntakeReply = serde_json::from_slice(&ack.payload).unwrap();
        match reply.status {
            ReplyStatus::Rejected => {
                rejected += 1;
                assert!(!reply.reasons.is_empty());
                assert!(!reply.reasons_text().is_empty());
            }
            ReplyStatus::Accepted => accepted += 1,
        }
    }
    assert_eq!((rejected, accepted), (hostile.len(), 1));

    for _ in 0..hostile.len() {
        let letter = tokio::time::timeout(Duration::from_secs(5), dead.next())
            .await
            .unwrap()
            .unwrap();
        let reason = letter
            .header(dead_letter_headers::REASON)
            .unwrap_or_default();
        assert!(!reason.is_empty(), "a dead letter carries its reason");
        assert_eq!(
            letter.header(dead_letter_headers::ORIGINAL_SUBJECT),
            Some("claims.submit.acme-health")
        );
    }

    let claim = good.claim_id.unwrap();
    let state = engine
        .wait_for_claim(claim, "approved", Duration::from_secs(10), |state| {
            state.status == Some(ClaimStatus::Approved)
        })
        .await
        .unwrap();
    assert_eq!(
        state.adjudication.unwrap().payer_paid.to_string(),
        "600.00 USD"
    );
    engine.shutdown().await;
}

trait ReplaceBilled {
    fn replace_billed_with_number(self) -> Vec<u8>;
}

impl ReplaceBilled for Vec<u8> {
    /// The same submission with the billed amount as a JSON number, which could only have
    /// come through a float.
    fn replace_billed_with_number(self) -> Vec<u8> {
        String::from_utf8(self)
            .unwrap()
            .replace("\"billed\":\"x\"", "\"billed\":1200.5")
            .into_bytes()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resubmitted_claim_is_the_same_claim() {
    let engine = engine().await;
    let first = engine
        .submit(&insurer(), submission("ACME-7", "M-1001", "1200.00 USD"))
        .await
        .unwrap();
    let second = engine
        .submit(&insurer(), submission("ACME-7", "M-1001", "1200.00 USD"))
        .await
        .unwrap();
    assert_eq!(first.status, ReplyStatus::Accepted);
    assert!(!first.duplicate);
    assert_eq!(second.status, ReplyStatus::Accepted);
    assert!(second.duplicate);
    assert_eq!(first.claim_id, second.claim_id);

    let changed = engine
        .submit(&insurer(), submission("ACME-7", "M-1001", "1300.00 USD"))
        .await
        .unwrap();
    assert_eq!(changed.status, ReplyStatus::Rejected);
    assert_eq!(changed.reasons[0].code, "conflicting-resubmission");

    let events = engine
        .store()
        .read_stream(&streams::claim(first.claim_id.unwrap()), 1)
        .await
        .unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|event| event.event_type == "ClaimSubmitted")
            .count(),
        1,
        "one claim, submitted once"
    );
    engine.shutdown().await;
}

/// The plans, members and benefit years kept folded between batches decide claims exactly
/// as reading every stream whole does: a member's claims, one after another, each meeting
/// what the ones before it used of the deductible, come out the same with and without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_decide_the_same_whether_folded_streams_are_kept_or_not() {
    let mut decided = Vec::new();
    for folded_streams in [0, claims::engine::DEFAULT_FOLDED_STREAMS] {
        let engine = engine_keeping(folded_streams).await;
        let mut decisions = Vec::new();
        for (number, billed) in ["180.00 USD", "1200.00 USD", "90.00 USD", "2400.00 USD"]
            .into_iter()
            .enumerate()
        {
            let reply = engine
                .submit(
                    &insurer(),
                    submission(&format!("ACME-F{number}"), "M-1001", billed),
                )
                .await
                .unwrap();
            assert_eq!(reply.status, ReplyStatus::Accepted, "{reply:?}");
            let state = engine
                .wait_for_claim(
                    reply.claim_id.unwrap(),
                    "decided",
                    Duration::from_secs(30),
                    |state| state.adjudication.is_some(),
                )
                .await
                .unwrap();
            decisions.push(state.adjudication.unwrap());
        }
        let year = load::<AccumulatorDecider>(
            engine.store().as_ref(),
            streams::accumulator(&MemberId::new("M-1001").unwrap(), 2026),
        )
        .await
        .unwrap();
        decided.push((decisions, year.state, year.version));
        engine.shutdown().await;
    }
    let deductibles: Vec<String> = decided[0]
        .0
        .iter()
        .map(|adjudication| adjudication.cost_sharing.deductible.to_string())
        .collect();
    assert_eq!(
        deductibles,
        ["180.00 USD", "70.00 USD", "0.00 USD", "0.00 USD"],
        "the deductible is met across the claims"
    );
    assert_eq!(decided[0], decided[1], "kept folded or read whole");
}

/// Invariant 2: two workers deciding claims of the same member at the same time never both
/// apply the deductible. Each round submits two claims straight to the store and races two
/// adjudicators (separate instances, as if on two hosts) on a file-backed store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adjudication_never_applies_the_deductible_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> = Arc::new(
        SqliteEventStore::open(&dir.path().join("race.sqlite"))
            .await
            .unwrap(),
    );
    ReferenceData::from_toml(REFERENCE)
        .unwrap()
        .store(store.as_ref())
        .await
        .unwrap();
    let bus: Arc<dyn MessageBus> = Arc::new(InProcessBus::new());
    let intake = Intake::new(store.clone(), bus);
    let workers = [
        Adjudicator::new(store.clone(), clock()),
        Adjudicator::new(store.clone(), clock()),
    ];

    for round in 0..10 {
        let member = format!("M-R{round}");
        let mut data = ReferenceData::from_toml(REFERENCE).unwrap();
        data.members[0].id = MemberId::new(member.clone()).unwrap();
        data.store(store.as_ref()).await.unwrap();

        let mut claims = Vec::new();
        for n in 0..2 {
            let claim = Claim {
                id: ClaimId::for_submission(
                    &insurer(),
                    &InsurerClaimRef::new(format!("R{round}-{n}")).unwrap(),
                ),
                insurer: insurer(),
                insurer_ref: InsurerClaimRef::new(format!("R{round}-{n}")).unwrap(),
                member: MemberId::new(member.clone()).unwrap(),
                provider: "hospital-b".parse().unwrap(),
                received_on: NaiveDate::from_ymd_opt(2026, 3, 5).unwrap(),
                lines: vec![ServiceLine {
                    number: 1,
                    procedure: "29881".parse().unwrap(),
                    diagnoses: vec![],
                    date_of_service: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
                    units: 1,
                    billed: "1200.00 USD".parse().unwrap(),
                    modifiers: Default::default(),
                    authorization: None,
                    primary_paid: None,
                }],
                corrects: None,
            };
            assert_eq!(
                intake.submit(claim.clone()).await.unwrap().status,
                ReplyStatus::Accepted
            );
            claims.push(claim.id);
        }
        let (a, b) = tokio::join!(
            workers[0].adjudicate(claims[0]),
            workers[1].adjudicate(claims[1])
        );
        a.unwrap();
        b.unwrap();

        let accumulator = load::<AccumulatorDecider>(
            store.as_ref(),
            streams::accumulator(&MemberId::new(member).unwrap(), 2026),
        )
        .await
        .unwrap()
        .state;
        assert_eq!(
            accumulator
                .accumulated(claims_domain::Currency::USD)
                .deductible
                .to_string(),
            "250.00 USD"
        );
        let mut deductibles = Money::zero(claims_domain::Currency::USD);
        for claim in &claims {
            let state = load::<ClaimDecider>(store.as_ref(), streams::claim(*claim))
                .await
                .unwrap()
                .state;
            deductibles = deductibles
                .checked_add(state.adjudication.unwrap().cost_sharing.deductible)
                .unwrap();
        }
        assert_eq!(
            deductibles.to_string(),
            "250.00 USD",
            "round {round}: the two claims applied the deductible once in total"
        );
    }
}

/// Invariant 5: nothing that reaches the chain names a member, a claim, a procedure, a
/// diagnosis or a provider; only opaque references, wallets and amounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_health_data_reaches_the_chain() {
    let engine = engine().await;
    let reply = engine
        .submit(
            &insurer(),
            submission("ACME-PRIV-1", "M-1001", "1200.00 USD"),
        )
        .await
        .unwrap();
    let claim = reply.claim_id.unwrap();
    engine
        .wait_for_claim(claim, "approved", Duration::from_secs(10), |state| {
            state.status == Some(ClaimStatus::Approved)
        })
        .await
        .unwrap();
    let paid = engine
        .settle_now(&[claim], clock().now())
        .await
        .unwrap()
        .expect("a batch was paid");
    assert_eq!(paid.claims, vec![claim]);

    let on_chain: Vec<Vec<u8>> = engine
        .embedded_chain()
        .unwrap()
        .transactions()
        .into_iter()
        .flat_map(|transaction| {
            let mut blobs = vec![transaction.calldata.clone()];
            for log in &transaction.logs {
                blobs.push(log.data.clone());
                blobs.extend(log.topics.iter().map(|topic| topic.to_vec()));
            }
            blobs
        })
        .collect();
    assert!(!on_chain.is_empty());
    let secrets: Vec<Vec<u8>> = [
        "M-1001",
        "ACME-PRIV-1",
        "29881",
        "M23.205",
        "hospital-b",
        "Hospital B",
        "acme-health",
    ]
    .iter()
    .map(|text| text.as_bytes().to_vec())
    .chain([
        claim.as_uuid().as_bytes().to_vec(),
        claim.to_string().into_bytes(),
    ])
    .collect();
    for blob in &on_chain {
        for secret in &secrets {
            assert!(
                !blob
                    .windows(secret.len())
                    .any(|window| window == secret.as_slice()),
                "{:?} reached the chain",
                String::from_utf8_lossy(secret)
            );
        }
    }
    engine.shutdown().await;
}

#[tokio::test]
async fn a_message_on_a_non_submission_subject_is_dead_lettered() {
    let store: Arc<dyn EventStore> = Arc::new(SqliteEventStore::in_memory().await.unwrap());
    let bus = InProcessBus::new();
    let dyn_bus: Arc<dyn MessageBus> = Arc::new(bus.clone());
    let queue_spec = WorkQueueSpec {
        name: "stray".to_owned(),
        subjects: vec![SubjectPattern::new("stray.>").unwrap()],
        max_deliveries: 3,
        ack_wait: Duration::from_secs(5),
        dead_letter: Subject::new("deadletter.stray").unwrap(),
    };
    let mut queue = dyn_bus.work_queue(queue_spec).await.unwrap();
    let mut dead = dyn_bus
        .subscribe(SubjectPattern::new("deadletter.stray").unwrap())
        .await
        .unwrap();
    dyn_bus
        .publish(Message::new(
            Subject::new("stray.subject").unwrap(),
            Bytes::from_static(b"{}"),
        ))
        .await
        .unwrap();
    let delivery = queue.next().await.unwrap();
    Intake::new(store, dyn_bus).handle(delivery).await;
    let letter = tokio::time::timeout(Duration::from_secs(5), dead.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        letter
            .header(dead_letter_headers::REASON)
            .unwrap()
            .contains("is not a submission subject")
    );
}

#[tokio::test]
async fn an_event_log_in_a_new_directory_is_created_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not/yet/there/claims.sqlite");
    let engine = Engine::start_embedded(EmbeddedConfig::new(Database::File(path.clone()), clock()))
        .await
        .unwrap();
    engine
        .load_reference_data(&ReferenceData::from_toml(REFERENCE).unwrap())
        .await
        .unwrap();
    engine.shutdown().await;

    let reopened = SqliteEventStore::open(&path).await.unwrap();
    let plan = reopened
        .read_stream(&streams::plan(&"gold-ppo".parse().unwrap()), 1)
        .await
        .unwrap();
    assert_eq!(plan.len(), 1, "the plan survived the engine");
}

/// An engine on an SQLite file in `directory` that has decided one claim, `claim_ref`, and
/// announced it: the relay has published the decision's page. Nothing is paid, so nothing
/// is stored after the decision.
async fn engine_with_one_claim_decided(
    directory: &std::path::Path,
    claim_ref: &str,
) -> (Engine, Database) {
    let database = Database::File(directory.join("claims.db"));
    let mut config = EmbeddedConfig::new(database.clone(), clock());
    config.settler = SettlerConfig {
        max_batch: 1000,
        max_wait: None,
    };
    let engine = Engine::start_embedded(config).await.unwrap();
    engine
        .load_reference_data(&ReferenceData::from_toml(REFERENCE).unwrap())
        .await
        .unwrap();
    let mut outcomes = engine
        .bus()
        .subscribe(SubjectPattern::new("claims.outcome.acme-health").unwrap())
        .await
        .unwrap();
    let answer = engine
        .submit(&insurer(), submission(claim_ref, "M-1001", "900.00 USD"))
        .await
        .unwrap();
    assert_eq!(answer.status, ReplyStatus::Accepted, "{answer:?}");
    // The decision's notice was heard, so the relay published the decision's page.
    tokio::time::timeout(Duration::from_secs(10), outcomes.next())
        .await
        .unwrap()
        .unwrap();
    (engine, database)
}

/// The position of the last event stored.
async fn log_head(store: &dyn EventStore) -> claims_adapters::event_store::LogPosition {
    store
        .read_all(claims_adapters::event_store::LogPosition::START, 100_000)
        .await
        .unwrap()
        .last()
        .unwrap()
        .position
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_records_how_far_it_published_before_it_stops() {
    let directory = tempfile::tempdir().unwrap();
    let (engine, database) = engine_with_one_claim_decided(directory.path(), "RELAY-1").await;
    engine.shutdown().await;

    let (store, _) = claims::engine::open_database(&database).await.unwrap();
    let head = log_head(store.as_ref()).await;
    assert_eq!(
        store
            .load_checkpoint(claims::relay::CHECKPOINT)
            .await
            .unwrap(),
        head,
        "a restart publishes nothing again"
    );
}

/// The relay stores its checkpoint at most every `CHECKPOINT_EVERY`, not after every page,
/// yet an idle relay still stores how far it got without waiting for a stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_relay_stores_its_checkpoint_without_being_stopped() {
    let directory = tempfile::tempdir().unwrap();
    let (engine, _) = engine_with_one_claim_decided(directory.path(), "RELAY-2").await;

    let store = engine.store().clone();
    let head = log_head(store.as_ref()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let checkpoint = store
            .load_checkpoint(claims::relay::CHECKPOINT)
            .await
            .unwrap();
        if checkpoint == head {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the checkpoint stayed at {checkpoint} behind {head} while the relay idled"
        );
        tokio::time::sleep(claims::relay::CHECKPOINT_EVERY / 4).await;
    }
    engine.shutdown().await;
}
