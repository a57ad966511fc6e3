//! Prometheus metrics, counted from the event log so that every process serving `/metrics`
//! on one PostgreSQL log reports the same totals, whichever process did the work: claims
//! received, decided by outcome and paid; how long claims waited from submission to
//! decision and from decision to payment, and each payout batch from scheduling to its
//! confirmation on chain; gas used by settlements. Dead letters are not
//! events: they are counted as they pass on the bus, by this process, since it started.
//!
//! Latencies are kept in whole milliseconds and written as decimal seconds, so no float is
//! involved.

use crate::shutdown::Shutdown;
use crate::store_gate::HeldMessages;
use chrono::{DateTime, Utc};
use claims_adapters::aggregate::{self, streams};
use claims_adapters::bus::{MessageBus, SubjectPattern};
use claims_adapters::event_store::{EventStore, LogPosition, RecordedEvent};
use claims_adapters::failure_streak::FailureStreak;
use claims_adapters::log_failure;
use claims_domain::adjudication::Decision;
use claims_domain::claim::{ClaimDecider, ClaimEvent};
use claims_domain::payout::{PayoutBatchDecider, PayoutBatchEvent};
use claims_domain::{ClaimId, PayoutBatchId};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Latency bucket bounds, in milliseconds.
const BUCKETS_MS: [i64; 12] = [
    10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000,
];

/// Events read per page while following the log.
const PAGE: usize = 500;

/// How often the log is read for new events once caught up, and the pause after a first
/// failure to read it.
const POLL: Duration = Duration::from_millis(200);

/// The longest pause between attempts while the log cannot be read.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// How long the dead-letter count waits before subscribing again.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(2);

/// A latency histogram in milliseconds.
#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Observations at or under each bound of [`BUCKETS_MS`].
    buckets: [u64; BUCKETS_MS.len()],
    count: u64,
    sum_ms: i64,
}

impl Histogram {
    fn observe(&mut self, elapsed_ms: i64) {
        let elapsed_ms = elapsed_ms.max(0);
        for (bound, bucket) in BUCKETS_MS.iter().zip(self.buckets.iter_mut()) {
            if elapsed_ms <= *bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum_ms = self.sum_ms.saturating_add(elapsed_ms);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bound, bucket) in BUCKETS_MS.iter().zip(self.buckets) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {bucket}", seconds(*bound));
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", seconds(self.sum_ms));
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

/// Milliseconds as decimal seconds: `1500` → `1.500`.
fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

#[derive(Debug, Default)]
struct Counts {
    position: Option<LogPosition>,
    received: u64,
    decided: BTreeMap<&'static str, u64>,
    paid: u64,
    gas_used: u64,
    settlements: u64,
    dead_letters: BTreeMap<String, u64>,
    submit_to_decision: Histogram,
    decision_to_payment: Histogram,
    /// From a payout batch's scheduling to its recorded confirmation on chain: signing,
    /// broadcast, inclusion and the confirmations waited for.
    scheduled_to_confirmed: Histogram,
    /// When each batch not yet confirmed was scheduled.
    scheduled_at: HashMap<PayoutBatchId, DateTime<Utc>>,
    /// When each claim not yet paid was submitted or decided: dropped once it is paid
    /// (or denied), so the map holds only claims in flight.
    submitted_at: HashMap<ClaimId, DateTime<Utc>>,
    decided_at: HashMap<ClaimId, DateTime<Utc>>,
    /// Whether the log has been read to its end once, so the counts are the log's totals.
    caught_up: bool,
}

impl Counts {
    /// What is counted from the log.
    fn render_log_counts(&self, out: &mut String) {
        counter(
            out,
            "claims_received_total",
            "Claims accepted by intake (from the event log).",
            &[(String::new(), self.received)],
        );
        let decided: Vec<_> = ["approved", "denied", "pended"]
            .into_iter()
            .map(|outcome| {
                (
                    format!("{{outcome=\"{outcome}\"}}"),
                    self.decided.get(outcome).copied().unwrap_or(0),
                )
            })
            .collect();
        counter(
            out,
            "claims_decided_total",
            "Claims adjudicated, by outcome (from the event log).",
            &decided,
        );
        counter(
            out,
            "claims_paid_total",
            "Claims whose payout the chain confirmed (from the event log).",
            &[(String::new(), self.paid)],
        );
        counter(
            out,
            "claims_settlements_total",
            "Payout batches the chain confirmed (from the event log).",
            &[(String::new(), self.settlements)],
        );
        counter(
            out,
            "claims_settlement_gas_used_total",
            "Gas used by confirmed settlement transactions (from the event log).",
            &[(String::new(), self.gas_used)],
        );
        self.submit_to_decision.render(
            out,
            "claims_submit_to_decision_seconds",
            "Time from a claim's submission to its decision, as the log recorded them.",
        );
        self.decision_to_payment.render(
            out,
            "claims_decision_to_payment_seconds",
            "Time from an approved claim's decision to its confirmed payout.",
        );
        self.scheduled_to_confirmed.render(
            out,
            "claims_settlement_confirmation_seconds",
            "Time from a payout batch's scheduling to its confirmation on chain, as the log recorded them (confirmation lag).",
        );
    }
}

/// A counter's samples, with its help and type lines.
fn counter(out: &mut String, name: &str, help: &str, samples: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// A gauge without labels, with its help and type lines.
fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// The engine's metrics; cheap to clone into the API and the tasks that keep them.
#[derive(Clone, Default)]
pub struct EngineMetrics {
    counts: Arc<Mutex<Counts>>,
    /// The bus whose connection the gauges show, if any.
    bus: Option<Arc<dyn MessageBus>>,
    /// What this process's roles hold while the store takes no writes.
    held: HeldMessages,
}

impl std::fmt::Debug for EngineMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineMetrics")
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl EngineMetrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same metrics, also showing `bus`'s connection: whether it is connected now
    /// and how many times it reconnected, for an alert on an engine cut off from NATS.
    pub fn with_bus(mut self, bus: Arc<dyn MessageBus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// The gauge of messages held while the store takes no writes, for the roles of this
    /// process to count into ([`crate::store_gate::StoreGate::with_held`]).
    pub fn held(&self) -> HeldMessages {
        self.held.clone()
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts one event of the log.
    pub fn observe(&self, event: &RecordedEvent) {
        let mut counts = self.counts();
        counts.position = Some(event.position);
        if let Some(claim) = streams::claim_of(&event.stream) {
            let Ok(decoded) = aggregate::decode::<ClaimDecider>(event) else {
                return;
            };
            match decoded {
                ClaimEvent::Submitted { .. } => {
                    counts.received += 1;
                    counts.submitted_at.insert(claim, event.recorded_at);
                }
                ClaimEvent::Adjudicated { adjudication } => {
                    let outcome = match adjudication.decision {
                        Decision::Approved => "approved",
                        Decision::Denied => "denied",
                        Decision::Pended { .. } => "pended",
                    };
                    *counts.decided.entry(outcome).or_default() += 1;
                    if let Some(submitted) = counts.submitted_at.remove(&claim) {
                        let elapsed = (event.recorded_at - submitted).num_milliseconds();
                        counts.submit_to_decision.observe(elapsed);
                    }
                    if outcome == "approved" {
                        counts.decided_at.insert(claim, event.recorded_at);
                    }
                }
                ClaimEvent::PayoutConfirmed { .. } => {
                    counts.paid += 1;
                    if let Some(decided) = counts.decided_at.remove(&claim) {
                        let elapsed = (event.recorded_at - decided).num_milliseconds();
                        counts.decision_to_payment.observe(elapsed);
                    }
                }
                // A review or an appeal comes with its own `Adjudicated` event, counted above.
                ClaimEvent::Reviewed { .. }
                | ClaimEvent::Appealed { .. }
                | ClaimEvent::Voided { .. }
                | ClaimEvent::PayoutScheduled { .. } => {}
            }
        } else if let Some(batch) = streams::payout_batch_of(&event.stream) {
            match aggregate::decode::<PayoutBatchDecider>(event) {
                Ok(PayoutBatchEvent::Created { .. }) => {
                    counts.scheduled_at.insert(batch, event.recorded_at);
                }
                Ok(PayoutBatchEvent::Settled { gas_used, .. }) => {
                    counts.settlements += 1;
                    counts.gas_used = counts.gas_used.saturating_add(gas_used);
                    if let Some(scheduled) = counts.scheduled_at.remove(&batch) {
                        let elapsed = (event.recorded_at - scheduled).num_milliseconds();
                        counts.scheduled_to_confirmed.observe(elapsed);
                    }
                }
                _ => {}
            }
        }
    }

    /// Counts a message dead-lettered on `subject` (`deadletter.<queue>`).
    pub fn dead_lettered(&self, subject: &str) {
        let queue = subject.strip_prefix("deadletter.").unwrap_or(subject);
        let mut counts = self.counts();
        *counts.dead_letters.entry(queue.to_owned()).or_default() += 1;
    }

    /// The Prometheus text exposition. What is counted from the log is left out until
    /// the metrics have read the log to its end once ([`Counts::caught_up`]): a process
    /// that has just started would otherwise report totals climbing from zero to the
    /// log's, which a dashboard shows as a burst of claims that never happened. Left out,
    /// the first total it reports continues the one the last process reported.
    pub fn render(&self) -> String {
        let counts = self.counts();
        let mut out = String::new();
        if counts.caught_up {
            counts.render_log_counts(&mut out);
        }
        let dead: Vec<_> = counts
            .dead_letters
            .iter()
            .map(|(queue, count)| (format!("{{queue=\"{queue}\"}}"), *count))
            .collect();
        counter(
            &mut out,
            "claims_dead_letters_total",
            "Messages dead-lettered, by queue, seen by this process since it started.",
            &dead,
        );
        gauge(
            &mut out,
            "claims_metrics_caught_up",
            "Whether the metrics have read the log to its end (1); until then the counts from the log are left out.",
            u64::from(counts.caught_up),
        );
        gauge(
            &mut out,
            "claims_metrics_log_position",
            "The log sequence the metrics have counted up to.",
            counts.position.map_or(0, |position| position.sequence),
        );
        drop(counts);
        self.render_process_gauges(&mut out);
        out
    }

    /// This process's own gauges alone, for a process without the API role
    /// ([`crate::api::probes`]): what it holds while the store takes no writes and its bus
    /// connection. What is counted from the log is the API processes' to report.
    pub fn render_process(&self) -> String {
        let mut out = String::new();
        self.render_process_gauges(&mut out);
        out
    }

    fn render_process_gauges(&self, out: &mut String) {
        gauge(
            out,
            "claims_held_messages",
            "Messages this process's roles hold, neither done nor handed back, while the event store takes no writes.",
            self.held.now(),
        );
        if let Some(bus) = &self.bus {
            let connection = bus.connection();
            gauge(
                out,
                "claims_bus_connected",
                "Whether this process is connected to its message bus now (1) or reconnecting (0).",
                u64::from(connection.connected),
            );
            counter(
                out,
                "claims_bus_reconnections_total",
                "Times this process lost its connection to the message bus and made it again, since it started.",
                &[(String::new(), connection.reconnections)],
            );
            counter(
                out,
                "claims_bus_queues_redeclared_total",
                "Times this process found a work queue's consumer deleted on the NATS server and saw it declared again, since it started.",
                &[(String::new(), connection.queues_redeclared)],
            );
        }
    }

    /// Marks the counts as the log's totals, the first time the log is read to its end.
    fn caught_up(&self, started: Instant) {
        let mut counts = self.counts();
        if !counts.caught_up {
            counts.caught_up = true;
            let position = counts.position.map_or(0, |position| position.sequence);
            tracing::info!(position, took = ?started.elapsed(), "metrics have counted the whole log; /metrics reports its totals from now on");
        }
    }

    fn position(&self) -> LogPosition {
        self.counts().position.unwrap_or(LogPosition::START)
    }

    /// Follows the log from the start until shutdown, counting every event.
    pub async fn follow_log(self, store: Arc<dyn EventStore>, mut shutdown: Shutdown) {
        let mut streak = FailureStreak::new(POLL, MAX_PAUSE);
        let started = Instant::now();
        loop {
            let pause = match store.read_all(self.position(), PAGE).await {
                Ok(events) => {
                    if let Some(ended) = streak.succeeded() {
                        tracing::info!(failures = ended.failures, failed_for = ?ended.lasted, "metrics read the log again");
                    }
                    if !events.is_empty() {
                        for event in &events {
                            self.observe(event);
                        }
                        continue;
                    }
                    self.caught_up(started);
                    POLL
                }
                Err(error) => {
                    let (say, pause) = streak.failed();
                    log_failure!(say, (%error),
                        first: "metrics could not read the log; retrying (said again every minute while it fails)",
                        still: "metrics still cannot read the log; retrying",
                        again: "metrics could not read the log again");
                    pause
                }
            };
            tokio::select! {
                () = shutdown.wait() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Counts dead letters as they pass on the bus until shutdown. On NATS a subscription
    /// asks the server for a consumer of the stream; one that cannot be made (a server
    /// busy or away at start-up, the stream missing) or that ends is tried again every
    /// few seconds, so the count does not stop for good with no one noticing.
    pub async fn count_dead_letters(self, bus: Arc<dyn MessageBus>, mut shutdown: Shutdown) {
        let pattern = match SubjectPattern::new("deadletter.>") {
            Ok(pattern) => pattern,
            Err(error) => {
                tracing::error!(%error, "the dead-letter pattern is invalid");
                return;
            }
        };
        let mut streak = FailureStreak::new(RESUBSCRIBE_AFTER, RESUBSCRIBE_AFTER);
        loop {
            match bus.subscribe(pattern.clone()).await {
                Ok(mut letters) => {
                    if let Some(ended) = streak.succeeded() {
                        tracing::info!(failures = ended.failures, failed_for = ?ended.lasted, "dead letters are counted again");
                    }
                    loop {
                        tokio::select! {
                            () = shutdown.wait() => return,
                            letter = letters.next() => match letter {
                                Some(letter) => self.dead_lettered(letter.subject.as_str()),
                                None => break,
                            },
                        }
                    }
                }
                Err(error) => {
                    log_failure!(streak.failed().0, (%error),
                        first: "dead letters cannot be counted; subscribing again (said again every minute while it fails)",
                        still: "dead letters still cannot be counted",
                        again: "dead letters cannot be counted again");
                }
            }
            tokio::select! {
                () = shutdown.wait() => return,
                () = tokio::time::sleep(RESUBSCRIBE_AFTER) => {}
            }
        }
    }
}
