//! Wake-up hints: how a reader that has caught up with the log learns, without polling
//! hard, that the log may have grown.
//!
//! A hint carries no events and no position; it only says "read again". A reader that
//! misses one loses nothing, because it also reads again after a poll interval, so hints
//! can be coalesced and dropped freely. That is what keeps them off the writers' hot path:
//! a commit bumps a counter in memory and returns. Nothing is sent inside an append's
//! transaction (on PostgreSQL, a `NOTIFY` inside the transaction would take a database-wide
//! lock at commit and serialise every writer; see `PostgresEventStore`).

use std::sync::Arc;
use tokio::sync::watch;

/// The sending side: bumped after every commit that appended events, and by whatever
/// relays hints from other processes.
#[derive(Debug, Clone)]
pub(crate) struct LogHints {
    sender: Arc<watch::Sender<u64>>,
}

impl LogHints {
    pub(crate) fn new() -> Self {
        Self {
            sender: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Says the log may have grown. Never blocks and never fails.
    pub(crate) fn log_grew(&self) {
        self.sender
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Whether any waiter is still listening.
    pub(crate) fn has_waiters(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// A waiter that wakes on every hint sent after this call.
    pub(crate) fn waiter(&self) -> LogWaiter {
        LogWaiter {
            receiver: self.sender.subscribe(),
        }
    }
}

/// The receiving side of wake-up hints, one per reader.
#[derive(Debug, Clone)]
pub struct LogWaiter {
    receiver: watch::Receiver<u64>,
}

impl LogWaiter {
    /// Forgets the hints received so far: call it before reading, so that a commit landing
    /// between the read and the wait still wakes the reader.
    pub fn mark_seen(&mut self) {
        self.receiver.mark_unchanged();
    }

    /// Waits for a hint sent since the last [`Self::mark_seen`]. Waits forever once the
    /// store is gone; callers always wait with a timeout beside it.
    pub async fn log_grew(&mut self) {
        if self.receiver.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_hint_sent_between_reading_and_waiting_is_not_lost() {
        let hints = LogHints::new();
        let mut waiter = hints.waiter();
        waiter.mark_seen();
        hints.log_grew();
        tokio::time::timeout(Duration::from_secs(1), waiter.log_grew())
            .await
            .unwrap_or_else(|_| panic!("the hint was lost"));
    }

    #[tokio::test]
    async fn hints_seen_before_reading_do_not_wake_the_reader() {
        let hints = LogHints::new();
        let mut waiter = hints.waiter();
        hints.log_grew();
        hints.log_grew();
        waiter.mark_seen();
        let woke = tokio::time::timeout(Duration::from_millis(50), waiter.log_grew()).await;
        assert!(woke.is_err(), "woke on a hint it had already seen");
    }
}
