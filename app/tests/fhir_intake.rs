//! FHIR R4 through the running engine (embedded adapters): a FHIR `Claim` is accepted,
//! idempotently, with its modifiers kept beside it; a bad one is refused with the element
//! at fault and dead-lettered; the decision goes out as a FHIR `ClaimResponse`.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use chrono::NaiveDate;
use claims::clock::FixedClock;
use claims::engine::{Database, EmbeddedConfig, Engine};
use claims::fhir::FHIR_CONTENT_TYPE;
use claims::intake::ReplyStatus;
use claims::reference::ReferenceData;
use claims_adapters::aggregate::streams;
use claims_adapters::bus::{SubjectPattern, dead_letter_headers};
use claims_domain::adjudication::Adjudication;
use claims_domain::reason::ReasonCode;
use claims_domain::rules::authorization::Authorization;
use claims_domain::{ClaimId, InsurerClaimRef, InsurerId};
use std::sync::Arc;

mod support;

use std::time::Duration;
use support::claim_response;

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fhir")
            .join(path),
    )
    .unwrap()
}

fn acme() -> InsurerId {
    InsurerId::new("acme-health").unwrap()
}

async fn engine() -> Engine {
    let clock = Arc::new(FixedClock::on(NaiveDate::from_ymd_opt(2026, 3, 6).unwrap()));
    let engine = Engine::start_embedded(EmbeddedConfig::new(Database::InMemory, clock))
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
    engine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fhir_claim_is_accepted_once_and_answered_with_a_claim_response() {
    let engine = engine().await;
    let mut outcomes = engine
        .bus()
        .subscribe(SubjectPattern::new("claims.outcome.acme-health").unwrap())
        .await
        .unwrap();
    let body = fixture("claim/good/office-visit.json");

    let first = engine
        .submit_as(&acme(), body.clone(), FHIR_CONTENT_TYPE)
        .await
        .unwrap();
    assert_eq!(first.status, ReplyStatus::Accepted, "{first:?}");
    let expected_id =
        ClaimId::for_submission(&acme(), &InsurerClaimRef::new("ACME-2026-0042").unwrap());
    assert_eq!(first.claim_id, Some(expected_id));
    assert!(!first.duplicate);

    let again = engine
        .submit_as(&acme(), body, "application/fhir+json; fhirVersion=4.0")
        .await
        .unwrap();
    assert_eq!(again.status, ReplyStatus::Accepted, "{again:?}");
    assert_eq!(again.claim_id, Some(expected_id));
    assert!(again.duplicate, "a re-sent FHIR claim is the same claim");

    // The lines' modifiers are part of the stored claim.
    let events = engine
        .store()
        .read_stream(&streams::claim(expected_id), 1)
        .await
        .unwrap();
    let submitted = events
        .iter()
        .find(|event| event.event_type == "ClaimSubmitted")
        .unwrap();
    let lines = &submitted.payload.to_value()["claim"]["lines"];
    assert_eq!(lines[0]["modifiers"], serde_json::json!(["25"]));
    assert_eq!(lines[1]["modifiers"], serde_json::json!(["26", "LT"]));

    let decided = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let message = outcomes.next().await.unwrap();
            if message.header("Claims-Notice") == Some("decided") {
                return message;
            }
        }
    })
    .await
    .expect("no ClaimResponse within 20 seconds");
    assert_eq!(decided.header("Content-Type"), Some(FHIR_CONTENT_TYPE));
    let response: serde_json::Value = serde_json::from_slice(&decided.payload).unwrap();
    assert_eq!(response["resourceType"], "ClaimResponse");
    assert_eq!(response["request"]["identifier"]["value"], "ACME-2026-0042");
    assert_eq!(response["id"], expected_id.to_string());
    assert_eq!(response["outcome"], "complete");
    assert_eq!(response["item"].as_array().unwrap().len(), 2);
    // 99213 is on the fee schedule (allowed 120.00); 71046 is not, so nothing is paid for
    // it, and the response says why.
    let lines = claim_response::line_entries(&decided.payload);
    assert_eq!(
        claim_response::amount(&lines[0], "submitted"),
        Some("180.00")
    );
    assert_eq!(
        claim_response::amount(&lines[0], "eligible"),
        Some("120.00")
    );
    assert_eq!(
        claim_response::amount(&lines[1], "submitted"),
        Some("84.25")
    );
    assert_eq!(claim_response::amount(&lines[1], "benefit"), Some("0.00"));
    assert!(
        lines[1].iter().any(|entry| entry.reason.is_some()),
        "the unpaid line says why: {response:#}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_fhir_claim_is_refused_with_the_element_at_fault_and_dead_lettered() {
    let engine = engine().await;
    let mut dead = engine
        .bus()
        .subscribe(SubjectPattern::new("deadletter.intake").unwrap())
        .await
        .unwrap();

    let reply = engine
        .submit_as(
            &acme(),
            fixture("claim/bad/wrong-values.json"),
            FHIR_CONTENT_TYPE,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, ReplyStatus::Rejected);
    assert_eq!(reply.claim_ref.as_deref(), Some("ACME-2026-0052"));
    let at = |path: &str| {
        reply
            .reasons
            .iter()
            .find(|reason| reason.path.as_deref() == Some(path))
            .unwrap_or_else(|| panic!("no reason at {path}: {reply:#?}"))
    };
    assert_eq!(at("status").code, "fhir-invalid");
    assert_eq!(at("item[0].net.value").code, "fhir-invalid");
    assert_eq!(at("item[1].sequence").code, "fhir-invalid");

    let letter = tokio::time::timeout(Duration::from_secs(5), dead.next())
        .await
        .unwrap()
        .unwrap();
    let reason = letter.header(dead_letter_headers::REASON).unwrap();
    assert!(reason.contains("item[0].net.value"), "{reason}");

    // Neither a FHIR claim nor JSON: still answered, and intake goes on.
    let reply = engine
        .submit_as(&acme(), b"<Claim/>".to_vec(), "application/fhir+xml")
        .await
        .unwrap();
    assert_eq!(reply.reasons[0].code, "unsupported-content-type");
    let good = engine
        .submit_as(
            &acme(),
            fixture("claim/good/identifiers-only.json"),
            FHIR_CONTENT_TYPE,
        )
        .await
        .unwrap();
    assert!(
        good.reasons
            .iter()
            .all(|reason| !reason.code.starts_with("fhir-")),
        "the FHIR is fine; the domain refuses it: {good:?}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fhir_replacement_and_a_fhir_void_correct_the_claim_they_name() {
    let engine = engine().await;
    let original_id =
        ClaimId::for_submission(&acme(), &InsurerClaimRef::new("ACME-2026-0042").unwrap());
    let original = engine
        .submit_as(
            &acme(),
            fixture("claim/good/office-visit.json"),
            FHIR_CONTENT_TYPE,
        )
        .await
        .unwrap();
    assert_eq!(original.claim_id, Some(original_id), "{original:?}");

    // related[0] names the original by its identifier; the replacement is a claim of its
    // own, accepted as such.
    let replacement = engine
        .submit_as(
            &acme(),
            fixture("claim/good/replacement.json"),
            FHIR_CONTENT_TYPE,
        )
        .await
        .unwrap();
    assert_eq!(replacement.status, ReplyStatus::Accepted, "{replacement:?}");
    assert_eq!(replacement.voided, None);
    let replacement_id = replacement.claim_id.unwrap();
    // Once decided, the replacement has cancelled the original.
    engine
        .wait_for_claim(
            replacement_id,
            "decided",
            Duration::from_secs(20),
            |state| state.adjudication.is_some(),
        )
        .await
        .unwrap();

    // A cancelled claim names the claim it voids (as Claim/<ref>): the original, already
    // replaced, cannot be voided again; the replacement, the claim now in force, can.
    let void_original = engine
        .submit_as(&acme(), fixture("claim/good/void.json"), FHIR_CONTENT_TYPE)
        .await
        .unwrap();
    assert_eq!(
        void_original.status,
        ReplyStatus::Rejected,
        "{void_original:?}"
    );
    assert_eq!(
        void_original.reasons[0].code, "already-corrected",
        "{void_original:?}"
    );
    let void_replacement = String::from_utf8(fixture("claim/good/void.json"))
        .unwrap()
        .replace("\"Claim/ACME-2026-0042\"", "\"Claim/ACME-2026-0042-R1\"")
        .replace("ACME-2026-0042-V1", "ACME-2026-0042-V2");
    let void = engine
        .submit_as(&acme(), void_replacement.into_bytes(), FHIR_CONTENT_TYPE)
        .await
        .unwrap();
    assert_eq!(void.status, ReplyStatus::Accepted, "{void:?}");
    assert_eq!(void.voided, Some(replacement_id), "{void:?}");
}

/// A FHIR claim quotes its prior authorisation once, on its focal insurance
/// (`insurance[0].preAuthRef`); the engine reads it on every line, so the line that needs
/// one is paid with a number on file and refused (CO-15) with a number that is not. The
/// care team rides along, checked and not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fhir_prior_authorisation_number_is_checked_on_the_line_that_needs_one() {
    let engine = engine().await;
    let rule_set = claims::rule_sets::read(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/rules/acme-2026"
    )))
    .unwrap();
    engine.load_rule_set(&rule_set).await.unwrap();
    let member = "M-1001".parse().unwrap();
    engine
        .grant_authorization(
            &member,
            Authorization {
                number: "PA-2026-0042".parse().unwrap(),
                procedure: "27447".parse().unwrap(),
                provider: "clinic-a".parse().unwrap(),
                from: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
                through: NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
            },
        )
        .await
        .unwrap();
    let authorised = fixture("claim/good/authorised-surgery.json");
    let misquoted = String::from_utf8(authorised.clone())
        .unwrap()
        .replace("PA-2026-0042", "PA-2026-0099")
        .replace("ACME-2026-0077", "ACME-2026-0078")
        // Another day, or duplicate detection would deny the same services first.
        .replace("2026-03-02", "2026-03-03")
        .into_bytes();

    let mut decided = Vec::new();
    for (body, claim_ref) in [
        (authorised, "ACME-2026-0077"),
        (misquoted, "ACME-2026-0078"),
    ] {
        let reply = engine
            .submit_as(&acme(), body, FHIR_CONTENT_TYPE)
            .await
            .unwrap();
        assert_eq!(reply.status, ReplyStatus::Accepted, "{reply:?}");
        let id = ClaimId::for_submission(&acme(), &InsurerClaimRef::new(claim_ref).unwrap());
        let state = engine
            .wait_for_claim(id, "decided", Duration::from_secs(20), |state| {
                state.adjudication.is_some()
            })
            .await
            .unwrap();
        decided.push(state.adjudication.unwrap());
    }

    let surgery = |adjudication: &Adjudication| adjudication.lines[0].clone();
    let paid = surgery(&decided[0]);
    assert!(paid.payer_paid.is_positive(), "{paid:?}");
    assert!(
        paid.adjustments
            .iter()
            .all(|adjustment| adjustment.reason != ReasonCode::AuthorizationInvalid),
        "{paid:?}"
    );
    let refused = surgery(&decided[1]);
    assert!(refused.payer_paid.is_zero(), "{refused:?}");
    assert!(
        refused
            .adjustments
            .iter()
            .any(|adjustment| adjustment.reason == ReasonCode::AuthorizationInvalid),
        "a number that is not on file is CO-15: {refused:?}"
    );
    // The office visit needs no authorisation: the number it carries changes nothing.
    for adjudication in &decided {
        let visit = &adjudication.lines[1];
        assert!(
            visit.adjustments.iter().all(|adjustment| !matches!(
                adjustment.reason,
                ReasonCode::AuthorizationInvalid | ReasonCode::AuthorizationAbsent
            )),
            "{visit:?}"
        );
    }
    engine.shutdown().await;
}

/// A claim to this payer as the secondary one, in FHIR: the primary payer's decision rides
/// in `contained`, named by the primary payer's `insurance` entry, and its `benefit` per
/// item is what coordination subtracts. The golden file's three items: the surgery the
/// primary payer paid 700.00, the visit it paid nothing for, and a physiotherapy visit its
/// decision does not list, which goes to the primary payer first (CO-22).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fhir_secondary_claim_is_paid_after_the_primary_payers_decision_it_contains() {
    let engine = engine().await;
    let spouse_covered = r#"
        [[member]]
        id = "M-2001"
        insurer = "acme-health"
        plan = "gold-ppo"
        coverage = [{ start = "2026-01-01" }]
        primary_payer = "spouse-health"
    "#;
    engine
        .load_reference_data(&ReferenceData::from_toml(spouse_covered).unwrap())
        .await
        .unwrap();

    let reply = engine
        .submit_as(
            &acme(),
            fixture("claim/good/secondary-payer.json"),
            FHIR_CONTENT_TYPE,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, ReplyStatus::Accepted, "{reply:?}");
    let id = ClaimId::for_submission(&acme(), &InsurerClaimRef::new("ACME-2026-0120").unwrap());
    let state = engine
        .wait_for_claim(id, "decided", Duration::from_secs(20), |state| {
            state.adjudication.is_some()
        })
        .await
        .unwrap();
    let decided = state.adjudication.as_ref().unwrap();

    let codes = |line: usize| -> Vec<(String, String)> {
        decided.lines[line]
            .adjustments
            .iter()
            .map(|adjustment| (adjustment.code(), adjustment.amount.to_string()))
            .collect()
    };
    let owed = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(code, amount)| (code.to_string(), amount.to_string()))
            .collect()
    };
    // Surgery: allowed 1,000.00; paying first the plan would leave the member 400.00 (the
    // 250.00 deductible, 20% of the rest). The primary payer's 700.00 settles all of it
    // (standard coordination, the gold plan's): the plan pays 1,000.00 − 700.00.
    assert_eq!(decided.lines[0].payer_paid.to_string(), "300.00 USD");
    assert_eq!(codes(0), owed(&[("OA-23", "700.00 USD")]));
    // Office visit: allowed 120.00 (60.00 written off), the 25.00 copay and 20% of the
    // other 95.00; the deductible counts as met by the surgery. The primary payer paid
    // nothing, so nothing is settled: the plan pays 120.00 − 44.00.
    assert_eq!(decided.lines[1].payer_paid.to_string(), "76.00 USD");
    // Not in the primary payer's decision: that payer first.
    assert!(
        decided.lines[2].payer_paid.is_zero(),
        "{:?}",
        decided.lines[2]
    );
    assert!(
        codes(2).iter().any(|(code, _)| code == "CO-22"),
        "{:?}",
        codes(2)
    );

    // The ClaimResponse repeats what the primary payer paid on the lines it decided.
    let claim = state.claim.as_ref().unwrap();
    let response = serde_json::to_vec(&claims::fhir::claim_response::claim_response(
        id, claim, decided,
    ))
    .unwrap();
    let lines = claim_response::line_entries(&response);
    let prior = |line: usize| claim_response::amount(&lines[line], "priorpayerpaid");
    assert_eq!(prior(0), Some("700.00"));
    assert_eq!(prior(1), Some("0.00"));
    assert_eq!(prior(2), None);
    engine.shutdown().await;
}
