//! Holding a batch's messages while the event store takes no writes.
//!
//! A role hands a message whose work failed back to the bus for another attempt, and the
//! bus allows five, spent within seconds ([`Verdict::retry`]): a database outage longer
//! than that would dead-letter every message in flight, for an operator to requeue. So
//! before handing back messages whose work failed, a role asks the store whether it takes
//! a write at all ([`EventStore::check`]: a database that answers reads but refuses
//! writes, as a standby does after a failover, is as much away as one that does not
//! answer). While it does not, the messages are held: the bus is told every second that
//! the work goes on ([`Delivery::in_progress`], which spends no attempt) and the store is
//! asked again, less often the longer it stays away. Once it takes writes, the messages
//! are handed back as they would have been, each having spent one attempt on the outage
//! however long it lasted. A shutdown ends the wait, and so does [`MAX_HOLD`]: the
//! messages are then handed back (or, on a shutdown, redelivered later).

use crate::shutdown::Shutdown;
use crate::verdict::{Verdict, conclude};
use claims_adapters::bus::Delivery;
use claims_adapters::event_store::EventStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{Instrument, Span, info, warn};

/// The first wait before asking the store again; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest wait between two questions to the store: the held messages go back to
/// work at most this long after it takes writes again.
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// How often the bus hears that held messages are still being worked on: well inside any
/// sensible `ack_wait` (30 s by default).
const KEEP_ALIVE: Duration = Duration::from_secs(1);
/// The longest a batch is held: beyond it, its messages go back to the bus's retries.
const MAX_HOLD: Duration = Duration::from_secs(15 * 60);

/// A delivery, the verdict on it and the span it was handled in, so that what the bus
/// bookkeeping logs still names the claim.
pub struct Concluded {
    delivery: Delivery,
    verdict: Verdict,
    span: Span,
}

impl Concluded {
    /// The verdict on a delivery, told to the bus inside `span`.
    pub fn in_span(delivery: Delivery, verdict: Verdict, span: Span) -> Self {
        Self {
            delivery,
            verdict,
            span,
        }
    }
}

impl From<(Delivery, Verdict)> for Concluded {
    fn from((delivery, verdict): (Delivery, Verdict)) -> Self {
        Self::in_span(delivery, verdict, Span::none())
    }
}

/// How many messages the gates of a process hold now, for `/metrics`: more than none
/// means the store takes no writes and work waits for it.
#[derive(Debug, Clone, Default)]
pub struct HeldMessages(Arc<AtomicU64>);

impl HeldMessages {
    /// Messages held now.
    pub fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counts `count` messages as held for as long as it lives.
struct Holding {
    gauge: HeldMessages,
    count: u64,
}

impl Holding {
    fn new(gauge: &HeldMessages, count: usize) -> Self {
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        gauge.0.fetch_add(count, Ordering::Relaxed);
        Self {
            gauge: gauge.clone(),
            count,
        }
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.gauge.0.fetch_sub(self.count, Ordering::Relaxed);
    }
}

/// How a hold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// The store took writes: nothing was held.
    NotAway,
    /// The store was away and takes writes again.
    Back,
    /// The store was still away at [`MAX_HOLD`], or the process is stopping.
    GaveUp,
}

/// A role that works its queue's messages one at a time, through
/// [`StoreGate::work_one`].
pub trait WorksOne: Sync {
    /// An answer kept back until the gate has decided whether the delivery is worked
    /// again.
    type Deferred: Send;

    /// Works one delivery to its verdict, leaving in `deferred` an answer to send only if
    /// the delivery is not worked again.
    fn work(
        &self,
        delivery: &Delivery,
        deferred: &mut Option<Self::Deferred>,
    ) -> impl Future<Output = Verdict> + Send;
}

/// What a role asks before handing failed work back to the bus.
#[derive(Clone)]
pub struct StoreGate {
    store: Arc<dyn EventStore>,
    shutdown: Option<Shutdown>,
    held: HeldMessages,
}

impl StoreGate {
    /// A gate on `store`, held until the store takes writes or [`MAX_HOLD`] passes.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            shutdown: None,
            held: HeldMessages::default(),
        }
    }

    /// The same gate, which also stops holding when `shutdown` is triggered.
    pub fn with_shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// The same gate, counting what it holds in `held`.
    pub fn with_held(mut self, held: HeldMessages) -> Self {
        self.held = held;
        self
    }

    /// Tells the bus each delivery's verdict; when any is to be tried again and the store
    /// takes no writes, first holds those until it does.
    pub async fn conclude_all<C: Into<Concluded>>(&self, queue: &str, concluded: Vec<C>) {
        let concluded: Vec<Concluded> = concluded.into_iter().map(Into::into).collect();
        let retrying: Vec<&Delivery> = concluded
            .iter()
            .filter(|done| matches!(done.verdict, Verdict::Retry { .. }))
            .map(|done| &done.delivery)
            .collect();
        if !retrying.is_empty() {
            self.hold_while_away(queue, &retrying).await;
        }
        for done in concluded {
            conclude(done.delivery, done.verdict)
                .instrument(done.span)
                .await;
        }
    }

    /// The last attempts among `deliveries` whose work `failed`, to be worked once more
    /// because the store took no writes and takes them again now: the outage failed them,
    /// not the messages, and the bus would otherwise dead-letter them although the store
    /// is back. Only when some failed delivery is a last attempt are the failed ones held
    /// here (all of them, so the bus keeps every one); otherwise [`Self::conclude_all`]
    /// holds them as usual. Their indexes, in order; none if the store never went away,
    /// is still away at [`MAX_HOLD`], or the process is stopping.
    pub async fn last_attempts_to_retry(
        &self,
        queue: &str,
        deliveries: &[Delivery],
        failed: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        let failed: Vec<usize> = (0..deliveries.len())
            .filter(|index| failed(*index))
            .collect();
        let last: Vec<usize> = failed
            .iter()
            .copied()
            .filter(|index| deliveries[*index].is_last_attempt())
            .collect();
        if last.is_empty() {
            return last;
        }
        let held: Vec<&Delivery> = failed.iter().map(|index| &deliveries[*index]).collect();
        match self.hold_while_away(queue, &held).await {
            Hold::Back => last,
            Hold::NotAway | Hold::GaveUp => Vec::new(),
        }
    }

    /// Holds `deliveries` while the store takes no writes (see [`Self::conclude_all`]);
    /// true once it takes them, false if it is still away at [`MAX_HOLD`] or the process
    /// is stopping.
    pub async fn hold_until_back(&self, queue: &str, deliveries: &[Delivery]) -> bool {
        let held: Vec<&Delivery> = deliveries.iter().collect();
        match self.hold_while_away(queue, &held).await {
            Hold::NotAway | Hold::Back => true,
            Hold::GaveUp => false,
        }
    }

    /// Works one delivery to its verdict with `role` and, when it was a last attempt that
    /// failed while the store took no writes, once more when the store takes them again
    /// (see [`Self::last_attempts_to_retry`]). The role may leave an answer meant
    /// only for a delivery that is not worked again (a `rejected` that the retry could
    /// make wrong); the slot of the work that counts comes back with its verdict, for
    /// the role to send before it concludes the delivery.
    pub async fn work_one<R: WorksOne>(
        &self,
        queue: &str,
        delivery: &Delivery,
        role: &R,
    ) -> (Verdict, Option<R::Deferred>) {
        let mut deferred = None;
        let verdict = role.work(delivery, &mut deferred).await;
        let again = self
            .last_attempts_to_retry(queue, std::slice::from_ref(delivery), |_| {
                matches!(verdict, Verdict::Retry { .. })
            })
            .await;
        if again.is_empty() {
            return (verdict, deferred);
        }
        let mut deferred = None;
        let verdict = role.work(delivery, &mut deferred).await;
        (verdict, deferred)
    }

    /// Tells the bus the verdict on one delivery, holding it first if it is to be tried
    /// again and the store takes no writes.
    pub async fn conclude(&self, queue: &str, delivery: Delivery, verdict: Verdict) {
        self.conclude_all(queue, vec![(delivery, verdict)]).await;
    }

    async fn hold_while_away(&self, queue: &str, held: &[&Delivery]) -> Hold {
        let Err(error) = self.store.check().await else {
            return Hold::NotAway;
        };
        warn!(queue, %error, held = held.len(), "the event store takes no writes; holding the messages until it does");
        let _holding = Holding::new(&self.held, held.len());
        let started = Instant::now();
        let keep_alive = async {
            // When the bus is away too, every message would fail every second: say so once,
            // and again when the bus hears again.
            let mut bus_away = false;
            loop {
                let mut unheard = 0;
                let mut last_error = None;
                for delivery in held {
                    if let Err(error) = delivery.in_progress().await {
                        unheard += 1;
                        last_error = Some(error);
                    }
                }
                match last_error {
                    Some(error) if !bus_away => {
                        bus_away = true;
                        warn!(queue, %error, unheard, held = held.len(), "could not tell the bus that held messages are still being worked on; it may redeliver them (said once until it hears again)");
                    }
                    None if bus_away => {
                        bus_away = false;
                        info!(
                            queue,
                            held = held.len(),
                            "the bus hears again that the held messages are being worked on"
                        );
                    }
                    _ => {}
                }
                tokio::time::sleep(KEEP_ALIVE).await;
            }
        };
        let store_back = async {
            let mut pause = FIRST_PAUSE;
            loop {
                tokio::time::sleep(pause).await;
                if self.store.check().await.is_ok() {
                    return true;
                }
                if started.elapsed() >= MAX_HOLD {
                    return false;
                }
                pause = (pause * 2).min(MAX_PAUSE);
            }
        };
        let mut shutdown = self.shutdown.clone();
        let stopping = async {
            match shutdown.as_mut() {
                Some(shutdown) => shutdown.wait().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            back = store_back => if back {
                info!(queue, held = held.len(), waited = ?started.elapsed(), "the event store takes writes again; handing the held messages back");
                Hold::Back
            } else {
                warn!(queue, held = held.len(), waited = ?started.elapsed(), "the event store still takes no writes; handing the held messages back to the bus's retries");
                Hold::GaveUp
            },
            () = keep_alive => Hold::GaveUp,
            () = stopping => Hold::GaveUp,
        }
    }
}
