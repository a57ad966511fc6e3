//! Insurers on a NATS server configured by `claims nats-config`: each insurer its own user,
//! allowed only its own subjects; the engine (`claims serve`) its own user, with the rights
//! its roles need. Insurer A cannot submit as insurer B (the server refuses the publish and
//! the engine never sees it) nor hear B's answers and decisions, while A's own claims are
//! accepted and decided; `claims submit` does all of this as an insurer's client.
//!
//! Each test starts its own nats-server (`support/nats_server.rs`) and its own PostgreSQL
//! schema, so nothing is shared with any other test.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

#[path = "../../adapters/tests/pg_support/mod.rs"]
mod pg_support;
mod support;

use async_nats::HeaderMap;
use claims::intake::{IntakeReply, ReplyStatus};
use claims::nats_access::user_name;
use claims_adapters::aggregate::streams;
use claims_adapters::event_store::EventStore;
use claims_domain::{ClaimId, InsurerClaimRef, InsurerId};
use futures::StreamExt;
use pg_support::TestSchema;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::engine_process::EngineProcess;
use support::insurer::{header, next};
use support::nats_server::NatsServer;

const ACME: &str = "acme-health";
const BETA: &str = "beta-care";
const ENGINE_USER: &str = "claims-engine";

fn file(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// An insurer's connection as its own NATS user, with its own inbox prefix, and every
/// error the server reported to it (permission violations among them).
async fn connect_as(
    server: &NatsServer,
    insurer: &str,
) -> (async_nats::Client, Arc<Mutex<Vec<String>>>) {
    connect_as_in(server, None, insurer).await
}

/// As [`connect_as`], as the insurer's user of the engine under `namespace`.
async fn connect_as_in(
    server: &NatsServer,
    namespace: Option<&str>,
    insurer: &str,
) -> (async_nats::Client, Arc<Mutex<Vec<String>>>) {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    let user = user_name(namespace, insurer);
    let password = server.password(&user);
    let client = async_nats::ConnectOptions::with_user_and_password(user, password)
        .custom_inbox_prefix(format!("_INBOX.{insurer}"))
        .event_callback(move |event| {
            let seen = seen.clone();
            async move {
                if let async_nats::Event::ServerError(error) = event {
                    seen.lock().unwrap().push(error.to_string().to_lowercase());
                }
            }
        })
        .connect(&server.url)
        .await
        .unwrap();
    (client, errors)
}

/// Waits until the server has reported a permission violation naming `subject`.
async fn violation(errors: &Arc<Mutex<Vec<String>>>, subject: &str) {
    for _ in 0..200 {
        if errors
            .lock()
            .unwrap()
            .iter()
            .any(|error| error.contains("permissions violation") && error.contains(subject))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "no permissions violation for {subject}; the server reported {:?}",
        errors.lock().unwrap()
    );
}

/// Nothing arrives on `subscriber` within half a second.
async fn silent(subscriber: &mut async_nats::Subscriber, what: &str) {
    if let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(500), subscriber.next()).await
    {
        panic!(
            "{what} was heard on {}: {:?}",
            message.subject,
            String::from_utf8_lossy(&message.payload)
        );
    }
}

/// Publishes through JetStream as an insurer does, with the answer to `reply_to`.
async fn submit(
    client: &async_nats::Client,
    subject: &str,
    message_id: &str,
    content_type: &str,
    reply_to: &str,
    body: Vec<u8>,
) {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", message_id);
    headers.insert("Content-Type", content_type);
    headers.insert("Claims-Reply-To", reply_to);
    let stored = async_nats::jetstream::new(client.clone())
        .publish_with_headers(subject.to_owned(), headers, body.into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(!stored.duplicate);
}

fn reply(message: &async_nats::Message) -> IntakeReply {
    serde_json::from_slice(&message.payload).unwrap()
}

/// `claims serve` on `server` as the engine's user, every role, on a fresh schema, under
/// `namespace` if given.
async fn engine(
    server: &NatsServer,
    schema: &TestSchema,
    namespace: Option<&str>,
) -> EngineProcess {
    engine_on_schema(server, schema, &schema.name, namespace).await
}

/// As [`engine`], on the schema `name` of `schema`'s database (a second engine's,
/// [`TestSchema::another`]).
async fn engine_on_schema(
    server: &NatsServer,
    schema: &TestSchema,
    name: &str,
    namespace: Option<&str>,
) -> EngineProcess {
    let user = user_name(namespace, ENGINE_USER);
    let mut config = format!(
        "database_url = {:?}\ndatabase_schema = {name:?}\nnats_url = {:?}\nstream = \"CLAIMS\"\n\
         nats_user = {user:?}\nlog_level = \"info\"\nadjudicators = 1\n",
        schema.url, server.url,
    );
    if let Some(namespace) = namespace {
        config.push_str(&format!("nats_namespace = {namespace:?}\n"));
    }
    let password = server.password(&user);
    EngineProcess::start(&config, &[("CLAIMS_NATS_PASSWORD", password.as_str())]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insurer_can_neither_submit_as_another_nor_hear_its_answers() {
    let schema = TestSchema::new().await;
    let server = NatsServer::start_with_access(&[ACME, BETA]).await;
    let engine = engine(&server, &schema, None).await;
    let (acme, acme_errors) = connect_as(&server, ACME).await;
    let (beta, _) = connect_as(&server, BETA).await;

    // Reference data from each insurer on its own subject: acme's file, and one member of
    // beta's on the same plan.
    let mut acme_reference_acks = acme
        .subscribe(format!("claims.reference-ack.{ACME}"))
        .await
        .unwrap();
    let mut beta_reference_acks = beta
        .subscribe(format!("claims.reference-ack.{BETA}"))
        .await
        .unwrap();
    let mut acme_inbox = acme
        .subscribe(format!("_INBOX.{ACME}.test.*"))
        .await
        .unwrap();
    let mut acme_outcomes = acme
        .subscribe(format!("claims.outcome.{ACME}"))
        .await
        .unwrap();
    let mut beta_acks = beta.subscribe(format!("claims.ack.{BETA}")).await.unwrap();
    let mut beta_outcomes = beta
        .subscribe(format!("claims.outcome.{BETA}"))
        .await
        .unwrap();
    // Acme listening where only beta, or only the engine, may.
    let mut acme_on_beta_acks = acme.subscribe(format!("claims.ack.{BETA}")).await.unwrap();
    let mut acme_on_beta_outcomes = acme
        .subscribe(format!("claims.outcome.{BETA}"))
        .await
        .unwrap();
    let mut acme_on_every_inbox = acme.subscribe("_INBOX.>").await.unwrap();
    acme.flush().await.unwrap();
    beta.flush().await.unwrap();
    violation(&acme_errors, &format!("claims.ack.{BETA}")).await;
    violation(&acme_errors, &format!("claims.outcome.{BETA}")).await;
    violation(&acme_errors, "\"_inbox.>\"").await;
    // Nor read the stream: a consumer of it is the engine's alone.
    acme.publish("$JS.API.CONSUMER.CREATE.CLAIMS", "{}".into())
        .await
        .unwrap();
    acme.flush().await.unwrap();
    violation(&acme_errors, "$js.api.consumer.create.claims").await;

    let reference = support::reference::example_json();
    submit(
        &acme,
        &format!("claims.reference.{ACME}"),
        "acme-reference-1",
        "application/json",
        &format!("_INBOX.{ACME}.test.reference"),
        serde_json::to_vec(&reference).unwrap(),
    )
    .await;
    next(&mut acme_reference_acks, "acme's reference answer").await;
    next(&mut acme_inbox, "acme's reference answer in its inbox").await;
    // Beta's member, on beta's own copy of the plan: acme keeps the plans it sent.
    let mut beta_plan = serde_json::to_value(&reference["plan"][0]).unwrap();
    beta_plan["id"] = "beta-gold".into();
    let beta_member = serde_json::json!({
        "plan": [beta_plan],
        "member": [{ "id": "B-2001", "insurer": BETA, "plan": "beta-gold",
                     "coverage": [{ "start": "2026-01-01" }] }]
    });
    submit(
        &beta,
        &format!("claims.reference.{BETA}"),
        "beta-reference-1",
        "application/json",
        &format!("_INBOX.{BETA}.test.reference"),
        serde_json::to_vec(&beta_member).unwrap(),
    )
    .await;
    let stored: claims::reference_intake::ReferenceReply = serde_json::from_slice(
        &next(&mut beta_reference_acks, "beta's reference answer")
            .await
            .payload,
    )
    .unwrap();
    assert_eq!(stored.status, ReplyStatus::Accepted, "{stored:?}");

    // Acme submits a claim as beta: the server refuses the publish.
    let mut forged: serde_json::Value =
        serde_json::from_slice(&file("../examples/claims/02-office-visit.json")).unwrap();
    forged["claim_ref"] = "FORGED-0001".into();
    forged["member"] = "B-2001".into();
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", "FORGED-0001");
    headers.insert("Content-Type", "application/json");
    acme.publish_with_headers(
        format!("claims.submit.{BETA}"),
        headers.clone(),
        serde_json::to_vec(&forged).unwrap().into(),
    )
    .await
    .unwrap();
    acme.flush().await.unwrap();
    violation(&acme_errors, &format!("claims.submit.{BETA}")).await;
    // Through JetStream it fares no better: nothing is stored, so no acknowledgement comes.
    let mut impatient = async_nats::jetstream::new(acme.clone());
    impatient.set_timeout(Duration::from_secs(1));
    let through_jetstream = impatient
        .publish_with_headers(
            format!("claims.submit.{BETA}"),
            headers,
            serde_json::to_vec(&forged).unwrap().into(),
        )
        .await
        .unwrap()
        .await;
    assert!(through_jetstream.is_err(), "{through_jetstream:?}");

    // Acme's own claim is accepted and decided; its body naming beta is refused by the
    // engine (the subject names the insurer).
    submit(
        &acme,
        &format!("claims.submit.{ACME}"),
        "ACME-2026-0002",
        "application/json",
        &format!("_INBOX.{ACME}.test.claim"),
        file("../examples/claims/02-office-visit.json"),
    )
    .await;
    let accepted = reply(&next(&mut acme_inbox, "acme's answer").await);
    assert_eq!(accepted.status, ReplyStatus::Accepted, "{accepted:?}");
    let acme_claim = accepted.claim_id.unwrap();
    let mut disguised: serde_json::Value =
        serde_json::from_slice(&file("../examples/claims/02-office-visit.json")).unwrap();
    disguised["claim_ref"] = "ACME-2026-0099".into();
    disguised["insurer"] = BETA.into();
    submit(
        &acme,
        &format!("claims.submit.{ACME}"),
        "ACME-2026-0099",
        "application/json",
        &format!("_INBOX.{ACME}.test.disguised"),
        serde_json::to_vec(&disguised).unwrap(),
    )
    .await;
    let refused = reply(&next(&mut acme_inbox, "acme's answer to the disguised claim").await);
    assert_eq!(refused.status, ReplyStatus::Rejected, "{refused:?}");
    assert_eq!(refused.reasons[0].code, "insurer-mismatch", "{refused:?}");
    let decided = next(&mut acme_outcomes, "acme's decision").await;
    assert_eq!(header(&decided, "Claims-Notice"), Some("decided"));
    assert_eq!(
        header(&decided, "Claims-Claim-Id"),
        Some(acme_claim.to_string().as_str())
    );

    // Nor can acme have the engine answer on beta's subjects: only inboxes are answered.
    let mut acme_acks = acme.subscribe(format!("claims.ack.{ACME}")).await.unwrap();
    acme.flush().await.unwrap();
    let mut planted: serde_json::Value =
        serde_json::from_slice(&file("../examples/claims/02-office-visit.json")).unwrap();
    planted["claim_ref"] = "ACME-2026-0100".into();
    submit(
        &acme,
        &format!("claims.submit.{ACME}"),
        "ACME-2026-0100",
        "application/json",
        &format!("claims.outcome.{BETA}"),
        serde_json::to_vec(&planted).unwrap(),
    )
    .await;
    let answer = reply(&next(&mut acme_acks, "acme's answer on its ack subject").await);
    assert_eq!(answer.claim_ref.as_deref(), Some("ACME-2026-0100"));
    silent(&mut beta_outcomes, "an answer planted by acme").await;

    // Beta's own claim: beta hears its answer and decision; acme hears none of it.
    let mut own: serde_json::Value =
        serde_json::from_slice(&file("../examples/claims/02-office-visit.json")).unwrap();
    own["claim_ref"] = "BETA-0001".into();
    own["member"] = "B-2001".into();
    submit(
        &beta,
        &format!("claims.submit.{BETA}"),
        "BETA-0001",
        "application/json",
        &format!("_INBOX.{BETA}.test.claim"),
        serde_json::to_vec(&own).unwrap(),
    )
    .await;
    let beta_answer = reply(&next(&mut beta_acks, "beta's answer").await);
    assert_eq!(beta_answer.status, ReplyStatus::Accepted, "{beta_answer:?}");
    let beta_decision = next(&mut beta_outcomes, "beta's decision").await;
    assert_eq!(header(&beta_decision, "Claims-Notice"), Some("decided"));
    silent(&mut acme_on_beta_acks, "beta's answer").await;
    silent(&mut acme_on_beta_outcomes, "beta's decision").await;
    silent(&mut acme_on_every_inbox, "an inbox message").await;

    // The forged claim never reached the engine: not in the stream, not in the store, and
    // beta heard one answer only, to its own claim.
    silent(&mut beta_acks, "an answer to the forged claim").await;
    let store = schema.store().await;
    let forged_id = ClaimId::for_submission(
        &InsurerId::new(BETA).unwrap(),
        &InsurerClaimRef::new("FORGED-0001").unwrap(),
    );
    assert!(
        store
            .read_stream(&streams::claim(forged_id), 1)
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await;

    let (status, log) = engine.terminate().await;
    assert!(status.success(), "{log}");
    assert!(
        !log.contains(&server.password(ENGINE_USER)),
        "the engine logged its NATS password"
    );
    assert!(
        !log.to_lowercase().contains("permissions violation"),
        "the engine lacked a right it needs:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_submit_sends_files_as_an_insurer_and_prints_each_answer() {
    let schema = TestSchema::new().await;
    let server = NatsServer::start_with_access(&[ACME]).await;
    let engine = engine(&server, &schema, None).await;
    let loaded = std::process::Command::new(env!("CARGO_BIN_EXE_claims"))
        .args(["reference", "load"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reference-data.toml"))
        .args([
            "--database-url",
            &schema.url,
            "--database-schema",
            &schema.name,
        ])
        .output()
        .unwrap();
    assert!(loaded.status.success(), "{loaded:?}");

    let directory = tempfile::tempdir().unwrap();
    let native = directory.path().join("office-visit.json");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/claims/02-office-visit.json"),
        &native,
    )
    .unwrap();
    let fhir = directory.path().join("fhir-claim.json");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fhir/claim/good/office-visit.json"),
        &fhir,
    )
    .unwrap();
    let mut stranger: serde_json::Value =
        serde_json::from_slice(&file("../examples/claims/02-office-visit.json")).unwrap();
    stranger["claim_ref"] = "ACME-2026-0777".into();
    stranger["member"] = "M-9999".into();
    let unknown = directory.path().join("unknown-member.json");
    std::fs::write(&unknown, serde_json::to_vec(&stranger).unwrap()).unwrap();
    let mut void: serde_json::Value =
        serde_json::from_slice(&file("../examples/claims/02-office-visit.json")).unwrap();
    void["claim_ref"] = "ACME-2026-0002-VOID".into();
    void["corrects"] = serde_json::json!({ "claim_ref": "ACME-2026-0002", "kind": "void" });
    let void_file = directory.path().join("void.json");
    std::fs::write(&void_file, serde_json::to_vec(&void).unwrap()).unwrap();

    let password = server.password(ACME);
    let run = |files: &[&Path], extra: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_claims"));
        command
            .arg("submit")
            .args([
                "--nats-url",
                &server.url,
                "--insurer",
                ACME,
                "--nats-user",
                ACME,
            ])
            .args(["--timeout", "30"])
            .args(extra)
            .args(files)
            .env("CLAIMS_NATS_PASSWORD", &password)
            .env_remove("CLAIMS_NATS_TOKEN")
            .env_remove("CLAIMS_NATS_CREDENTIALS");
        let output = command.output().unwrap();
        (
            output.status,
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let acme = InsurerId::new(ACME).unwrap();
    let id = |reference: &str| {
        ClaimId::for_submission(&acme, &InsurerClaimRef::new(reference).unwrap()).to_string()
    };

    // Native and FHIR, each accepted and decided.
    let (status, stdout, stderr) = run(&[&native, &fhir], &["--wait-decision"]);
    assert!(status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "accepted ACME-2026-0002 as claim {}",
            id("ACME-2026-0002")
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "accepted ACME-2026-0042 as claim {}",
            id("ACME-2026-0042")
        )),
        "{stdout}"
    );
    assert!(stdout.contains("decided ACME-2026-0002"), "{stdout}");
    assert!(stdout.contains("decided ACME-2026-0042"), "{stdout}");
    assert!(
        stdout.contains("2 files: 2 accepted, 0 rejected"),
        "{stdout}"
    );

    // Sent again: one claim each, still (JetStream dropped the repeated message ids).
    let (status, stdout, stderr) = run(&[&native], &[]);
    assert!(status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("already received"), "{stdout}");
    assert!(stdout.contains(&id("ACME-2026-0002")), "{stdout}");

    // A void is not decided itself: waiting, the client hears the original cancelled.
    let (status, stdout, stderr) = run(&[&void_file], &["--wait-decision"]);
    assert!(status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "accepted ACME-2026-0002-VOID as claim {}, voiding claim {}",
            id("ACME-2026-0002-VOID"),
            id("ACME-2026-0002")
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "claim {} cancelled: voided by claim {}; it was",
            id("ACME-2026-0002"),
            id("ACME-2026-0002-VOID")
        )),
        "{stdout}"
    );

    // A claim for a member the insurer never sent: rejected, with the reason, exit non-zero.
    let (status, stdout, stderr) = run(&[&unknown], &[]);
    assert!(!status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("rejected ACME-2026-0777"), "{stdout}");
    assert!(stdout.contains("unknown-member"), "{stdout}");
    assert!(stderr.contains("not every claim was accepted"), "{stderr}");

    // As another insurer than its user may be: the server refuses, the client says so.
    let (status, stdout, stderr) = {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_claims"));
        command
            .arg("submit")
            .args(["--nats-url", &server.url, "--insurer", "beta-care"])
            .args(["--nats-user", ACME, "--timeout", "5"])
            .arg(&native)
            .env("CLAIMS_NATS_PASSWORD", &password);
        let output = command.output().unwrap();
        (
            output.status,
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert!(!status.success(), "{stdout}{stderr}");

    let store = schema.store().await;
    for reference in ["ACME-2026-0002", "ACME-2026-0042"] {
        let claim = ClaimId::for_submission(&acme, &InsurerClaimRef::new(reference).unwrap());
        let types: Vec<_> = store
            .read_stream(&streams::claim(claim), 1)
            .await
            .unwrap()
            .into_iter()
            .map(|event| event.event_type)
            .collect();
        assert_eq!(
            types
                .iter()
                .filter(|kind| *kind == "ClaimSubmitted")
                .count(),
            1,
            "{reference}: {types:?}"
        );
    }
    store.close().await;
    let (status, log) = engine.terminate().await;
    assert!(status.success(), "{log}");
}

/// Sends the example reference data, then the office-visit claim, as acme to the engine
/// under `namespace`; waits for each answer and the claim's decision (acme's connection
/// must be its own user's of that engine); the engine must not have seen the claim before.
async fn reference_and_decided_claim(acme: &async_nats::Client, namespace: Option<&str>) {
    let on_wire = |subject: String| claims_adapters::bus::wire_subject(namespace, &subject);
    let mut inbox = acme
        .subscribe(format!("_INBOX.{ACME}.test.*"))
        .await
        .unwrap();
    let mut outcomes = acme
        .subscribe(on_wire(format!("claims.outcome.{ACME}")))
        .await
        .unwrap();
    submit(
        acme,
        &on_wire(format!("claims.reference.{ACME}")),
        "acme-reference-1",
        "application/json",
        &format!("_INBOX.{ACME}.test.reference"),
        serde_json::to_vec(&support::reference::example_json()).unwrap(),
    )
    .await;
    let stored: claims::reference_intake::ReferenceReply =
        serde_json::from_slice(&next(&mut inbox, "acme's reference answer").await.payload).unwrap();
    assert_eq!(stored.status, ReplyStatus::Accepted, "{stored:?}");
    submit(
        acme,
        &on_wire(format!("claims.submit.{ACME}")),
        "ACME-2026-0002",
        "application/json",
        &format!("_INBOX.{ACME}.test.claim"),
        file("../examples/claims/02-office-visit.json"),
    )
    .await;
    let accepted = reply(&next(&mut inbox, "acme's answer").await);
    assert_eq!(accepted.status, ReplyStatus::Accepted, "{accepted:?}");
    assert!(!accepted.duplicate, "{accepted:?}");
    let claim = accepted.claim_id.unwrap();
    let decided = next(&mut outcomes, "acme's decision").await;
    assert_eq!(header(&decided, "Claims-Notice"), Some("decided"));
    assert_eq!(
        header(&decided, "Claims-Claim-Id"),
        Some(claim.to_string().as_str())
    );
}

/// Under a namespace (`claims nats-config --nats-namespace`, `claims serve
/// --nats-namespace`), every user's rights are for its subjects on the wire: acme's
/// reference data and claim on `staging.claims.….acme-health` are stored, answered in its
/// inbox (which keeps its name) and decided, the engine lacking no right on the way; the
/// same subjects without the namespace are refused, and so are beta's under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_namespace_an_insurer_uses_its_own_subjects_there_and_no_others() {
    const NAMESPACE: &str = "staging";
    let schema = TestSchema::new().await;
    let server = NatsServer::start_with_access_in_namespace(NAMESPACE, &[ACME, BETA]).await;
    let engine = engine(&server, &schema, Some(NAMESPACE)).await;
    let (acme, acme_errors) = connect_as_in(&server, Some(NAMESPACE), ACME).await;

    // Acme's subjects without the namespace are not its own any more, and beta's under it
    // never were: the server refuses each.
    let _outside = acme.subscribe(format!("claims.ack.{ACME}")).await.unwrap();
    acme.publish(format!("claims.submit.{ACME}"), "{}".into())
        .await
        .unwrap();
    acme.publish(format!("{NAMESPACE}.claims.submit.{BETA}"), "{}".into())
        .await
        .unwrap();
    acme.flush().await.unwrap();
    violation(&acme_errors, &format!("\"claims.ack.{ACME}\"")).await;
    violation(&acme_errors, &format!("\"claims.submit.{ACME}\"")).await;
    violation(
        &acme_errors,
        &format!("\"{NAMESPACE}.claims.submit.{BETA}\""),
    )
    .await;

    reference_and_decided_claim(&acme, Some(NAMESPACE)).await;

    let (status, log) = engine.terminate().await;
    assert!(status.success(), "{log}");
    assert!(
        !log.to_lowercase().contains("permissions violation"),
        "the engine lacked a right it needs:\n{log}"
    );
}

/// An operator who already runs nats-server includes the engine's account
/// (`claims-account.conf`) in that server's own `accounts` block, beside its other
/// applications' accounts: the insurers' users and their limits come with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_own_server_takes_the_engines_account_by_include() {
    let server = NatsServer::start_with_account_included(&[ACME, BETA]).await;
    let (acme, errors) = connect_as(&server, ACME).await;
    let own_answers = acme.subscribe(format!("claims.ack.{ACME}")).await.unwrap();
    acme.flush().await.unwrap();
    assert!(
        errors.lock().unwrap().is_empty(),
        "subscribing to its own answers was refused: {:?}",
        errors.lock().unwrap()
    );
    acme.publish(format!("claims.submit.{BETA}"), "{}".into())
        .await
        .unwrap();
    acme.flush().await.unwrap();
    violation(&errors, &format!("claims.submit.{BETA}")).await;
    drop(own_answers);
    // The operator's other application keeps its own account and user.
    async_nats::ConnectOptions::with_user_and_password("billing".into(), "b".into())
        .connect(&server.url)
        .await
        .unwrap();
}

/// Two engines, production and staging (under its namespace), on one server of the
/// operator's: `claims nats-config` wrote each an account of its own, and both files are
/// included side by side. The same insurer has a user in each; each engine takes and
/// decides the claim sent to it, as a claim of its own, and production's user cannot reach
/// staging's subjects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_share_one_server_each_in_an_account_of_its_own() {
    const STAGING: &str = "staging";
    let server = NatsServer::start_with_accounts_included(&[None, Some(STAGING)], &[ACME]).await;
    let mut schema = TestSchema::new().await;
    let staging_schema = schema.another();
    let production = engine(&server, &schema, None).await;
    let staging = engine_on_schema(&server, &schema, &staging_schema, Some(STAGING)).await;

    let (acme, acme_errors) = connect_as(&server, ACME).await;
    reference_and_decided_claim(&acme, None).await;
    // The same claim reference, accepted by staging as new and decided again: neither
    // engine's stream nor store holds the other's.
    let (staging_acme, _) = connect_as_in(&server, Some(STAGING), ACME).await;
    reference_and_decided_claim(&staging_acme, Some(STAGING)).await;

    acme.publish(format!("{STAGING}.claims.submit.{ACME}"), "{}".into())
        .await
        .unwrap();
    acme.flush().await.unwrap();
    violation(&acme_errors, &format!("\"{STAGING}.claims.submit.{ACME}\"")).await;

    for (name, engine) in [("production", production), ("staging", staging)] {
        let (status, log) = engine.terminate().await;
        assert!(status.success(), "{name}: {log}");
        assert!(
            !log.to_lowercase().contains("permissions violation"),
            "the {name} engine lacked a right it needs:\n{log}"
        );
    }
}
