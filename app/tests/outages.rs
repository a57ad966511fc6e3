//! Outages: a server the engine depends on goes away and comes back, and the engine carries
//! on by itself. Claims sent before, during and after are each decided exactly once, and
//! the insurer hears every decision.
//!
//! A fault that does not pass is the other side: what cannot be stored in a message's
//! five deliveries is answered `rejected` and dead-lettered.
//!
//! Each test runs its own nats-server (`support/nats_server.rs`). The PostgreSQL server is
//! shared, so its outages are played without touching it: one test closes only its own
//! engine's connections, found by their application name; another reaches the server
//! through a proxy it cuts (`support/tcp_proxy.rs`).

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use async_nats::jetstream;
use chrono::NaiveDate;
use claims::clock::FixedClock;
use claims::engine::{BusChoice, Database, EmbeddedConfig, Engine, Role};
use claims::intake::{IntakeReply, ReplyStatus};
use claims::reference::ReferenceData;
use claims::reference_intake::ReferenceReply;
use claims::review_intake::ReviewReply;
use claims::settler::SettlerConfig;
use claims_adapters::aggregate::streams;
use claims_domain::claim::ClaimStatus;
use claims_domain::{ClaimId, InsurerClaimRef, InsurerId};
use sqlx::postgres::PgConnectOptions;
use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

#[path = "../../adapters/tests/pg_support/mod.rs"]
#[allow(
    dead_code,
    reason = "the engine opens its own store in the test's schema"
)]
mod pg_support;
mod support;

use support::engine_process::EngineProcess;
use support::http;
use support::insurer::{self, header, next};
use support::nats_server::NatsServer;
use support::tcp_proxy::TcpProxy;

const SUBMIT: &str = "claims.submit.acme-health";
const OUTCOMES: &str = "claims.outcome.acme-health";
const CLAIM_ACKS: &str = "claims.ack.acme-health";
const REFERENCE_ACKS: &str = "claims.reference-ack.acme-health";
const REVIEW_ACKS: &str = "claims.review-ack.acme-health";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_sent_after_nats_restarted_are_decided_without_restarting_the_engine() {
    let mut server = NatsServer::start().await;
    let engine = engine_on(&server, Database::InMemory).await;
    let (_client, jetstream, mut outcomes) = insurer_on(&server).await;

    send(&jetstream, "OUTAGE-1").await;
    let mut decided = BTreeSet::new();
    hear_decisions(&mut outcomes, &mut decided, 1, Duration::from_secs(60)).await;
    shows(&engine, "claims_bus_connected 1").await;

    // A crash of the server: both the engine's and the insurer's connections drop, and
    // the stream and the engine's queues come back from disk. The restarted server has
    // forgotten the pull requests the engine's workers had outstanding; a worker that
    // waited for one to run out would sit idle for 5 to 8 s (its 3 s expiry, then the
    // client's own 5 s), so the claims must be decided well before that.
    server.kill();
    shows(&engine, "claims_bus_connected 0").await;
    server.start_again().await;
    for claim_ref in ["OUTAGE-2", "OUTAGE-3"] {
        send(&jetstream, claim_ref).await;
    }
    hear_decisions(&mut outcomes, &mut decided, 3, Duration::from_secs(4)).await;
    shows(&engine, "claims_bus_connected 1").await;
    shows(&engine, "claims_bus_reconnections_total 1").await;

    each_decided_once(&engine, &decided).await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_keep_being_decided_when_postgresql_closes_the_engines_connections() {
    let schema = pg_support::TestSchema::new().await;
    let server = NatsServer::start().await;
    // Named, so that the test closes this engine's connections and no one else's.
    let application = format!("claims-outage-{}", uuid::Uuid::new_v4().simple());
    let engine = engine_on(&server, in_schema(&schema, schema.url_named(&application))).await;
    let (_client, jetstream, mut outcomes) = insurer_on(&server).await;

    let mut decided = BTreeSet::new();
    for number in 1..=10 {
        send(&jetstream, &format!("PG-OUTAGE-{number}")).await;
    }
    hear_decisions(&mut outcomes, &mut decided, 10, Duration::from_secs(60)).await;

    // As a restart or a failover of the server would: every connection of the engine's,
    // including those it used a moment ago and will hand out untested, is closed at once.
    let closed = schema.close_connections_of(&application).await;
    assert!(closed >= 1, "the engine held no connection to close");
    for number in 11..=20 {
        send(&jetstream, &format!("PG-OUTAGE-{number}")).await;
    }
    hear_decisions(&mut outcomes, &mut decided, 20, Duration::from_secs(60)).await;

    each_decided_once(&engine, &decided).await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_insurers_send_while_postgresql_is_away_is_held_not_dead_lettered() {
    let schema = pg_support::TestSchema::new().await;
    let server = NatsServer::start().await;
    // The engine reaches PostgreSQL through a proxy the test can cut, as an outage of the
    // server would look to it.
    let (proxy, database) = behind_proxy(&schema).await;
    let engine = engine_on(&server, database).await;
    let (client, jetstream, mut outcomes) = insurer_on(&server).await;
    let mut dead_letters = client.subscribe("deadletter.>").await.unwrap();
    let mut reference_acks = client.subscribe(REFERENCE_ACKS).await.unwrap();
    let mut review_acks = client.subscribe(REVIEW_ACKS).await.unwrap();
    client.flush().await.unwrap();

    let mut decided = BTreeSet::new();
    for number in 1..=5 {
        send(&jetstream, &format!("AWAY-{number}")).await;
    }
    hear_decisions(&mut outcomes, &mut decided, 5, Duration::from_secs(60)).await;
    // A claim above the plan's review threshold waits for a reviewer (its pending is a
    // decision of its own, so it is kept apart from those counted once below).
    send_line(&jetstream, "AWAY-REVIEW", office_visit("60000.00 USD")).await;
    let reviewed = ClaimId::for_submission(
        &InsurerId::new("acme-health").unwrap(),
        &InsurerClaimRef::new("AWAY-REVIEW").unwrap(),
    );
    engine
        .wait_for_claim(reviewed, "pended", Duration::from_secs(60), |state| {
            state.status == Some(ClaimStatus::Pended)
        })
        .await
        .unwrap();

    // Away for longer than a message's five deliveries last (about 2 s for intake, 1 s for
    // adjudication): claims, reference data and reviewers' commands sent meanwhile are
    // taken from the stream and held, not spent.
    proxy.cut();
    for number in 6..=10 {
        send(&jetstream, &format!("AWAY-{number}")).await;
    }
    send_new_provider(&jetstream, "AWAY-PROVIDER").await;
    send_approval(&jetstream, "AWAY-REVIEW").await;
    let cut_at = Instant::now();
    // The operators' gauge shows work waiting for the store.
    let deadline = cut_at + Duration::from_secs(6);
    while sample_of(&engine, "claims_held_messages") == 0 {
        assert!(
            Instant::now() < deadline,
            "no message shown held:\n{}",
            engine.metrics().render()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep_until(cut_at + Duration::from_secs(8)).await;
    proxy.restore();
    hear_decisions(&mut outcomes, &mut decided, 11, Duration::from_secs(60)).await;
    shows(&engine, "claims_held_messages 0").await;

    let stored: ReferenceReply = serde_json::from_slice(
        &next(&mut reference_acks, "the reference answer")
            .await
            .payload,
    )
    .unwrap();
    assert_eq!(
        (stored.status, stored.stored),
        (ReplyStatus::Accepted, 1),
        "{stored:?}"
    );
    let review: ReviewReply =
        serde_json::from_slice(&next(&mut review_acks, "the review answer").await.payload).unwrap();
    assert_eq!(review.status, ReplyStatus::Accepted, "{review:?}");
    // Decided by the plan's rules now that a reviewer has looked (its allowed 120.00 goes to
    // the copay and the deductible, so the plan pays nothing and it is denied): what
    // matters here is that it is decided, no longer pended.
    assert!(
        review
            .decision
            .as_deref()
            .is_some_and(|decision| decision != "pended"),
        "{review:?}"
    );
    decided.remove(&reviewed);
    each_decided_once(&engine, &decided).await;
    nothing_dead_lettered(&mut dead_letters).await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_shows_on_its_own_probes_that_it_waits_for_postgresql() {
    let schema = pg_support::TestSchema::new().await;
    let server = NatsServer::start().await;
    // The front (intake, relay, outcomes) reaches PostgreSQL directly; the adjudicators run
    // in a `claims serve --role adjudicator` process of their own, through a proxy the test
    // cuts, so only they lose the store.
    let front = Engine::start_embedded(EmbeddedConfig {
        bus: BusChoice::nats(server.url.clone(), insurer::STREAM),
        roles: Role::ALL
            .into_iter()
            .filter(|role| *role != Role::Adjudicator)
            .collect(),
        ..EmbeddedConfig::new(in_schema(&schema, schema.url.clone()), clock())
    })
    .await
    .unwrap();
    front
        .load_reference_data(&ReferenceData::from_file(&examples("reference-data.toml")).unwrap())
        .await
        .unwrap();
    let (proxy, Database::Postgres { url: proxied, .. }) = behind_proxy(&schema).await else {
        unreachable!("behind_proxy gives a PostgreSQL database")
    };
    let worker = EngineProcess::start(
        &format!(
            "roles = [\"adjudicator\"]\ndatabase_url = {proxied:?}\ndatabase_schema = {:?}\n\
             nats_url = {:?}\nstream = {:?}\nlog_level = \"info\"\n",
            schema.name,
            server.url,
            insurer::STREAM,
        ),
        &[],
    )
    .await;
    let (_client, jetstream, mut outcomes) = insurer_on(&server).await;

    // Up, ready, connected, holding nothing; and only the probes are served.
    assert_eq!(http::get(&worker.address, "/ready").await.status, 200);
    let metrics = http::get(&worker.address, "/metrics").await.body;
    for sample in ["claims_bus_connected 1", "claims_held_messages 0"] {
        assert!(metrics.lines().any(|line| line == sample), "{metrics}");
    }
    assert!(!metrics.contains("claims_received_total"), "{metrics}");
    let elsewhere = http::get(&worker.address, "/payouts").await;
    assert_eq!(elsewhere.status, 404);
    assert!(
        elsewhere.json()["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("without the api role")),
        "{}",
        elsewhere.body
    );
    let mut decided = BTreeSet::new();
    send(&jetstream, "PROBED-1").await;
    hear_decisions(&mut outcomes, &mut decided, 1, Duration::from_secs(60)).await;

    // Cut off: the claims the worker takes meanwhile are held, and its probes say so.
    proxy.cut();
    for number in 2..=4 {
        send(&jetstream, &format!("PROBED-{number}")).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = http::get(&worker.address, "/metrics").await.body;
        if held_in(&metrics) > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no message shown held:\n{metrics}\n{}",
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let not_ready = http::get(&worker.address, "/ready").await;
    assert_eq!(not_ready.status, 503, "{}", not_ready.body);
    assert_eq!(not_ready.json()["status"], "not-ready");
    assert!(
        not_ready.json()["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("takes no writes")),
        "{}",
        not_ready.body
    );

    // Back: the held claims are decided, and the probes clear.
    proxy.restore();
    hear_decisions(&mut outcomes, &mut decided, 4, Duration::from_secs(60)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while held_in(&http::get(&worker.address, "/metrics").await.body) > 0 {
        assert!(
            Instant::now() < deadline,
            "still shown held:\n{}",
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(http::get(&worker.address, "/ready").await.status, 200);
    each_decided_once(&front, &decided).await;
    let (status, log) = worker.terminate().await;
    assert!(status.success(), "{log}");
    front.shutdown().await;
}

/// The value of `claims_held_messages` in a `/metrics` text.
fn held_in(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("claims_held_messages "))
        .unwrap_or_else(|| panic!("no claims_held_messages in\n{metrics}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_sent_while_postgresql_refuses_writes_are_held_not_dead_lettered() {
    let schema = pg_support::TestSchema::new().await;
    let server = NatsServer::start().await;
    // The engine logs in as a role of its own, which the test makes read-only, as a standby
    // not yet promoted after a failover (or a database set read-only for maintenance) is:
    // every read answers, every write is refused.
    let role = EngineRole::create(&schema).await;
    let application = format!("claims-read-only-{}", uuid::Uuid::new_v4().simple());
    let engine = engine_on(&server, in_schema(&schema, role.url(&application))).await;
    let (client, jetstream, mut outcomes) = insurer_on(&server).await;
    let mut dead_letters = client.subscribe("deadletter.>").await.unwrap();
    client.flush().await.unwrap();

    let mut decided = BTreeSet::new();
    for number in 1..=3 {
        send(&jetstream, &format!("READ-ONLY-{number}")).await;
    }
    hear_decisions(&mut outcomes, &mut decided, 3, Duration::from_secs(60)).await;

    // Read-only for longer than a message's five deliveries last (about 2 s for intake).
    role.read_only(true).await;
    schema.close_connections_of(&application).await;
    for number in 4..=8 {
        send(&jetstream, &format!("READ-ONLY-{number}")).await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    role.read_only(false).await;
    schema.close_connections_of(&application).await;
    hear_decisions(&mut outcomes, &mut decided, 8, Duration::from_secs(60)).await;

    each_decided_once(&engine, &decided).await;
    nothing_dead_lettered(&mut dead_letters).await;
    engine.shutdown().await;
    role.drop_role().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_claims_waiting_for_payment_are_held_while_postgresql_is_away() {
    let schema = pg_support::TestSchema::new().await;
    let server = NatsServer::start().await;
    let (proxy, database) = behind_proxy(&schema).await;
    // The settler gathers claims for a second before it pays them, and then a failed batch
    // is tried again after 1, 2, 3 and 4 s, each time gathering for a second first: without
    // holding, an outage of 20 s would spend all five deliveries.
    let settler = SettlerConfig {
        max_batch: 100,
        max_wait: Some(Duration::from_secs(1)),
    };
    let engine = engine_paying_on(&server, database, settler).await;
    let (client, jetstream, mut outcomes) = insurer_on(&server).await;
    let mut dead_letters = client.subscribe("deadletter.>").await.unwrap();
    client.flush().await.unwrap();

    // Knee arthroscopies on three days: allowed 1,000.00 each, the plan pays its share.
    for day in 1..=3 {
        let surgery = serde_json::json!({
            "procedure": "29881",
            "date_of_service": format!("2026-04-0{day}"),
            "billed": "1200.00 USD"
        });
        send_line(&jetstream, &format!("UNPAID-{day}"), surgery).await;
    }
    let mut decided = BTreeSet::new();
    hear_decisions(&mut outcomes, &mut decided, 3, Duration::from_secs(60)).await;
    // The settler has the claims as the notifier does, and pays them a second later.
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(20)).await;
    proxy.restore();
    let mut paid = BTreeSet::new();
    hear_notices(&mut outcomes, "paid", &mut paid, 3, Duration::from_secs(60)).await;
    assert_eq!(paid, decided);
    nothing_dead_lettered(&mut dead_letters).await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_stored_in_five_attempts_is_answered_and_dead_lettered() {
    let schema = pg_support::TestSchema::new().await;
    let server = NatsServer::start().await;
    let engine = engine_on(&server, in_schema(&schema, schema.url.clone())).await;
    let (client, jetstream, mut outcomes) = insurer_on(&server).await;
    let mut dead_letters = client.subscribe("deadletter.>").await.unwrap();
    let mut claim_acks = client.subscribe(CLAIM_ACKS).await.unwrap();
    let mut reference_acks = client.subscribe(REFERENCE_ACKS).await.unwrap();
    let mut review_acks = client.subscribe(REVIEW_ACKS).await.unwrap();
    client.flush().await.unwrap();
    // A claim waiting for a reviewer, before the fault.
    send_line(&jetstream, "FAULT-REVIEW", office_visit("60000.00 USD")).await;
    let mut decided = BTreeSet::new();
    hear_decisions(&mut outcomes, &mut decided, 1, Duration::from_secs(60)).await;
    next(&mut claim_acks, "the answer to the claim under review").await;

    // A fault that does not pass while the database takes writes (here a trigger refusing
    // every new event; in life a full tablespace, a revoked grant, a bug): each message
    // spends its five deliveries, and its sender hears it was not stored.
    let mut admin = schema.connection().await;
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'events refused for the test'; END $$; \
         CREATE TRIGGER refuse_events BEFORE INSERT ON events \
         FOR EACH ROW EXECUTE FUNCTION refuse_events();",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    send(&jetstream, "FAULT-1").await;
    send_new_provider(&jetstream, "FAULT-PROVIDER").await;
    send_approval(&jetstream, "FAULT-REVIEW").await;

    let claim: IntakeReply =
        serde_json::from_slice(&next(&mut claim_acks, "the claim's answer").await.payload).unwrap();
    assert_eq!(claim.status, ReplyStatus::Rejected, "{claim:?}");
    assert_eq!(claim.claim_ref.as_deref(), Some("FAULT-1"));
    assert_eq!(claim.reasons[0].code, "not-stored", "{claim:?}");
    assert!(
        claim.reasons[0]
            .message
            .contains("events refused for the test"),
        "{claim:?}"
    );
    let reference: ReferenceReply = serde_json::from_slice(
        &next(&mut reference_acks, "the reference answer")
            .await
            .payload,
    )
    .unwrap();
    assert_eq!(reference.status, ReplyStatus::Rejected, "{reference:?}");
    assert!(
        reference.reasons[0].contains("could not store this reference data in 5 attempts"),
        "{reference:?}"
    );
    let review: ReviewReply =
        serde_json::from_slice(&next(&mut review_acks, "the review answer").await.payload).unwrap();
    assert_eq!(review.status, ReplyStatus::Rejected, "{review:?}");
    assert!(
        review.reasons[0].contains("could not store this review in 5 attempts"),
        "{review:?}"
    );
    let mut lettered = BTreeSet::new();
    while lettered.len() < 3 {
        let letter = next(&mut dead_letters, "a dead letter").await;
        lettered.insert(letter.subject.to_string());
    }
    assert_eq!(
        lettered,
        BTreeSet::from(
            [
                "deadletter.intake",
                "deadletter.reference",
                "deadletter.reviews"
            ]
            .map(String::from)
        )
    );
    engine.shutdown().await;
}

/// The engine with every role on `server`, deciding on 2026-04-12, with the example plan,
/// members and providers.
async fn engine_on(server: &NatsServer, database: Database) -> Engine {
    engine_paying_on(
        server,
        database,
        EmbeddedConfig::new(Database::InMemory, clock()).settler,
    )
    .await
}

/// [`engine_on`], its settler paying as `settler` says.
async fn engine_paying_on(
    server: &NatsServer,
    database: Database,
    settler: SettlerConfig,
) -> Engine {
    let engine = Engine::start_embedded(EmbeddedConfig {
        bus: BusChoice::nats(server.url.clone(), insurer::STREAM),
        settler,
        ..EmbeddedConfig::new(database, clock())
    })
    .await
    .unwrap();
    let reference = ReferenceData::from_file(&examples("reference-data.toml")).unwrap();
    engine.load_reference_data(&reference).await.unwrap();
    engine
}

/// A file of the repository's `examples/`.
fn examples(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(file)
}

/// The engine's clock: deciding on 2026-04-12.
fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::on(
        NaiveDate::from_ymd_opt(2026, 4, 12).unwrap(),
    ))
}

/// A proxy to the test's PostgreSQL server, and the test's schema reached through it.
async fn behind_proxy(schema: &pg_support::TestSchema) -> (TcpProxy, Database) {
    let options = PgConnectOptions::from_str(&schema.url).unwrap();
    let upstream = format!("{}:{}", options.get_host(), options.get_port());
    let proxy = TcpProxy::start(upstream.clone()).await;
    assert!(
        schema.url.contains(&upstream),
        "the test URL {} does not spell its server as {upstream}",
        schema.url
    );
    let url = schema.url.replacen(&upstream, &proxy.address, 1);
    (proxy, in_schema(schema, url))
}

/// A login role for one engine, whose new sessions the test can make read-only.
struct EngineRole<'a> {
    schema: &'a pg_support::TestSchema,
    name: String,
}

impl<'a> EngineRole<'a> {
    /// A superuser role (so that it may do in the test's schema all the engine does),
    /// logging in as the test server lets any role (trust, on the test machine).
    async fn create(schema: &'a pg_support::TestSchema) -> Self {
        let name = format!("claims_outage_{}", uuid::Uuid::new_v4().simple());
        let role = Self { schema, name };
        role.run(&format!("CREATE ROLE {} LOGIN SUPERUSER", role.name))
            .await;
        role
    }

    /// The test server's URL as this role, with `application` as its application name.
    fn url(&self, application: &str) -> String {
        let server = PgConnectOptions::from_str(&self.schema.url).unwrap();
        format!(
            "postgres://{}@{}:{}/{}?application_name={application}",
            self.name,
            server.get_host(),
            server.get_port(),
            server.get_database().unwrap_or("test"),
        )
    }

    /// Makes the role's sessions from now on read-only, or writable again.
    async fn read_only(&self, read_only: bool) {
        let statement = if read_only {
            format!(
                "ALTER ROLE {} SET default_transaction_read_only = on",
                self.name
            )
        } else {
            format!(
                "ALTER ROLE {} RESET default_transaction_read_only",
                self.name
            )
        };
        self.run(&statement).await;
    }

    /// Drops the role, handing what it created to the test's own.
    async fn drop_role(self) {
        self.run(&format!("REASSIGN OWNED BY {} TO CURRENT_USER", self.name))
            .await;
        self.run(&format!("DROP ROLE {}", self.name)).await;
    }

    async fn run(&self, statement: &str) {
        let mut admin = self.schema.connection().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
}

/// The test's schema, reached at `url` (the server's, renamed or through a proxy).
fn in_schema(schema: &pg_support::TestSchema, url: String) -> Database {
    Database::Postgres {
        url,
        schema: Some(schema.name.clone()),
    }
}

/// The insurer's connection to `server`, listening for its outcome notices.
async fn insurer_on(
    server: &NatsServer,
) -> (
    async_nats::Client,
    jetstream::Context,
    async_nats::Subscriber,
) {
    let (client, jetstream) = server.connect().await;
    let outcomes = client.subscribe(OUTCOMES).await.unwrap();
    client.flush().await.unwrap();
    (client, jetstream, outcomes)
}

/// Publishes an office visit as `claim_ref` through JetStream, again and again until the
/// stream stores it: while the server is away the insurer's client is reconnecting, and
/// the message id makes a repeat harmless.
async fn send(jetstream: &jetstream::Context, claim_ref: &str) {
    send_line(jetstream, claim_ref, office_visit("180.00 USD")).await;
}

/// An office visit on 2026-04-10, billed `billed`.
fn office_visit(billed: &str) -> serde_json::Value {
    serde_json::json!({
        "procedure": "99213",
        "diagnoses": ["J06.9"],
        "date_of_service": "2026-04-10",
        "units": 1,
        "billed": billed
    })
}

/// Publishes a claim of member M-1001 at clinic A for one service `line`, as [`send`] does.
async fn send_line(jetstream: &jetstream::Context, claim_ref: &str, line: serde_json::Value) {
    let body = serde_json::json!({
        "claim_ref": claim_ref,
        "member": "M-1001",
        "provider": "clinic-a",
        "received_on": "2026-04-11",
        "lines": [line]
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", claim_ref);
        headers.insert("Content-Type", "application/json");
        let stored = match jetstream
            .publish_with_headers(SUBMIT, headers, body.to_string().into())
            .await
        {
            Ok(ack) => ack.await.map(|_| ()).map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match stored {
            Ok(()) => return,
            Err(error) => assert!(
                Instant::now() < deadline,
                "the stream did not take {claim_ref} within 30 s: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Publishes reference data adding provider clinic-z, under `message_id`.
async fn send_new_provider(jetstream: &jetstream::Context, message_id: &str) {
    let new_provider = serde_json::json!({
        "provider": [{ "id": "clinic-z", "name": "Clinic Z",
                       "wallet": "0x52908400098527886E0F7030069857D2E4169EE8" }]
    });
    insurer::publish(
        jetstream,
        "claims.reference.acme-health",
        message_id,
        "application/json",
        None,
        new_provider.to_string().into_bytes(),
    )
    .await;
}

/// Publishes a reviewer's approval of the pended claim `claim_ref`.
async fn send_approval(jetstream: &jetstream::Context, claim_ref: &str) {
    let approval = serde_json::json!({
        "claim_ref": claim_ref, "reviewer": "Dr Rao", "verdict": "approve"
    });
    insurer::publish(
        jetstream,
        "claims.review.acme-health",
        &format!("{claim_ref}-APPROVED"),
        "application/json",
        None,
        approval.to_string().into_bytes(),
    )
    .await;
}

/// Listens until `decided` holds `count` claims, adding the claim of each decision heard;
/// fails if that takes longer than `within`.
async fn hear_decisions(
    outcomes: &mut async_nats::Subscriber,
    decided: &mut BTreeSet<ClaimId>,
    count: usize,
    within: Duration,
) {
    hear_notices(outcomes, "decided", decided, count, within).await;
}

/// Listens until `heard` holds `count` claims, adding the claim of each notice of `kind`
/// (`Claims-Notice`) heard; fails if that takes longer than `within`.
async fn hear_notices(
    outcomes: &mut async_nats::Subscriber,
    kind: &str,
    heard: &mut BTreeSet<ClaimId>,
    count: usize,
    within: Duration,
) {
    use futures::StreamExt;
    let deadline = Instant::now() + within;
    while heard.len() < count {
        let notice = tokio::time::timeout_at(deadline, outcomes.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} of {count} claims {kind} within {within:?}: {heard:?}",
                    heard.len()
                )
            })
            .expect("the subscription is open");
        if header(&notice, "Claims-Notice") == Some(kind) {
            let claim = header(&notice, "Claims-Claim-Id").unwrap();
            heard.insert(ClaimId::from_str(claim).unwrap());
        }
    }
}

/// Fails if a dead letter arrives within half a second.
async fn nothing_dead_lettered(dead_letters: &mut async_nats::Subscriber) {
    use futures::StreamExt;
    if let Ok(Some(letter)) =
        tokio::time::timeout(Duration::from_millis(500), dead_letters.next()).await
    {
        panic!(
            "dead-lettered on {}: {:?}",
            letter.subject,
            header(&letter, "Claims-Dead-Letter-Reason")
        );
    }
}

/// The value of the sample `name` (without labels) in the engine's `/metrics`.
fn sample_of(engine: &Engine, name: &str) -> u64 {
    let text = engine.metrics().render();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

/// Waits up to 5 s for the engine's `/metrics` to hold the line `sample`.
async fn shows(engine: &Engine, sample: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !engine.metrics().render().lines().any(|line| line == sample) {
        assert!(
            Instant::now() < deadline,
            "the metrics do not show {sample} within 5 s:\n{}",
            engine.metrics().render()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each claim's stream holds one decision: none was decided twice.
async fn each_decided_once(engine: &Engine, decided: &BTreeSet<ClaimId>) {
    for claim in decided {
        let events = engine
            .store()
            .read_stream(&streams::claim(*claim), 1)
            .await
            .unwrap();
        let decisions = events
            .iter()
            .filter(|event| event.event_type == "ClaimAdjudicated")
            .count();
        assert_eq!(decisions, 1, "claim {claim}: {events:#?}");
    }
}
