//! Aggregates folded before, kept so that a role reading the same streams batch after
//! batch (a plan, a provider, a member and their benefit year) reads and decodes only the
//! events appended since, not the whole stream again.
//!
//! A stored event never changes, so a state folded up to version `v` is the state at `v`
//! for good: what is kept can be behind, never wrong. A reader takes the kept state with
//! its version, asks the store for the events after it
//! ([`crate::event_store::EventStore::read_streams_from`]) and folds them on
//! ([`crate::aggregate::StreamsRead`]). A decision is appended at the version it was
//! decided on, exactly as without the cache, so the store's check still catches whatever
//! moved in between.
//!
//! Only the categories named are kept (a claim's own stream is read once or twice in its
//! life and would only crowd the rest out), and at most `capacity` streams: past that, the
//! half used least recently is dropped, to be read whole again when next needed.

use crate::event_store::{StreamId, StreamVersion};
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A state kept for a stream, as a reader takes it: the version it was folded up to.
#[derive(Clone)]
pub(crate) struct Folded {
    pub(crate) version: StreamVersion,
    pub(crate) state: Arc<dyn Any + Send + Sync>,
}

struct Entry {
    folded: Folded,
    /// When it was last taken or kept, on the cache's own count of uses.
    used: u64,
}

#[derive(Default)]
struct Entries {
    streams: HashMap<StreamId, Entry>,
    uses: u64,
}

/// Folded states of the streams of some categories, shared by the tasks of a process
/// (cheap to clone: the clones share one store of states).
#[derive(Clone)]
pub struct FoldCache {
    entries: Arc<Mutex<Entries>>,
    categories: Arc<[&'static str]>,
    capacity: usize,
}

impl std::fmt::Debug for FoldCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FoldCache")
            .field("categories", &self.categories)
            .field("capacity", &self.capacity)
            .field("kept", &self.len())
            .finish()
    }
}

impl FoldCache {
    /// A cache keeping at most `capacity` streams of `categories` (such as
    /// [`crate::aggregate::StoredAggregate::CATEGORY`] of the plan).
    pub fn new(categories: &[&'static str], capacity: usize) -> Self {
        Self {
            entries: Arc::default(),
            categories: categories.into(),
            capacity: capacity.max(1),
        }
    }

    /// How many streams it keeps now.
    pub fn len(&self) -> usize {
        self.entries().streams.len()
    }

    /// True when it keeps nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether streams like `stream` are kept at all.
    pub(crate) fn keeps(&self, stream: &StreamId) -> bool {
        self.categories.contains(&stream.category())
    }

    /// The state kept for `stream`, if any.
    pub(crate) fn take(&self, stream: &StreamId) -> Option<Folded> {
        let mut entries = self.entries();
        entries.uses += 1;
        let now = entries.uses;
        let entry = entries.streams.get_mut(stream)?;
        entry.used = now;
        Some(entry.folded.clone())
    }

    /// Keeps `state` as `stream`'s at `version`, unless a state at a later version is kept
    /// already (another task read further meanwhile).
    pub(crate) fn keep(&self, stream: &StreamId, folded: Folded) {
        if !self.keeps(stream) {
            return;
        }
        let mut entries = self.entries();
        entries.uses += 1;
        let used = entries.uses;
        match entries.streams.get_mut(stream) {
            Some(entry) if entry.folded.version >= folded.version => entry.used = used,
            Some(entry) => *entry = Entry { folded, used },
            None => {
                entries
                    .streams
                    .insert(stream.clone(), Entry { folded, used });
                if entries.streams.len() > self.capacity {
                    drop_least_used_half(&mut entries.streams);
                }
            }
        }
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Drops the half of the entries used least recently: rare (once per `capacity / 2` new
/// streams), so sorting them all is cheaper than keeping them in order on every use.
fn drop_least_used_half(streams: &mut HashMap<StreamId, Entry>) {
    let mut uses: Vec<u64> = streams.values().map(|entry| entry.used).collect();
    let middle = uses.len() / 2;
    let (_, cut, _) = uses.select_nth_unstable(middle);
    let cut = *cut;
    streams.retain(|_, entry| entry.used >= cut);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn folded(version: StreamVersion, state: u32) -> Folded {
        Folded {
            version,
            state: Arc::new(state),
        }
    }

    fn state_of(cache: &FoldCache, stream: &StreamId) -> Option<(StreamVersion, u32)> {
        cache
            .take(stream)
            .map(|folded| (folded.version, *folded.state.downcast_ref::<u32>().unwrap()))
    }

    #[test]
    fn keeps_only_its_categories_and_never_goes_back_a_version() {
        let cache = FoldCache::new(&["plan"], 10);
        let plan = StreamId::new("plan", "gold");
        let claim = StreamId::new("claim", "1");
        cache.keep(&claim, folded(1, 1));
        assert!(cache.take(&claim).is_none());
        cache.keep(&plan, folded(2, 20));
        cache.keep(&plan, folded(1, 10));
        assert_eq!(state_of(&cache, &plan), Some((2, 20)));
        cache.keep(&plan, folded(3, 30));
        assert_eq!(state_of(&cache, &plan), Some((3, 30)));
    }

    #[test]
    fn past_its_capacity_it_drops_what_was_used_least_recently() {
        let cache = FoldCache::new(&["member"], 4);
        let member = |n: u32| StreamId::new("member", n);
        for n in 0..4 {
            cache.keep(&member(n), folded(1, n));
        }
        // 0 and 1 are used again, so 2 and 3 are the least recently used.
        assert!(cache.take(&member(0)).is_some());
        assert!(cache.take(&member(1)).is_some());
        cache.keep(&member(4), folded(1, 4));
        assert!(cache.len() <= 4, "{cache:?}");
        for kept in [0, 1, 4] {
            assert!(cache.take(&member(kept)).is_some(), "member {kept} dropped");
        }
        for dropped in [2, 3] {
            assert!(
                cache.take(&member(dropped)).is_none(),
                "member {dropped} kept"
            );
        }
    }
}
