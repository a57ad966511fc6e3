//! Bad input never stops intake, over the real NATS server: a burst of malformed,
//! oversized and hostile messages mixed with valid claims. Every message is answered on
//! `claims.ack.<insurer>`, every bad one is also dead-lettered with its reason, and every
//! valid claim is still decided.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use chrono::NaiveDate;
use claims::clock::FixedClock;
use claims::engine::{BusChoice, Database, EmbeddedConfig, Engine};
use claims::intake::{IntakeReply, ReplyStatus};
use claims::reference::ReferenceData;
use claims_domain::claim::ClaimState;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

mod support;

use support::insurer::{self, header, next};
use support::nats_server::NatsServer;

const VALID: usize = 20;

fn valid_claim(number: usize) -> Vec<u8> {
    let member = if number.is_multiple_of(2) {
        "M-1001"
    } else {
        "M-1003"
    };
    format!(
        r#"{{"claim_ref":"BURST-{number}","member":"{member}","provider":"clinic-a","received_on":"2026-03-05",
            "lines":[{{"procedure":"99213","diagnoses":["J06.9"],"date_of_service":"2026-03-02","units":1,"billed":"180.00 USD"}}]}}"#
    )
    .into_bytes()
}

/// Messages no intake should choke on, each with the content type it claims.
fn hostile() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let deep = |open: &str, close: &str| format!("{}{}", open.repeat(50_000), close.repeat(50_000));
    let fhir_claim = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fhir/claim/good/office-visit.json"
    ))
    .unwrap();
    vec![
        ("binary", "application/json", vec![0x00, 0xff, 0xfe, 0x7f]),
        ("empty", "application/json", vec![]),
        ("json array", "application/json", b"[1,2,3]".to_vec()),
        (
            "deeply nested array",
            "application/json",
            deep("[", "]").into_bytes(),
        ),
        (
            "deeply nested FHIR",
            "application/fhir+json",
            format!(
                r#"{{"resourceType":"Claim","text":{}}}"#,
                deep("{\"a\":", "}")
            )
            .into_bytes(),
        ),
        (
            "900 KB claim reference",
            "application/json",
            format!(
                r#"{{"claim_ref":"{}","member":"M-1001"}}"#,
                "x".repeat(900_000)
            )
            .into_bytes(),
        ),
        (
            "float amount",
            "application/json",
            String::from_utf8(valid_claim(999))
                .unwrap()
                .replace("\"180.00 USD\"", "180.0")
                .into_bytes(),
        ),
        (
            "unknown field",
            "application/json",
            br#"{"claim_ref":"X-1","surprise":true}"#.to_vec(),
        ),
        (
            "FHIR as native",
            "application/json",
            fhir_claim.clone().into_bytes(),
        ),
        ("native as FHIR", "application/fhir+json", valid_claim(998)),
        (
            "FHIR with a typo",
            "application/fhir+json",
            fhir_claim
                .replace("\"servicedDate\"", "\"serviceDate\"")
                .into_bytes(),
        ),
        (
            "FHIR with 3,000 empty items",
            "application/fhir+json",
            format!(
                r#"{{"resourceType":"Claim","item":[{}]}}"#,
                vec!["{}"; 3_000].join(",")
            )
            .into_bytes(),
        ),
        (
            "XML",
            "application/fhir+xml",
            b"<Claim xmlns=\"http://hl7.org/fhir\"/>".to_vec(),
        ),
        (
            "not UTF-8 FHIR",
            "application/fhir+json",
            vec![b'{', 0xc3, 0x28, b'}'],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_bad_messages_is_answered_and_dead_lettered_while_every_valid_claim_is_decided()
{
    let server = NatsServer::start().await;
    let (client, jetstream) = server.connect().await;
    let clock = Arc::new(FixedClock::on(NaiveDate::from_ymd_opt(2026, 3, 6).unwrap()));
    let engine = Engine::start_embedded(EmbeddedConfig {
        bus: BusChoice::nats(server.url.clone(), insurer::STREAM),
        ..EmbeddedConfig::new(Database::InMemory, clock)
    })
    .await
    .unwrap();
    let reference = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/reference-data.toml"
    ))
    .unwrap();
    engine
        .load_reference_data(&ReferenceData::from_toml(&reference).unwrap())
        .await
        .unwrap();
    let mut acks = client.subscribe("claims.ack.acme-health").await.unwrap();
    let mut dead = client.subscribe("deadletter.intake").await.unwrap();
    client.flush().await.unwrap();

    // A bad message before each valid one while they last, then the valid ones alone.
    let bad = hostile();
    let mut bad_left = bad.iter().enumerate();
    for number in 0..VALID {
        for (index, (_, content_type, body)) in bad_left.by_ref().take(1) {
            insurer::publish(
                &jetstream,
                "claims.submit.acme-health",
                &format!("bad-{index}"),
                content_type,
                None,
                body.clone(),
            )
            .await;
        }
        insurer::publish(
            &jetstream,
            "claims.submit.acme-health",
            &format!("BURST-{number}"),
            "application/json",
            None,
            valid_claim(number),
        )
        .await;
    }
    for (index, (_, content_type, body)) in bad_left {
        insurer::publish(
            &jetstream,
            "claims.submit.acme-health",
            &format!("bad-{index}"),
            content_type,
            None,
            body.clone(),
        )
        .await;
    }

    // Every message answered: the valid ones accepted, every bad one rejected.
    let mut accepted = BTreeSet::new();
    let mut rejected = 0;
    for _ in 0..VALID + bad.len() {
        let reply: IntakeReply =
            serde_json::from_slice(&next(&mut acks, "answer on claims.ack").await.payload).unwrap();
        match reply.status {
            ReplyStatus::Accepted => {
                accepted.insert(reply.claim_id.unwrap());
            }
            ReplyStatus::Rejected => {
                assert!(!reply.reasons.is_empty());
                rejected += 1;
            }
        }
    }
    assert_eq!(accepted.len(), VALID);
    assert_eq!(rejected, bad.len());

    // Every bad one also dead-lettered, with its reason.
    for _ in 0..bad.len() {
        let letter = next(&mut dead, "dead letter").await;
        assert!(
            header(&letter, "Claims-Dead-Letter-Reason").is_some_and(|reason| !reason.is_empty())
        );
    }

    // Every valid claim decided.
    for claim in &accepted {
        engine
            .wait_for_claim(
                *claim,
                "decided",
                Duration::from_secs(30),
                |state: &ClaimState| state.adjudication.is_some(),
            )
            .await
            .unwrap();
    }
    engine.shutdown().await;
    jetstream.delete_stream(insurer::STREAM).await.unwrap();
}
