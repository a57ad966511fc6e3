//! The settler role: gathers approved claims from the event stream into payout batches and
//! hands each batch to the settlement service.
//!
//! A batch is paid when it reaches `max_batch` claims or when its oldest claim has waited
//! `max_wait`. The messages that brought the claims are acked only once the claims are safe
//! in the event log: recorded as paid, or scheduled in a batch that the chain refused for
//! now (paused, over a cap, short of float). A crash before then redelivers them and
//! nothing is lost; a claim already in a batch is skipped, so nothing is paid twice.
//!
//! A refused batch stays open with its settlement indices, and the settler sends it again,
//! unchanged, every [`RETRY_OPEN_BATCHES`] (or the interval given to
//! [`Settler::retrying_open_batches_every`]) until the chain takes it. Open batches are found
//! in the log when the settler starts, so a restart forgets none. A batch the chain took
//! but the store could not record is sent again as soon as the store takes writes, which
//! records it from the contract's log (and stays open like a refused one if that fails).
//!
//! A batch that fails while the store takes no writes is held by the [`StoreGate`]; if any
//! of its claims came on its last delivery, the batch is paid once more when the store is
//! back, rather than dead-lettering claims that nothing was wrong with.

use crate::clock::Clock;
use crate::shutdown::Shutdown;
use crate::store_gate::StoreGate;
use crate::verdict::{Verdict, conclude};
use claims_adapters::aggregate::{self, streams};
use claims_adapters::bus::{Delivery, WorkQueue};
use claims_adapters::event_store::RecordedEvent;
use claims_domain::ClaimId;
use claims_domain::PayoutBatchId;
use claims_domain::adjudication::Decision;
use claims_domain::claim::{ClaimDecider, ClaimEvent};
use claims_settlement::service::{SettlementError, SettlementService};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{error, info, warn};

/// When the settler pays a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlerConfig {
    /// Pay as soon as this many approved claims are waiting.
    pub max_batch: usize,
    /// Pay when the oldest waiting claim has waited this long; `None` waits for
    /// `max_batch` only (or an explicit settlement).
    pub max_wait: Option<Duration>,
}

/// How often the settler sends again a batch the chain refused, unless told otherwise: often
/// enough to resume soon after an unpause or a top-up, rarely enough not to flood a paused
/// contract.
pub const RETRY_OPEN_BATCHES: Duration = Duration::from_secs(30);

impl Default for SettlerConfig {
    fn default() -> Self {
        Self {
            max_batch: 100,
            max_wait: Some(Duration::from_secs(5)),
        }
    }
}

/// The settler role.
pub struct Settler {
    service: Arc<SettlementService>,
    clock: Arc<dyn Clock>,
    config: SettlerConfig,
    waiting: Vec<(ClaimId, Delivery)>,
    oldest: Option<Instant>,
    /// Batches scheduled but refused by the chain, to send again.
    open: BTreeSet<PayoutBatchId>,
    retry_every: Duration,
    next_retry: Option<Instant>,
    /// Holds the claims of a batch that failed while the store takes no writes.
    gate: StoreGate,
}

impl Settler {
    /// A settler paying through `service`.
    pub fn new(
        service: Arc<SettlementService>,
        clock: Arc<dyn Clock>,
        config: SettlerConfig,
    ) -> Self {
        Self {
            gate: StoreGate::new(service.store().clone()),
            service,
            clock,
            config,
            waiting: Vec::new(),
            oldest: None,
            open: BTreeSet::new(),
            retry_every: RETRY_OPEN_BATCHES,
            next_retry: None,
        }
    }

    /// Holds the claims of a failed batch while the store takes no writes through `gate`
    /// (see [`StoreGate`]): the process's, which counts what it holds, rather than one of
    /// its own.
    pub fn with_gate(mut self, gate: StoreGate) -> Self {
        self.gate = gate;
        self
    }

    /// Sends refused batches again every `interval` instead of every [`RETRY_OPEN_BATCHES`].
    pub fn retrying_open_batches_every(mut self, interval: Duration) -> Self {
        self.retry_every = interval;
        self
    }

    /// Gathers and pays batches until shutdown; waiting claims are handed back on the way out.
    pub async fn run(mut self, mut queue: Box<dyn WorkQueue>, mut shutdown: Shutdown) {
        self.gate = self.gate.with_shutdown(shutdown.clone());
        match self.service.unsettled_batches().await {
            Ok(open) => {
                self.open.extend(open);
                if !self.open.is_empty() {
                    self.next_retry = Some(Instant::now());
                }
            }
            Err(error) => warn!(%error, "could not look for open payout batches"),
        }
        loop {
            let deadline = self
                .oldest
                .zip(self.config.max_wait)
                .map(|(oldest, wait)| oldest + wait);
            tokio::select! {
                delivery = queue.next() => match delivery {
                    Some(delivery) => self.take(delivery).await,
                    None => break,
                },
                () = sleep_until(deadline) => self.pay().await,
                () = sleep_until(self.next_retry) => self.retry_open().await,
                () = shutdown.wait() => break,
            }
            if self.waiting.len() >= self.config.max_batch {
                self.pay().await;
            }
        }
        for (_, delivery) in self.waiting.drain(..) {
            let handed_back = Verdict::Retry {
                after: Duration::ZERO,
                reason: "settler shutting down".to_owned(),
            };
            conclude(delivery, handed_back).await;
        }
    }

    async fn take(&mut self, delivery: Delivery) {
        let approved = serde_json::from_slice::<RecordedEvent>(&delivery.message.payload)
            .ok()
            .and_then(|recorded| {
                let claim = streams::claim_of(&recorded.stream)?;
                match aggregate::decode::<ClaimDecider>(&recorded).ok()? {
                    ClaimEvent::Adjudicated { adjudication } => {
                        Some((claim, adjudication.decision == Decision::Approved))
                    }
                    _ => None,
                }
            });
        match approved {
            Some((claim, true)) => {
                self.oldest.get_or_insert_with(Instant::now);
                self.waiting.push((claim, delivery));
            }
            Some((_, false)) => conclude(delivery, Verdict::Done).await,
            None => {
                let reason =
                    "not a stored ClaimAdjudicated event: the settlement queue takes nothing else";
                conclude(delivery, Verdict::Unprocessable(reason.to_owned())).await;
            }
        }
    }

    async fn pay(&mut self) {
        self.oldest = None;
        if self.waiting.is_empty() {
            return;
        }
        let (claims, deliveries): (Vec<ClaimId>, Vec<Delivery>) =
            std::mem::take(&mut self.waiting).into_iter().unzip();
        let mut settled = self.service.settle(&claims, self.clock.now()).await;
        // A store error comes before the batch was scheduled (after, it is `Unrecorded`).
        if matches!(settled, Err(SettlementError::Store(_))) {
            // An outage of the store failed the batch, not its claims: if any came on its
            // last delivery, the bus would dead-letter it although the store is back, so the
            // gate holds them all until it is, and the batch is paid once more.
            let again = self
                .gate
                .last_attempts_to_retry("settlement", &deliveries, |_| true)
                .await;
            if !again.is_empty() {
                info!(
                    claims = claims.len(),
                    last_deliveries = again.len(),
                    "the event store takes writes again; paying the batch once more"
                );
                settled = self.service.settle(&claims, self.clock.now()).await;
            }
        }
        match settled {
            Ok(settled) => {
                if let Some(batch) = settled {
                    info!(batch = %batch.batch, claims = batch.claims.len(), transaction = %batch.transaction, "batch paid");
                }
                conclude_each(deliveries, Verdict::Done).await;
            }
            Err(SettlementError::Chain { batch, source }) => {
                // The claims are safe in a scheduled batch; the batch is sent again later.
                error!(%batch, error = %source, claims = claims.len(), "the chain refused a payout batch; it stays open and will be sent again");
                self.keep_open(batch);
                conclude_each(deliveries, Verdict::Done).await;
            }
            Err(SettlementError::Unrecorded { batch, source }) => {
                // Paid (or perhaps paid) but not recorded: sending the batch again records
                // it from the contract's log and pays nothing twice. That is done as soon
                // as the store takes writes again, holding the claims' messages till then;
                // failing that, with the open batches.
                error!(%batch, error = %source, claims = claims.len(), "a payout batch went to the chain but could not be recorded; it is sent again once the event store takes writes");
                let recorded = self.gate.hold_until_back("settlement", &deliveries).await
                    && match self.service.resume(batch).await {
                        Ok(_) => {
                            info!(%batch, "payout batch recorded from the chain's log");
                            true
                        }
                        Err(error) => {
                            warn!(%batch, %error, "payout batch still not recorded; it stays open and will be sent again");
                            false
                        }
                    };
                if !recorded {
                    self.keep_open(batch);
                }
                // Its claims are safe in the batch either way.
                conclude_each(deliveries, Verdict::Done).await;
            }
            Err(error) => {
                warn!(%error, claims = claims.len(), "payout batch failed; the claims will be retried");
                let retried = deliveries
                    .into_iter()
                    .map(|delivery| {
                        let verdict = Verdict::retry(&delivery, Duration::from_secs(1), &error);
                        (delivery, verdict)
                    })
                    .collect();
                self.gate.conclude_all("settlement", retried).await;
            }
        }
    }

    fn keep_open(&mut self, batch: PayoutBatchId) {
        self.open.insert(batch);
        self.next_retry = Some(Instant::now() + self.retry_every);
    }

    /// Sends every open batch again; those the chain still refuses stay open.
    async fn retry_open(&mut self) {
        self.next_retry = None;
        for batch in std::mem::take(&mut self.open) {
            match self.service.resume(batch).await {
                Ok(Some(settled)) => {
                    info!(batch = %settled.batch, claims = settled.claims.len(), transaction = %settled.transaction, "open batch paid");
                }
                Ok(None) => {}
                Err(error) => {
                    warn!(%batch, %error, "open batch still not paid");
                    self.keep_open(batch);
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn conclude_each(deliveries: Vec<Delivery>, verdict: Verdict) {
    for delivery in deliveries {
        conclude(delivery, verdict.clone()).await;
    }
}
