//! `/metrics` after a demo run: every example claim (and a message that is not a claim at
//! all) through the embedded engine, then the Prometheus counters scraped over HTTP must
//! agree with what the event log says happened.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

mod support;

use chrono::NaiveDate;
use claims::api::{self, ApiState};
use claims::clock::FixedClock;
use claims::engine::{Database, EmbeddedConfig, Engine};
use claims::intake::{Intake, ReplyStatus};
use claims::metrics::EngineMetrics;
use claims::reference::ReferenceData;
use claims::submission::ClaimSubmission;
use claims_adapters::bus::{
    InProcessBus, Message, MessageBus, NatsBus, NatsBusConfig, Subject, SubjectPattern,
};
use claims_adapters::event_store::{EventStore, SqliteEventStore};
use claims_domain::InsurerId;
use claims_domain::adjudication::Decision;
use claims_domain::claim::Claim;
use claims_domain::claim::ClaimStatus;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support::http::get;

/// The value of the sample named exactly `sample` (with its labels).
fn sample(text: &str, sample: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .map(str::to_owned)
}

fn count(text: &str, name: &str) -> u64 {
    sample(text, name)
        .unwrap_or_else(|| panic!("no sample {name} in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_the_log_says_happened_in_a_demo_run() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let clock = Arc::new(FixedClock::on(
        NaiveDate::from_ymd_opt(2026, 3, 25).unwrap(),
    ));
    let engine = Engine::start_embedded(EmbeddedConfig::new(Database::InMemory, clock))
        .await
        .unwrap();
    engine
        .load_reference_data(
            &ReferenceData::from_file(&examples.join("reference-data.toml")).unwrap(),
        )
        .await
        .unwrap();
    let acme = InsurerId::new("acme-health").unwrap();
    // The test's own count of dead letters, to hold the metric to.
    let mut letters = engine
        .bus()
        .subscribe(SubjectPattern::new("deadletter.>").unwrap())
        .await
        .unwrap();
    let mut files: Vec<_> = std::fs::read_dir(examples.join("claims"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let mut accepted = Vec::new();
    for file in &files {
        let reply = engine
            .submit(&acme, std::fs::read(file).unwrap())
            .await
            .unwrap();
        if reply.status == ReplyStatus::Accepted {
            accepted.push(reply.claim_id.unwrap());
        }
    }
    // Not a claim at all: answered, and dead-lettered with its reason.
    let garbage = engine
        .submit(&acme, b"\x00{not json".to_vec())
        .await
        .unwrap();
    assert_eq!(garbage.status, ReplyStatus::Rejected);
    assert!(
        accepted.len() >= 3,
        "the examples have several valid claims"
    );

    let (mut approved, mut denied, mut pended, mut paid) = (0, 0, 0, 0);
    for claim in &accepted {
        let state = engine
            .wait_for_claim(*claim, "decided", Duration::from_secs(20), |state| {
                state.adjudication.is_some()
            })
            .await
            .unwrap();
        match state.adjudication.unwrap().decision {
            Decision::Approved => {
                approved += 1;
                engine
                    .wait_for_claim(*claim, "paid", Duration::from_secs(20), |state| {
                        state.status == Some(ClaimStatus::Paid)
                    })
                    .await
                    .unwrap();
                paid += 1;
            }
            Decision::Denied => denied += 1,
            Decision::Pended { .. } => pended += 1,
        }
    }
    assert!(paid > 0 && denied > 0, "the demo pays and denies");
    let mut dead_at_intake = 0;
    while let Ok(Some(letter)) =
        tokio::time::timeout(Duration::from_millis(300), letters.next()).await
    {
        assert_eq!(letter.subject.as_str(), "deadletter.intake");
        dead_at_intake += 1;
    }
    assert!(dead_at_intake >= 1, "the garbage message is dead-lettered");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let state = ApiState {
        store: engine.store().clone(),
        read_models: engine.read_models().clone(),
        chain: Some(engine.settlement_chain().clone()),
        metrics: engine.metrics().clone(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    api::serve(address, api::router(state), async move {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    let address = address.to_string();

    // The metrics follow the log a little behind it.
    let mut text = String::new();
    for _ in 0..200 {
        let response = get(&address, "/metrics").await;
        assert_eq!(response.status, 200);
        assert!(
            response
                .header("content-type")
                .unwrap()
                .starts_with("text/plain")
        );
        text = response.body;
        if sample(&text, "claims_paid_total").as_deref() == Some(&paid.to_string()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        count(&text, "claims_received_total"),
        accepted.len() as u64,
        "{text}"
    );
    assert_eq!(
        count(&text, "claims_decided_total{outcome=\"approved\"}"),
        approved
    );
    assert_eq!(
        count(&text, "claims_decided_total{outcome=\"denied\"}"),
        denied
    );
    assert_eq!(
        count(&text, "claims_decided_total{outcome=\"pended\"}"),
        pended
    );
    assert_eq!(count(&text, "claims_paid_total"), paid);
    assert_eq!(
        count(&text, "claims_dead_letters_total{queue=\"intake\"}"),
        dead_at_intake,
        "{text}"
    );
    // Every decision and payment is timed.
    assert_eq!(
        count(&text, "claims_submit_to_decision_seconds_count"),
        accepted.len() as u64
    );
    assert_eq!(
        count(
            &text,
            "claims_submit_to_decision_seconds_bucket{le=\"+Inf\"}"
        ),
        accepted.len() as u64
    );
    assert_eq!(
        count(&text, "claims_decision_to_payment_seconds_count"),
        paid
    );
    // Gas: what the settled batches' events recorded, summed.
    let snapshot = engine.read_models().snapshot().await.unwrap();
    let settled = snapshot
        .remittances
        .iter()
        .filter(|remittance| remittance.settlement.is_some())
        .count() as u64;
    assert_eq!(count(&text, "claims_settlements_total"), settled);
    assert!(count(&text, "claims_settlement_gas_used_total") > 21_000 * settled);
    // Every confirmed batch's lag from scheduling to confirmation is timed.
    assert_eq!(
        count(&text, "claims_settlement_confirmation_seconds_count"),
        settled
    );

    let _ = stop.send(());
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_no_total_from_the_log_until_they_have_counted_all_of_it() {
    let store: Arc<dyn EventStore> = Arc::new(SqliteEventStore::in_memory().await.unwrap());
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    ReferenceData::from_file(&examples.join("reference-data.toml"))
        .unwrap()
        .store(store.as_ref())
        .await
        .unwrap();
    // More claims than the metrics read in one page, as a process starting on a long log
    // finds them.
    let acme = InsurerId::new("acme-health").unwrap();
    let claims: Vec<Claim> = (0..1_800)
        .map(|number| {
            let body = serde_json::json!({
                "claim_ref": format!("LOG-{number}"),
                "member": "M-1001",
                "provider": "clinic-a",
                "received_on": "2026-04-11",
                "lines": [{ "procedure": "99213", "date_of_service": "2026-04-10",
                            "billed": "180.00 USD" }]
            });
            ClaimSubmission::parse(body.to_string().as_bytes())
                .unwrap()
                .into_claim(&acme)
                .unwrap()
        })
        .collect();
    let intake = Intake::new(store.clone(), Arc::new(InProcessBus::new()));
    for reply in intake.submit_all(claims).await {
        assert_eq!(reply.unwrap().status, ReplyStatus::Accepted);
    }

    let metrics = EngineMetrics::new();
    let (stop, stopping) = claims::shutdown::channel();
    let counting = tokio::spawn(metrics.clone().follow_log(store.clone(), stopping));
    // Scraped again and again while they count: no total until it is the log's.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = metrics.render();
        match sample(&text, "claims_received_total") {
            None => assert_eq!(
                sample(&text, "claims_metrics_caught_up").as_deref(),
                Some("0"),
                "{text}"
            ),
            Some(received) => {
                assert_eq!(received, "1800", "a partial total was reported:\n{text}");
                assert_eq!(count(&text, "claims_metrics_caught_up"), 1);
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the metrics did not count the log within 30 s:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stop.trigger();
    counting.await.unwrap();
}

/// On NATS the dead-letter count reads the stream through a consumer it asks the server
/// for. When that cannot be made at start-up (here the stream is missing), the count
/// subscribes again until it can, rather than stay at zero for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_counted_once_the_stream_can_be_read() {
    let url = std::env::var("CLAIMS_TEST_NATS_URL")
        .unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let namespace = format!("m{}", uuid::Uuid::new_v4().simple());
    let stream = format!("CLAIMS_TEST_{namespace}");
    let config = NatsBusConfig {
        max_age: Duration::from_secs(15 * 60),
        ..NatsBusConfig::new(
            url.clone(),
            stream.clone(),
            vec![SubjectPattern::new("deadletter.>").unwrap()],
        )
        .in_namespace(namespace.clone())
    };
    let bus = Arc::new(NatsBus::connect(config).await.unwrap());
    let jetstream = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    let made = jetstream
        .get_stream(&stream)
        .await
        .unwrap()
        .cached_info()
        .config
        .clone();
    jetstream.delete_stream(&stream).await.unwrap();

    let metrics = EngineMetrics::new();
    let (trigger, shutdown) = claims::shutdown::channel();
    let counting = tokio::spawn(metrics.clone().count_dead_letters(bus.clone(), shutdown));
    tokio::time::sleep(Duration::from_secs(1)).await;
    jetstream.create_stream(made).await.unwrap();

    // Published until counted: the count subscribes again every two seconds.
    let dead = Subject::new("deadletter.intake").unwrap();
    let mut counted = None;
    for _ in 0..20 {
        bus.publish(Message::new(
            dead.clone(),
            bytes::Bytes::from_static(b"not a claim"),
        ))
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        counted = sample(
            &metrics.render(),
            "claims_dead_letters_total{queue=\"intake\"}",
        );
        if counted.is_some() {
            break;
        }
    }
    trigger.trigger();
    counting.await.unwrap();
    jetstream.delete_stream(&stream).await.unwrap();
    assert!(
        counted.is_some(),
        "no dead letter was counted:\n{}",
        metrics.render()
    );
}
