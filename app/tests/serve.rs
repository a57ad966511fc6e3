//! `claims serve` as an operator runs it: the binary, a TOML configuration naming real
//! PostgreSQL and NATS, claims submitted from outside as an insurer would, the decisions
//! stored in PostgreSQL, and SIGTERM ending it cleanly (exit status 0).
//!
//! Needs PostgreSQL (`CLAIMS_TEST_POSTGRES_URL`, default the machine's `test` database) and
//! the nats-server binary; `scripts/test.sh` provides both. It fails, never skips, without
//! them. Each test runs its own nats-server
//! (`support/nats_server.rs`): sharing the machine's server, these tests and any other run
//! of the NATS tests on it (another checkout's, say) deleted each other's stream, which
//! every one of them names `CLAIMS_ENGINE_TEST` and which captures the same subjects.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

#[path = "../../adapters/tests/pg_support/mod.rs"]
mod pg_support;
mod support;

use claims::intake::{IntakeReply, ReplyStatus};
use claims::reference_intake::ReferenceReply;
use claims_adapters::aggregate::{load, streams};
use claims_adapters::event_store::{EventStore, PostgresEventStore};
use claims_domain::claim::{ClaimDecider, ClaimStatus};
use pg_support::TestSchema;
use std::time::Duration;
use support::engine_process::EngineProcess;
use support::http;
use support::insurer::{self, header, next};
use support::nats_server::NatsServer;

fn file(path: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// Fails unless `store` holds a decision for `claim`.
async fn assert_decided(store: &PostgresEventStore, claim: claims_domain::ClaimId) {
    let state = load::<ClaimDecider>(store, streams::claim(claim))
        .await
        .unwrap()
        .state;
    assert!(
        !matches!(state.status, None | Some(ClaimStatus::Submitted)),
        "claim {claim} is {:?}",
        state.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_every_role_on_postgresql_and_nats_and_stops_cleanly_on_sigterm() {
    let schema = TestSchema::new().await;
    let server = NatsServer::start().await;
    let (client, jetstream) = server.connect().await;
    let config = format!(
        "database_url = {:?}\ndatabase_schema = {:?}\nnats_url = {:?}\nstream = {:?}\n\
         log_level = \"info\"\n",
        schema.url,
        schema.name,
        server.url,
        insurer::STREAM,
    );
    // One adjudicator from the environment, over the file's default of two.
    let engine = EngineProcess::start_with_args(
        &config,
        &[("CLAIMS_ADJUDICATORS", "1")],
        &["--log-format", "json"],
    )
    .await;

    let mut acks = client.subscribe("claims.ack.acme-health").await.unwrap();
    let mut outcomes = client
        .subscribe("claims.outcome.acme-health")
        .await
        .unwrap();
    let mut reference_acks = client
        .subscribe("claims.reference-ack.acme-health")
        .await
        .unwrap();
    client.flush().await.unwrap();

    let reference = support::reference::example_json();
    insurer::publish(
        &jetstream,
        "claims.reference.acme-health",
        "reference-1",
        "application/json",
        None,
        serde_json::to_vec(&reference).unwrap(),
    )
    .await;
    let stored: ReferenceReply =
        serde_json::from_slice(&next(&mut reference_acks, "reference answer").await.payload)
            .unwrap();
    assert_eq!(stored.status, ReplyStatus::Accepted, "{stored:?}");

    let claims = [
        (
            "ACME-2026-0001",
            "../examples/claims/01-knee-arthroscopy.json",
        ),
        ("ACME-2026-0002", "../examples/claims/02-office-visit.json"),
    ];
    for (message_id, path) in claims {
        insurer::publish(
            &jetstream,
            "claims.submit.acme-health",
            message_id,
            "application/json",
            None,
            file(path),
        )
        .await;
    }
    let mut accepted = Vec::new();
    for _ in claims {
        let reply: IntakeReply =
            serde_json::from_slice(&next(&mut acks, "intake answer").await.payload).unwrap();
        assert_eq!(reply.status, ReplyStatus::Accepted, "{reply:?}");
        accepted.push(reply.claim_id.unwrap());
    }
    let mut decided = 0;
    while decided < claims.len() {
        let notice = next(&mut outcomes, "decision").await;
        if header(&notice, "Claims-Notice") == Some("decided") {
            decided += 1;
        }
    }

    // The API of the same process reads the decisions back from PostgreSQL.
    assert_eq!(http::get(&engine.address, "/ready").await.status, 200);
    let claim = http::get(&engine.address, &format!("/claims/{}", accepted[0])).await;
    assert_eq!(claim.status, 200, "{claim:?}");
    assert_eq!(
        claim.json()["claim_response"]["resourceType"],
        "ClaimResponse"
    );

    let (status, log) = engine.terminate().await;
    assert!(status.success(), "claims serve exited with {status}");

    // Logs as JSON lines, the claim id on the adjudication span.
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|error| panic!("a log line is not JSON ({error}): {line}"));
    }
    let adjudicated = log
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|line| line["fields"]["message"] == "claim adjudicated")
        .unwrap_or_else(|| panic!("no adjudication logged:\n{log}"));
    assert_eq!(
        adjudicated["span"]["claim"],
        accepted[0].to_string().as_str(),
        "{adjudicated}"
    );

    // The decisions are in PostgreSQL, where the next engine process finds them.
    let store = schema.store().await;
    for claim in accepted {
        assert_decided(&store, claim).await;
    }
    store.close().await;
    jetstream.delete_stream(insurer::STREAM).await.unwrap();

    // The runbook's rebuild of the read models, on the schema serve was given.
    let replay = std::process::Command::new(env!("CARGO_BIN_EXE_claims"))
        .args(["replay", "--quiet", "--database-url", &schema.url])
        .args(["--database-schema", &schema.name])
        .env_remove("CLAIMS_DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&replay.stdout);
    assert!(
        replay.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(stdout.contains("2 claims"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_split_across_two_processes_share_the_work_through_postgresql_and_nats() {
    let schema = TestSchema::new().await;
    let server = NatsServer::start().await;
    let (client, jetstream) = server.connect().await;
    let config = format!(
        "database_url = {:?}\ndatabase_schema = {:?}\nnats_url = {:?}\nstream = {:?}\n\
         log_level = \"info\"\n",
        schema.url,
        schema.name,
        server.url,
        insurer::STREAM,
    );
    let front =
        EngineProcess::start_with_args(&config, &[], &["--role", "intake,relay,outcomes,api"])
            .await;
    let workers = EngineProcess::start(
        &format!("{config}roles = [\"adjudicator\", \"settler\"]\n"),
        &[],
    )
    .await;

    let mut acks = client.subscribe("claims.ack.acme-health").await.unwrap();
    let mut outcomes = client
        .subscribe("claims.outcome.acme-health")
        .await
        .unwrap();
    let mut reference_acks = client
        .subscribe("claims.reference-ack.acme-health")
        .await
        .unwrap();
    client.flush().await.unwrap();
    let reference = support::reference::example_json();
    insurer::publish(
        &jetstream,
        "claims.reference.acme-health",
        "reference-1",
        "application/json",
        None,
        serde_json::to_vec(&reference).unwrap(),
    )
    .await;
    next(&mut reference_acks, "reference answer").await;
    insurer::publish(
        &jetstream,
        "claims.submit.acme-health",
        "ACME-2026-0001",
        "application/json",
        None,
        file("../examples/claims/01-knee-arthroscopy.json"),
    )
    .await;
    let reply: IntakeReply =
        serde_json::from_slice(&next(&mut acks, "intake answer").await.payload).unwrap();
    assert_eq!(reply.status, ReplyStatus::Accepted, "{reply:?}");

    // Decided by the workers, announced by the front, then paid by the workers' settler.
    let mut notices = Vec::new();
    while !notices.iter().any(|notice| notice == "paid") {
        let notice = next(&mut outcomes, "decision and payment").await;
        notices.push(header(&notice, "Claims-Notice").unwrap().to_owned());
    }
    assert_eq!(notices, ["decided", "paid"]);

    // The front's API sees what the workers did, through PostgreSQL.
    let claim_path = format!("/claims/{}", reply.claim_id.unwrap());
    let mut status = serde_json::Value::Null;
    for _ in 0..200 {
        status = http::get(&front.address, &claim_path).await.json()["status"]["status"].clone();
        if status == "paid" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(status, "paid");

    let (workers_status, workers_log) = workers.terminate().await;
    let (front_status, front_log) = front.terminate().await;
    assert!(workers_status.success(), "{workers_log}");
    assert!(front_status.success(), "{front_log}");
    assert!(workers_log.contains("claim adjudicated"), "{workers_log}");
    assert!(!front_log.contains("claim adjudicated"), "{front_log}");
    assert!(!workers_log.contains("claim accepted"), "{workers_log}");
    jetstream.delete_stream(insurer::STREAM).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_in_flight_at_sigterm_are_decided_after_a_restart() {
    let schema = TestSchema::new().await;
    let server = NatsServer::start().await;
    let (client, jetstream) = server.connect().await;
    let config = format!(
        "database_url = {:?}\ndatabase_schema = {:?}\nnats_url = {:?}\nstream = {:?}\n\
         log_level = \"info\"\n",
        schema.url,
        schema.name,
        server.url,
        insurer::STREAM,
    );
    let first = EngineProcess::start(&config, &[]).await;
    let mut reference_acks = client
        .subscribe("claims.reference-ack.acme-health")
        .await
        .unwrap();
    client.flush().await.unwrap();
    let reference = support::reference::example_json();
    insurer::publish(
        &jetstream,
        "claims.reference.acme-health",
        "reference-1",
        "application/json",
        None,
        serde_json::to_vec(&reference).unwrap(),
    )
    .await;
    next(&mut reference_acks, "reference answer").await;

    // A burst of claims, and SIGTERM while they are being taken in and decided.
    let template: serde_json::Value =
        serde_json::from_slice(&file("../examples/claims/02-office-visit.json")).unwrap();
    let insurer_id = claims_domain::InsurerId::new("acme-health").unwrap();
    let mut claims = Vec::new();
    for index in 0..30 {
        let claim_ref = format!("ACME-BURST-{index:03}");
        let mut body = template.clone();
        body["claim_ref"] = claim_ref.clone().into();
        insurer::publish(
            &jetstream,
            "claims.submit.acme-health",
            &claim_ref,
            "application/json",
            None,
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
        claims.push(claims_domain::ClaimId::for_submission(
            &insurer_id,
            &claims_domain::InsurerClaimRef::new(claim_ref).unwrap(),
        ));
    }
    let (status, log) = first.terminate().await;
    assert!(status.success(), "{log}");

    // The next process finishes what the first left: every claim decided, none twice.
    let second = EngineProcess::start(&config, &[]).await;
    let store = schema.store().await;
    for claim in &claims {
        let mut events = Vec::new();
        for _ in 0..400 {
            events = store.read_stream(&streams::claim(*claim), 1).await.unwrap();
            if events
                .iter()
                .any(|event| event.event_type == "ClaimAdjudicated")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let types: Vec<_> = events
            .iter()
            .map(|event| event.event_type.as_str())
            .collect();
        assert_eq!(
            types
                .iter()
                .filter(|kind| **kind == "ClaimSubmitted")
                .count(),
            1,
            "{claim}: {types:?}"
        );
        assert_eq!(
            types
                .iter()
                .filter(|kind| **kind == "ClaimAdjudicated")
                .count(),
            1,
            "{claim}: {types:?}"
        );
    }
    let (status, log) = second.terminate().await;
    assert!(status.success(), "{log}");
    store.close().await;
    jetstream.delete_stream(insurer::STREAM).await.unwrap();
}

/// Two engines on one NATS server, each under its own subject namespace (a staging copy
/// beside production, say): `claims submit --nats-namespace` reaches only its engine, and
/// the same claim reference sent to both is a claim in each store, decided by each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engines_under_two_nats_namespaces_share_a_server_without_hearing_each_other() {
    let server = NatsServer::start().await;
    let (client, jetstream) = server.connect().await;
    let mut schema = TestSchema::new().await;
    let north_schema = schema.name.clone();
    let south_schema = schema.another();
    let config = |schema_name: &str, stream: &str| {
        format!(
            "database_url = {:?}\ndatabase_schema = {:?}\nnats_url = {:?}\nstream = {stream:?}\n\
             roles = [\"intake\", \"relay\", \"adjudicator\", \"outcomes\"]\nlog_level = \"info\"\n",
            schema.url, schema_name, server.url,
        )
    };
    // One from the file, one from the environment: both ways an operator sets it.
    let north = EngineProcess::start(
        &format!(
            "{}nats_namespace = \"north\"\n",
            config(&north_schema, "CLAIMS_NORTH")
        ),
        &[],
    )
    .await;
    let south = EngineProcess::start(
        &config(&south_schema, "CLAIMS_SOUTH"),
        &[("CLAIMS_NATS_NAMESPACE", "south")],
    )
    .await;

    let reference = support::reference::example_json();
    for namespace in ["north", "south"] {
        let mut answers = client
            .subscribe(format!("{namespace}.claims.reference-ack.acme-health"))
            .await
            .unwrap();
        client.flush().await.unwrap();
        insurer::publish(
            &jetstream,
            &format!("{namespace}.claims.reference.acme-health"),
            "reference-1",
            "application/json",
            None,
            serde_json::to_vec(&reference).unwrap(),
        )
        .await;
        next(&mut answers, "reference answer").await;
    }

    let claim = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/claims/02-office-visit.json");
    let submit = |namespace: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_claims"));
        command
            .args([
                "submit",
                "--nats-url",
                &server.url,
                "--insurer",
                "acme-health",
            ])
            .args(["--timeout", "30", "--wait-decision"])
            .arg(&claim);
        for (name, _) in std::env::vars() {
            if name.starts_with("CLAIMS_") {
                command.env_remove(name);
            }
        }
        if let Some(namespace) = namespace {
            command.args(["--nats-namespace", namespace]);
        }
        let output = command.output().unwrap();
        (
            output.status,
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (status, said) = submit(Some("north"));
    assert!(
        status.success() && said.contains("accepted ACME-2026-0002"),
        "{said}"
    );
    // Outside every namespace, no stream captures the subject: the submission is refused.
    let (status, said) = submit(None);
    assert!(!status.success(), "{said}");
    let (status, said) = submit(Some("south"));
    assert!(
        status.success() && said.contains("accepted ACME-2026-0002"),
        "{said}"
    );

    let (north_status, north_log) = north.terminate().await;
    let (south_status, south_log) = south.terminate().await;
    assert!(north_status.success(), "{north_log}");
    assert!(south_status.success(), "{south_log}");
    // Each engine decided the claim once, in its own store.
    assert_eq!(
        north_log.matches("claim adjudicated").count(),
        1,
        "{north_log}"
    );
    assert_eq!(
        south_log.matches("claim adjudicated").count(),
        1,
        "{south_log}"
    );
    let claim = claims_domain::ClaimId::for_submission(
        &claims_domain::InsurerId::new("acme-health").unwrap(),
        &claims_domain::InsurerClaimRef::new("ACME-2026-0002").unwrap(),
    );
    for name in [&north_schema, &south_schema] {
        let store = PostgresEventStore::connect_in_schema(&schema.url, name)
            .await
            .unwrap();
        assert_decided(&store, claim).await;
        store.close().await;
    }
    jetstream.delete_stream("CLAIMS_NORTH").await.unwrap();
    jetstream.delete_stream("CLAIMS_SOUTH").await.unwrap();
}
