//! Rules as versioned data: a rule set loaded from its files is in force for the claims
//! decided after it, every decision records the version it used, and a stored decision
//! decided again with that version gives the original numbers, whatever was published
//! since. A bad file stores nothing and is named with its line and column.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

mod support;

use chrono::NaiveDate;
use claims::clock::FixedClock;
use claims::engine::{Database, EmbeddedConfig, Engine};
use claims::keeper::Keeper;
use claims::reference::ReferenceData;
use claims::rule_sets::{self, RuleSetLoadError, RuleSetLoaded};
use claims::settler::SettlerConfig;
use claims_adapters::aggregate::{load, streams};
use claims_adapters::event_store::{EventId, ExpectedVersion, NewEvent, StreamAppend, StreamId};
use claims_domain::adjudication::Adjudication;
use claims_domain::claim::{ClaimDecider, ClaimStatus};
use claims_domain::plan::PlanDecider;
use claims_domain::rule_set::RuleSetDecider;
use claims_domain::{ClaimId, InsurerId, PlanId, RuleSetId};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// A copy of the example rule set in a directory of the test's own, to edit.
fn example_rule_set(into: &Path) -> PathBuf {
    let source = examples().join("rules/acme-2026");
    let target = into.join("acme-2026");
    std::fs::create_dir_all(target.join("fee-schedules")).unwrap();
    for file in support::reference::EXAMPLE_RULE_SET_FILES {
        std::fs::copy(source.join(file), target.join(file)).unwrap();
    }
    target
}

fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

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
    // Members and providers (and a plan that the rule set's revision supersedes), kept by
    // the insurer that sends rule sets over the bus below.
    engine
        .load_reference_data_as(
            &ReferenceData::from_file(&examples().join("reference-data.toml")).unwrap(),
            &Keeper::Insurer(InsurerId::new("acme-health").unwrap()),
        )
        .await
        .unwrap();
    engine
}

/// Submits an office visit (99213 billed 180.00) for M-1001 on `day` of April 2026 and
/// waits for its decision.
async fn office_visit(engine: &Engine, claim_ref: &str, day: u32) -> (ClaimId, Adjudication) {
    let body = serde_json::json!({
        "claim_ref": claim_ref,
        "member": "M-1001",
        "provider": "clinic-a",
        "received_on": format!("2026-04-{day:02}"),
        "lines": [{ "procedure": "99213", "diagnoses": ["J06.9"], "date_of_service": format!("2026-04-{day:02}"), "units": 1, "billed": "180.00 USD" }]
    });
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_replayed_with_its_recorded_version_gives_the_original_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let rules = example_rule_set(dir.path());
    let engine = engine().await;
    let store = engine.store().as_ref();

    let loaded = rule_sets::load(store, &rules).await.unwrap();
    assert!(
        matches!(&loaded, RuleSetLoaded::Published { plans: 1, version } if version.version == 1),
        "{loaded:?}"
    );
    let (first, decided_under_v1) = office_visit(&engine, "RS-1", 10).await;
    let v1 = decided_under_v1.rule_set.clone().unwrap();
    assert_eq!(v1.to_string(), "acme-2026 version 1");
    assert_eq!(decided_under_v1.lines[0].allowed.to_string(), "120.00 USD");

    // Version 2 recognises more for an office visit.
    edit(&rules.join("rule-set.toml"), "version = 1", "version = 2");
    edit(
        &rules.join("fee-schedules/gold-ppo.csv"),
        "99213,office-visit,120.00",
        "99213,office-visit,150.00",
    );
    rule_sets::load(store, &rules).await.unwrap();
    let (second, decided_under_v2) = office_visit(&engine, "RS-2", 17).await;
    assert_eq!(
        decided_under_v2.rule_set.as_ref().unwrap().to_string(),
        "acme-2026 version 2"
    );
    assert_eq!(decided_under_v2.lines[0].allowed.to_string(), "150.00 USD");

    // The first claim, decided again from the log: version 1's fee schedule and the
    // member's year as it stood then (before the second claim used the deductible).
    let replay = engine.replay_decision(first).await.unwrap();
    assert_eq!(replay.original, decided_under_v1);
    assert_eq!(replay.replayed, decided_under_v1);
    assert_eq!(replay.replayed.lines[0].allowed.to_string(), "120.00 USD");
    let replay = engine.replay_decision(second).await.unwrap();
    assert_eq!(replay.replayed, decided_under_v2);

    // Both versions stay in the log; the plan in force names the latest.
    let gold = PlanId::new("gold-ppo").unwrap();
    let published = load::<RuleSetDecider>(store, streams::rule_set(&v1.rule_set))
        .await
        .unwrap()
        .state;
    assert_eq!(
        published.versions.keys().copied().collect::<Vec<_>>(),
        [1, 2]
    );
    let plan = load::<PlanDecider>(store, streams::plan(&gold))
        .await
        .unwrap()
        .state;
    assert_eq!(plan.rule_set.unwrap().version, 2);

    // Loading version 2 again stores nothing; changing it without a new number is refused.
    assert!(matches!(
        rule_sets::load(store, &rules).await.unwrap(),
        RuleSetLoaded::Unchanged(_)
    ));
    edit(
        &rules.join("limits.toml"),
        "physiotherapy = 20",
        "physiotherapy = 30",
    );
    let refused = rule_sets::load(store, &rules).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("acme-2026 version 2 was published before with other contents"),
        "{refused}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_is_named_with_its_line_and_column_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let rules = example_rule_set(dir.path());
    edit(
        &rules.join("fee-schedules/gold-ppo.csv"),
        "29877,surgery,400.00",
        "29877,surgery,four hundred",
    );
    let engine = engine().await;
    let store = engine.store().as_ref();
    let before = store
        .read_stream(&streams::plan(&PlanId::new("gold-ppo").unwrap()), 1)
        .await
        .unwrap()
        .len();

    let error = rule_sets::load(store, &rules).await.unwrap_err();
    assert!(matches!(error, RuleSetLoadError::Invalid(_)), "{error:?}");
    let expected = format!(
        "{}, line 5, column allowed_per_unit: \"four hundred\" is not an amount",
        rules.join("fee-schedules/gold-ppo.csv").display()
    );
    assert!(error.to_string().starts_with(&expected), "{error}");
    assert!(error.to_string().ends_with("nothing was stored"), "{error}");

    let rule_set = RuleSetId::new("acme-2026").unwrap();
    assert!(
        store
            .read_stream(&streams::rule_set(&rule_set), 1)
            .await
            .unwrap()
            .is_empty()
    );
    let after = store
        .read_stream(&streams::plan(&PlanId::new("gold-ppo").unwrap()), 1)
        .await
        .unwrap()
        .len();
    assert_eq!(after, before, "no plan revision was stored");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_stored_before_rule_sets_reads_with_no_rule_set() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine().await;
    let store = engine.store().as_ref();
    rule_sets::load(store, &example_rule_set(dir.path()))
        .await
        .unwrap();
    let (claim, decided) = office_visit(&engine, "RS-OLD", 10).await;

    // The same events as an engine before rule sets stored them: ClaimAdjudicated at
    // schema version 1, without `rule_set`.
    let recorded = store.read_stream(&streams::claim(claim), 1).await.unwrap();
    let old = StreamId::new("claim", ClaimId::from_uuid(uuid::Uuid::new_v4()));
    let events = recorded
        .iter()
        .map(|event| {
            let mut payload = event.payload.to_value();
            let mut schema_version = event.schema_version;
            if event.event_type == "ClaimAdjudicated" {
                assert_eq!(schema_version, 2);
                payload["adjudication"]
                    .as_object_mut()
                    .unwrap()
                    .remove("rule_set")
                    .unwrap();
                schema_version = 1;
            }
            NewEvent {
                id: EventId::random(),
                event_type: event.event_type.clone(),
                schema_version,
                payload,
                metadata: serde_json::json!({}),
            }
        })
        .collect();
    store
        .append(vec![StreamAppend {
            stream: old.clone(),
            expected: ExpectedVersion::NoStream,
            events,
        }])
        .await
        .unwrap();

    let upcast = load::<ClaimDecider>(store, old).await.unwrap().state;
    let adjudication = upcast.adjudication.unwrap();
    assert_eq!(adjudication.rule_set, None);
    assert_eq!(
        Adjudication {
            rule_set: decided.rule_set.clone(),
            ..adjudication
        },
        decided
    );
    engine.shutdown().await;
}

fn claims(args: &[&str], directory: &Path, database: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_claims"))
        .args(args)
        .arg(directory)
        .arg("--database")
        .arg(database)
        .output()
        .unwrap()
}

#[test]
fn claims_rules_load_stores_a_version_once_and_names_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let rules = example_rule_set(dir.path());
    let database = dir.path().join("claims.db");

    let first = claims(&["rules", "load"], &rules, &database);
    assert!(first.status.success(), "{first:?}");
    let stdout = String::from_utf8(first.stdout).unwrap();
    assert!(
        stdout.contains("acme-2026 version 1 is in force: 1 plan revisions stored"),
        "{stdout}"
    );
    let again = claims(&["rules", "load"], &rules, &database);
    let stdout = String::from_utf8(again.stdout).unwrap();
    assert!(stdout.contains("already stored as given"), "{stdout}");

    edit(&rules.join("rule-set.toml"), "version = 1", "version = 2");
    edit(
        &rules.join("plans.toml"),
        "out_of_pocket_max = \"3000.00 USD\"",
        "out_of_pocket_max = 3000",
    );
    let refused = claims(&["rules", "load"], &rules, &database);
    assert!(!refused.status.success());
    let stderr = String::from_utf8(refused.stderr).unwrap();
    let line = std::fs::read_to_string(rules.join("plans.toml"))
        .unwrap()
        .lines()
        .position(|line| line.starts_with("out_of_pocket_max"))
        .unwrap()
        + 1;
    let expected = format!(
        "{}, line {line}, column 21:",
        rules.join("plans.toml").display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("nothing was stored"), "{stderr}");
}

#[test]
fn claims_rules_replay_decides_a_demo_claim_again_with_the_version_it_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("claims.db");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_claims"))
            .args(args)
            .arg("--database")
            .arg(&database)
            .env_remove("CLAIMS_DATABASE_URL")
            .output()
            .unwrap()
    };
    let demo = run(&["demo", "--examples", examples().to_str().unwrap()]);
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let knee = ClaimId::for_submission(
        &InsurerId::new("acme-health").unwrap(),
        &claims_domain::InsurerClaimRef::new("ACME-2026-0001").unwrap(),
    )
    .to_string();

    // A later version prices the knee surgery differently; the stored decision still
    // replays with the version it recorded.
    let rules = example_rule_set(dir.path());
    edit(&rules.join("rule-set.toml"), "version = 1", "version = 2");
    edit(
        &rules.join("fee-schedules/gold-ppo.csv"),
        "29881,surgery,1000.00",
        "29881,surgery,1100.00",
    );
    let loaded = run(&["rules", "load", rules.to_str().unwrap()]);
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );

    let replay = run(&["rules", "replay", &knee]);
    let stdout = String::from_utf8_lossy(&replay.stdout);
    assert!(
        replay.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(stdout.contains("under acme-2026 version 1"), "{stdout}");
    assert!(
        stdout.contains("stored:   Approved, payer 600.00 USD, member 400.00 USD"),
        "{stdout}"
    );
    assert!(
        stdout.contains("replayed: Approved, payer 600.00 USD, member 400.00 USD"),
        "{stdout}"
    );

    let unknown = run(&["rules", "replay", "8c1e0f6a-2b1d-4a4e-9f1c-5a0d7c3b2e91"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("it has not been decided"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

/// Sends a rule set's files over the bus as the insurer would, and waits for the answer.
async fn send_rule_set(
    engine: &Engine,
    files: &std::collections::BTreeMap<String, String>,
) -> claims::reference_intake::ReferenceReply {
    support::reference::send(
        engine,
        "acme-health",
        claims::reference_intake::RULE_SET_CONTENT_TYPE,
        &serde_json::json!({ "files": files }),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_set_sent_over_the_bus_is_stored_once_and_a_bad_file_is_answered_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let rules = example_rule_set(dir.path());
    let good = support::reference::rule_set_files(&rules);
    edit(
        &rules.join("fee-schedules/gold-ppo.csv"),
        "29877,surgery,400.00",
        "29877,surgery,four hundred",
    );
    let bad = support::reference::rule_set_files(&rules);
    let engine = engine().await;
    let gold = PlanId::new("gold-ppo").unwrap();

    let refused = send_rule_set(&engine, &bad).await;
    assert_eq!(refused.status, claims::intake::ReplyStatus::Rejected);
    assert!(
        refused.reasons[0].starts_with(
            "fee-schedules/gold-ppo.csv, line 5, column allowed_per_unit: \"four hundred\" is not an amount"
        ),
        "{refused:?}"
    );
    let plan = load::<PlanDecider>(engine.store().as_ref(), streams::plan(&gold))
        .await
        .unwrap()
        .state;
    assert_eq!(
        plan.rule_set, None,
        "nothing of the bad rule set was stored"
    );

    let accepted = send_rule_set(&engine, &good).await;
    assert_eq!(
        accepted.status,
        claims::intake::ReplyStatus::Accepted,
        "{accepted:?}"
    );
    assert_eq!(
        (accepted.stored, accepted.unchanged),
        (2, 0),
        "the version and one plan"
    );
    let plan = load::<PlanDecider>(engine.store().as_ref(), streams::plan(&gold))
        .await
        .unwrap()
        .state;
    assert_eq!(plan.rule_set.unwrap().to_string(), "acme-2026 version 1");

    let again = send_rule_set(&engine, &good).await;
    assert_eq!((again.stored, again.unchanged), (0, 1), "{again:?}");
    engine.shutdown().await;
}
