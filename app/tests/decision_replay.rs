//! A decision replayed from the log decides exactly as the original did, also when the
//! decision first gave benefits back in its own append: an appeal of a denial that used
//! the deductible and a visit, and a replacement cancelling an original that used them.
//! Also when an event on one of its input streams sorts before it in the log although the
//! decision never saw it: the decision records the version of every stream it read, and
//! the replay folds those (on SQLite, with the log copied out of order; on PostgreSQL, with
//! a transaction older than the decision's committing after it). A decision stored without
//! those versions is replayed from the events before it in the log, as before.
//!
//! The plan is the reference data's Gold PPO: an office visit billed 180.00 is allowed
//! 120.00, the member pays the 25.00 copay and 95.00 of the 250.00 deductible, and the plan
//! pays nothing: a denial that used benefits. Two of them leave 60.00 of the deductible, so
//! a replay that still counted the second one would apply 60.00, not 95.00, and pay.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

#[path = "../../adapters/tests/pg_support/mod.rs"]
mod pg_support;
mod support;

use chrono::NaiveDate;
use claims::adjudicator::{Adjudicated, Adjudicator};
use claims::clock::FixedClock;
use claims::decision_inputs::DecisionInputs;
use claims::decision_replay::{InputsRead, replay_decision};
use claims::engine::{Database, EmbeddedConfig, Engine, Role};
use claims::reference::{AuthorizationOnFile, ReferenceData};
use claims::settler::SettlerConfig;
use claims_adapters::aggregate::{self, Loaded, streams};
use claims_adapters::event_store::{
    EventStore, LogPosition, RecordedEvent, SqliteEventStore, StreamId,
};
use claims_domain::adjudication::{Adjudication, Decision};
use claims_domain::authorizations::{AuthorizationEvent, AuthorizationsDecider};
use claims_domain::claim::{Appeal, ClaimDecider, ClaimEvent, ClaimStatus};
use claims_domain::coding::AuthorizationNumber;
use claims_domain::{ClaimId, InsurerId, MemberId, PlanId, ProcedureCode};
use pg_support::TestSchema;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

async fn engine() -> Engine {
    let clock = Arc::new(FixedClock::on(
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
    ));
    let mut config = EmbeddedConfig::new(Database::InMemory, clock);
    config.settler = SettlerConfig {
        max_batch: usize::MAX,
        max_wait: None,
    };
    let engine = Engine::start_embedded(config).await.unwrap();
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    engine
        .load_reference_data(
            &ReferenceData::from_file(&examples.join("reference-data.toml")).unwrap(),
        )
        .await
        .unwrap();
    engine
}

/// Submits an office visit (99213 billed 180.00) for M-1001 on `day` of April 2026,
/// replacing `replaces` if given, and waits for its decision.
async fn office_visit(
    engine: &Engine,
    claim_ref: &str,
    day: u32,
    replaces: Option<&str>,
) -> (ClaimId, Adjudication) {
    let mut body = serde_json::json!({
        "claim_ref": claim_ref,
        "member": "M-1001",
        "provider": "clinic-a",
        "received_on": format!("2026-04-{day:02}"),
        "lines": [{ "procedure": "99213", "diagnoses": ["J06.9"], "date_of_service": format!("2026-04-{day:02}"), "units": 1, "billed": "180.00 USD" }]
    });
    if let Some(original) = replaces {
        body["corrects"] = serde_json::json!({ "claim_ref": original, "kind": "replacement" });
    }
    let reply = engine
        .submit(
            &InsurerId::new("acme-health").unwrap(),
            serde_json::to_vec(&body).unwrap(),
        )
        .await
        .unwrap();
    let claim = reply
        .claim_id
        .unwrap_or_else(|| panic!("refused: {reply:?}"));
    let state = engine
        .wait_for_claim(claim, "decided", Duration::from_secs(10), |state| {
            !matches!(state.status, None | Some(ClaimStatus::Submitted))
        })
        .await
        .unwrap();
    (claim, state.adjudication.unwrap())
}

/// A denial that used 95.00 of the deductible (and a visit).
fn assert_denied_on_the_deductible(adjudication: &Adjudication) {
    assert_eq!(adjudication.decision, Decision::Denied, "{adjudication:?}");
    assert_eq!(
        adjudication.cost_sharing.deductible.to_string(),
        "95.00 USD",
        "{adjudication:?}"
    );
    assert!(adjudication.lines[0].allowed.is_positive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appealed_denial_that_used_the_deductible_replays_as_decided() {
    let engine = engine().await;
    let (_, first) = office_visit(&engine, "RP-1", 10, None).await;
    assert_denied_on_the_deductible(&first);
    let (second, denied) = office_visit(&engine, "RP-2", 17, None).await;
    assert_denied_on_the_deductible(&denied);

    // The appeal gives back the second visit's 95.00 and decides it again on 155.00 left.
    engine
        .appeal(
            second,
            Appeal {
                by: "clinic-a".to_owned(),
                reason: "please reconsider".to_owned(),
            },
        )
        .await
        .unwrap();
    let appealed = engine.claim(second).await.unwrap().adjudication.unwrap();
    assert_denied_on_the_deductible(&appealed);

    // The years before the appeal's decision still count the denial (its reversal is
    // stored with the decision); the replay gives it back as the adjudicator did.
    let replay = engine.replay_decision(second).await.unwrap();
    assert_eq!(replay.original, appealed);
    assert_eq!(replay.replayed, appealed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_of_a_claim_that_used_the_deductible_replays_as_decided() {
    let engine = engine().await;
    office_visit(&engine, "RP-1", 10, None).await;
    let (original, denied) = office_visit(&engine, "RP-2", 17, None).await;
    assert_denied_on_the_deductible(&denied);

    // The replacement cancels RP-2 in its own append and is decided on the year without it.
    let (replacement, decided) = office_visit(&engine, "RP-3", 17, Some("RP-2")).await;
    assert_eq!(
        engine.claim(original).await.unwrap().status,
        Some(ClaimStatus::Replaced)
    );
    assert_denied_on_the_deductible(&decided);

    let replay = engine.replay_decision(replacement).await.unwrap();
    assert_eq!(replay.original, decided);
    assert_eq!(replay.replayed, decided);
}

/// The example reference data, with the Gold PPO paying a knee arthroscopy (29881, allowed
/// 1,000.00) only with a prior authorisation: decided without one on file, it is denied;
/// with one, approved. A replay that counted an authorisation the decision never saw
/// would approve what was denied.
fn knee_reference() -> ReferenceData {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut reference = ReferenceData::from_file(&examples.join("reference-data.toml")).unwrap();
    reference
        .plan_rules
        .get_mut(&PlanId::new("gold-ppo").unwrap())
        .unwrap()
        .prior_authorization
        .insert(ProcedureCode::new("29881").unwrap());
    reference
}

/// The authorisation that would approve the knee arthroscopy.
fn knee_authorization() -> AuthorizationOnFile {
    AuthorizationOnFile {
        member: member(),
        number: AuthorizationNumber::new("PA-2026-0077").unwrap(),
        procedure: ProcedureCode::new("29881").unwrap(),
        provider: "clinic-a".parse().unwrap(),
        from: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        through: NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
    }
}

fn member() -> MemberId {
    MemberId::new("M-1001").unwrap()
}

fn knee_claim(claim_ref: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "claim_ref": claim_ref,
        "member": "M-1001",
        "provider": "clinic-a",
        "received_on": "2026-03-03",
        "lines": [{ "procedure": "29881", "date_of_service": "2026-03-02", "billed": "1000.00 USD" }],
    }))
    .unwrap()
}

async fn submit_knee(engine: &Engine, claim_ref: &str) -> ClaimId {
    let reply = engine
        .submit(
            &InsurerId::new("acme-health").unwrap(),
            knee_claim(claim_ref),
        )
        .await
        .unwrap();
    reply
        .claim_id
        .unwrap_or_else(|| panic!("refused: {reply:?}"))
}

/// The claim's latest `ClaimAdjudicated`, as stored.
async fn stored_decision(store: &dyn EventStore, claim: ClaimId) -> RecordedEvent {
    store
        .read_stream(&streams::claim(claim), 1)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find(|event| event.event_type == "ClaimAdjudicated")
        .unwrap()
}

/// The streams and versions a stored decision recorded reading.
async fn recorded_inputs(store: &dyn EventStore, claim: ClaimId) -> Vec<(String, u64)> {
    let decided = stored_decision(store, claim).await;
    DecisionInputs::of(&decided)
        .unwrap()
        .unwrap_or_else(|| panic!("no inputs recorded: {:?}", decided.metadata))
        .streams()
        .map(|(stream, version)| (stream.to_string(), version))
        .collect()
}

fn versions(expected: &[(&str, u64)]) -> Vec<(String, u64)> {
    let mut expected: Vec<(String, u64)> = expected
        .iter()
        .map(|(stream, version)| ((*stream).to_owned(), *version))
        .collect();
    expected.sort();
    expected
}

/// Copies `from`'s log into a fresh store, event by event. With `early`, the events of
/// that stream are copied right after `after`'s first event, ahead of everything stored
/// between (each stream keeps its own order, so every version is as in `from`). With
/// `strip`, the versions decisions recorded are left out, as in a log stored before they
/// were recorded.
async fn copy_log(
    from: &dyn EventStore,
    early: Option<(&StreamId, &StreamId)>,
    strip: bool,
) -> SqliteEventStore {
    let mut events = from.read_all(LogPosition::START, 100_000).await.unwrap();
    if let Some((moved, after)) = early {
        let (mut moved_events, rest): (Vec<_>, Vec<_>) =
            events.into_iter().partition(|event| &event.stream == moved);
        let at = rest
            .iter()
            .position(|event| &event.stream == after)
            .unwrap()
            + 1;
        events = rest;
        let tail = events.split_off(at);
        events.append(&mut moved_events);
        events.extend(tail);
    }
    let to = SqliteEventStore::in_memory().await.unwrap();
    for event in events {
        let mut metadata = event.metadata.to_value();
        if strip && let Some(fields) = metadata.as_object_mut() {
            fields.remove("decision_inputs");
        }
        support::log::append_as_recorded(&to, &event, metadata).await;
    }
    to
}

/// A decision records the version of each stream it read, whichever path decides it (the
/// workers' batches, an appeal), and a replay folds each stream up to that version: a log
/// in which an authorisation granted after the decision sorts before it still replays as
/// decided. Without the versions, the replay falls back to the events before the decision
/// in the log, which is exact for a log in commit order and counts the authorisation in
/// the reordered one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_records_the_versions_it_read_and_its_replay_folds_exactly_those() {
    let clock = Arc::new(FixedClock::on(NaiveDate::from_ymd_opt(2026, 3, 5).unwrap()));
    let engine = Engine::start_embedded(EmbeddedConfig::new(Database::InMemory, clock))
        .await
        .unwrap();
    engine.load_reference_data(&knee_reference()).await.unwrap();
    let store = engine.store().as_ref();
    let knee = submit_knee(&engine, "KN-1").await;
    let state = engine
        .wait_for_claim(knee, "decided", Duration::from_secs(10), |state| {
            !matches!(state.status, None | Some(ClaimStatus::Submitted))
        })
        .await
        .unwrap();
    let denied = state.adjudication.unwrap();
    assert_eq!(denied.decision, Decision::Denied, "{denied:?}");

    let claim = streams::claim(knee).to_string();
    let plan = u64::try_from(
        store
            .read_stream(&streams::plan(&PlanId::new("gold-ppo").unwrap()), 1)
            .await
            .unwrap()
            .len(),
    )
    .unwrap();
    let year = format!("accumulator-{}-2026", member());
    assert_eq!(
        recorded_inputs(store, knee).await,
        versions(&[
            (&claim, 1),
            ("member-M-1001", 1),
            ("provider-clinic-a", 1),
            ("plan-gold-ppo", plan),
            (&year, 0),
            ("authorizations-M-1001", 0),
        ])
    );

    // The authorisation arrives after the decision.
    let grant = ReferenceData {
        authorizations: vec![knee_authorization()],
        ..ReferenceData::default()
    };
    engine.load_reference_data(&grant).await.unwrap();
    let replay = replay_decision(store, knee).await.unwrap();
    assert_eq!(replay.inputs, InputsRead::Recorded);
    assert_eq!(replay.replayed, denied);

    let authorizations = streams::authorizations(&member());
    let submitted = streams::claim(knee);
    let reordered = copy_log(store, Some((&authorizations, &submitted)), false).await;
    let replay = replay_decision(&reordered, knee).await.unwrap();
    assert_eq!(replay.inputs, InputsRead::Recorded);
    assert_eq!(replay.original, denied);
    assert_eq!(replay.replayed, denied);

    // Stored without the versions: the events before the decision in the log. Exact in
    // commit order; in the reordered log it counts the authorisation the decision never saw.
    let unrecorded = copy_log(store, None, true).await;
    let replay = replay_decision(&unrecorded, knee).await.unwrap();
    assert_eq!(replay.inputs, InputsRead::BeforeInLog);
    assert_eq!(replay.replayed, denied);
    let unrecorded = copy_log(store, Some((&authorizations, &submitted)), true).await;
    let replay = replay_decision(&unrecorded, knee).await.unwrap();
    assert_eq!(replay.inputs, InputsRead::BeforeInLog);
    assert_eq!(replay.replayed.decision, Decision::Approved);

    // The appeal is decided on the authorisation, and records reading it.
    engine
        .appeal(
            knee,
            Appeal {
                by: "clinic-a".to_owned(),
                reason: "the authorisation is on file".to_owned(),
            },
        )
        .await
        .unwrap();
    let approved = engine.claim(knee).await.unwrap().adjudication.unwrap();
    assert_eq!(approved.decision, Decision::Approved, "{approved:?}");
    let appeal_read = recorded_inputs(store, knee).await;
    assert!(
        appeal_read.contains(&("authorizations-M-1001".to_owned(), 1)),
        "{appeal_read:?}"
    );
    let replay = replay_decision(store, knee).await.unwrap();
    assert_eq!(replay.inputs, InputsRead::Recorded);
    assert_eq!(replay.replayed, approved);
    engine.shutdown().await;
}

/// On PostgreSQL a log position orders transactions by id. A writer whose transaction took
/// its id before the decision's append grants the authorisation; the adjudicator reads the
/// member's authorisations while that transaction is still open (so sees none) and stores
/// its denial; only then does the writer commit. The grant's position sorts before the
/// decision's although the decision never saw it: a replay "before the decision by
/// position" approves. The versions the decision recorded keep the replay exact.
///
/// The engine here runs intake only: its relay would hold the claim back while the older
/// transaction is open (the log is read gap-safe), so the test drives the adjudicator
/// itself, through the batch path the workers take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_replay_ignores_an_older_transaction_that_committed_after_the_read() {
    let schema = TestSchema::new().await;
    let clock = Arc::new(FixedClock::on(NaiveDate::from_ymd_opt(2026, 3, 5).unwrap()));
    let mut config = EmbeddedConfig::new(
        Database::Postgres {
            url: schema.url.clone(),
            schema: Some(schema.name.clone()),
        },
        clock.clone(),
    );
    config.roles = [Role::Intake].into_iter().collect();
    let engine = Engine::start_embedded(config).await.unwrap();
    engine.load_reference_data(&knee_reference()).await.unwrap();
    let knee = submit_knee(&engine, "KN-PG-1").await;

    // The writer's transaction takes its id now, before the decision's, and grants the
    // authorisation without committing.
    let writer = schema.store().await;
    let mut granting = writer.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *granting)
        .await
        .unwrap();
    let on_file = Loaded::<AuthorizationsDecider> {
        stream: streams::authorizations(&member()),
        state: Default::default(),
        version: 0,
    };
    let authorization = knee_authorization();
    let grant = on_file
        .append(
            &[AuthorizationEvent::Granted {
                member: member(),
                authorization: claims_domain::rules::authorization::Authorization {
                    number: authorization.number,
                    procedure: authorization.procedure,
                    provider: authorization.provider,
                    from: authorization.from,
                    through: authorization.through,
                },
            }],
            &serde_json::json!({}),
        )
        .unwrap()
        .unwrap();
    writer.append_in(&mut granting, vec![grant]).await.unwrap();

    let adjudicator = Adjudicator::new(engine.store().clone(), clock);
    let outcome = adjudicator.adjudicate_all(&[knee]).await;
    assert!(
        matches!(
            outcome.as_slice(),
            [Ok(Adjudicated::Decided(Decision::Denied))]
        ),
        "{outcome:?}"
    );
    granting.commit().await.unwrap();

    let store = engine.store().as_ref();
    let decided = stored_decision(store, knee).await;
    let granted = store
        .read_stream(&streams::authorizations(&member()), 1)
        .await
        .unwrap();
    assert!(
        granted[0].position < decided.position,
        "the grant does not sort before the decision: {:?} {:?}",
        granted[0].position,
        decided.position
    );
    let ClaimEvent::Adjudicated {
        adjudication: denied,
    } = aggregate::decode::<ClaimDecider>(&decided).unwrap()
    else {
        panic!("not a decision: {decided:?}");
    };

    let replay = replay_decision(store, knee).await.unwrap();
    assert_eq!(replay.original, denied);
    assert_eq!(replay.replayed, denied);
    assert_eq!(replay.inputs, InputsRead::Recorded);
    assert!(
        recorded_inputs(store, knee)
            .await
            .contains(&("authorizations-M-1001".to_owned(), 0))
    );
    writer.close().await;
    engine.shutdown().await;
}
