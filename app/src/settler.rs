//! The settler role: gathers approved claims from the event stream into payout batches and
//! hands each batch to the settlement service.
//!
//! A batch is paid when it reaches `max_batch` claims or when its oldest claim has waited
//! `max_wait`. The messages that brought the claims are acked only once the batch is
//! recorded, so a crash before then redelivers them and nothing is lost; a claim already in
//! a batch is skipped, so nothing is paid twice.

use crate::clock::Clock;
use crate::shutdown::Shutdown;
use crate::verdict::{Verdict, conclude};
use claims_adapters::aggregate::{self, streams};
use claims_adapters::bus::{Delivery, WorkQueue};
use claims_adapters::event_store::RecordedEvent;
use claims_domain::ClaimId;
use claims_domain::adjudication::Decision;
use claims_domain::claim::{ClaimDecider, ClaimEvent};
use claims_settlement::service::SettlementService;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// When the settler pays a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlerConfig {
    /// Pay as soon as this many approved claims are waiting.
    pub max_batch: usize,
    /// Pay when the oldest waiting claim has waited this long; `None` waits for
    /// `max_batch` only (or an explicit settlement).
    pub max_wait: Option<Duration>,
}

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
}

impl Settler {
    /// A settler paying through `service`.
    pub fn new(
        service: Arc<SettlementService>,
        clock: Arc<dyn Clock>,
        config: SettlerConfig,
    ) -> Self {
        Self {
            service,
            clock,
            config,
            waiting: Vec::new(),
            oldest: None,
        }
    }

    /// Gathers and pays batches until shutdown; waiting claims are handed back on the way out.
    pub async fn run(mut self, mut queue: Box<dyn WorkQueue>, mut shutdown: Shutdown) {
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
        let waiting = std::mem::take(&mut self.waiting);
        let claims: Vec<ClaimId> = waiting.iter().map(|(claim, _)| *claim).collect();
        match self.service.settle(&claims, self.clock.now()).await {
            Ok(settled) => {
                if let Some(batch) = settled {
                    info!(batch = %batch.batch, claims = batch.claims.len(), transaction = %batch.transaction, "batch paid");
                }
                for (_, delivery) in waiting {
                    conclude(delivery, Verdict::Done).await;
                }
            }
            Err(error) => {
                warn!(%error, claims = claims.len(), "payout batch failed; the claims will be retried");
                for (_, delivery) in waiting {
                    let verdict = Verdict::retry(&delivery, Duration::from_secs(1), &error);
                    conclude(delivery, verdict).await;
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
