//! Reading through a [`FoldCache`]: a stream's state folded before is taken up again and
//! only the events appended since are read and folded on, with the same state and version
//! as reading the whole stream. And folding a stream read only up to one of its events
//! (`StreamsRead::load_before`).

#![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

use claims_adapters::aggregate::{AggregateError, StoredAggregate, StreamsRead, load};
use claims_adapters::event_store::{
    EventId, EventStore, ExpectedVersion, NewEvent, SqliteEventStore, StreamAppend, StreamId,
};
use claims_adapters::fold_cache::FoldCache;
use claims_domain::Decider;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Marks on a tally: its state is every mark in the order folded.
struct Tally;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
enum TallyEvent {
    Marked { mark: u32 },
}

impl Decider for Tally {
    type State = Vec<u32>;
    type Command = u32;
    type Event = TallyEvent;
    type Error = String;

    fn decide(_: &Self::State, mark: u32) -> Result<Vec<Self::Event>, String> {
        Ok(vec![TallyEvent::Marked { mark }])
    }

    fn evolve(mut state: Self::State, event: &Self::Event) -> Self::State {
        let TallyEvent::Marked { mark } = event;
        state.push(*mark);
        state
    }
}

impl StoredAggregate for Tally {
    const CATEGORY: &'static str = "tally";

    fn event_type(_: &TallyEvent) -> &'static str {
        "Marked"
    }
}

async fn mark(store: &dyn EventStore, stream: &StreamId, marks: &[u32]) {
    store
        .append(vec![StreamAppend {
            stream: stream.clone(),
            expected: ExpectedVersion::Any,
            events: marks
                .iter()
                .map(|mark| NewEvent {
                    id: EventId::random(),
                    event_type: "Marked".to_owned(),
                    schema_version: 1,
                    payload: json!({ "type": "Marked", "mark": mark }),
                    metadata: json!({}),
                })
                .collect(),
        }])
        .await
        .unwrap();
}

async fn load_through(
    cache: &FoldCache,
    store: &dyn EventStore,
    stream: &StreamId,
) -> (Vec<u32>, u64) {
    let read = StreamsRead::read_through(Some(cache.clone()), store, [stream.clone()])
        .await
        .unwrap();
    let loaded = read.load::<Tally>(stream).unwrap();
    (loaded.state, loaded.version)
}

#[tokio::test]
async fn a_kept_state_continues_with_the_events_appended_since() {
    let store = SqliteEventStore::in_memory().await.unwrap();
    let cache = FoldCache::new(&[Tally::CATEGORY], 100);
    let tally = StreamId::new(Tally::CATEGORY, "a");
    mark(&store, &tally, &[1, 2]).await;

    assert_eq!(load_through(&cache, &store, &tally).await, (vec![1, 2], 2));
    assert_eq!(cache.len(), 1);
    // Nothing new: the kept state, at its version.
    assert_eq!(load_through(&cache, &store, &tally).await, (vec![1, 2], 2));
    mark(&store, &tally, &[3]).await;
    mark(&store, &tally, &[4, 5]).await;
    assert_eq!(
        load_through(&cache, &store, &tally).await,
        (vec![1, 2, 3, 4, 5], 5)
    );
    let whole = load::<Tally>(&store, tally.clone()).await.unwrap();
    assert_eq!((whole.state, whole.version), (vec![1, 2, 3, 4, 5], 5));

    // A stream never written is not kept: its first events are read whole.
    let empty = StreamId::new(Tally::CATEGORY, "b");
    assert_eq!(load_through(&cache, &store, &empty).await, (vec![], 0));
    mark(&store, &empty, &[7]).await;
    assert_eq!(load_through(&cache, &store, &empty).await, (vec![7], 1));
}

#[tokio::test]
async fn only_the_events_after_the_kept_version_are_read() {
    // Two stores hold the same stream name with different events. A state kept from the
    // first, at version 2, continues on the second with its events after version 2 only,
    // which shows that the first two were not read again.
    let first = SqliteEventStore::in_memory().await.unwrap();
    let second = SqliteEventStore::in_memory().await.unwrap();
    let tally = StreamId::new(Tally::CATEGORY, "a");
    mark(&first, &tally, &[1, 2]).await;
    mark(&second, &tally, &[10, 20, 30]).await;
    let cache = FoldCache::new(&[Tally::CATEGORY], 100);

    assert_eq!(load_through(&cache, &first, &tally).await, (vec![1, 2], 2));
    assert_eq!(
        load_through(&cache, &second, &tally).await,
        (vec![1, 2, 30], 3)
    );
}

#[tokio::test]
async fn streams_of_other_categories_are_read_whole_every_time() {
    let first = SqliteEventStore::in_memory().await.unwrap();
    let second = SqliteEventStore::in_memory().await.unwrap();
    let tally = StreamId::new(Tally::CATEGORY, "a");
    mark(&first, &tally, &[1, 2]).await;
    mark(&second, &tally, &[10, 20, 30]).await;
    let cache = FoldCache::new(&["plan"], 100);

    assert_eq!(load_through(&cache, &first, &tally).await, (vec![1, 2], 2));
    assert!(cache.is_empty());
    assert_eq!(
        load_through(&cache, &second, &tally).await,
        (vec![10, 20, 30], 3)
    );
}

#[tokio::test]
async fn a_stream_folds_as_it_was_before_one_of_its_events() {
    let store = SqliteEventStore::in_memory().await.unwrap();
    let tally = StreamId::new(Tally::CATEGORY, "a");
    mark(&store, &tally, &[1, 2, 3]).await;
    let read = StreamsRead::read(&store, [tally.clone()]).await.unwrap();
    let before = |version| {
        let loaded = read.load_before::<Tally>(&tally, version).unwrap();
        (loaded.state, loaded.version)
    };
    assert_eq!(before(1), (vec![], 0));
    assert_eq!(before(3), (vec![1, 2], 2));
    assert_eq!(before(9), (vec![1, 2, 3], 3));

    // A stream continued from a kept state cannot be folded back: refused, not guessed.
    let cache = FoldCache::new(&[Tally::CATEGORY], 100);
    load_through(&cache, &store, &tally).await;
    let kept = StreamsRead::read_through(Some(cache), &store, [tally.clone()])
        .await
        .unwrap();
    assert!(matches!(
        kept.load_before::<Tally>(&tally, 2),
        Err(AggregateError::NotRead(stream)) if stream == tally
    ));
}
