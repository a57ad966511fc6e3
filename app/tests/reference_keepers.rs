//! Reference data over the bus is kept by the insurer that sent it: another insurer can
//! neither change it (a plan's benefits, a provider's payout wallet, a rule set) nor put
//! its members on it, and nothing of a refused message's entry is stored. The operator's
//! own entries (loaded from a file) are changed by the operator only. Prior authorisations
//! go on file for the sender's own enrolled members only.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

mod support;

use chrono::NaiveDate;
use claims::clock::FixedClock;
use claims::engine::{Database, EmbeddedConfig, Engine};
use claims::intake::ReplyStatus;
use claims::reference_intake::{RULE_SET_CONTENT_TYPE, ReferenceReply};
use claims_adapters::aggregate::{load, streams};
use claims_domain::ProviderId;
use claims_domain::provider::ProviderDecider;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support::reference::send;

const CLINIC_WALLET: &str = "0x52908400098527886e0f7030069857d2e4169ee7";
const OTHER_WALLET: &str = "0xde709f2102306220921060314715629080e2fb77";

async fn engine() -> Engine {
    let clock = Arc::new(FixedClock::on(
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
    ));
    Engine::start_embedded(EmbeddedConfig::new(Database::InMemory, clock))
        .await
        .unwrap()
}

async fn send_data(engine: &Engine, insurer: &str, body: Value) -> ReferenceReply {
    send(engine, insurer, "application/json", &body).await
}

fn plan(id: &str, deductible: &str) -> Value {
    json!({
        "id": id, "name": "Plan", "currency": "USD", "deductible": deductible,
        "coinsurance": "20%", "out_of_pocket_max": "3000.00 USD",
        "fee_schedule": {"99213": {"category": "office-visit", "allowed_per_unit": "120.00 USD"}}
    })
}

fn member(id: &str, insurer: &str, plan: &str) -> Value {
    json!({"id": id, "insurer": insurer, "plan": plan, "coverage": [{"start": "2026-01-01"}]})
}

fn provider(wallet: &str) -> Value {
    json!({"id": "clinic-a", "name": "Clinic A", "wallet": wallet})
}

fn assert_refused(reply: &ReferenceReply, expected: &str) {
    assert_eq!(reply.status, ReplyStatus::Rejected, "{reply:?}");
    assert!(
        reply.reasons.iter().any(|reason| reason.contains(expected)),
        "expected a reason containing {expected:?}: {reply:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insurer_changes_only_the_reference_data_it_sent() {
    let engine = engine().await;
    let sent = send_data(
        &engine,
        "acme-health",
        json!({
            "plan": [plan("acme-gold", "250.00 USD")],
            "member": [member("M-1", "acme-health", "acme-gold")],
            "provider": [provider(CLINIC_WALLET)],
        }),
    )
    .await;
    assert_eq!(sent.status, ReplyStatus::Accepted, "{sent:?}");
    assert_eq!(sent.stored, 3);

    // Another insurer may not redirect the clinic's payouts, change the plan, or enrol its
    // members on it.
    let wallet = send_data(
        &engine,
        "beta-care",
        json!({ "provider": [provider(OTHER_WALLET)] }),
    )
    .await;
    assert_refused(
        &wallet,
        "provider clinic-a was refused: it is kept by another insurer",
    );
    let stored = load::<ProviderDecider>(
        engine.store().as_ref(),
        streams::provider(&ProviderId::new("clinic-a").unwrap()),
    )
    .await
    .unwrap()
    .state
    .provider
    .unwrap();
    assert_eq!(
        stored.wallet.to_string().to_lowercase(),
        CLINIC_WALLET,
        "the wallet is unchanged"
    );
    let benefits = send_data(
        &engine,
        "beta-care",
        json!({ "plan": [plan("acme-gold", "0.00 USD")] }),
    )
    .await;
    assert_refused(
        &benefits,
        "plan acme-gold was refused: it is kept by another insurer",
    );
    let enrolment = send_data(
        &engine,
        "beta-care",
        json!({ "member": [member("B-1", "beta-care", "acme-gold")] }),
    )
    .await;
    assert_refused(&enrolment, "its plan is kept by another insurer");

    // Sending the clinic exactly as stored changes nothing and is not refused; the keeper
    // changes what it keeps; the other insurer keeps its own entries.
    let same = send_data(
        &engine,
        "beta-care",
        json!({ "provider": [provider(CLINIC_WALLET)] }),
    )
    .await;
    assert_eq!((same.status, same.unchanged), (ReplyStatus::Accepted, 1));
    let changed = send_data(
        &engine,
        "acme-health",
        json!({ "plan": [plan("acme-gold", "300.00 USD")] }),
    )
    .await;
    assert_eq!((changed.status, changed.stored), (ReplyStatus::Accepted, 1));
    let own = send_data(
        &engine,
        "beta-care",
        json!({
            "plan": [plan("beta-silver", "500.00 USD")],
            "member": [member("B-1", "beta-care", "beta-silver")],
        }),
    )
    .await;
    assert_eq!(
        (own.status, own.stored),
        (ReplyStatus::Accepted, 2),
        "{own:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_entries_and_another_insurers_rule_set_are_not_changed_over_the_bus() {
    let engine = engine().await;
    // The operator's file: gold-ppo, its members and providers.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    engine
        .load_reference_data(
            &claims::reference::ReferenceData::from_file(&examples.join("reference-data.toml"))
                .unwrap(),
        )
        .await
        .unwrap();
    let operators = send_data(
        &engine,
        "acme-health",
        json!({ "plan": [plan("gold-ppo", "0.00 USD")] }),
    )
    .await;
    assert_refused(&operators, "kept by the engine's operator");
    // Members of any insurer may be on the operator's plans.
    let shared = send_data(
        &engine,
        "beta-care",
        json!({ "member": [member("B-2", "beta-care", "gold-ppo")] }),
    )
    .await;
    assert_eq!(shared.status, ReplyStatus::Accepted, "{shared:?}");

    // A rule set is kept by the insurer that first sent it: beta-care's own plan here,
    // so that the rule set alone decides who keeps what.
    let rules = examples.join("rules/acme-2026");
    let mut files = BTreeMap::new();
    for file in support::reference::EXAMPLE_RULE_SET_FILES {
        let text = std::fs::read_to_string(rules.join(file)).unwrap();
        files.insert(
            file.replace("gold-ppo", "gold-2026"),
            text.replace("gold-ppo", "gold-2026"),
        );
    }
    let files = json!({ "files": files });
    let first = send(&engine, "acme-health", RULE_SET_CONTENT_TYPE, &files).await;
    assert_eq!(first.status, ReplyStatus::Accepted, "{first:?}");
    let again = send(&engine, "beta-care", RULE_SET_CONTENT_TYPE, &files).await;
    assert_eq!(
        (again.status, again.unchanged),
        (ReplyStatus::Accepted, 1),
        "the same version again changes nothing: {again:?}"
    );
    let next = files.to_string().replace("version = 1", "version = 2");
    let next: Value = serde_json::from_str(&next).unwrap();
    let refused = send(&engine, "beta-care", RULE_SET_CONTENT_TYPE, &next).await;
    assert_refused(
        &refused,
        "rule set acme-2026 was refused: it is kept by another insurer",
    );
    let kept = send(&engine, "acme-health", RULE_SET_CONTENT_TYPE, &next).await;
    assert_eq!(kept.status, ReplyStatus::Accepted, "{kept:?}");
}

/// An office visit, which the plan below pays only with prior authorisation, for M-1 of
/// acme-health on 2026-03-10, submitted and decided.
async fn office_visit(engine: &Engine, claim_ref: &str) -> claims_domain::claim::ClaimStatus {
    let submission = json!({
        "claim_ref": claim_ref, "member": "M-1", "provider": "clinic-a",
        "received_on": "2026-03-12",
        "lines": [{ "procedure": "99213", "date_of_service": "2026-03-10", "billed": "120.00 USD" }],
    });
    let answer = engine
        .submit_as(
            &claims_domain::InsurerId::new("acme-health").unwrap(),
            serde_json::to_vec(&submission).unwrap(),
            "application/json",
        )
        .await
        .unwrap();
    assert_eq!(answer.status, ReplyStatus::Accepted, "{answer:?}");
    let claim = answer.claim_id.unwrap();
    for _ in 0..200 {
        let state = load::<claims_domain::claim::ClaimDecider>(
            engine.store().as_ref(),
            streams::claim(claim),
        )
        .await
        .unwrap()
        .state;
        if let Some(status) = state
            .status
            .filter(|status| *status != claims_domain::claim::ClaimStatus::Submitted)
        {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("claim {claim_ref} was never decided");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insurer_puts_its_members_prior_authorisations_on_file() {
    use claims_domain::claim::ClaimStatus;
    let engine = engine().await;
    let sent = send_data(
        &engine,
        "acme-health",
        json!({
            "plan": [plan("acme-gold", "0.00 USD")],
            "plan_rules": { "acme-gold": { "prior_authorization": ["99213"] } },
            "member": [member("M-1", "acme-health", "acme-gold")],
            "provider": [provider(CLINIC_WALLET)],
        }),
    )
    .await;
    assert_eq!(sent.status, ReplyStatus::Accepted, "{sent:?}");
    assert_eq!(
        office_visit(&engine, "PA-1").await,
        ClaimStatus::Denied,
        "no authorisation on file"
    );

    let authorization = |number: &str, member: &str| {
        json!({ "authorization": [{
            "member": member, "number": number, "procedure": "99213",
            "provider": "clinic-a", "from": "2026-03-01", "through": "2026-03-31",
        }]})
    };
    let stranger = send_data(&engine, "beta-care", authorization("PA-9", "M-1")).await;
    assert_refused(&stranger, "the member belongs to insurer acme-health");
    let unknown = send_data(&engine, "acme-health", authorization("PA-8", "M-404")).await;
    assert_refused(&unknown, "the member is not enrolled");
    let granted = send_data(&engine, "acme-health", authorization("PA-1", "M-1")).await;
    assert_eq!(
        (granted.status, granted.stored),
        (ReplyStatus::Accepted, 1),
        "{granted:?}"
    );
    let again = send_data(&engine, "acme-health", authorization("PA-1", "M-1")).await;
    assert_eq!(
        (again.status, again.unchanged),
        (ReplyStatus::Accepted, 1),
        "{again:?}"
    );

    assert_eq!(
        office_visit(&engine, "PA-2").await,
        ClaimStatus::Approved,
        "the authorisation on file covers the line"
    );
}
