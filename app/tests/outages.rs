//! Outages: a server the engine depends on goes away and comes back, and the engine carries
//! on by itself. Claims sent before, during and after are each decided exactly once, and
//! the insurer hears every decision.
//!
//! Each test runs its own nats-server (`support/nats_server.rs`). The PostgreSQL server is
//! shared, so its outages are played without touching it: one test closes only its own
//! engine's connections, found by their application name; another reaches the server
//! through a proxy it cuts (`support/tcp_proxy.rs`).

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use async_nats::jetstream;
use chrono::NaiveDate;
use claims::clock::FixedClock;
use claims::engine::{BusChoice, Database, EmbeddedConfig, Engine};
use claims::reference::ReferenceData;
use claims_adapters::aggregate::streams;
use claims_domain::ClaimId;
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

use support::insurer::{self, header};
use support::nats_server::NatsServer;
use support::tcp_proxy::TcpProxy;

const SUBMIT: &str = "claims.submit.acme-health";
const OUTCOMES: &str = "claims.outcome.acme-health";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_sent_after_nats_restarted_are_decided_without_restarting_the_engine() {
    let mut server = NatsServer::start().await;
    let engine = engine_on(&server, Database::InMemory).await;
    let (_client, jetstream, mut outcomes) = insurer_on(&server).await;

    send(&jetstream, "OUTAGE-1").await;
    let mut decided = BTreeSet::new();
    hear_decisions(&mut outcomes, &mut decided, 1, Duration::from_secs(60)).await;

    // A crash of the server: both the engine's and the insurer's connections drop, and
    // the stream and the engine's queues come back from disk. The restarted server has
    // forgotten the pull requests the engine's workers had outstanding; a worker that
    // waited for one to run out would sit idle for 5 to 8 s (its 3 s expiry, then the
    // client's own 5 s), so the claims must be decided well before that.
    server.restart().await;
    for claim_ref in ["OUTAGE-2", "OUTAGE-3"] {
        send(&jetstream, claim_ref).await;
    }
    hear_decisions(&mut outcomes, &mut decided, 3, Duration::from_secs(4)).await;

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
async fn claims_sent_while_postgresql_is_away_are_held_not_dead_lettered() {
    let schema = pg_support::TestSchema::new().await;
    let server = NatsServer::start().await;
    // The engine reaches PostgreSQL through a proxy the test can cut, as an outage of the
    // server would look to it.
    let options = PgConnectOptions::from_str(&schema.url).unwrap();
    let upstream = format!("{}:{}", options.get_host(), options.get_port());
    let proxy = TcpProxy::start(upstream.clone()).await;
    assert!(
        schema.url.contains(&upstream),
        "the test URL {} does not spell its server as {upstream}",
        schema.url
    );
    let engine = engine_on(
        &server,
        in_schema(&schema, schema.url.replacen(&upstream, &proxy.address, 1)),
    )
    .await;
    let (client, jetstream, mut outcomes) = insurer_on(&server).await;
    let mut dead_letters = client.subscribe("deadletter.>").await.unwrap();
    client.flush().await.unwrap();

    let mut decided = BTreeSet::new();
    for number in 1..=5 {
        send(&jetstream, &format!("AWAY-{number}")).await;
    }
    hear_decisions(&mut outcomes, &mut decided, 5, Duration::from_secs(60)).await;

    // Away for longer than a message's five deliveries last (about 2 s for intake, 1 s for
    // adjudication): claims sent meanwhile are taken from the stream and held, not spent.
    proxy.cut();
    for number in 6..=10 {
        send(&jetstream, &format!("AWAY-{number}")).await;
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    proxy.restore();
    hear_decisions(&mut outcomes, &mut decided, 10, Duration::from_secs(60)).await;

    each_decided_once(&engine, &decided).await;
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
    engine.shutdown().await;
}

/// The engine with every role on `server`, deciding on 2026-04-12, with the example plan,
/// members and providers.
async fn engine_on(server: &NatsServer, database: Database) -> Engine {
    let clock = Arc::new(FixedClock::on(
        NaiveDate::from_ymd_opt(2026, 4, 12).unwrap(),
    ));
    let engine = Engine::start_embedded(EmbeddedConfig {
        bus: BusChoice::nats(server.url.clone(), insurer::STREAM),
        ..EmbeddedConfig::new(database, clock)
    })
    .await
    .unwrap();
    let reference = ReferenceData::from_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reference-data.toml"),
    )
    .unwrap();
    engine.load_reference_data(&reference).await.unwrap();
    engine
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
    let body = serde_json::json!({
        "claim_ref": claim_ref,
        "member": "M-1001",
        "provider": "clinic-a",
        "received_on": "2026-04-11",
        "lines": [{
            "procedure": "99213",
            "diagnoses": ["J06.9"],
            "date_of_service": "2026-04-10",
            "units": 1,
            "billed": "180.00 USD"
        }]
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

/// Listens until `decided` holds `count` claims, adding the claim of each decision heard;
/// fails if that takes longer than `within`.
async fn hear_decisions(
    outcomes: &mut async_nats::Subscriber,
    decided: &mut BTreeSet<ClaimId>,
    count: usize,
    within: Duration,
) {
    use futures::StreamExt;
    let deadline = Instant::now() + within;
    while decided.len() < count {
        let notice = tokio::time::timeout_at(deadline, outcomes.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} of {count} claims decided within {within:?}: {decided:?}",
                    decided.len()
                )
            })
            .expect("the subscription is open");
        if header(&notice, "Claims-Notice") == Some("decided") {
            let claim = header(&notice, "Claims-Claim-Id").unwrap();
            decided.insert(ClaimId::from_str(claim).unwrap());
        }
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
