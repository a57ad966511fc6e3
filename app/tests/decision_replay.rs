//! A decision replayed from the log decides exactly as the original did, also when the
//! decision first gave benefits back in its own append: an appeal of a denial that used
//! the deductible and a visit, and a replacement cancelling an original that used them.
//!
//! The plan is the reference data's Gold PPO: an office visit billed 180.00 is allowed
//! 120.00, the member pays the 25.00 copay and 95.00 of the 250.00 deductible, and the plan
//! pays nothing: a denial that used benefits. Two of them leave 60.00 of the deductible, so
//! a replay that still counted the second one would apply 60.00, not 95.00, and pay.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use chrono::NaiveDate;
use claims::clock::FixedClock;
use claims::engine::{Database, EmbeddedConfig, Engine};
use claims::reference::ReferenceData;
use claims::settler::SettlerConfig;
use claims_domain::adjudication::{Adjudication, Decision};
use claims_domain::claim::{Appeal, ClaimStatus};
use claims_domain::{ClaimId, InsurerId};
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
