//! Where a phase's processor time went: this process (the engine and the benchmark's
//! insurer), the adjudication worker processes if any, the PostgreSQL server and
//! nats-server, read from Linux's `/proc` before and after the phase, per claim decided.
//!
//! It answers the question a throughput goal raises on a small machine: how many claims
//! per second could these three processes decide if they had every core and nothing else
//! ran? That ceiling is `cores / processor time per claim`. Per-claim processor time is
//! steadier than wall time on a shared machine, because it does not count the time other
//! sessions' work keeps the engine waiting for a core.
//!
//! PostgreSQL runs a process per connection; a backend that ends is counted through the
//! postmaster's "children" time once it is reaped, so the server's total is the live
//! processes' own time plus the postmaster's children's. Every process named
//! `nats-server` is counted (an idle one adds nothing measurable). Only servers on this
//! machine are seen: on another host, or off Linux, the split is absent.

use serde::Serialize;
use std::time::Duration;

/// `/proc` reports processor time in clock ticks of `USER_HZ`, which Linux fixes at 100 a
/// second for user space on every architecture it supports.
const TICKS_PER_SECOND: u64 = 100;

/// Processor time used so far, in clock ticks.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSample {
    engine: u64,
    workers: u64,
    postgres: u64,
    nats: u64,
    /// Every core's busy time (all processes, the kernel included).
    machine_busy: u64,
}

impl CpuSample {
    /// Reads `/proc` now, counting the processes `workers` as adjudication workers; `None`
    /// off Linux or if `/proc` cannot be read.
    pub fn take(workers: &[u32]) -> Option<CpuSample> {
        let engine = ProcessTimes::read("self")?.own();
        let machine_busy = machine_busy()?;
        let mut sample = CpuSample {
            engine,
            machine_busy,
            ..CpuSample::default()
        };
        let processes: Vec<(u32, ProcessTimes)> = std::fs::read_dir("/proc")
            .ok()?
            .filter_map(|entry| {
                let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
                Some((pid, ProcessTimes::read(&pid.to_string())?))
            })
            .collect();
        let is_postgres = |pid: u32| {
            processes
                .iter()
                .any(|(other, times)| *other == pid && times.name == "postgres")
        };
        for (pid, times) in &processes {
            if workers.contains(pid) {
                sample.workers += times.own();
                continue;
            }
            match times.name.as_str() {
                "postgres" if !is_postgres(times.parent) => {
                    sample.postgres += times.own() + times.children;
                }
                "postgres" => sample.postgres += times.own(),
                "nats-server" => sample.nats += times.own(),
                _ => {}
            }
        }
        Some(sample)
    }

    /// What was used between `self` and `later`, per claim decided.
    pub fn split(&self, later: &CpuSample, claims: usize, nproc: usize) -> CpuSplit {
        let per_claim =
            |before: u64, after: u64| per_claim_ms(after.saturating_sub(before), claims);
        let engine = per_claim(self.engine, later.engine);
        let workers = per_claim(self.workers, later.workers);
        let postgres = per_claim(self.postgres, later.postgres);
        let nats = per_claim(self.nats, later.nats);
        let total = ms_sum(&[engine, workers, postgres, nats]);
        CpuSplit {
            engine_ms_per_claim: engine,
            workers_ms_per_claim: workers,
            postgres_ms_per_claim: postgres,
            nats_ms_per_claim: nats,
            machine_busy_ms_per_claim: per_claim(self.machine_busy, later.machine_busy),
            ceiling_claims_per_s: ceiling(total, nproc),
        }
    }
}

/// Processor time per claim decided, in milliseconds, and what it implies.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CpuSplit {
    /// This process: the engine's roles and the benchmark's insurer (publisher and
    /// listener).
    pub engine_ms_per_claim: f64,
    /// The adjudication worker processes (`--worker-processes`); 0 when the workers are
    /// tasks of this process, counted in `engine_ms_per_claim`.
    pub workers_ms_per_claim: f64,
    /// The PostgreSQL server, every backend included.
    pub postgres_ms_per_claim: f64,
    /// nats-server.
    pub nats_ms_per_claim: f64,
    /// Every core's busy time, whoever used it (other sessions' work included).
    pub machine_busy_ms_per_claim: f64,
    /// `cores × 1,000 / (engine + workers + PostgreSQL + NATS ms per claim)`: the most claims per
    /// second these processes could decide on this machine with every core to themselves.
    pub ceiling_claims_per_s: f64,
}

/// One process's times from `/proc/<pid>/stat`.
struct ProcessTimes {
    name: String,
    parent: u32,
    user: u64,
    system: u64,
    /// Its reaped children's user and system time.
    children: u64,
}

impl ProcessTimes {
    fn read(pid: &str) -> Option<ProcessTimes> {
        ProcessTimes::parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    fn parse(stat: &str) -> Option<ProcessTimes> {
        // `pid (name) state ppid …`: the name may hold spaces and parentheses, so split at
        // the last `)`.
        let (head, tail) = stat.rsplit_once(')')?;
        let name = head.split_once('(')?.1.to_owned();
        let fields: Vec<&str> = tail.split_whitespace().collect();
        // After the name: state (0), ppid (1), … utime (11), stime (12), cutime (13),
        // cstime (14), as proc(5) numbers them 3, 4, 14, 15, 16 and 17.
        let number = |index: usize| fields.get(index)?.parse::<u64>().ok();
        Some(ProcessTimes {
            name,
            parent: u32::try_from(number(1)?).ok()?,
            user: number(11)?,
            system: number(12)?,
            children: number(13)? + number(14)?,
        })
    }

    fn own(&self) -> u64 {
        self.user + self.system
    }
}

/// Busy ticks of every core since boot: the first line of `/proc/stat` less idle and
/// I/O wait.
fn machine_busy() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = ticks.iter().take(8).sum();
    Some(total - ticks.get(3)? - ticks.get(4)?)
}

#[allow(clippy::float_arithmetic)] // A benchmark figure; never money.
fn per_claim_ms(ticks: u64, claims: usize) -> f64 {
    let spent = Duration::from_millis(ticks * 1_000 / TICKS_PER_SECOND);
    spent.as_secs_f64() * 1_000.0 / claims.max(1) as f64
}

#[allow(clippy::float_arithmetic)] // A benchmark figure; never money.
fn ms_sum(parts: &[f64]) -> f64 {
    parts.iter().sum()
}

#[allow(clippy::float_arithmetic)] // A benchmark figure; never money.
fn ceiling(ms_per_claim: f64, nproc: usize) -> f64 {
    if ms_per_claim > 0.0 {
        nproc as f64 * 1_000.0 / ms_per_claim
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn this_process_is_seen_using_the_processor() {
        let before = CpuSample::take(&[]).expect("/proc is readable on Linux");
        let started = Instant::now();
        let mut spin = 0_u64;
        let mut after = before;
        // Busy until /proc shows at least two ticks more, for this process and for the
        // machine (the two are counted apart and can be a tick out of step), or give up
        // after 10 s.
        while (after.engine < before.engine + 2 || after.machine_busy < before.machine_busy + 2)
            && started.elapsed() < Duration::from_secs(10)
        {
            for step in 0..1_000_000_u64 {
                spin = std::hint::black_box(spin.wrapping_mul(31).wrapping_add(step));
            }
            after = CpuSample::take(&[]).expect("/proc is readable on Linux");
        }
        assert!(after.engine >= before.engine + 2, "{before:?} → {after:?}");
        assert!(after.machine_busy >= before.machine_busy + 2);
        let split = before.split(&after, 1, 2);
        assert!(split.engine_ms_per_claim >= 20.0, "{split:?}");
        assert!(split.ceiling_claims_per_s > 0.0);
    }

    #[test]
    fn a_name_with_spaces_and_parentheses_is_read_whole() {
        let stat = "42 (my (odd) name) S 7 42 42 0 -1 4194304 1 0 0 0 150 25 3 4 20 0 1 0";
        let times = ProcessTimes::parse(stat).unwrap();
        assert_eq!(times.name, "my (odd) name");
        assert_eq!(times.parent, 7);
        assert_eq!((times.own(), times.children), (175, 7));
        assert!(ProcessTimes::parse("42 (truncated) S 7").is_none());
    }

    #[test]
    fn the_ceiling_is_the_cores_over_the_time_per_claim() {
        assert_eq!(ceiling(0.5, 2), 4_000.0);
        assert_eq!(ceiling(0.0, 2), 0.0);
        assert_eq!(per_claim_ms(150, 1_000), 1.5);
    }
}
