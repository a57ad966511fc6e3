//! `claims dead-letters list | requeue` against a real nats-server and the engine running on
//! it: a submitted claim whose member is missing from the event store cannot be adjudicated
//! and is dead-lettered on `adjudication`; the operator lists it, loads the member (the
//! reference data that was missing), requeues it, and the claim is decided exactly once and
//! no longer listed. A sequence that holds no dead letter is refused with a message saying so.
//!
//! Runs its own nats-server (the `nats-server` binary; `scripts/test.sh` installs it).

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

#[path = "../../settlement/tests/anvil_support/claims.rs"]
#[allow(dead_code)] // Its reference data only: claims are submitted here, not approved.
mod approved;
mod support;

use chrono::NaiveDate;
use claims::clock::FixedClock;
use claims::engine::{BusChoice, Database, EmbeddedConfig, Engine};
use claims::reference::ReferenceData;
use claims_adapters::aggregate::{self, streams};
use claims_adapters::event_store::EventStore;
use claims_domain::claim::{
    Claim, ClaimCommand, ClaimDecider, ClaimStatus, ServiceLine, SubmissionContext,
};
use claims_domain::{
    ClaimId, Decider, DiagnosisCode, InsurerClaimRef, InsurerId, ProcedureCode, WalletAddress,
};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::nats_server::NatsServer;

const STREAM: &str = "CLAIMS_DEAD_LETTER_TEST";

/// `claims <args>` off the runtime's threads, with only this test's settings.
async fn claims(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_claims"));
        command.args(&args);
        for (name, _) in std::env::vars() {
            if name.starts_with("CLAIMS_") {
                command.env_remove(name);
            }
        }
        command.output().unwrap()
    })
    .await
    .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The dead letters `claims dead-letters list --json` prints.
async fn listed(server: &NatsServer, queue: Option<&str>) -> Vec<serde_json::Value> {
    let mut args = dead_letter_args(server, "list");
    if let Some(queue) = queue {
        args.extend(["--queue".to_owned(), queue.to_owned()]);
    }
    args.push("--json".to_owned());
    let output = claims(args).await;
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn dead_letter_args(server: &NatsServer, command: &str) -> Vec<String> {
    [
        "dead-letters",
        command,
        "--nats-url",
        &server.url,
        "--stream",
        STREAM,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// A claim of the approved module's member, stored as intake stores it, but with a
/// submission context that vouches for a member the store does not hold.
async fn submit_for_a_member_the_store_lacks(store: &dyn EventStore) -> ClaimId {
    let insurer = InsurerId::new(approved::INSURER).unwrap();
    let insurer_ref = InsurerClaimRef::new("ACME-DEAD-1").unwrap();
    let clinic = approved::provider("clinic-9", "Clinic Name", wallet());
    let claim = Claim {
        id: ClaimId::for_submission(&insurer, &insurer_ref),
        insurer,
        insurer_ref,
        member: approved::member().id,
        provider: clinic.id.clone(),
        received_on: date("2026-03-20"),
        lines: vec![ServiceLine {
            number: 1,
            procedure: ProcedureCode::new(approved::PROCEDURE).unwrap(),
            diagnoses: vec![DiagnosisCode::new(approved::DIAGNOSIS).unwrap()],
            date_of_service: date("2026-03-10"),
            units: 1,
            billed: "500.00 USD".parse().unwrap(),
            modifiers: Default::default(),
            authorization: None,
            primary_paid: None,
        }],
        corrects: None,
    };
    let loaded = aggregate::load::<ClaimDecider>(store, streams::claim(claim.id))
        .await
        .unwrap();
    let events = ClaimDecider::decide(
        &loaded.state,
        ClaimCommand::Submit {
            claim: claim.clone(),
            context: Box::new(SubmissionContext {
                member: Some(approved::member()),
                provider: Some(clinic),
                plan: Some(approved::plan()),
                original: None,
            }),
        },
    )
    .unwrap();
    let append = loaded.append(&events, &serde_json::Value::Null).unwrap();
    store.append(append.into_iter().collect()).await.unwrap();
    claim.id
}

fn wallet() -> WalletAddress {
    WalletAddress::from_bytes([0x7c; 20])
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_listed_requeued_once_its_cause_is_fixed_decided_once_and_listed_no_more()
{
    let server = NatsServer::start().await;
    let clock = Arc::new(FixedClock::on(date("2026-03-25")));
    let engine = Engine::start_embedded(EmbeddedConfig {
        bus: BusChoice::nats(server.url.clone(), STREAM),
        ..EmbeddedConfig::new(Database::InMemory, clock)
    })
    .await
    .unwrap();
    // The plan and the provider are on file; the member is not.
    engine
        .load_reference_data(&ReferenceData {
            plans: vec![approved::plan()],
            members: vec![],
            providers: vec![approved::provider("clinic-9", "Clinic Name", wallet())],
            ..ReferenceData::default()
        })
        .await
        .unwrap();
    let claim = submit_for_a_member_the_store_lacks(engine.store().as_ref()).await;

    // The adjudicator cannot decide it and dead-letters the event at once.
    let deadline = Instant::now() + Duration::from_secs(60);
    let letter = loop {
        if let [letter] = listed(&server, None).await.as_slice() {
            break letter.clone();
        }
        assert!(Instant::now() < deadline, "nothing dead-lettered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(letter["queue"], "adjudication", "{letter}");
    assert_eq!(
        letter["original_subject"],
        format!("events.claim.ClaimSubmitted.{}", streams::claim(claim)).as_str(),
        "{letter}"
    );
    assert_eq!(letter["deliveries"], 1, "{letter}");
    assert!(
        letter["reason"]
            .as_str()
            .unwrap()
            .contains("is no longer enrolled"),
        "{letter}"
    );
    let sequence = letter["sequence"].as_u64().unwrap();
    assert!(listed(&server, Some("intake")).await.is_empty());
    let human = claims(dead_letter_args(&server, "list")).await;
    assert!(
        text(&human).contains(&format!(
            "{sequence}  adjudication  events.claim.ClaimSubmitted."
        )),
        "{}",
        text(&human)
    );
    assert_eq!(
        engine.claim(claim).await.unwrap().status,
        Some(ClaimStatus::Submitted)
    );

    // A sequence that holds nothing is refused, saying so.
    let mut missing = dead_letter_args(&server, "requeue");
    missing.extend(["--queue", "adjudication", "--seq", "999999"].map(str::to_owned));
    let refused = claims(missing).await;
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("no message at sequence 999999"),
        "{}",
        text(&refused)
    );
    assert_eq!(listed(&server, None).await.len(), 1);

    // The operator loads the missing member, then requeues the dead letter.
    engine
        .load_reference_data(&ReferenceData {
            plans: vec![],
            members: vec![approved::member()],
            providers: vec![],
            ..ReferenceData::default()
        })
        .await
        .unwrap();
    let mut requeue = dead_letter_args(&server, "requeue");
    requeue.extend(["--queue", "adjudication", "--seq"].map(str::to_owned));
    requeue.push(sequence.to_string());
    let requeued = claims(requeue.clone()).await;
    assert!(requeued.status.success(), "{}", text(&requeued));
    assert!(
        text(&requeued).contains(&format!(
            "requeued {sequence} to events.claim.ClaimSubmitted."
        )),
        "{}",
        text(&requeued)
    );

    let decided = engine
        .wait_for_claim(claim, "decided", Duration::from_secs(30), |state| {
            state.adjudication.is_some()
        })
        .await
        .unwrap();
    assert!(
        decided.adjudication.unwrap().payer_paid.is_positive(),
        "the claim is approved once its member is on file"
    );
    assert!(listed(&server, None).await.is_empty(), "no longer listed");

    // Decided exactly once, even with the requeued message seen by the adjudicator.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let events = engine
        .store()
        .read_stream(&streams::claim(claim), 1)
        .await
        .unwrap();
    let types: Vec<&str> = events
        .iter()
        .map(|event| event.event_type.as_str())
        .collect();
    assert_eq!(
        types
            .iter()
            .filter(|name| **name == "ClaimAdjudicated")
            .count(),
        1,
        "{types:?}"
    );

    // The same sequence again: already requeued, so there is nothing there.
    let again = claims(requeue).await;
    assert!(!again.status.success());
    assert!(
        text(&again).contains(&format!("no message at sequence {sequence}")),
        "{}",
        text(&again)
    );
    engine.shutdown().await;
}
