//! Following the whole log: catch up from a stored position, then go on live.
//!
//! A [`LogSubscription`] hands out pages of events in log order. While the reader is behind
//! it reads page after page without waiting; once it has caught up it waits for a wake-up
//! hint from the store (sent after every commit, coalesced; see
//! [`EventStore::log_waiter`]) or for its poll interval, whichever comes first, and reads
//! again. The poll is the safety net: hints may be dropped, and on PostgreSQL events held
//! back behind an older open transaction become readable without any new commit.
//!
//! Delivery is at least once, and the subscriber decides where the truth of its position
//! lives:
//!
//! - a subscriber with writes of its own (a read model) stores the position of the last
//!   event it handled in the same transaction as those writes, and starts the subscription
//!   from there: after a crash it resumes exactly where its writes stopped;
//! - a subscriber whose effects are elsewhere (the relay publishing to the bus) stores the
//!   position after the effect, so a crash in between repeats the effect, never skips it.
//!
//! After a failed page the subscriber [`LogSubscription::rewind`]s to its stored position
//! and the same events come again.

use super::{EventStore, LogPosition, LogWaiter, RecordedEvent, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Events per page unless set otherwise.
pub const DEFAULT_PAGE_SIZE: usize = 500;

/// How long a caught-up subscription waits for a hint before reading again anyway.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// A reader of the whole log from a position on (see the module docs).
pub struct LogSubscription {
    store: Arc<dyn EventStore>,
    after: LogPosition,
    waiter: LogWaiter,
    page_size: usize,
    poll_interval: Duration,
}

impl LogSubscription {
    /// Reads the log strictly after `after`: [`LogPosition::START`] for all of it, or the
    /// position the subscriber stored with its last handled event.
    pub fn after(store: Arc<dyn EventStore>, after: LogPosition) -> Self {
        let waiter = store.log_waiter();
        Self {
            store,
            after,
            waiter,
            page_size: DEFAULT_PAGE_SIZE,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }

    /// Sets how many events a page holds at most (at least one).
    #[must_use]
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// Sets how long a caught-up subscription waits for a hint before reading again.
    #[must_use]
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// The position of the last event handed out (or the starting position).
    pub fn position(&self) -> LogPosition {
        self.after
    }

    /// Goes back (or forward) to `position`: the next page starts strictly after it. A
    /// subscriber calls this with its stored position after failing to handle a page.
    pub fn rewind(&mut self, position: LogPosition) {
        self.after = position;
    }

    /// The next page: at once while the subscription is behind, otherwise as soon as new
    /// events are readable. Never returns an empty page.
    ///
    /// Cancel-safe: dropping the future before it completes hands out nothing and moves
    /// nothing, so it can sit in a `select!` beside a shutdown signal.
    pub async fn next_page(&mut self) -> Result<Vec<RecordedEvent>, StoreError> {
        loop {
            if let Some(page) = self.try_next_page().await? {
                return Ok(page);
            }
            tokio::select! {
                () = self.waiter.log_grew() => {}
                () = tokio::time::sleep(self.poll_interval) => {}
            }
        }
    }

    /// The next page if any event is readable now, without waiting for one.
    pub async fn try_next_page(&mut self) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        // Forget earlier hints before reading: a commit after this point wakes the wait
        // that follows an empty read.
        self.waiter.mark_seen();
        let page = self.store.read_all(self.after, self.page_size).await?;
        let Some(last) = page.last().map(|event| event.position) else {
            return Ok(None);
        };
        self.after = last;
        Ok(Some(page))
    }
}
