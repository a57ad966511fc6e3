//! Reviewers' commands over NATS JetStream, sent as an insurer's back office would: a plain
//! NATS client publishes to `claims.review.acme-health` and hears every answer on its inbox
//! and on `claims.review-ack.acme-health`; what cannot be read is also dead-lettered.
//!
//! Needs the nats-server binary (`scripts/test.sh` installs it); the test runs its own
//! server (`support/nats_server.rs`) and fails, never skips, without it.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use chrono::NaiveDate;
use claims::clock::FixedClock;
use claims::engine::{BusChoice, Database, EmbeddedConfig, Engine};
use claims::intake::ReplyStatus;
use claims::reference::ReferenceData;
use claims::review_intake::ReviewReply;
use claims_domain::claim::ClaimStatus;
use claims_domain::{InsurerId, Money};
use std::sync::Arc;
use std::time::Duration;

mod support;

use support::insurer::{self, next};
use support::nats_server::NatsServer;

fn reference() -> ReferenceData {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reference-data.toml"),
    )
    .unwrap()
    // Claims billed above 1,000.00 wait for a reviewer.
    .replace(
        "review_threshold = \"50000.00 USD\"",
        "review_threshold = \"1000.00 USD\"",
    );
    ReferenceData::from_toml(&text).unwrap()
}

fn claim(claim_ref: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "claim_ref": claim_ref,
        "member": "M-1001",
        "provider": "clinic-a",
        "received_on": "2026-03-03",
        "lines": [{ "procedure": "29881", "date_of_service": "2026-03-02", "billed": "1200.00 USD" }],
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviewers_approve_and_deny_pended_claims_over_nats_and_hear_every_answer() {
    let server = NatsServer::start().await;
    let (client, jetstream) = server.connect().await;
    let clock = Arc::new(FixedClock::on(NaiveDate::from_ymd_opt(2026, 3, 6).unwrap()));
    let engine = Engine::start_embedded(EmbeddedConfig {
        bus: BusChoice::nats(server.url.clone(), insurer::STREAM),
        ..EmbeddedConfig::new(Database::InMemory, clock)
    })
    .await
    .unwrap();
    engine.load_reference_data(&reference()).await.unwrap();
    let acme = InsurerId::new("acme-health").unwrap();
    let mut pended = Vec::new();
    for claim_ref in ["REVIEW-1", "REVIEW-2"] {
        let reply = engine.submit(&acme, claim(claim_ref)).await.unwrap();
        assert_eq!(reply.status, ReplyStatus::Accepted, "{reply:?}");
        let id = reply.claim_id.unwrap();
        engine
            .wait_for_claim(id, "pended", Duration::from_secs(20), |state| {
                state.status == Some(ClaimStatus::Pended)
            })
            .await
            .unwrap();
        pended.push(id);
    }

    let mut acks = client
        .subscribe("claims.review-ack.acme-health")
        .await
        .unwrap();
    let mut dead = client.subscribe("deadletter.reviews").await.unwrap();
    // Answers go only to the sender's own inboxes (`_INBOX.<insurer>.…`).
    let inbox = format!("_INBOX.acme-health.{}", uuid::Uuid::new_v4().simple());
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client.flush().await.unwrap();

    let commands: [(&str, serde_json::Value); 6] = [
        (
            "approve-1",
            serde_json::json!({ "claim_ref": "REVIEW-1", "reviewer": "Dr Rao", "verdict": "approve" }),
        ),
        // The same command under another message id: recorded once.
        (
            "approve-1-again",
            serde_json::json!({ "claim_ref": "REVIEW-1", "reviewer": "Dr Rao", "verdict": "approve" }),
        ),
        (
            "deny-without-reason",
            serde_json::json!({ "claim_ref": "REVIEW-2", "reviewer": "Dr Rao", "verdict": "deny" }),
        ),
        (
            "deny-2",
            serde_json::json!({ "claim_ref": "REVIEW-2", "reviewer": "Dr Rao", "verdict": "deny", "reason": "no medical necessity documented" }),
        ),
        // REVIEW-1 is approved now, not pended: nothing to review.
        (
            "deny-1-late",
            serde_json::json!({ "claim_ref": "REVIEW-1", "reviewer": "Dr Lee", "verdict": "deny", "reason": "second thoughts" }),
        ),
        (
            "unknown-claim",
            serde_json::json!({ "claim_ref": "REVIEW-404", "reviewer": "Dr Rao", "verdict": "approve" }),
        ),
    ];
    for (id, body) in &commands {
        insurer::publish(
            &jetstream,
            "claims.review.acme-health",
            id,
            "application/json",
            Some(&inbox),
            serde_json::to_vec(body).unwrap(),
        )
        .await;
    }
    insurer::publish(
        &jetstream,
        "claims.review.acme-health",
        "garbage",
        "application/json",
        Some(&inbox),
        b"{\"claim_ref\": 7}".to_vec(),
    )
    .await;

    let mut answers: Vec<ReviewReply> = Vec::new();
    for _ in 0..commands.len() + 1 {
        let reply = next(&mut replies, "review answer on the inbox").await;
        answers.push(serde_json::from_slice(&reply.payload).unwrap());
        let ack = next(&mut acks, "review answer on claims.review-ack").await;
        assert_eq!(
            ack.payload, reply.payload,
            "both subjects hear the same answer"
        );
    }

    let approved = &answers[0];
    assert_eq!(approved.status, ReplyStatus::Accepted, "{answers:?}");
    assert_eq!(approved.claim_id, Some(pended[0]));
    assert_eq!(approved.decision.as_deref(), Some("approved"));
    // Allowed 1,000.00, deductible 250.00, 20% of 750.00: the plan pays 600.00.
    assert_eq!(
        approved.payer_paid,
        Some("600.00 USD".parse::<Money>().unwrap())
    );
    assert!(!approved.duplicate);

    let again = &answers[1];
    assert_eq!(again.status, ReplyStatus::Accepted, "{answers:?}");
    assert!(
        again.duplicate,
        "the same review again is recorded once: {again:?}"
    );

    assert_eq!(answers[2].status, ReplyStatus::Rejected);
    assert_eq!(
        answers[2].reasons,
        vec!["a denial needs a reason".to_owned()]
    );

    assert_eq!(answers[3].status, ReplyStatus::Accepted, "{answers:?}");
    assert_eq!(answers[3].decision.as_deref(), Some("denied"));
    assert_eq!(
        answers[3].payer_paid,
        Some("0.00 USD".parse::<Money>().unwrap())
    );

    assert_eq!(answers[4].status, ReplyStatus::Rejected);
    assert!(
        answers[4].reasons[0].contains("approved"),
        "{:?}",
        answers[4]
    );

    assert_eq!(answers[5].status, ReplyStatus::Rejected);
    assert!(
        answers[5].reasons[0].contains("no such claim"),
        "{:?}",
        answers[5]
    );

    assert_eq!(answers[6].status, ReplyStatus::Rejected);
    assert!(
        answers[6].reasons[0].contains("claim_ref"),
        "{:?}",
        answers[6]
    );
    let dead_letter = next(&mut dead, "dead letter of the unreadable review").await;
    assert!(
        String::from_utf8_lossy(&dead_letter.payload).contains("claim_ref"),
        "the dead letter keeps the message"
    );

    let first = engine.claim(pended[0]).await.unwrap();
    assert_eq!(first.status, Some(ClaimStatus::Approved));
    assert_eq!(first.review.unwrap().reviewer, "Dr Rao");
    let second = engine.claim(pended[1]).await.unwrap();
    assert_eq!(second.status, Some(ClaimStatus::Denied));
    let reviewed = engine
        .store()
        .read_stream(&claims_adapters::aggregate::streams::claim(pended[0]), 1)
        .await
        .unwrap()
        .iter()
        .filter(|event| event.event_type == "ClaimReviewed")
        .count();
    assert_eq!(reviewed, 1, "one review stored for two identical commands");

    engine.shutdown().await;
}
