//! The demo, run as a test: the whole engine on the embedded defaults, from the example
//! submissions to payouts on the embedded chain.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use claims::demo::{DemoOptions, run};
use claims::intake::ReplyStatus;
use claims_domain::claim::ClaimStatus;
use std::path::PathBuf;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_pays_approved_claims_and_rejects_bad_ones_with_their_reason() {
    let report = run(&DemoOptions {
        examples: examples(),
        database: None,
    })
    .await
    .expect("the demo runs");

    let by_file = |name: &str| {
        report
            .claims
            .iter()
            .find(|claim| claim.file == name)
            .unwrap_or_else(|| panic!("{name} was not submitted"))
    };
    let status = |name: &str| by_file(name).state.as_ref().and_then(|state| state.status);

    assert_eq!(status("01-knee-arthroscopy.json"), Some(ClaimStatus::Paid));
    assert_eq!(status("02-office-visit.json"), Some(ClaimStatus::Paid));
    assert_eq!(status("03-lapsed-coverage.json"), Some(ClaimStatus::Denied));
    assert_eq!(status("04-emergency-visit.json"), Some(ClaimStatus::Paid));
    assert_eq!(status("07-physiotherapy.json"), Some(ClaimStatus::Paid));
    assert_eq!(status("08-secondary-payer.json"), Some(ClaimStatus::Paid));
    assert_eq!(report.paid(), 5);

    let malformed = &by_file("05-malformed-amount.json").reply;
    assert_eq!(malformed.status, ReplyStatus::Rejected);
    assert_eq!(malformed.reasons[0].code, "malformed");
    assert!(
        malformed.reasons[0].message.contains("billed"),
        "the reason names the bad field: {}",
        malformed.reasons[0].message
    );
    assert_eq!(malformed.claim_ref.as_deref(), Some("ACME-2026-0005"));

    let unknown = &by_file("06-unknown-member.json").reply;
    assert_eq!(unknown.status, ReplyStatus::Rejected);
    assert_eq!(unknown.reasons_text(), "member M-9999 is not enrolled");

    // Hospital B: 600.00 (knee, example A) + 1280.00 (emergency: copay 150, deductible 250,
    // coinsurance 320 of allowed 2000). Clinic A: 76.00 (office visit after the deductible
    // was met: copay 25, coinsurance 19 of allowed 120). Physio C: 128.00 (allowed 160,
    // coinsurance 32). And 300.00 more to Hospital B for the same knee surgery for a member
    // whose spouse's plan paid 700.00 of it first: as the primary payer this plan would
    // pay 600.00 and leave the member 400.00; the 700.00 settles all of what the member
    // would owe, so the plan pays the rest of the allowed 1,000.00 (OA-23 700.00).
    let balance = |provider: &str| {
        report
            .balances
            .iter()
            .find(|balance| balance.provider == provider)
            .map(|balance| balance.balance.to_string())
            .unwrap_or_default()
    };
    assert_eq!(balance("Hospital B"), "2180.00 USD");
    assert_eq!(balance("Clinic A"), "76.00 USD");
    assert_eq!(balance("Physio C"), "128.00 USD");

    let rendered = claims::demo::render(&report);
    assert!(rendered.contains("5 paid on chain"), "{rendered}");
    assert!(rendered.contains("OA-23 700.00 USD"), "{rendered}");
    assert!(rendered.contains("PR-27 180.00 USD"), "{rendered}");
    assert!(
        rendered
            .contains("- 06-unknown-member.json: unknown-member: member M-9999 is not enrolled"),
        "{rendered}"
    );

    // The plans' parameters came from the example rule set, and every decision says so.
    assert!(
        rendered.contains("Rules in force: acme-2026 version 1"),
        "{rendered}"
    );
    let decisions: Vec<String> = report
        .claims
        .iter()
        .filter_map(|claim| claim.state.as_ref()?.adjudication.as_ref())
        .map(|adjudication| {
            adjudication
                .rule_set
                .as_ref()
                .map_or_else(|| "none".to_owned(), ToString::to_string)
        })
        .collect();
    assert_eq!(decisions, vec!["acme-2026 version 1"; 6]);
}
