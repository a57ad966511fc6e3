//! Roles handling their queues a batch at a time: intake answers every message of a batch
//! and stores its good claims together even when one message is bad, and an adjudication
//! batch holding two claims of one member applies the deductible once; and a batch costs
//! one read of the store for all its claims once their members' enrolment is known. A
//! message on its last delivery that failed while the store was away is worked once more
//! when it is back, by every role, the settler among them.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use async_trait::async_trait;
use chrono::NaiveDate;
use claims::adjudicator::{Adjudicated, Adjudicator};
use claims::clock::{Clock, FixedClock};
use claims::intake::{Intake, IntakeReply, ReplyStatus};
use claims::outcomes::Outcomes;
use claims::reference::ReferenceData;
use claims::reference_intake::{ReferenceIntake, ReferenceReply};
use claims::review_intake::{ReviewIntake, ReviewReply};
use claims::settler::{Settler, SettlerConfig};
use claims::shutdown;
use claims::store_gate::{HeldMessages, StoreGate};
use claims::subjects;
use claims_adapters::aggregate::{load, streams};
use claims_adapters::bus::{
    Delivery, InProcessBus, Message, MessageBus, Subject, SubjectPattern, Subscription, WorkQueue,
    WorkQueueSpec, dead_letter_headers,
};
use claims_adapters::event_store::{
    AppendOutcome, EventStore, LogPosition, LogWaiter, RecordedEvent, SqliteEventStore, StoreError,
    StoredJson, StreamAppend, StreamId, StreamVersion,
};
use claims_domain::accumulator::AccumulatorDecider;
use claims_domain::claim::{Claim, ClaimDecider, ClaimStatus};
use claims_domain::{ClaimId, Currency, InsurerClaimRef, InsurerId, MemberId};
use claims_settlement::embedded::EmbeddedChainConfig;
use claims_settlement::service::{SettlementService, TokenDenomination};
use claims_settlement::{EmbeddedChain, SettlementChain, TokenAmount};
use futures::stream::BoxStream;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

[[member]]
id = "M-1002"
insurer = "acme-health"
plan = "gold-ppo"
coverage = [{ start = "2026-01-01" }]

[[provider]]
id = "hospital-b"
name = "Hospital B"
wallet = "0xde709f2102306220921060314715629080e2fb77"
"#;

const PATIENCE: Duration = Duration::from_secs(5);

fn insurer() -> InsurerId {
    InsurerId::new("acme-health").unwrap()
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(FixedClock::on(
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
    ))
}

fn claim_id(claim_ref: &str) -> ClaimId {
    ClaimId::for_submission(&insurer(), &InsurerClaimRef::new(claim_ref).unwrap())
}

fn submission(claim_ref: &str, member: &str) -> Message {
    submission_on(claim_ref, member, "2026-03-02")
}

/// A submission for a service on `day` (two claims for one service on one day would be
/// duplicates).
fn submission_on(claim_ref: &str, member: &str, day: &str) -> Message {
    let body = serde_json::to_vec(&serde_json::json!({
        "claim_ref": claim_ref,
        "member": member,
        "provider": "hospital-b",
        "received_on": "2026-03-05",
        "lines": [{ "procedure": "29881", "diagnoses": ["M23.205"], "date_of_service": day, "units": 1, "billed": "1200.00 USD" }]
    }))
    .unwrap();
    Message::new(subjects::submit(&insurer()), body).with_header("Content-Type", "application/json")
}

async fn store() -> Arc<dyn EventStore> {
    store_with(REFERENCE).await
}

async fn store_with(reference: &str) -> Arc<dyn EventStore> {
    let store: Arc<dyn EventStore> = Arc::new(SqliteEventStore::in_memory().await.unwrap());
    ReferenceData::from_toml(reference)
        .unwrap()
        .store(store.as_ref())
        .await
        .unwrap();
    store
}

fn queue_spec(name: &str, subjects: SubjectPattern) -> WorkQueueSpec {
    WorkQueueSpec {
        name: name.to_owned(),
        subjects: vec![subjects],
        max_deliveries: 5,
        ack_wait: Duration::from_secs(30),
        dead_letter: subjects::dead_letter(name),
    }
}

/// Everything the queue holds now, as one batch.
async fn batch_of(queue: &mut Box<dyn WorkQueue>, expected: usize) -> Vec<Delivery> {
    let batch = tokio::time::timeout(PATIENCE, queue.next_batch(100))
        .await
        .unwrap();
    assert_eq!(batch.len(), expected, "one batch holds every message");
    batch
}

async fn nothing_left(queue: &mut Box<dyn WorkQueue>) {
    if let Ok(batch) = tokio::time::timeout(Duration::from_millis(200), queue.next_batch(100)).await
    {
        panic!("every message should be settled, {} came back", batch.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_message_in_an_intake_batch_is_answered_alone_and_the_good_claims_are_stored_together()
 {
    let store = store().await;
    let bus: Arc<dyn MessageBus> = Arc::new(InProcessBus::new());
    let mut queue = bus
        .work_queue(queue_spec("intake", subjects::all_submissions()))
        .await
        .unwrap();
    let mut acks = bus
        .subscribe(SubjectPattern::from(subjects::ack(&insurer())))
        .await
        .unwrap();
    let mut dead = dead_letters(&bus, "intake").await;
    let sent = [
        submission("B-1", "M-1001"),
        Message::new(subjects::submit(&insurer()), &b"{ not json"[..]),
        submission("B-2", "M-1002"),
        submission("B-3", "M-9999"),
        submission("B-1", "M-1001"),
    ];
    bus.publish_all(sent.to_vec()).await.unwrap();

    let batch = batch_of(&mut queue, sent.len()).await;
    Intake::new(store.clone(), bus.clone())
        .handle_batch(batch)
        .await;

    let mut answers = Vec::new();
    for _ in 0..sent.len() {
        let answer = tokio::time::timeout(PATIENCE, acks.next())
            .await
            .unwrap()
            .unwrap();
        answers.push(serde_json::from_slice::<IntakeReply>(&answer.payload).unwrap());
    }
    let summary: Vec<(ReplyStatus, Option<&str>, bool)> = answers
        .iter()
        .map(|answer| (answer.status, answer.claim_ref.as_deref(), answer.duplicate))
        .collect();
    assert_eq!(
        summary,
        [
            (ReplyStatus::Accepted, Some("B-1"), false),
            (ReplyStatus::Rejected, None, false),
            (ReplyStatus::Accepted, Some("B-2"), false),
            (ReplyStatus::Rejected, Some("B-3"), false),
            // Sent twice in one batch: the second is the same claim, not a second one.
            (ReplyStatus::Accepted, Some("B-1"), true),
        ],
        "every message answered, in order: {answers:?}"
    );
    assert_eq!(answers[3].reasons[0].code, "unknown-member");

    let letter = tokio::time::timeout(PATIENCE, dead.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&letter.payload[..], b"{ not json");
    assert!(letter.header(dead_letter_headers::REASON).is_some());
    nothing_left(&mut queue).await;

    let first = store
        .read_stream(&streams::claim(claim_id("B-1")), 1)
        .await
        .unwrap();
    let second = store
        .read_stream(&streams::claim(claim_id("B-2")), 1)
        .await
        .unwrap();
    assert_eq!(
        (first.len(), second.len()),
        (1, 1),
        "each claim stored once"
    );
    assert_eq!(
        first[0].recorded_at, second[0].recorded_at,
        "the batch's claims are stored in one append"
    );
    assert!(
        store
            .read_stream(&streams::claim(claim_id("B-3")), 1)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_claims_of_one_member_in_one_adjudication_batch_apply_the_deductible_once() {
    let store = store().await;
    let bus: Arc<dyn MessageBus> = Arc::new(InProcessBus::new());
    let intake = Intake::new(store.clone(), bus.clone());
    let mut submitted = Vec::new();
    for (claim_ref, member, day) in [
        ("D-1", "M-1001", "2026-03-02"),
        ("D-2", "M-1002", "2026-03-02"),
        ("D-3", "M-1001", "2026-03-03"),
    ] {
        let reply = intake.submit(claim(claim_ref, member, day)).await.unwrap();
        assert_eq!(reply.status, ReplyStatus::Accepted, "{reply:?}");
        submitted.push(claim_id(claim_ref));
    }

    // The relay's messages for the three claims, with something that is not a claim event
    // among them.
    let spec = queue_spec(
        "adjudication",
        subjects::events_of_type("claim", "ClaimSubmitted"),
    );
    let mut queue = bus.work_queue(spec).await.unwrap();
    let mut dead = dead_letters(&bus, "adjudication").await;
    let mut messages = Vec::new();
    for (index, claim) in submitted.iter().enumerate() {
        let event = store
            .read_stream(&streams::claim(*claim), 1)
            .await
            .unwrap()
            .remove(0);
        messages.push(Message::new(
            subjects::event(&event),
            serde_json::to_vec(&event).unwrap(),
        ));
        if index == 0 {
            messages.push(Message::new(
                subjects::event(&event),
                &b"not a stored event"[..],
            ));
        }
    }
    bus.publish_all(messages).await.unwrap();

    let batch = batch_of(&mut queue, 4).await;
    Adjudicator::new(store.clone(), clock())
        .handle_batch(batch)
        .await;

    let letter = tokio::time::timeout(PATIENCE, dead.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&letter.payload[..], b"not a stored event");
    nothing_left(&mut queue).await;

    let mut deductibles = Vec::new();
    for claim in &submitted {
        let state = load::<ClaimDecider>(store.as_ref(), streams::claim(*claim))
            .await
            .unwrap()
            .state;
        assert_eq!(state.status, Some(ClaimStatus::Approved));
        deductibles.push(
            state
                .adjudication
                .unwrap()
                .cost_sharing
                .deductible
                .to_string(),
        );
    }
    // In queue order: the member's first claim meets the deductible, the second pays none.
    assert_eq!(deductibles, ["250.00 USD", "250.00 USD", "0.00 USD"]);
    let year = load::<AccumulatorDecider>(
        store.as_ref(),
        streams::accumulator(&MemberId::new("M-1001").unwrap(), 2026),
    )
    .await
    .unwrap();
    assert_eq!(
        year.state.accumulated(Currency::USD).deductible.to_string(),
        "250.00 USD"
    );

    // A redelivered batch decides nothing again.
    let again = Adjudicator::new(store.clone(), clock())
        .adjudicate_all(&submitted)
        .await;
    assert!(
        again
            .iter()
            .all(|outcome| matches!(outcome, Ok(Adjudicated::AlreadyDecided))),
        "{again:?}"
    );
}

/// A store over another that counts the round trips the roles ask of it and, while it is
/// `away`, refuses every read and write and says it takes none, as a database that is
/// down does.
struct TestStore {
    inner: Arc<dyn EventStore>,
    reads: AtomicUsize,
    appends: AtomicUsize,
    away: AtomicBool,
    /// Appends to let through before going away; `usize::MAX`: never go away by itself.
    away_after: AtomicUsize,
}

impl TestStore {
    fn over(inner: Arc<dyn EventStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            reads: AtomicUsize::new(0),
            appends: AtomicUsize::new(0),
            away: AtomicBool::new(false),
            away_after: AtomicUsize::new(usize::MAX),
        })
    }

    /// Reads and appends since the last look.
    fn take(&self) -> (usize, usize) {
        (
            self.reads.swap(0, Ordering::SeqCst),
            self.appends.swap(0, Ordering::SeqCst),
        )
    }

    fn away(&self, away: bool) {
        self.away.store(away, Ordering::SeqCst);
    }

    /// Goes away once `appends` more appends have been stored, as a database lost in the
    /// middle of a role's work.
    fn away_after_appends(&self, appends: usize) {
        self.away_after.store(appends, Ordering::SeqCst);
    }

    fn refuse(&self) -> Result<(), StoreError> {
        if self.away.load(Ordering::SeqCst) {
            Err(StoreError::Database(sqlx::Error::PoolTimedOut))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl EventStore for TestStore {
    async fn append(&self, appends: Vec<StreamAppend>) -> Result<AppendOutcome, StoreError> {
        self.refuse()?;
        self.appends.fetch_add(1, Ordering::SeqCst);
        let outcome = self.inner.append(appends).await;
        match self.away_after.load(Ordering::SeqCst) {
            usize::MAX => {}
            0 | 1 => {
                self.away_after.store(usize::MAX, Ordering::SeqCst);
                self.away(true);
            }
            left => self.away_after.store(left - 1, Ordering::SeqCst),
        }
        outcome
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from: StreamVersion,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.refuse()?;
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_stream(stream, from).await
    }

    async fn read_streams(
        &self,
        streams: &[StreamId],
    ) -> Result<HashMap<StreamId, Vec<RecordedEvent>>, StoreError> {
        self.refuse()?;
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_streams(streams).await
    }

    async fn read_all(
        &self,
        after: LogPosition,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }

    fn stream_all(&self, after: LogPosition) -> BoxStream<'_, Result<RecordedEvent, StoreError>> {
        self.inner.stream_all(after)
    }

    async fn load_checkpoint(&self, reader: &str) -> Result<LogPosition, StoreError> {
        self.inner.load_checkpoint(reader).await
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.refuse()?;
        self.inner.check().await
    }

    async fn save_checkpoint(&self, reader: &str, position: LogPosition) -> Result<(), StoreError> {
        self.inner.save_checkpoint(reader, position).await
    }

    async fn event_count(&self) -> Result<u64, StoreError> {
        self.inner.event_count().await
    }

    fn log_waiter(&self) -> LogWaiter {
        self.inner.log_waiter()
    }
}

fn claim(claim_ref: &str, member: &str, day: &str) -> Claim {
    claims::submission::ClaimSubmission::parse(&submission_on(claim_ref, member, day).payload)
        .unwrap()
        .into_claim(&insurer())
        .unwrap()
}

/// The relay's message for a claim's `ClaimSubmitted`, with `metadata` changed as asked.
async fn submitted_event(
    store: &dyn EventStore,
    claim: ClaimId,
    metadata: impl FnOnce(&mut serde_json::Value),
) -> Message {
    let mut event = store
        .read_stream(&streams::claim(claim), 1)
        .await
        .unwrap()
        .remove(0);
    let mut changed = event.metadata.to_value();
    metadata(&mut changed);
    event.metadata = StoredJson::from_value(&changed);
    Message::new(subjects::event(&event), serde_json::to_vec(&event).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_reads_its_members_plans_with_its_claims_once_their_enrolment_is_known() {
    let counting = TestStore::over(store().await);
    let store: Arc<dyn EventStore> = counting.clone();
    let bus: Arc<dyn MessageBus> = Arc::new(InProcessBus::new());
    let intake = Intake::new(store.clone(), bus.clone());

    // Intake meets the members for the first time: their plan is read once their member
    // streams tell it. Met again, the plan is read with the claims.
    intake
        .submit_all(vec![
            claim("R-1", "M-1001", "2026-03-02"),
            claim("R-2", "M-1002", "2026-03-02"),
        ])
        .await;
    assert_eq!(
        counting.take(),
        (2, 1),
        "reads and appends, members not met"
    );
    intake
        .submit_all(vec![
            claim("R-3", "M-1001", "2026-03-03"),
            claim("R-4", "M-1002", "2026-03-03"),
        ])
        .await;
    assert_eq!(counting.take(), (1, 1), "reads and appends, members met");

    // The adjudicator takes the enrolment intake checked from each claim's event and reads
    // everything the decisions need with the claims; without it, the plans are a second
    // read.
    let mut queue = bus
        .work_queue(queue_spec(
            "adjudication",
            subjects::events_of_type("claim", "ClaimSubmitted"),
        ))
        .await
        .unwrap();
    let plain = |_: &mut serde_json::Value| {};
    let forgotten = |metadata: &mut serde_json::Value| {
        metadata
            .as_object_mut()
            .unwrap()
            .remove("enrolment")
            .unwrap();
    };
    let events = vec![
        submitted_event(store.as_ref(), claim_id("R-1"), plain).await,
        submitted_event(store.as_ref(), claim_id("R-2"), plain).await,
    ];
    counting.take();
    bus.publish_all(events).await.unwrap();
    let adjudicator = Adjudicator::new(store.clone(), clock());
    adjudicator
        .handle_batch(batch_of(&mut queue, 2).await)
        .await;
    assert_eq!(
        counting.take(),
        (1, 1),
        "reads and appends, enrolment known"
    );

    let events = vec![
        submitted_event(store.as_ref(), claim_id("R-3"), forgotten).await,
        submitted_event(store.as_ref(), claim_id("R-4"), forgotten).await,
    ];
    counting.take();
    bus.publish_all(events).await.unwrap();
    adjudicator
        .handle_batch(batch_of(&mut queue, 2).await)
        .await;
    assert_eq!(
        counting.take(),
        (2, 1),
        "reads and appends, enrolment unknown"
    );

    for claim in ["R-1", "R-2", "R-3", "R-4"] {
        let state = load::<ClaimDecider>(store.as_ref(), streams::claim(claim_id(claim)))
            .await
            .unwrap()
            .state;
        assert_eq!(state.status, Some(ClaimStatus::Approved), "{claim}");
    }
}

/// A submission whose last delivery fails because the store takes no writes is held until
/// it takes them again, then stored and answered `accepted`, not dead-lettered: the
/// outage failed it, not the claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_attempt_failed_by_an_outage_is_tried_again_once_the_store_is_back() {
    let store = TestStore::over(store().await);
    let bus: Arc<dyn MessageBus> = Arc::new(InProcessBus::new());
    let mut queue = bus
        .work_queue(last_delivery_spec("intake", subjects::all_submissions()))
        .await
        .unwrap();
    let mut acks = bus
        .subscribe(SubjectPattern::from(subjects::ack(&insurer())))
        .await
        .unwrap();
    let mut dead = dead_letters(&bus, "intake").await;
    let store_dyn: Arc<dyn EventStore> = store.clone();
    let (gate, held) = gate_over(&store_dyn);
    let intake = Intake::new(store_dyn, bus.clone()).with_gate(gate);

    bus.publish(submission("OUTAGE-1", "M-1001")).await.unwrap();
    handled_through_outage(&store, &held, &mut queue, |delivery| async move {
        intake.handle(delivery).await;
    })
    .await;

    let reply: IntakeReply = next_answer(&mut acks).await;
    assert_eq!(
        (reply.status, reply.claim_ref.as_deref()),
        (ReplyStatus::Accepted, Some("OUTAGE-1")),
        "{reply:?}"
    );
    assert_eq!(
        version_of(store.as_ref(), "OUTAGE-1").await,
        1,
        "the claim is stored once"
    );
    nothing_dead_lettered(&mut dead).await;
    nothing_left(&mut queue).await;
}

/// The same for an adjudication: a `ClaimSubmitted` whose last delivery fails while the
/// store takes no writes is decided once the store is back, not dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_adjudication_failed_by_an_outage_is_tried_again_once_the_store_is_back() {
    let store = TestStore::over(store().await);
    let store_dyn: Arc<dyn EventStore> = store.clone();
    let bus: Arc<dyn MessageBus> = Arc::new(InProcessBus::new());
    Intake::new(store_dyn.clone(), bus.clone())
        .submit_all(vec![claim("OUTAGE-2", "M-1002", "2026-03-02")])
        .await;
    let mut queue = bus
        .work_queue(last_delivery_spec(
            "adjudication",
            subjects::events_of_type("claim", "ClaimSubmitted"),
        ))
        .await
        .unwrap();
    let mut dead = dead_letters(&bus, "adjudication").await;
    let (gate, held) = gate_over(&store_dyn);
    let adjudicator = Adjudicator::new(store_dyn.clone(), clock()).with_gate(gate);

    bus.publish(submitted_event(store_dyn.as_ref(), claim_id("OUTAGE-2"), |_| {}).await)
        .await
        .unwrap();
    handled_through_outage(&store, &held, &mut queue, |delivery| async move {
        adjudicator.handle(delivery).await;
    })
    .await;

    assert_eq!(
        version_of(store.as_ref(), "OUTAGE-2").await,
        2,
        "submitted, then decided once"
    );
    nothing_dead_lettered(&mut dead).await;
    nothing_left(&mut queue).await;
}

/// The same for an outcome notice: a `ClaimAdjudicated` whose last delivery fails while
/// the store is away is notified once it is back, not dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_outcome_notice_failed_by_an_outage_is_tried_again_once_the_store_is_back() {
    let store = TestStore::over(store().await);
    let store_dyn: Arc<dyn EventStore> = store.clone();
    let bus = Arc::new(InProcessBus::new());
    let bus_dyn: Arc<dyn MessageBus> = bus.clone();
    Intake::new(store_dyn.clone(), bus_dyn.clone())
        .submit_all(vec![claim("OUTAGE-3", "M-1001", "2026-03-02")])
        .await;
    Adjudicator::new(store_dyn.clone(), clock())
        .adjudicate(claim_id("OUTAGE-3"))
        .await
        .unwrap();
    let queue = bus_dyn
        .work_queue(last_delivery_spec(
            "outcomes-decided",
            subjects::events_of_type("claim", "ClaimAdjudicated"),
        ))
        .await
        .unwrap();
    let mut notices = bus_dyn
        .subscribe(SubjectPattern::from(subjects::outcome(&insurer())))
        .await
        .unwrap();
    let mut dead = dead_letters(&bus_dyn, "outcomes-decided").await;
    let (gate, held) = gate_over(&store_dyn);
    let outcomes = Outcomes::new(store_dyn.clone(), bus_dyn.clone()).with_gate(gate);

    let decided = store_dyn
        .read_stream(&streams::claim(claim_id("OUTAGE-3")), 2)
        .await
        .unwrap()
        .remove(0);
    store.away(true);
    bus_dyn
        .publish(Message::new(
            subjects::event(&decided),
            serde_json::to_vec(&decided).unwrap(),
        ))
        .await
        .unwrap();
    let running = tokio::spawn(outcomes.run(queue));
    held_one(&held).await;
    store.away(false);

    let notice = tokio::time::timeout(PATIENCE, notices.next())
        .await
        .expect("the notice once the store is back")
        .unwrap();
    let response: serde_json::Value = serde_json::from_slice(&notice.payload).unwrap();
    assert_eq!(response["request"]["identifier"]["value"], "OUTAGE-3");
    nothing_dead_lettered(&mut dead).await;
    bus.shutdown();
    tokio::time::timeout(PATIENCE, running)
        .await
        .unwrap()
        .unwrap();
}

/// The same for reference data: a message whose last delivery fails while the store is
/// away is stored once it is back and answered `accepted`, not `rejected`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_reference_data_message_failed_by_an_outage_is_tried_again_once_the_store_is_back() {
    let store = TestStore::over(store().await);
    let store_dyn: Arc<dyn EventStore> = store.clone();
    let bus = Arc::new(InProcessBus::new());
    let bus_dyn: Arc<dyn MessageBus> = bus.clone();
    let queue = bus_dyn
        .work_queue(last_delivery_spec(
            "reference",
            subjects::all_reference_data(),
        ))
        .await
        .unwrap();
    let mut answers = bus_dyn
        .subscribe(SubjectPattern::from(subjects::reference_ack(&insurer())))
        .await
        .unwrap();
    let mut dead = dead_letters(&bus_dyn, "reference").await;
    let (gate, held) = gate_over(&store_dyn);
    let reference = ReferenceIntake::new(store_dyn.clone(), bus_dyn.clone()).with_gate(gate);
    let provider: toml::Value = toml::from_str(
        r#"
[[provider]]
id = "lab-c"
name = "Lab C"
wallet = "0x1111111111111111111111111111111111111111"
"#,
    )
    .unwrap();

    store.away(true);
    bus_dyn
        .publish(json_message(subjects::reference(&insurer()), &provider))
        .await
        .unwrap();
    let running = tokio::spawn(reference.run(queue));
    held_one(&held).await;
    store.away(false);

    let reply: ReferenceReply = next_answer(&mut answers).await;
    assert_eq!(
        (reply.status, reply.stored),
        (ReplyStatus::Accepted, 1),
        "{reply:?}"
    );
    nothing_dead_lettered(&mut dead).await;
    bus.shutdown();
    tokio::time::timeout(PATIENCE, running)
        .await
        .unwrap()
        .unwrap();
}

/// The same for a reviewer's command: an approval whose last delivery fails while the
/// store is away is recorded once it is back and answered `accepted`, not `rejected`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_review_failed_by_an_outage_is_tried_again_once_the_store_is_back() {
    // Claims billed above 1,000.00 wait for a reviewer.
    let reviewed = REFERENCE.replace(
        "coinsurance = \"20%\"",
        "coinsurance = \"20%\"\nreview_threshold = \"1000.00 USD\"",
    );
    let store = TestStore::over(store_with(&reviewed).await);
    let store_dyn: Arc<dyn EventStore> = store.clone();
    let bus: Arc<dyn MessageBus> = Arc::new(InProcessBus::new());
    Intake::new(store_dyn.clone(), bus.clone())
        .submit_all(vec![claim("OUTAGE-4", "M-1001", "2026-03-02")])
        .await;
    Adjudicator::new(store_dyn.clone(), clock())
        .adjudicate(claim_id("OUTAGE-4"))
        .await
        .unwrap();
    assert_eq!(
        status_of(store.as_ref(), "OUTAGE-4").await,
        Some(ClaimStatus::Pended)
    );
    let queue = bus
        .work_queue(last_delivery_spec("reviews", subjects::all_reviews()))
        .await
        .unwrap();
    let mut answers = bus
        .subscribe(SubjectPattern::from(subjects::review_ack(&insurer())))
        .await
        .unwrap();
    let mut dead = dead_letters(&bus, "reviews").await;
    let (gate, held) = gate_over(&store_dyn);
    let reviews = ReviewIntake::new(
        Adjudicator::new(store_dyn.clone(), clock()).with_gate(gate),
        bus.clone(),
    );
    let approval =
        serde_json::json!({ "claim_ref": "OUTAGE-4", "reviewer": "Dr Rao", "verdict": "approve" });

    store.away(true);
    bus.publish(json_message(subjects::review(&insurer()), &approval))
        .await
        .unwrap();
    let running = tokio::spawn(reviews.run(queue));
    held_one(&held).await;
    store.away(false);

    let reply: ReviewReply = next_answer(&mut answers).await;
    assert_eq!(
        (reply.status, reply.decision.as_deref(), reply.duplicate),
        (ReplyStatus::Accepted, Some("approved"), false),
        "{reply:?}"
    );
    assert_eq!(
        status_of(store.as_ref(), "OUTAGE-4").await,
        Some(ClaimStatus::Approved)
    );
    nothing_dead_lettered(&mut dead).await;
    running.abort();
}

/// The same for a payout: an approved claim whose last delivery to the settler fails while
/// the store is away is paid once the store is back, not dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_payout_failed_by_an_outage_is_tried_again_once_the_store_is_back() {
    let spec = last_delivery_spec(
        "settlement",
        subjects::events_of_type("claim", "ClaimAdjudicated"),
    );
    let (mut rig, settler, queue) = PayoutRig::new("OUTAGE-5", spec).await;

    rig.store.away(true);
    let running = rig.start(settler, queue).await;
    held_one(&rig.held).await;
    rig.store.away(false);

    rig.paid_once("OUTAGE-5", running).await;
}

/// A batch the chain took but the store could not record, because it went away in
/// between, is sent again as soon as the store is back: recorded from the contract's log,
/// paid once, its claim never dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_the_store_could_not_record_is_recorded_once_it_is_back() {
    let spec = queue_spec(
        "settlement",
        subjects::events_of_type("claim", "ClaimAdjudicated"),
    );
    let (mut rig, settler, queue) = PayoutRig::new("OUTAGE-6", spec).await;
    // Open batches are resent rarely: this one is recorded as soon as the store is back.
    let settler = settler.retrying_open_batches_every(Duration::from_secs(600));

    // The batch is scheduled (one append), then the store goes away before the payment
    // can be recorded.
    rig.store.away_after_appends(1);
    let running = rig.start(settler, queue).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while payouts_on_chain(&rig.chain) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "nothing was paid");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        rig.store.away.load(Ordering::SeqCst),
        "the recording failed"
    );
    rig.store.away(false);

    rig.paid_once("OUTAGE-6", running).await;
}

/// An approved claim, a settler to pay it over a store that can go away, and what the
/// payout tests look at.
struct PayoutRig {
    store: Arc<TestStore>,
    bus: Arc<dyn MessageBus>,
    decided: Message,
    dead: Subscription,
    held: HeldMessages,
    chain: Arc<EmbeddedChain>,
}

/// A settler running until its trigger.
type RunningSettler = (shutdown::ShutdownTrigger, tokio::task::JoinHandle<()>);

impl PayoutRig {
    /// `claim_ref` approved, and a settler paying each claim of `spec` (a `settlement`
    /// queue) as soon as it arrives, on an embedded chain.
    async fn new(claim_ref: &str, spec: WorkQueueSpec) -> (Self, Settler, Box<dyn WorkQueue>) {
        let store = TestStore::over(store().await);
        let store_dyn: Arc<dyn EventStore> = store.clone();
        let bus: Arc<dyn MessageBus> = Arc::new(InProcessBus::new());
        let decided = approved(&store_dyn, &bus, claim_ref).await;
        let queue = bus.work_queue(spec).await.unwrap();
        let dead = dead_letters(&bus, "settlement").await;
        let (gate, held) = gate_over(&store_dyn);
        let chain = Arc::new(
            EmbeddedChain::launch(EmbeddedChainConfig::with_float(
                TokenAmount::from_base_units(1_000_000_000_000),
            ))
            .unwrap(),
        );
        let paying: Arc<dyn SettlementChain> = chain.clone();
        let service = SettlementService::new(store_dyn, paying, TokenDenomination(Currency::USD));
        let config = SettlerConfig {
            max_batch: 1,
            max_wait: None,
        };
        let settler = Settler::new(Arc::new(service), clock(), config).with_gate(gate);
        let rig = Self {
            store,
            bus,
            decided,
            dead,
            held,
            chain,
        };
        (rig, settler, queue)
    }

    /// Publishes the claim's decision to `queue` and runs `settler` on it.
    async fn start(&self, settler: Settler, queue: Box<dyn WorkQueue>) -> RunningSettler {
        self.bus.publish(self.decided.clone()).await.unwrap();
        let (stop, shutdown) = shutdown::channel();
        (stop, tokio::spawn(settler.run(queue, shutdown)))
    }

    /// Waits until the claim is recorded as paid, checks that it was paid once on chain
    /// and never dead-lettered, and stops the settler.
    async fn paid_once(&mut self, claim_ref: &str, (stop, running): RunningSettler) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let status = status_of(self.store.as_ref(), claim_ref).await;
            if status == Some(ClaimStatus::Paid) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "claim {claim_ref} is {status:?}, not paid"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(payouts_on_chain(&self.chain), 1, "paid once on chain");
        nothing_dead_lettered(&mut self.dead).await;
        stop.trigger();
        tokio::time::timeout(PATIENCE, running)
            .await
            .unwrap()
            .unwrap();
    }
}

/// Submits and decides a claim of `M-1001` (approved: it owes the plan's share of a
/// surgery) and returns the relay's message for its `ClaimAdjudicated`.
async fn approved(
    store: &Arc<dyn EventStore>,
    bus: &Arc<dyn MessageBus>,
    claim_ref: &str,
) -> Message {
    Intake::new(store.clone(), bus.clone())
        .submit_all(vec![claim(claim_ref, "M-1001", "2026-03-02")])
        .await;
    Adjudicator::new(store.clone(), clock())
        .adjudicate(claim_id(claim_ref))
        .await
        .unwrap();
    let decided = store
        .read_stream(&streams::claim(claim_id(claim_ref)), 2)
        .await
        .unwrap()
        .remove(0);
    Message::new(
        subjects::event(&decided),
        serde_json::to_vec(&decided).unwrap(),
    )
}

/// Payout batches the chain took into a block.
fn payouts_on_chain(chain: &EmbeddedChain) -> usize {
    chain
        .transactions()
        .iter()
        .filter(|transaction| {
            transaction.to == Some(chain.settlement_address())
                && transaction.from == chain.settler_address()
                && transaction.block.is_some()
        })
        .count()
}

async fn status_of(store: &dyn EventStore, claim_ref: &str) -> Option<ClaimStatus> {
    load::<ClaimDecider>(store, streams::claim(claim_id(claim_ref)))
        .await
        .unwrap()
        .state
        .status
}

/// A queue that allows one delivery: every message arrives on its last attempt.
fn last_delivery_spec(name: &str, subjects: SubjectPattern) -> WorkQueueSpec {
    WorkQueueSpec {
        max_deliveries: 1,
        ..queue_spec(name, subjects)
    }
}

/// A gate on `store`, and the gauge of what it holds.
fn gate_over(store: &Arc<dyn EventStore>) -> (StoreGate, HeldMessages) {
    let held = HeldMessages::default();
    (StoreGate::new(store.clone()).with_held(held.clone()), held)
}

/// `body` as a JSON message on `subject`, as a sender's client publishes it.
fn json_message(subject: Subject, body: &impl serde::Serialize) -> Message {
    Message::new(subject, serde_json::to_vec(body).unwrap())
        .with_header("Content-Type", "application/json")
}

/// The next answer heard on `answers`.
async fn next_answer<T: serde::de::DeserializeOwned>(answers: &mut Subscription) -> T {
    let answer = tokio::time::timeout(PATIENCE, answers.next())
        .await
        .expect("an answer")
        .unwrap();
    serde_json::from_slice(&answer.payload).unwrap()
}

/// What `queue` dead-letters from now on.
async fn dead_letters(bus: &Arc<dyn MessageBus>, queue: &str) -> Subscription {
    bus.subscribe(SubjectPattern::from(subjects::dead_letter(queue)))
        .await
        .unwrap()
}

async fn nothing_dead_lettered(dead: &mut Subscription) {
    if let Ok(letter) = tokio::time::timeout(Duration::from_millis(250), dead.next()).await {
        panic!("nothing should be dead-lettered, got {letter:?}");
    }
}

/// Takes the queue's next delivery, a last attempt, and has `handle` work it while the
/// store is away; brings the store back once the gate holds it, and waits for the work.
async fn handled_through_outage<Handling: Future<Output = ()> + Send + 'static>(
    store: &TestStore,
    held: &HeldMessages,
    queue: &mut Box<dyn WorkQueue>,
    handle: impl FnOnce(Delivery) -> Handling,
) {
    let delivery = tokio::time::timeout(PATIENCE, queue.next())
        .await
        .unwrap()
        .unwrap();
    assert!(delivery.is_last_attempt());
    store.away(true);
    let handling = tokio::spawn(handle(delivery));
    held_one(held).await;
    store.away(false);
    tokio::time::timeout(PATIENCE, handling)
        .await
        .unwrap()
        .unwrap();
}

async fn version_of(store: &dyn EventStore, claim_ref: &str) -> u64 {
    load::<ClaimDecider>(store, streams::claim(claim_id(claim_ref)))
        .await
        .unwrap()
        .version
}

/// Waits until the gate holds a message.
async fn held_one(held: &HeldMessages) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while held.now() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the message is not held"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
