//! The projector: follows the log and keeps the read models current, or rebuilds them.

use super::projection::{self, Change};
use super::{ReadModelError, ReadModels};
use crate::event_store::{EventStore, LogPosition, LogSubscription, RecordedEvent};
use crate::failure_streak::FailureStreak;
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};

/// Events per page (and per read-model transaction) unless set otherwise.
const PAGE_SIZE: usize = 1000;

/// The pause after a first failure; it doubles with each further one.
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(200);
/// The longest pause between attempts after a failure.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// How far a rebuild has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildProgress {
    /// Events applied so far.
    pub applied: u64,
    /// Events the log held when the rebuild started (more may arrive while it runs).
    pub total: u64,
}

/// Keeps [`ReadModels`] in step with an [`EventStore`].
#[derive(Clone)]
pub struct Projector {
    store: Arc<dyn EventStore>,
    models: Arc<dyn ReadModels>,
    page_size: usize,
    poll_interval: Duration,
}

impl Projector {
    /// A projector from `store` into `models` (the read models of the same database).
    pub fn new(store: Arc<dyn EventStore>, models: Arc<dyn ReadModels>) -> Self {
        Self {
            store,
            models,
            page_size: PAGE_SIZE,
            poll_interval: crate::event_store::DEFAULT_POLL_INTERVAL,
        }
    }

    /// Sets how many events are applied per transaction (at least one).
    #[must_use]
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// Sets how long a caught-up projector waits for a hint before reading again.
    #[must_use]
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Follows the log from the read models' stored position until `stop` completes, then
    /// applies what is readable by then, so the read models a stopped engine leaves agree
    /// with its log (`claims status` after `claims demo` reads them).
    ///
    /// A failure (the database, or an event that cannot be projected) is logged and
    /// retried with a growing pause, from the stored position: the projector never skips
    /// an event, so an unprojectable one holds it until the engine is upgraded.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        self.follow_until(stop).await;
        if let Err(error) = self.catch_up().await {
            warn!(%error, "the read models could not catch up with the log at shutdown; the next start will");
        }
    }

    async fn follow_until(&self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut streak = FailureStreak::new(FIRST_RETRY_PAUSE, MAX_RETRY_PAUSE);
        loop {
            let position = tokio::select! {
                () = &mut stop => return,
                position = self.models.position() => position,
            };
            let result = match position {
                Ok(position) => {
                    let mut subscription = self.subscription(position);
                    tokio::select! {
                        () = &mut stop => return,
                        error = self.follow(&mut subscription, &mut streak) => error,
                    }
                }
                Err(error) => error,
            };
            let (say, pause) = streak.failed();
            crate::log_failure!(say, (error = %result, ?pause),
                first: "read model projection failed; retrying (said again every minute while it fails)",
                still: "read model projection still failing; retrying",
                again: "read model projection failed again");
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Applies every event readable now after the stored position; returns how many.
    pub async fn catch_up(&self) -> Result<u64, ReadModelError> {
        let mut subscription = self.subscription(self.models.position().await?);
        let mut applied = 0;
        while let Some(page) = subscription.try_next_page().await? {
            applied += self.apply(&page).await?;
        }
        Ok(applied)
    }

    /// Empties the read models and replays the whole log into them, reporting progress
    /// after every page. Returns how many events were applied.
    pub async fn rebuild(
        &self,
        mut progress: impl FnMut(RebuildProgress),
    ) -> Result<u64, ReadModelError> {
        let total = self.store.event_count().await?;
        self.models.reset().await?;
        info!(
            total,
            "rebuilding the read models from the start of the log"
        );
        let mut applied = 0;
        progress(RebuildProgress { applied, total });
        // Everything readable now comes as one stream, so the store keeps sending while a
        // page is applied; pages of the same size are applied in their own transactions.
        let mut position = LogPosition::START;
        let mut log = self.store.stream_all(position);
        let mut page = Vec::with_capacity(self.page_size);
        while let Some(event) = log.next().await {
            page.push(event?);
            if page.len() == self.page_size {
                applied += self.apply(&page).await?;
                position = page[page.len() - 1].position;
                page.clear();
                progress(RebuildProgress { applied, total });
            }
        }
        drop(log);
        if let Some(last) = page.last() {
            position = last.position;
            applied += self.apply(&page).await?;
            progress(RebuildProgress { applied, total });
        }
        // Then whatever committed while it streamed.
        let mut subscription = self.subscription(position);
        while let Some(page) = subscription.try_next_page().await? {
            applied += self.apply(&page).await?;
            progress(RebuildProgress { applied, total });
        }
        info!(applied, "read models rebuilt");
        Ok(applied)
    }

    fn subscription(&self, after: LogPosition) -> LogSubscription {
        LogSubscription::after(self.store.clone(), after)
            .with_page_size(self.page_size)
            .with_poll_interval(self.poll_interval)
    }

    /// Applies pages as they come; returns only with the error that stopped it.
    async fn follow(
        &self,
        subscription: &mut LogSubscription,
        streak: &mut FailureStreak,
    ) -> ReadModelError {
        loop {
            let page = match subscription.next_page().await {
                Ok(page) => page,
                Err(error) => return error.into(),
            };
            if let Err(error) = self.apply(&page).await {
                return error;
            }
            if let Some(ended) = streak.succeeded() {
                info!(failures = ended.failures, failed_for = ?ended.lasted, "read model projection resumed");
            }
        }
    }

    /// Projects one page and stores its changes with its last position, atomically.
    async fn apply(&self, page: &[RecordedEvent]) -> Result<u64, ReadModelError> {
        let Some(last) = page.last() else {
            return Ok(0);
        };
        let mut changes: Vec<Change> = Vec::with_capacity(page.len());
        for event in page {
            changes.extend(projection::changes(event).map_err(|source| {
                ReadModelError::Projection {
                    position: event.position,
                    source,
                }
            })?);
        }
        self.models.apply(&changes, last.position).await?;
        debug!(events = page.len(), changes = changes.len(), through = %last.position, "projected");
        Ok(page.len() as u64)
    }
}
