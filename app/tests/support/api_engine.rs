//! An engine that has run two example claims, with its HTTP API on a free port.

use crate::support::http::get;
use chrono::NaiveDate;
use claims::api::{self, ApiState};
use claims::clock::FixedClock;
use claims::engine::{Database, EmbeddedConfig, Engine};
use claims::intake::ReplyStatus;
use claims::reference::ReferenceData;
use claims_domain::claim::ClaimStatus;
use claims_domain::{ClaimId, InsurerId};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn example(path: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples")
            .join(path),
    )
    .unwrap()
}

/// An engine that has paid the knee surgery, denied the lapsed member's visit and
/// dead-lettered a message that is not a claim, and its API on a free port; the read
/// models and metrics have caught up. Returns the engine, the API's address, the two
/// claims and what stops the API.
pub async fn engine_with_api() -> (
    Engine,
    String,
    ClaimId,
    ClaimId,
    tokio::sync::oneshot::Sender<()>,
) {
    let clock = Arc::new(FixedClock::on(
        NaiveDate::from_ymd_opt(2026, 3, 25).unwrap(),
    ));
    let engine = Engine::start_embedded(EmbeddedConfig::new(Database::InMemory, clock))
        .await
        .unwrap();
    engine
        .load_reference_data(
            &ReferenceData::from_file(
                &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reference-data.toml"),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let acme = InsurerId::new("acme-health").unwrap();
    let mut ids = Vec::new();
    for file in [
        "claims/01-knee-arthroscopy.json",
        "claims/03-lapsed-coverage.json",
    ] {
        let reply = engine.submit(&acme, example(file)).await.unwrap();
        assert_eq!(reply.status, ReplyStatus::Accepted, "{reply:?}");
        ids.push(reply.claim_id.unwrap());
    }
    let garbage = engine
        .submit(&acme, b"\x00{not json".to_vec())
        .await
        .unwrap();
    assert_eq!(garbage.status, ReplyStatus::Rejected);
    engine
        .wait_for_claim(ids[0], "paid", Duration::from_secs(20), |state| {
            state.status == Some(ClaimStatus::Paid)
        })
        .await
        .unwrap();
    engine
        .wait_for_claim(ids[1], "decided", Duration::from_secs(20), |state| {
            state.adjudication.is_some()
        })
        .await
        .unwrap();

    let state = ApiState {
        store: engine.store().clone(),
        read_models: engine.read_models().clone(),
        chain: Some(engine.settlement_chain().clone()),
        metrics: engine.metrics().clone(),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    api::serve(address, api::router(state), async move {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    let address = address.to_string();
    // The projector runs behind the log: wait until the read models have the payment.
    wait_until(&address, &format!("/claims/{}", ids[0]), |claim| {
        claim["status"]["status"] == "paid"
    })
    .await;
    for _ in 0..200 {
        if get(&address, "/metrics")
            .await
            .body
            .contains("\nclaims_paid_total 1\n")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    (engine, address, ids[0], ids[1], stop)
}

pub async fn wait_until(address: &str, path: &str, done: impl Fn(&serde_json::Value) -> bool) {
    for _ in 0..200 {
        let response = get(address, path).await;
        if response.status == 200 && done(&response.json()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "GET {path} never showed what was awaited: {:?}",
        get(address, path).await
    );
}
