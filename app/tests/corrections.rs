//! Corrections on the engine with PostgreSQL: a paid claim voided, an unpaid one replaced,
//! a paid one replaced; what the providers owe back withheld from their next payouts on the
//! embedded chain; the remittance read model explaining every withholding, identical when
//! rebuilt from zero; and reconciliation with the chain's logs still clean.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

#[path = "../../adapters/tests/pg_support/mod.rs"]
#[allow(
    dead_code,
    reason = "the engine opens its own store in the test's schema"
)]
mod pg_support;

use chrono::{NaiveDate, TimeZone, Utc};
use claims::clock::FixedClock;
use claims::engine::{Database, EmbeddedConfig, Engine};
use claims::intake::{IntakeReply, ReplyStatus};
use claims::reference::ReferenceData;
use claims::settler::SettlerConfig;
use claims_adapters::aggregate::{load, streams};
use claims_adapters::read_models::Projector;
use claims_domain::claim::ClaimStatus;
use claims_domain::provider_ledger::ProviderLedgerDecider;
use claims_domain::{ClaimId, InsurerId, Money, ProviderId};
use pg_support::TestSchema;
use std::sync::Arc;
use std::time::Duration;

fn money(text: &str) -> Money {
    text.parse().unwrap()
}

fn reference() -> ReferenceData {
    ReferenceData::from_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reference-data.toml"),
    )
    .unwrap()
}

/// A knee arthroscopy (allowed up to 1,000.00) for `member` at Clinic A.
fn claim(claim_ref: &str, member: &str, billed: &str, corrects: Option<(&str, &str)>) -> Vec<u8> {
    let mut body = serde_json::json!({
        "claim_ref": claim_ref,
        "member": member,
        "provider": "clinic-a",
        "received_on": "2026-03-03",
        "lines": [{ "procedure": "29881", "date_of_service": "2026-03-02", "billed": billed }],
    });
    if let Some((original, kind)) = corrects {
        body["corrects"] = serde_json::json!({ "claim_ref": original, "kind": kind });
    }
    serde_json::to_vec(&body).unwrap()
}

async fn submitted(engine: &Engine, body: Vec<u8>) -> IntakeReply {
    let acme = InsurerId::new("acme-health").unwrap();
    let reply = engine.submit(&acme, body).await.unwrap();
    assert_eq!(reply.status, ReplyStatus::Accepted, "{reply:?}");
    if reply.voided.is_none() {
        engine
            .wait_for_claim(
                reply.claim_id.unwrap(),
                "decided",
                Duration::from_secs(20),
                |state| !matches!(state.status, None | Some(ClaimStatus::Submitted)),
            )
            .await
            .unwrap();
    }
    reply
}

async fn settle(engine: &Engine, claims: &[ClaimId]) {
    let now = Utc.with_ymd_and_hms(2026, 3, 6, 12, 0, 0).unwrap();
    engine.settle_now(claims, now).await.unwrap().unwrap();
}

async fn owed_back(engine: &Engine) -> Option<Money> {
    load::<ProviderLedgerDecider>(
        engine.store().as_ref(),
        streams::provider_ledger(&ProviderId::new("clinic-a").unwrap()),
    )
    .await
    .unwrap()
    .state
    .owed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_claims_voided_or_replaced_are_recouped_from_the_next_payouts_and_reconcile() {
    let schema = TestSchema::new().await;
    let clock = Arc::new(FixedClock::on(NaiveDate::from_ymd_opt(2026, 3, 6).unwrap()));
    let mut config = EmbeddedConfig::new(
        Database::Postgres {
            url: schema.url.clone(),
            schema: Some(schema.name.clone()),
        },
        clock,
    );
    config.settler = SettlerConfig {
        max_batch: usize::MAX,
        max_wait: None,
    };
    let engine = Engine::start_embedded(config).await.unwrap();
    engine.load_reference_data(&reference()).await.unwrap();
    let wallet = reference()
        .providers
        .iter()
        .find(|provider| provider.id.as_str() == "clinic-a")
        .unwrap()
        .wallet;

    // CORR-1 pays 600.00 (allowed 1,000.00, deductible 250.00, 20% of 750.00); then voided.
    let first = submitted(&engine, claim("CORR-1", "M-1001", "1200.00 USD", None))
        .await
        .claim_id
        .unwrap();
    settle(&engine, &[first]).await;
    assert_eq!(engine.balance(wallet).await.unwrap(), money("600.00 USD"));
    let void = submitted(
        &engine,
        claim(
            "CORR-1-VOID",
            "M-1001",
            "1200.00 USD",
            Some(("CORR-1", "void")),
        ),
    )
    .await;
    assert_eq!(void.voided, Some(first));
    assert_eq!(owed_back(&engine).await, Some(money("600.00 USD")));
    // The same void again is answered as a duplicate and changes nothing.
    let again = submitted(
        &engine,
        claim(
            "CORR-1-VOID",
            "M-1001",
            "1200.00 USD",
            Some(("CORR-1", "void")),
        ),
    )
    .await;
    assert!(again.duplicate);

    // CORR-2 (member M-1003) pays 600.00, of which 599.99 is withheld: 0.01 is transferred.
    let second = submitted(&engine, claim("CORR-2", "M-1003", "1200.00 USD", None))
        .await
        .claim_id
        .unwrap();
    settle(&engine, &[second]).await;
    assert_eq!(engine.balance(wallet).await.unwrap(), money("600.01 USD"));
    assert_eq!(owed_back(&engine).await, Some(money("0.01 USD")));

    // CORR-2 is replaced after it was paid: its 600.00 is owed back too, and the
    // replacement (billed 1,000.00, decided on M-1003's year without CORR-2: 600.00) pays
    // 0.01 after withholding 599.99 of the 600.01 owed.
    let replacement = submitted(
        &engine,
        claim(
            "CORR-2-R",
            "M-1003",
            "1000.00 USD",
            Some(("CORR-2", "replacement")),
        ),
    )
    .await
    .claim_id
    .unwrap();
    let replaced = engine.claim(second).await.unwrap();
    assert_eq!(replaced.status, Some(ClaimStatus::Replaced));
    let decided = engine.claim(replacement).await.unwrap();
    assert_eq!(
        decided.adjudication.as_ref().unwrap().payer_paid,
        money("600.00 USD"),
        "decided on the deductible as it was before CORR-2"
    );
    settle(&engine, &[replacement]).await;
    assert_eq!(engine.balance(wallet).await.unwrap(), money("600.02 USD"));
    assert_eq!(owed_back(&engine).await, Some(money("0.02 USD")));

    let report = claims_settlement::reconcile::reconcile(
        engine.store().as_ref(),
        engine.settlement_chain().as_ref(),
    )
    .await
    .unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(
        report.claims_paid, 3,
        "CORR-1 and CORR-2 were paid before they were corrected"
    );

    // The read models, live and rebuilt from zero.
    let projector = Projector::new(engine.store().clone(), engine.read_models().clone());
    projector.catch_up().await.unwrap();
    let live = engine.read_models().snapshot().await.unwrap();
    let status = |claim: ClaimId| {
        live.claims
            .iter()
            .find(|view| view.claim == claim)
            .map(|view| view.status)
    };
    assert_eq!(status(first), Some(ClaimStatus::Voided));
    assert_eq!(status(second), Some(ClaimStatus::Replaced));
    assert_eq!(status(replacement), Some(ClaimStatus::Paid));
    let remitted: Vec<_> = live
        .remittances
        .iter()
        .flat_map(|remittance| &remittance.claims)
        .filter(|claim| !claim.withheld.is_empty())
        .map(|claim| {
            (
                claim.claim,
                claim.paid,
                claim
                    .withheld
                    .iter()
                    .map(|withholding| (withholding.recouped_claim, withholding.amount))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let mut expected_replacement = vec![(first, money("0.01 USD")), (second, money("599.98 USD"))];
    expected_replacement.sort_by_key(|(claim, _)| *claim);
    let mut found = remitted.clone();
    for entry in &mut found {
        entry.2.sort_by_key(|(claim, _)| *claim);
    }
    found.sort_by_key(|(claim, _, _)| *claim);
    let mut expected = vec![
        (
            second,
            money("0.01 USD"),
            vec![(first, money("599.99 USD"))],
        ),
        (replacement, money("0.01 USD"), expected_replacement),
    ];
    expected.sort_by_key(|(claim, _, _)| *claim);
    assert_eq!(found, expected);
    let year = live
        .accumulators
        .iter()
        .find(|view| view.member.as_str() == "M-1001" && view.year == 2026);
    assert!(
        year.is_none_or(|view| view.deductible_paid.is_zero() && view.claims == 0),
        "the voided claim's cost sharing is gone: {year:?}"
    );

    projector.rebuild(|_| {}).await.unwrap();
    assert_eq!(
        engine.read_models().snapshot().await.unwrap(),
        live,
        "rebuilt from zero"
    );
    engine.shutdown().await;
}
