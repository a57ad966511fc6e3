//! `claims bench e2e`: claims through the whole engine on real services, timed from the
//! insurer's side.
//!
//! # What runs
//!
//! The engine's intake, relay, adjudication workers and outcome notices run in this
//! process on PostgreSQL (a fresh schema, dropped at the end) and NATS JetStream (a stream
//! of its own, deleted at the end, with every subject under a namespace of its own, so
//! that neither collides with an engine or a test on the same server). A separate NATS
//! connection plays the insurer: it publishes native JSON claims through JetStream to
//! `claims.submit.<insurer>`, with the claim reference as `Nats-Msg-Id`, and listens on
//! `claims.outcome.<insurer>` for each claim's decision (a FHIR `ClaimResponse`), so a
//! latency is submit → decision as the insurer sees it: intake, the store, the relay, an
//! adjudicator, the store again, the relay again and the outcome notice.
//!
//! Two phases, on one engine, after the reference data (one plan, `members` members,
//! `providers` providers) is stored:
//!
//! 1. **sustained**: `claims` claims published as fast as JetStream takes them; the rate
//!    is the claims decided over the time from the first publish to the last decision.
//! 2. **open loop**: claims published at a fixed `rate` for `seconds`, each on its own
//!    schedule whatever the engine does; each latency runs from the claim's scheduled
//!    time (so a publisher that falls behind does not hide a slow engine).
//!
//! Every claim must be decided: a phase that stops hearing decisions for `patience` ends,
//! and the command reports the claims missing and fails.

mod book;
mod cpu;
mod insurer;
mod stages;
mod worker_processes;

use super::store::{LatencySummary, drop_schema, millis, rate, summarise, thousands, whole};
use crate::clock::{Clock, SystemClock};
use crate::engine::{BusChoice, Database, EmbeddedConfig, Engine, Role};
use crate::subjects;
use anyhow::{Context, ensure};
use book::{Book, OutgoingClaim};
use chrono::NaiveDate;
use claims_adapters::bus::NatsBusConfig;
use claims_domain::InsurerId;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use cpu::{CpuSample, CpuSplit};
use indicatif::{ProgressBar, ProgressStyle};
use insurer::{Heard, Insurer};
use serde::Serialize;
use stages::{StageLatencies, Timed};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;
use worker_processes::{WorkerProcesses, WorkerSettings};

/// The NATS server the benchmark uses unless told otherwise.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// The insurer the benchmark plays.
const INSURER: &str = "bench-health";

/// The open-loop rate the latency goal is stated for.
const GOAL_RATE: u32 = 1_000;

/// How the benchmark runs.
#[derive(Debug, Clone)]
pub struct E2eBenchOptions {
    /// The NATS server.
    pub nats_url: String,
    /// The PostgreSQL server.
    pub database_url: String,
    /// Claims in the sustained phase.
    pub claims: usize,
    /// Claims per second in the open-loop phase.
    pub rate: u32,
    /// How long the open-loop phase publishes.
    pub seconds: Duration,
    /// Adjudication workers: tasks in this process, or in each worker process.
    pub workers: usize,
    /// Worker processes (`claims serve --role adjudicator`) to adjudicate in, instead of
    /// this process; 0 keeps the workers as tasks here.
    pub worker_processes: usize,
    /// Intake tasks.
    pub intakes: usize,
    /// Outcome-notice tasks.
    pub notifiers: usize,
    /// Messages each intake, adjudication and outcome-notice task takes at once.
    pub batch: usize,
    /// How long a task that has taken a message waits for more to share its batch
    /// ([`NatsBusConfig::batch_linger`]), here and in worker processes.
    pub linger: Duration,
    /// Members the claims are spread over.
    pub members: usize,
    /// Providers the claims are spread over.
    pub providers: usize,
    /// How long a phase may go without a new decision before it gives up.
    pub patience: Duration,
    /// Draw progress bars (only ever on a terminal).
    pub progress: bool,
    /// The runtime threads this process was started with (`--threads`; `None`: one per
    /// core), passed on to worker processes.
    pub threads: Option<NonZeroUsize>,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct E2eBenchReport {
    /// The day of the run (UTC).
    pub date: NaiveDate,
    /// The processors available to the benchmark (what `nproc` prints).
    pub nproc: usize,
    /// Adjudication workers (per process when `worker_processes` is above 0).
    pub workers: usize,
    /// Separate adjudication worker processes (0: the workers are tasks of the benchmark).
    pub worker_processes: usize,
    /// Intake tasks.
    pub intakes: usize,
    /// Outcome-notice tasks.
    pub notifiers: usize,
    /// Messages taken from a queue at once.
    pub batch: usize,
    /// Milliseconds a task waited for more messages once it had one.
    pub linger_ms: f64,
    /// The runtime threads of this process and of worker processes (`None`: one per core).
    pub threads: Option<usize>,
    /// Members the claims were spread over.
    pub members: usize,
    /// Providers the claims were spread over.
    pub providers: usize,
    /// Claims as fast as the engine takes them.
    pub sustained: PhaseResult,
    /// Claims at a fixed rate.
    pub open_loop: PhaseResult,
}

/// One phase's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseResult {
    /// Claims published.
    pub claims: usize,
    /// Claims the stream stored (a claim reference it had seen would not count).
    pub stored: usize,
    /// Claims intake rejected (none should be).
    pub rejected: usize,
    /// Claims whose decision the insurer heard.
    pub decided: usize,
    /// The publishing rate asked for (`None`: as fast as possible).
    pub rate_per_s: Option<u32>,
    /// From the first publish to the last decision heard, in seconds.
    pub seconds: f64,
    /// Claims decided per second over that time.
    pub claims_per_s: f64,
    /// Submit → decision, in milliseconds (from the scheduled time in the open loop).
    pub latency_ms: LatencySummary,
    /// The slowest claim, in milliseconds.
    pub max_ms: f64,
    /// How far the publisher fell behind its schedule at worst, in milliseconds (open
    /// loop only).
    pub max_publish_lag_ms: f64,
    /// Where the submit → decision time went (see `e2e/stages.rs`).
    pub stages: StageLatencies,
    /// Processor time per claim by process, and the ceiling it implies (see
    /// `e2e/cpu.rs`); `None` where `/proc` cannot be read.
    pub cpu: Option<CpuSplit>,
}

impl PhaseResult {
    /// Claims published and never heard decided.
    pub fn missing(&self) -> usize {
        self.claims.saturating_sub(self.decided)
    }
}

impl E2eBenchReport {
    /// True when every claim of both phases was decided.
    pub fn complete(&self) -> bool {
        self.sustained.missing() == 0 && self.open_loop.missing() == 0
    }

    /// The machine-readable summary: one JSON object on one line. The `…_at_1000_per_s`
    /// figures are `null` when the open loop ran at another rate.
    pub fn json_line(&self) -> anyhow::Result<String> {
        let at_goal = self.open_loop.rate_per_s == Some(GOAL_RATE);
        let goal = |value: f64| at_goal.then_some(value);
        Ok(serde_json::to_string(&serde_json::json!({
            "benchmark": "e2e",
            "date": self.date,
            "nproc": self.nproc,
            "workers": self.workers,
            "worker_processes": self.worker_processes,
            "intakes": self.intakes,
            "notifiers": self.notifiers,
            "batch": self.batch,
            "threads": self.threads,
            "claims_per_s": self.sustained.claims_per_s,
            "p50_ms_sustained": self.sustained.latency_ms.p50,
            "p99_ms_sustained": self.sustained.latency_ms.p99,
            "rate_per_s": self.open_loop.rate_per_s,
            "p50_ms_at_rate": self.open_loop.latency_ms.p50,
            "p99_ms_at_rate": self.open_loop.latency_ms.p99,
            "p50_ms_at_1000_per_s": goal(self.open_loop.latency_ms.p50),
            "p99_ms_at_1000_per_s": goal(self.open_loop.latency_ms.p99),
            "ceiling_claims_per_s": self.sustained.cpu.map(|cpu| cpu.ceiling_claims_per_s),
            "sustained": self.sustained,
            "open_loop": self.open_loop,
        }))?)
    }
}

/// Runs both phases on a fresh schema and stream, then removes them.
pub async fn run(options: &E2eBenchOptions) -> anyhow::Result<E2eBenchReport> {
    ensure!(
        options.claims > 0,
        "the sustained phase needs at least one claim"
    );
    ensure!(
        options.rate > 0,
        "the open-loop rate must be at least 1 claim/s"
    );
    ensure!(
        options.workers > 0,
        "at least one adjudication worker is needed"
    );
    ensure!(options.batch > 0, "a batch holds at least one message");
    ensure!(
        options.members > 0 && options.providers > 0,
        "claims need members and providers"
    );
    let run = Uuid::new_v4().simple().to_string();
    let run = &run[..12];
    let schema = format!("claims_bench_e2e_{run}");
    let namespace = format!("bench-{run}");
    let stream = format!("CLAIMS_BENCH_{}", run.to_uppercase());
    let clock = Arc::new(SystemClock);
    let book = Book {
        insurer: InsurerId::new(INSURER)?,
        members: options.members,
        providers: options.providers,
        today: clock.today(),
    };

    let bus = NatsBusConfig::new(&options.nats_url, &stream, subjects::stream_subjects())
        .in_namespace(&namespace)
        .with_batch_linger(options.linger);
    let on_wire = |subject: claims_adapters::bus::Subject| bus.on_wire(subject.as_str());
    let insurer = Insurer::connect(
        &options.nats_url,
        on_wire(subjects::submit(&book.insurer)),
        on_wire(subjects::ack(&book.insurer)),
        on_wire(subjects::outcome(&book.insurer)),
    )
    .await?;
    let mut config = EmbeddedConfig::new(
        Database::Postgres {
            url: options.database_url.clone(),
            schema: Some(schema.clone()),
        },
        clock,
    );
    config.bus = BusChoice::Nats(Box::new(bus.clone()));
    config.adjudicators = options.workers;
    config.intakes = options.intakes;
    config.notifiers = options.notifiers;
    config.batch = options.batch;
    config.roles = [Role::Intake, Role::Relay, Role::Outcomes]
        .into_iter()
        .collect();
    if options.worker_processes == 0 {
        config.roles.insert(Role::Adjudicator);
    }
    let workers = WorkerSettings {
        database_url: options.database_url.clone(),
        schema: schema.clone(),
        nats_url: options.nats_url.clone(),
        stream: stream.clone(),
        namespace: namespace.clone(),
        tasks: options.workers,
        batch: options.batch,
        linger: options.linger,
        threads: options.threads,
    };
    let measured = async {
        let engine = Engine::start_embedded(config)
            .await
            .context("starting the engine on PostgreSQL and NATS")?;
        // After the engine, so the schema and stream exist; before the first claim, so
        // their queue captures the first `ClaimSubmitted`.
        let workers = match options.worker_processes {
            0 => None,
            count => Some(
                WorkerProcesses::start(count, &workers)
                    .await
                    .context("starting the adjudication worker processes")?,
            ),
        };
        let worker_ids = workers
            .as_ref()
            .map(WorkerProcesses::ids)
            .unwrap_or_default();
        let measured = measure(&engine, &insurer, &book, run, &worker_ids, options).await;
        let stopped = match workers {
            Some(workers) => workers.stop().await,
            None => Ok(()),
        };
        engine.shutdown().await;
        let measured = measured?;
        stopped.context("stopping the adjudication worker processes")?;
        anyhow::Ok(measured)
    }
    .await;
    let jetstream = async_nats::jetstream::new(async_nats::connect(&options.nats_url).await?);
    let deleted = jetstream.delete_stream(&stream).await;
    let closed = insurer.close().await;
    let dropped = drop_schema(&options.database_url, &schema).await;
    let (sustained, open_loop) = measured?;
    deleted.with_context(|| format!("cannot delete the benchmark's stream {stream}"))?;
    closed?;
    dropped?;
    Ok(E2eBenchReport {
        date: chrono::Utc::now().date_naive(),
        nproc: std::thread::available_parallelism().map_or(1, usize::from),
        workers: options.workers,
        worker_processes: options.worker_processes,
        intakes: options.intakes,
        notifiers: options.notifiers,
        batch: options.batch,
        linger_ms: millis(options.linger),
        threads: options.threads.map(NonZeroUsize::get),
        members: options.members,
        providers: options.providers,
        sustained,
        open_loop,
    })
}

async fn measure(
    engine: &Engine,
    insurer: &Insurer,
    book: &Book,
    run: &str,
    worker_ids: &[u32],
    options: &E2eBenchOptions,
) -> anyhow::Result<(PhaseResult, PhaseResult)> {
    engine
        .load_reference_data(&book.reference_data()?)
        .await
        .context("storing the benchmark's reference data")?;
    let sustained = claims(book, &format!("S{run}"), options.claims)?;
    let sustained = phase(engine, insurer, &sustained, None, worker_ids, options).await?;
    let open_count =
        usize::try_from(u128::from(options.rate) * options.seconds.as_millis() / 1_000)?.max(1);
    let open_loop = claims(book, &format!("O{run}"), open_count)?;
    let open_loop = phase(
        engine,
        insurer,
        &open_loop,
        Some(options.rate),
        worker_ids,
        options,
    )
    .await?;
    Ok((sustained, open_loop))
}

fn claims(book: &Book, run: &str, count: usize) -> anyhow::Result<Vec<OutgoingClaim>> {
    (0..count).map(|index| book.claim(run, index)).collect()
}

/// Publishes `claims` (as fast as possible, or at `rate` per second), waits for their
/// decisions and measures.
async fn phase(
    engine: &Engine,
    insurer: &Insurer,
    claims: &[OutgoingClaim],
    rate_per_s: Option<u32>,
    worker_ids: &[u32],
    options: &E2eBenchOptions,
) -> anyhow::Result<PhaseResult> {
    let heard = &insurer.heard;
    let decided_before = heard.decided.load(Ordering::Relaxed);
    let stored_before = heard.stored.load(Ordering::Relaxed);
    let rejected_before = heard.rejected.load(Ordering::Relaxed);
    let bar = progress_bar(options.progress, claims.len(), rate_per_s)?;
    let cpu_before = CpuSample::take(worker_ids);
    let started = Instant::now();
    // The wall clock at `started`, to set the insurer's times beside the store's.
    let started_wall = chrono::Utc::now();
    let wall = |at: Instant| {
        started_wall + chrono::Duration::from_std(at.duration_since(started)).unwrap_or_default()
    };
    let mut sent_at = Vec::with_capacity(claims.len());
    let mut max_lag = Duration::ZERO;
    for (index, claim) in claims.iter().enumerate() {
        let at = match rate_per_s {
            None => Instant::now(),
            Some(rate) => {
                let offset = u64::try_from(index)? * 1_000_000_000 / u64::from(rate);
                let at = started + Duration::from_nanos(offset);
                tokio::time::sleep_until(at).await;
                max_lag = max_lag.max(at.elapsed());
                at
            }
        };
        insurer
            .publish(&claim.claim_ref, claim.body.clone())
            .await?;
        sent_at.push(at);
        if index % 64 == 0 {
            bar.set_position(progress(heard, decided_before));
        }
    }
    let expected = decided_before + claims.len();
    let mut last_progress = (heard.decided.load(Ordering::Relaxed), Instant::now());
    while heard.decided.load(Ordering::Relaxed) < expected {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let decided = heard.decided.load(Ordering::Relaxed);
        bar.set_position(progress(heard, decided_before));
        if decided != last_progress.0 {
            last_progress = (decided, Instant::now());
        } else if last_progress.1.elapsed() >= options.patience {
            break;
        }
        if heard.rejected.load(Ordering::Relaxed) > rejected_before {
            break;
        }
    }
    let cpu_after = CpuSample::take(worker_ids);
    bar.finish_and_clear();

    let mut latencies = Vec::with_capacity(claims.len());
    let mut timed = Vec::with_capacity(claims.len());
    let mut last_decision = started;
    for (claim, sent) in claims.iter().zip(&sent_at) {
        if let Some(decided) = heard.decided_at(&claim.claim_id) {
            latencies.push(decided.saturating_duration_since(*sent));
            last_decision = last_decision.max(decided);
            timed.push(Timed {
                claim: claim.claim_id,
                sent: wall(*sent),
                heard: wall(decided),
            });
        }
    }
    let stages = stages::split(engine.store().as_ref(), &timed)
        .await
        .context("reading the claims' events for the latency split")?;
    let rejected = heard.rejected.load(Ordering::Relaxed) - rejected_before;
    if rejected > 0 {
        eprintln!(
            "intake rejected {rejected} benchmark claims, the first: {}",
            heard.first_rejection().unwrap_or_default()
        );
    }
    let decided = latencies.len();
    let nproc = std::thread::available_parallelism().map_or(1, usize::from);
    let cpu = cpu_before
        .zip(cpu_after)
        .map(|(before, after)| before.split(&after, decided, nproc));
    let elapsed = last_decision.duration_since(started);
    let max_ms = latencies.iter().max().map_or(0.0, |max| millis(*max));
    Ok(PhaseResult {
        claims: claims.len(),
        stored: heard.stored.load(Ordering::Relaxed) - stored_before,
        rejected,
        decided,
        rate_per_s,
        seconds: elapsed.as_secs_f64(),
        claims_per_s: rate(u64::try_from(decided)?, elapsed),
        latency_ms: summarise(&mut latencies),
        max_ms,
        max_publish_lag_ms: millis(max_lag),
        stages,
        cpu,
    })
}

fn progress(heard: &Heard, before: usize) -> u64 {
    u64::try_from(heard.decided.load(Ordering::Relaxed).saturating_sub(before)).unwrap_or(0)
}

fn progress_bar(show: bool, claims: usize, rate: Option<u32>) -> anyhow::Result<ProgressBar> {
    let length = u64::try_from(claims)?;
    let bar = if show {
        ProgressBar::new(length)
    } else {
        ProgressBar::hidden()
    };
    let phase = match rate {
        None => "sustained".to_owned(),
        Some(rate) => format!("{rate} claims/s"),
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {phase} [{{bar:40}}] {{pos}}/{{len}} decided ({{per_sec}})"
        ))
        .context("the progress bar's template")?
        .progress_chars("=> "),
    );
    Ok(bar)
}

/// The figures as a table for people.
pub fn render(report: &E2eBenchReport) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "phase", "claims", "decided", "seconds", "claims/s", "mean ms", "p50 ms", "p99 ms",
        "max ms",
    ]);
    for (name, phase) in [
        ("sustained (as fast as taken)".to_owned(), &report.sustained),
        (
            format!(
                "open loop at {} claims/s",
                report.open_loop.rate_per_s.unwrap_or_default()
            ),
            &report.open_loop,
        ),
    ] {
        table.add_row([
            name,
            thousands(u64::try_from(phase.claims).unwrap_or(u64::MAX)),
            thousands(u64::try_from(phase.decided).unwrap_or(u64::MAX)),
            format!("{:.2}", phase.seconds),
            thousands(whole(phase.claims_per_s)),
            format!("{:.1}", phase.latency_ms.mean),
            format!("{:.1}", phase.latency_ms.p50),
            format!("{:.1}", phase.latency_ms.p99),
            format!("{:.1}", phase.max_ms),
        ]);
    }
    let mut text = format!(
        "End-to-end benchmark: NATS → {} intake tasks → PostgreSQL → relay → {} → {} \
         outcome-notice tasks, batches of up to {} messages, on {} processors ({}); claims \
         over {} members and {} providers\n{table}\n\
         sustained: {} claims/s decided (goal: at least 10,000)\n\
         open loop: p50 {:.1} ms, p99 {:.1} ms submit → decision (goal: p99 at most 50 ms at \
         1,000 claims/s); the publisher fell behind its schedule by {:.1} ms at worst\n",
        report.intakes,
        match report.worker_processes {
            0 => format!("{} adjudication workers", report.workers),
            processes => format!(
                "{processes} worker processes of {} adjudication workers each",
                report.workers
            ),
        },
        report.notifiers,
        report.batch,
        report.nproc,
        match report.threads {
            None => "runtime threads: one per core".to_owned(),
            Some(1) => "one runtime thread".to_owned(),
            Some(threads) => format!("{threads} runtime threads"),
        },
        report.members,
        report.providers,
        thousands(whole(report.sustained.claims_per_s)),
        report.open_loop.latency_ms.p50,
        report.open_loop.latency_ms.p99,
        report.open_loop.max_publish_lag_ms,
    );
    for (name, phase) in [
        ("sustained", &report.sustained),
        ("open loop", &report.open_loop),
    ] {
        let stages = &phase.stages;
        text.push_str(&format!(
            "{name}, p50 / p99 ms: intake {:.1} / {:.1}, adjudication {:.1} / {:.1}, notice {:.1} / {:.1}\n",
            stages.intake_ms.p50,
            stages.intake_ms.p99,
            stages.adjudication_ms.p50,
            stages.adjudication_ms.p99,
            stages.notice_ms.p50,
            stages.notice_ms.p99,
        ));
        if let Some(cpu) = phase.cpu {
            let workers = if report.worker_processes > 0 {
                format!(", worker processes {:.3}", cpu.workers_ms_per_claim)
            } else {
                String::new()
            };
            text.push_str(&format!(
                "{name}, processor ms per claim: engine and insurer {:.3}{workers}, PostgreSQL \
                 {:.3}, NATS {:.3} (the whole machine {:.3}): at most {} claims/s on {} cores\n",
                cpu.engine_ms_per_claim,
                cpu.postgres_ms_per_claim,
                cpu.nats_ms_per_claim,
                cpu.machine_busy_ms_per_claim,
                thousands(whole(cpu.ceiling_claims_per_s)),
                report.nproc,
            ));
        }
        if phase.missing() > 0 {
            text.push_str(&format!(
                "{name}: {} of {} claims were never heard decided\n",
                phase.missing(),
                phase.claims
            ));
        }
    }
    text
}
