//! Schema evolution: an event stored with an older schema version is upcast on read, one
//! version at a time, and the log itself is never rewritten.

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use claims_adapters::aggregate::{AggregateError, StoredAggregate, StreamsRead, load, load_many};
use claims_adapters::event_store::{
    EventId, EventStore, ExpectedVersion, NewEvent, SqliteEventStore, StreamAppend, StreamId,
};
use claims_domain::Decider;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A provider registration whose event changed shape twice: version 1 kept the wallet as
/// `payout_address`; version 2 renamed it `wallet`; version 3 added the `network` it is on.
struct Registration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
enum RegistrationEvent {
    Registered {
        name: String,
        wallet: String,
        network: String,
    },
}

impl Decider for Registration {
    type State = Option<RegistrationEvent>;
    type Command = RegistrationEvent;
    type Event = RegistrationEvent;
    type Error = String;

    fn decide(_: &Self::State, command: Self::Command) -> Result<Vec<Self::Event>, String> {
        Ok(vec![command])
    }

    fn evolve(_: Self::State, event: &Self::Event) -> Self::State {
        Some(event.clone())
    }
}

impl StoredAggregate for Registration {
    const CATEGORY: &'static str = "registration";

    fn event_type(_: &RegistrationEvent) -> &'static str {
        "Registered"
    }

    fn schema_version(_: &str) -> u32 {
        3
    }

    fn upcast(
        event_type: &str,
        from: u32,
        mut payload: serde_json::Value,
    ) -> Option<serde_json::Value> {
        let fields = payload.as_object_mut()?;
        match (event_type, from) {
            ("Registered", 1) => {
                let wallet = fields.remove("payout_address")?;
                fields.insert("wallet".to_owned(), wallet);
            }
            // Every registration before networks were named was on the main chain.
            ("Registered", 2) => {
                fields.insert("network".to_owned(), json!("mainnet"));
            }
            _ => return None,
        }
        Some(payload)
    }
}

async fn store_raw(
    store: &dyn EventStore,
    stream: &StreamId,
    schema_version: u32,
    payload: serde_json::Value,
) {
    store
        .append(vec![StreamAppend {
            stream: stream.clone(),
            expected: ExpectedVersion::Any,
            events: vec![NewEvent {
                id: EventId::random(),
                event_type: "Registered".to_owned(),
                schema_version,
                payload,
                metadata: json!({}),
            }],
        }])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_version_1_event_is_read_as_the_current_version() {
    let store = SqliteEventStore::in_memory().await.unwrap();
    let stream = StreamId::new(Registration::CATEGORY, "clinic-a");
    let v1 = json!({ "type": "Registered", "name": "Clinic A", "payout_address": "0xabc" });
    store_raw(&store, &stream, 1, v1.clone()).await;

    let loaded = load::<Registration>(&store, stream.clone()).await.unwrap();
    assert_eq!(
        loaded.state,
        Some(RegistrationEvent::Registered {
            name: "Clinic A".to_owned(),
            wallet: "0xabc".to_owned(),
            network: "mainnet".to_owned(),
        })
    );

    let stored = store.read_stream(&stream, 1).await.unwrap();
    assert_eq!(
        stored[0].schema_version, 1,
        "the log keeps what was written"
    );
    assert_eq!(stored[0].payload, v1);
}

#[tokio::test]
async fn new_events_are_written_with_the_current_version() {
    let store = SqliteEventStore::in_memory().await.unwrap();
    let stream = StreamId::new(Registration::CATEGORY, "clinic-b");
    let loaded = load::<Registration>(&store, stream.clone()).await.unwrap();
    let event = RegistrationEvent::Registered {
        name: "Clinic B".to_owned(),
        wallet: "0xdef".to_owned(),
        network: "base".to_owned(),
    };
    let append = loaded
        .append(std::slice::from_ref(&event), &json!({}))
        .unwrap()
        .unwrap();
    store.append(vec![append]).await.unwrap();

    let stored = store.read_stream(&stream, 1).await.unwrap();
    assert_eq!(stored[0].schema_version, 3);
    assert_eq!(
        load::<Registration>(&store, stream).await.unwrap().state,
        Some(event)
    );
}

#[tokio::test]
async fn an_event_from_a_newer_engine_or_without_an_upcast_is_refused_with_the_reason() {
    let store = SqliteEventStore::in_memory().await.unwrap();
    let newer = StreamId::new(Registration::CATEGORY, "from-the-future");
    store_raw(&store, &newer, 4, json!({ "type": "Registered" })).await;
    let error = load::<Registration>(&store, newer).await.unwrap_err();
    assert!(matches!(error, AggregateError::Schema { .. }), "{error:?}");
    assert!(
        error.to_string().contains("newer than this engine's 3"),
        "{error}"
    );

    let broken = StreamId::new(Registration::CATEGORY, "no-payout-address");
    store_raw(
        &store,
        &broken,
        1,
        json!({ "type": "Registered", "name": "X" }),
    )
    .await;
    let error = load::<Registration>(&store, broken).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("no upcast from schema version 1 to 2"),
        "{error}"
    );
}

#[tokio::test]
async fn aggregates_read_together_load_as_they_do_alone_upcast_and_at_their_versions() {
    let store = SqliteEventStore::in_memory().await.unwrap();
    let old = StreamId::new(Registration::CATEGORY, "clinic-old");
    let new = StreamId::new(Registration::CATEGORY, "clinic-new");
    let never = StreamId::new(Registration::CATEGORY, "clinic-never");
    store_raw(
        &store,
        &old,
        1,
        json!({ "type": "Registered", "name": "Old", "payout_address": "0x1" }),
    )
    .await;
    store_raw(
        &store,
        &new,
        3,
        json!({ "type": "Registered", "name": "New", "wallet": "0x2", "network": "base" }),
    )
    .await;
    store_raw(
        &store,
        &new,
        3,
        json!({ "type": "Registered", "name": "Newer", "wallet": "0x3", "network": "base" }),
    )
    .await;

    let together = load_many::<Registration>(&store, vec![new.clone(), never.clone(), old.clone()])
        .await
        .unwrap();
    for (loaded, stream) in together.iter().zip([&new, &never, &old]) {
        let alone = load::<Registration>(&store, stream.clone()).await.unwrap();
        assert_eq!(&loaded.stream, stream);
        assert_eq!(loaded.version, alone.version);
        assert_eq!(loaded.state, alone.state);
    }
    assert_eq!(
        together
            .iter()
            .map(|loaded| loaded.version)
            .collect::<Vec<_>>(),
        [2, 0, 1]
    );

    // A stream that was not read is refused, not taken for empty.
    let read = StreamsRead::read(&store, [old.clone()]).await.unwrap();
    assert!(read.contains(&old));
    assert!(matches!(
        read.load::<Registration>(&new),
        Err(AggregateError::NotRead(stream)) if stream == new
    ));

    // Reading more adds the streams missing and keeps those read as they were read.
    store_raw(
        &store,
        &old,
        3,
        json!({ "type": "Registered", "name": "Older", "wallet": "0x4", "network": "base" }),
    )
    .await;
    let mut read = read;
    read.read_more(&store, [old.clone(), new.clone()])
        .await
        .unwrap();
    assert_eq!(read.load::<Registration>(&old).unwrap().version, 1);
    assert_eq!(read.load::<Registration>(&new).unwrap().version, 2);
}
