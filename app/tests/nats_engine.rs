//! The engine on NATS JetStream, driven from outside exactly as an insurer would: a plain
//! NATS client publishes native and FHIR claims to `claims.submit.acme-health` through
//! JetStream and listens on `claims.ack.acme-health`, its own inbox and
//! `claims.outcome.acme-health`.
//!
//! Runs its own nats-server (the `nats-server` binary; `scripts/test.sh` installs it), so a
//! run starts clean and shares nothing with other runs. The test fails, never skips,
//! without it.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use async_nats::jetstream;
use chrono::NaiveDate;
use claims::clock::FixedClock;
use claims::engine::{BusChoice, Database, EmbeddedConfig, Engine};
use claims::intake::{IntakeReply, ReplyStatus};
use claims::reference_intake::ReferenceReply;
use std::collections::BTreeMap;
use std::sync::Arc;

mod support;

use support::claim_response;
use support::insurer::{self, header, next};
use support::nats_server::NatsServer;

fn file(path: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

async fn submit(
    jetstream: &jetstream::Context,
    message_id: &str,
    content_type: &str,
    reply_to: Option<&str>,
    body: Vec<u8>,
) -> bool {
    insurer::publish(
        jetstream,
        "claims.submit.acme-health",
        message_id,
        content_type,
        reply_to,
        body,
    )
    .await
}

/// The engine on the test's own nats-server, every role in this process, deciding on
/// 2026-03-06.
async fn engine_on(server: &NatsServer) -> Engine {
    let clock = Arc::new(FixedClock::on(NaiveDate::from_ymd_opt(2026, 3, 6).unwrap()));
    Engine::start_embedded(EmbeddedConfig {
        bus: BusChoice::nats(server.url.clone(), insurer::STREAM),
        ..EmbeddedConfig::new(Database::InMemory, clock)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insurers_submit_native_and_fhir_claims_over_nats_and_hear_every_answer_and_outcome() {
    let server = NatsServer::start().await;
    let (client, jetstream) = server.connect().await;

    let engine = engine_on(&server).await;
    let mut acks = client.subscribe("claims.ack.acme-health").await.unwrap();
    let mut outcomes = client
        .subscribe("claims.outcome.acme-health")
        .await
        .unwrap();
    let mut dead = client.subscribe("deadletter.intake").await.unwrap();
    // Answers go only to the sender's own inboxes (`_INBOX.<insurer>.…`).
    let inbox = format!("_INBOX.acme-health.{}", uuid::Uuid::new_v4().simple());
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    let mut reference_acks = client
        .subscribe("claims.reference-ack.acme-health")
        .await
        .unwrap();
    client.flush().await.unwrap();

    // Reference data as a command: the example file's plans, members and providers, as
    // JSON. A member of another insurer is refused; the rest is stored as events.
    let reference = support::reference::example_json();
    let mut foreign = serde_json::to_value(&reference).unwrap();
    foreign["member"][0]["insurer"] = "other-health".into();
    for (id, body) in [
        ("reference-foreign", serde_json::to_vec(&foreign).unwrap()),
        ("reference-1", serde_json::to_vec(&reference).unwrap()),
        ("reference-garbage", b"{\"plan\": 7}".to_vec()),
    ] {
        insurer::publish(
            &jetstream,
            "claims.reference.acme-health",
            id,
            "application/json",
            None,
            body,
        )
        .await;
    }
    let mut reference_replies = Vec::new();
    for _ in 0..3 {
        let reply: ReferenceReply = serde_json::from_slice(
            &next(&mut reference_acks, "reference-data answer")
                .await
                .payload,
        )
        .unwrap();
        reference_replies.push(reply);
    }
    assert_eq!(reference_replies[0].status, ReplyStatus::Rejected);
    assert!(
        reference_replies[0].reasons[0].contains("other-health"),
        "{reference_replies:?}"
    );
    assert_eq!(
        reference_replies[1].status,
        ReplyStatus::Accepted,
        "{reference_replies:?}"
    );
    assert_eq!(
        reference_replies[1].stored,
        1 + 4 + 3,
        "one plan, four members, three providers"
    );
    assert_eq!(reference_replies[2].status, ReplyStatus::Rejected);
    assert!(
        reference_replies[2].reasons[0].contains("plan"),
        "{reference_replies:?}"
    );

    let native = file("../examples/claims/01-knee-arthroscopy.json");
    // Another member than the knee surgery's, so neither decision depends on the other's
    // deductible.
    let fhir = String::from_utf8(file("tests/fixtures/fhir/claim/good/office-visit.json"))
        .unwrap()
        .replace("Patient/M-1001", "Patient/M-1003")
        .into_bytes();
    let bad_fhir = file("tests/fixtures/fhir/claim/bad/unsupported-elements.json");
    assert!(
        !submit(
            &jetstream,
            "ACME-2026-0001",
            "application/json",
            Some(&inbox),
            native.clone()
        )
        .await
    );
    assert!(
        !submit(
            &jetstream,
            "ACME-2026-0042",
            "application/fhir+json",
            Some(&inbox),
            fhir
        )
        .await
    );
    assert!(
        !submit(
            &jetstream,
            "garbage-1",
            "application/json",
            None,
            b"\x00{not json".to_vec()
        )
        .await
    );
    assert!(
        !submit(
            &jetstream,
            "ACME-2026-0051",
            "application/fhir+json",
            None,
            bad_fhir
        )
        .await
    );

    // Every message is answered on claims.ack, whatever it was.
    let mut answers = BTreeMap::new();
    for index in 0..4 {
        let ack = next(&mut acks, "answer on claims.ack").await;
        let reply: IntakeReply = serde_json::from_slice(&ack.payload).unwrap();
        answers.insert(
            reply
                .claim_ref
                .clone()
                .unwrap_or_else(|| format!("unnamed-{index}")),
            reply,
        );
    }
    let native_reply = &answers["ACME-2026-0001"];
    let fhir_reply = &answers["ACME-2026-0042"];
    assert_eq!(
        native_reply.status,
        ReplyStatus::Accepted,
        "{native_reply:?}"
    );
    assert_eq!(fhir_reply.status, ReplyStatus::Accepted, "{fhir_reply:?}");
    let refused = &answers["ACME-2026-0051"];
    assert_eq!(refused.status, ReplyStatus::Rejected);
    assert!(
        refused
            .reasons
            .iter()
            .any(|reason| reason.path.as_deref() == Some("accident")),
        "{refused:?}"
    );
    let garbage = answers
        .iter()
        .find(|(name, _)| name.starts_with("unnamed"))
        .map(|(_, reply)| reply)
        .unwrap();
    assert_eq!(garbage.reasons[0].code, "malformed");

    // Those with a reply subject also hear it there.
    let mut direct = Vec::new();
    for _ in 0..2 {
        let reply: IntakeReply =
            serde_json::from_slice(&next(&mut replies, "direct reply").await.payload).unwrap();
        direct.push(reply.claim_ref.unwrap());
    }
    direct.sort();
    assert_eq!(direct, ["ACME-2026-0001", "ACME-2026-0042"]);

    // What cannot be read at all is dead-lettered with the reason.
    let letter = next(&mut dead, "dead letter").await;
    assert!(header(&letter, "Claims-Dead-Letter-Reason").is_some());

    // Re-sent with the same message id: JetStream drops it. With another id: the store
    // knows the claim, so it is the same claim again, not a second one.
    assert!(
        submit(
            &jetstream,
            "ACME-2026-0001",
            "application/json",
            None,
            native.clone()
        )
        .await
    );
    assert!(
        !submit(
            &jetstream,
            "ACME-2026-0001-again",
            "application/json",
            None,
            native
        )
        .await
    );
    let again: IntakeReply =
        serde_json::from_slice(&next(&mut acks, "answer to the re-sent claim").await.payload)
            .unwrap();
    assert!(again.duplicate, "{again:?}");
    assert_eq!(again.claim_id, native_reply.claim_id);

    // Decisions as FHIR ClaimResponses, then the payment of the approved knee surgery.
    let mut decided = BTreeMap::new();
    let mut paid = None;
    let mut knee_totals = Vec::new();
    while decided.len() < 2 || paid.is_none() {
        let message = next(&mut outcomes, "outcome").await;
        match header(&message, "Claims-Notice") {
            Some("decided") => {
                assert_eq!(
                    header(&message, "Content-Type"),
                    Some("application/fhir+json")
                );
                let response: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
                assert_eq!(response["resourceType"], "ClaimResponse");
                let claim_ref = response["request"]["identifier"]["value"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                if claim_ref == "ACME-2026-0001" {
                    knee_totals = claim_response::totals(&message.payload);
                }
                decided.insert(claim_ref, response);
            }
            Some("paid") => {
                let notice: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
                assert_eq!(notice["kind"], "paid");
                assert!(
                    notice["payout"]["transaction"]
                        .as_str()
                        .unwrap()
                        .starts_with("0x")
                );
                if notice["claim_ref"] == "ACME-2026-0001" {
                    paid = Some(notice);
                }
            }
            other => panic!("unexpected notice {other:?}"),
        }
    }
    let knee = &decided["ACME-2026-0001"];
    assert_eq!(knee["disposition"], "approved");
    assert_eq!(
        claim_response::amount(&knee_totals, "submitted"),
        Some("1200.00")
    );
    assert_eq!(
        claim_response::amount(&knee_totals, "benefit"),
        Some("600.00")
    );
    assert_eq!(
        paid.unwrap()["claim_id"],
        native_reply.claim_id.unwrap().to_string()
    );
    assert!(decided.contains_key("ACME-2026-0042"));

    // The paid knee surgery voided: the answer names it, and its ClaimResponse follows as
    // cancelled, with the decision it had.
    let mut void: serde_json::Value =
        serde_json::from_slice(&file("../examples/claims/01-knee-arthroscopy.json")).unwrap();
    void["claim_ref"] = "ACME-2026-0001-VOID".into();
    void["corrects"] = serde_json::json!({ "claim_ref": "ACME-2026-0001", "kind": "void" });
    assert!(
        !submit(
            &jetstream,
            "ACME-2026-0001-VOID",
            "application/json",
            None,
            serde_json::to_vec(&void).unwrap()
        )
        .await
    );
    let voided: IntakeReply =
        serde_json::from_slice(&next(&mut acks, "answer to the void").await.payload).unwrap();
    assert_eq!(voided.voided, native_reply.claim_id, "{voided:?}");
    // The office visit's payment may still be on its way; nothing else is.
    let cancelled = loop {
        let message = next(&mut outcomes, "the voided claim's notice").await;
        match header(&message, "Claims-Notice") {
            Some("cancelled") => break message,
            Some("paid") => {}
            other => panic!("unexpected notice {other:?}"),
        }
    };
    assert_eq!(
        header(&cancelled, "Claims-Claim-Id"),
        Some(native_reply.claim_id.unwrap().to_string().as_str())
    );
    assert_eq!(
        header(&cancelled, "Content-Type"),
        Some("application/fhir+json")
    );
    let response: serde_json::Value = serde_json::from_slice(&cancelled.payload).unwrap();
    assert_eq!(response["status"], "cancelled");
    assert_eq!(response["request"]["identifier"]["value"], "ACME-2026-0001");
    let disposition = response["disposition"].as_str().unwrap();
    assert!(
        disposition.starts_with("voided by claim ") && disposition.ends_with("it was approved"),
        "{disposition}"
    );
    assert_eq!(
        claim_response::amount(&claim_response::totals(&cancelled.payload), "benefit"),
        Some("600.00")
    );

    engine.shutdown().await;
    jetstream.delete_stream(insurer::STREAM).await.unwrap();
}

/// The analysts' rule set, sent over real NATS as the insurer's integration would: its
/// files as one JSON message on `claims.reference.acme-health`. A file with a bad value is
/// refused with its file, line and column and stores nothing; the good set is stored, and
/// the same set again stores nothing new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_set_sent_over_nats_is_stored_once_and_a_bad_one_is_answered_with_its_line() {
    let server = NatsServer::start().await;
    let (client, jetstream) = server.connect().await;
    let engine = engine_on(&server).await;
    let mut reference_acks = client
        .subscribe("claims.reference-ack.acme-health")
        .await
        .unwrap();
    client.flush().await.unwrap();

    let good = support::reference::rule_set_files(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules/acme-2026"),
    );
    let mut bad = good.clone();
    let schedule = bad.get_mut("fee-schedules/gold-ppo.csv").unwrap();
    *schedule = schedule.replace("29877,surgery,400.00", "29877,surgery,four hundred");

    for (id, files) in [
        ("rules-bad", &bad),
        ("rules-good", &good),
        ("rules-good-again", &good),
    ] {
        insurer::publish(
            &jetstream,
            "claims.reference.acme-health",
            id,
            claims::reference_intake::RULE_SET_CONTENT_TYPE,
            None,
            serde_json::to_vec(&serde_json::json!({ "files": files })).unwrap(),
        )
        .await;
    }
    let mut answers = Vec::new();
    for _ in 0..3 {
        let ack = next(&mut reference_acks, "rule-set answer").await;
        answers.push(serde_json::from_slice::<ReferenceReply>(&ack.payload).unwrap());
    }
    assert_eq!(answers[0].status, ReplyStatus::Rejected, "{answers:?}");
    assert!(
        answers[0].reasons[0]
            .starts_with("fee-schedules/gold-ppo.csv, line 5, column allowed_per_unit"),
        "{answers:?}"
    );
    assert_eq!(answers[1].status, ReplyStatus::Accepted, "{answers:?}");
    assert_eq!(
        (answers[1].stored, answers[1].unchanged),
        (2, 0),
        "the version and one plan revision: {answers:?}"
    );
    assert_eq!(answers[2].status, ReplyStatus::Accepted, "{answers:?}");
    assert_eq!(answers[2].stored, 0, "the same set again: {answers:?}");

    let plan = claims_adapters::aggregate::load::<claims_domain::plan::PlanDecider>(
        engine.store().as_ref(),
        claims_adapters::aggregate::streams::plan(&"gold-ppo".parse().unwrap()),
    )
    .await
    .unwrap()
    .state;
    assert_eq!(
        plan.rule_set.map(|version| version.to_string()),
        Some("acme-2026 version 1".to_owned())
    );

    engine.shutdown().await;
    jetstream.delete_stream(insurer::STREAM).await.unwrap();
}

/// An operator who deletes the engine's queues' consumers on the server while it runs (a
/// `nats consumer rm` aimed elsewhere) does not stop it: each is declared again, and a
/// claim submitted afterwards is answered and decided as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_still_decided_after_the_queues_consumers_are_deleted_on_the_server() {
    let server = NatsServer::start().await;
    let (client, jetstream) = server.connect().await;
    let engine = engine_on(&server).await;
    let mut acks = client.subscribe("claims.ack.acme-health").await.unwrap();
    let mut outcomes = client
        .subscribe("claims.outcome.acme-health")
        .await
        .unwrap();
    client.flush().await.unwrap();
    let loaded = support::reference::send(
        &engine,
        "acme-health",
        "application/json",
        &support::reference::example_json(),
    )
    .await;
    assert_eq!(loaded.status, ReplyStatus::Accepted, "{loaded:?}");

    let knee = file("../examples/claims/01-knee-arthroscopy.json");
    let office = String::from_utf8(file("tests/fixtures/fhir/claim/good/office-visit.json"))
        .unwrap()
        .replace("Patient/M-1001", "Patient/M-1003")
        .into_bytes();
    let mut decided = Vec::new();
    for (claim_ref, content_type, body) in [
        ("ACME-2026-0001", "application/json", knee),
        ("ACME-2026-0042", "application/fhir+json", office),
    ] {
        if !decided.is_empty() {
            let stream = jetstream.get_stream(insurer::STREAM).await.unwrap();
            for queue in ["intake", "adjudication", "outcomes-decided"] {
                stream.delete_consumer(queue).await.unwrap();
            }
        }
        assert!(!submit(&jetstream, claim_ref, content_type, None, body).await);
        // What was acknowledged in the second before the deletion may come again: the
        // first claim's answer (as a duplicate) and its notice.
        loop {
            let reply: IntakeReply =
                serde_json::from_slice(&next(&mut acks, "answer on claims.ack").await.payload)
                    .unwrap();
            if reply.claim_ref.as_deref() == Some(claim_ref) {
                assert_eq!(reply.status, ReplyStatus::Accepted, "{reply:?}");
                break;
            }
            assert!(
                reply.duplicate,
                "only a repeated answer comes first: {reply:?}"
            );
        }
        loop {
            let message = next(&mut outcomes, "outcome").await;
            if header(&message, "Claims-Notice") != Some("decided") {
                continue;
            }
            let response: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
            let heard = response["request"]["identifier"]["value"].clone();
            if heard == claim_ref {
                decided.push(heard);
                break;
            }
            assert!(
                decided.contains(&heard),
                "only a repeated notice comes first: {heard}"
            );
        }
    }
    assert_eq!(decided, ["ACME-2026-0001", "ACME-2026-0042"]);
    // Operators see it: three queues found deleted and declared again.
    assert!(
        engine
            .metrics()
            .render()
            .lines()
            .any(|line| line == "claims_bus_queues_redeclared_total 3"),
        "{}",
        engine.metrics().render()
    );

    engine.shutdown().await;
    jetstream.delete_stream(insurer::STREAM).await.unwrap();
}
