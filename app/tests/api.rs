//! The HTTP read API against a running engine, with real HTTP requests: the example claims
//! go through intake, adjudication and payment on the embedded adapters, then each route is
//! asked what an operator, a provider's back office or a member's service desk would ask.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

mod support;

use claims::api::{OPENAPI, PATHS};
use std::collections::BTreeSet;
use support::api_engine::engine_with_api;
use support::http::{Response, get};

fn assert_error(response: &Response, status: u16, reason_mentions: &str) {
    assert_eq!(response.status, status, "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = response.json();
    assert!(
        body["reason"].as_str().unwrap().contains(reason_mentions),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_what_operators_providers_and_members_ask() {
    let (engine, address, knee, lapsed, stop) = engine_with_api().await;

    // A paid claim: its status with decimal-string money, its whole timeline, and the FHIR
    // ClaimResponse the insurer was sent.
    let claim = get(&address, &format!("/claims/{knee}")).await.json();
    assert_eq!(claim["status"]["status"], "paid");
    assert_eq!(claim["status"]["billed"], "1200.00 USD");
    assert_eq!(claim["status"]["payer_paid"], "600.00 USD");
    assert_eq!(claim["status"]["member_responsibility"], "400.00 USD");
    let timeline: Vec<_> = claim["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        timeline,
        [
            "ClaimSubmitted",
            "ClaimAdjudicated",
            "ClaimPayoutScheduled",
            "ClaimPayoutConfirmed"
        ]
    );
    assert_eq!(claim["claim_response"]["resourceType"], "ClaimResponse");
    assert_eq!(claim["claim_response"]["disposition"], "approved");
    let transaction = claim["status"]["transaction"].as_str().unwrap().to_owned();
    assert!(transaction.starts_with("0x"), "{claim}");

    let denied = get(&address, &format!("/claims/{lapsed}")).await.json();
    assert_eq!(denied["status"]["status"], "denied", "{denied}");
    assert_eq!(denied["claim_response"]["disposition"], "denied");

    // The insurer's claims, newest first.
    let of_insurer = get(&address, "/insurers/acme-health/claims").await.json();
    let refs: BTreeSet<_> = of_insurer
        .as_array()
        .unwrap()
        .iter()
        .map(|claim| claim["insurer_ref"].as_str().unwrap())
        .collect();
    assert_eq!(refs, BTreeSet::from(["ACME-2026-0001", "ACME-2026-0003"]));
    assert_eq!(
        get(&address, "/insurers/acme-health/claims?limit=1")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The hospital's remittance advice: the batch, its transaction, the claim and the
    // reason code of every cent not paid.
    let advices = get(&address, "/providers/hospital-b/remittances")
        .await
        .json();
    let advice = &advices.as_array().unwrap()[0];
    assert_eq!(advice["transaction"], transaction.as_str());
    assert_eq!(advice["paid"], serde_json::json!(["600.00 USD"]));
    let remitted = &advice["claims"][0];
    assert_eq!(remitted["insurer_ref"], "ACME-2026-0001");
    assert_eq!(remitted["paid"], "600.00 USD");
    let codes: BTreeSet<_> = remitted["adjustments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|adjustment| adjustment["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains("PR-1"), "the deductible: {remitted}");
    assert!(codes.contains("PR-2"), "the coinsurance: {remitted}");
    assert_eq!(
        get(&address, "/providers/clinic-a/remittances")
            .await
            .json(),
        serde_json::json!([])
    );

    // Payouts with transaction hashes and confirmations.
    let payouts = get(&address, "/payouts").await.json();
    let payout = &payouts.as_array().unwrap()[0];
    assert_eq!(payout["transaction"], transaction.as_str());
    assert!(payout["confirmations"].as_u64().unwrap() >= 1, "{payout}");
    assert_eq!(payout["claims"], 1);
    assert_eq!(
        get(&address, "/payouts?limit=1").await.json(),
        payouts,
        "a page of the one batch"
    );
    assert_eq!(
        get(&address, "/providers/hospital-b/remittances?limit=1")
            .await
            .json(),
        advices
    );

    // The member's accumulators after the knee surgery.
    let years = get(&address, "/members/M-1001/accumulators").await.json();
    assert_eq!(years[0]["year"], 2026);
    assert_eq!(years[0]["deductible_paid"], "250.00 USD", "{years}");
    assert_eq!(years[0]["out_of_pocket_paid"], "400.00 USD", "{years}");
    assert_eq!(years[0]["claims"], 1, "{years}");

    // Health and readiness.
    assert_eq!(get(&address, "/health").await.status, 200);
    let ready = get(&address, "/ready").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "ready");

    // Bad questions get a specific answer, and the server keeps answering.
    assert_error(
        &get(&address, "/claims/8c1e0f6a-2b1d-4a4e-9f1c-5a0d7c3b2e91").await,
        404,
        "no claim 8c1e0f6a-2b1d-4a4e-9f1c-5a0d7c3b2e91",
    );
    assert_error(
        &get(&address, "/claims/not-a-claim").await,
        400,
        "not-a-claim",
    );
    assert_error(
        &get(&address, "/insurers/acme%20health/claims").await,
        400,
        "insurer id",
    );
    assert_error(
        &get(&address, "/insurers/acme-health/claims?limit=0").await,
        400,
        "limit",
    );
    assert_error(
        &get(&address, "/payouts?limit=1001").await,
        400,
        "ask for 1 to 1000 batches",
    );
    assert_error(
        &get(&address, "/providers/hospital-b/remittances?limit=0").await,
        400,
        "ask for 1 to 1000 remittances",
    );
    assert_error(
        &get(&address, "/no/such/thing").await,
        404,
        "/no/such/thing",
    );
    assert_eq!(get(&address, "/health").await.status, 200);

    // The insurer voids the denied claim: its ClaimResponse says it is cancelled, and by
    // which claim, keeping the decision it had.
    let void = serde_json::json!({
        "claim_ref": "VOID-OF-LAPSED",
        "member": denied["status"]["member"],
        "provider": denied["status"]["provider"],
        "received_on": "2026-03-20",
        "lines": [],
        "corrects": { "claim_ref": denied["status"]["insurer_ref"], "kind": "void" },
    });
    let answer = engine
        .submit_as(
            &claims_domain::InsurerId::new("acme-health").unwrap(),
            serde_json::to_vec(&void).unwrap(),
            "application/json",
        )
        .await
        .unwrap();
    assert_eq!(
        answer.voided.map(|id| id.to_string()),
        Some(lapsed.to_string()),
        "{answer:?}"
    );
    let voided = get(&address, &format!("/claims/{lapsed}")).await.json();
    assert_eq!(voided["claim_response"]["status"], "cancelled", "{voided}");
    let disposition = voided["claim_response"]["disposition"].as_str().unwrap();
    assert!(
        disposition.starts_with("voided by claim ") && disposition.ends_with("; it was denied"),
        "{disposition}"
    );

    let _ = stop.send(());
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_names_exactly_the_routes_served() {
    let document: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
    let documented: BTreeSet<&str> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let served: BTreeSet<&str> = PATHS.iter().copied().collect();
    assert_eq!(documented, served);

    // And it is what the API serves at /openapi.json; every documented path answers (with a
    // sample value for its parameters), none with "no such resource".
    let (engine, address, knee, _, stop) = engine_with_api().await;
    let served_document = get(&address, "/openapi.json").await;
    assert_eq!(served_document.status, 200);
    assert_eq!(served_document.json(), document);
    for path in PATHS {
        let concrete = path
            .replace("{claim}", &knee.to_string())
            .replace("{insurer}", "acme-health")
            .replace("{provider}", "hospital-b")
            .replace("{member}", "M-1001");
        let response = get(&address, &concrete).await;
        assert_eq!(response.status, 200, "GET {concrete}: {response:?}");
    }
    let _ = stop.send(());
    engine.shutdown().await;
}
