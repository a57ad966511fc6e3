//! Adjudication workers as separate processes: `claims serve --role adjudicator`, this
//! same binary, as an operator would run them on other hosts, on the benchmark's schema,
//! stream and subject namespace.
//!
//! With them the benchmark measures what crossing processes costs (each worker has its own
//! PostgreSQL pool and NATS connection, and its claims reach it only through the durable
//! queue), instead of workers that share the engine's connections as tasks do.

use anyhow::{Context, bail};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;

/// What a worker says once its queue is declared and it pulls (`claims serve`'s own line).
const RUNNING: &str = "the engine is running";

/// How long a worker may take to start.
const STARTUP: Duration = Duration::from_secs(60);

/// How long a worker may take to stop after SIGTERM before it is killed.
const STOPPING: Duration = Duration::from_secs(30);

/// Where the workers connect and how each runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The PostgreSQL server.
    pub database_url: String,
    /// The benchmark's schema.
    pub schema: String,
    /// The NATS server.
    pub nats_url: String,
    /// The benchmark's stream.
    pub stream: String,
    /// The benchmark's subject namespace.
    pub namespace: String,
    /// Adjudication tasks in each process.
    pub tasks: usize,
    /// Messages a task takes at once.
    pub batch: usize,
    /// How long a task waits for more messages once it has one.
    pub linger: Duration,
    /// Runtime threads in each process (`None`: one per core).
    pub threads: Option<NonZeroUsize>,
}

/// The running worker processes; killed if dropped before [`WorkerProcesses::stop`] (a
/// benchmark that fails must not leave workers behind).
pub struct WorkerProcesses {
    workers: Vec<Worker>,
    /// Where the workers' logs are written; removed with the processes.
    logs: tempfile::TempDir,
}

struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl WorkerProcesses {
    /// Starts `count` workers and waits until each runs.
    pub async fn start(count: usize, settings: &WorkerSettings) -> anyhow::Result<Self> {
        let binary = std::env::current_exe().context("finding this program to run workers")?;
        let logs = tempfile::tempdir().context("a directory for the workers' logs")?;
        let mut processes = WorkerProcesses {
            workers: Vec::with_capacity(count),
            logs,
        };
        for index in 0..count {
            let log = processes.logs.path().join(format!("worker-{index}.log"));
            let stderr = std::fs::File::create(&log)
                .with_context(|| format!("creating {}", log.display()))?;
            let mut command = Command::new(&binary);
            command
                .args(["serve", "--role", "adjudicator"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr);
            // Only the benchmark's settings: an operator's CLAIMS_* must not point the
            // workers elsewhere.
            for (name, _) in std::env::vars() {
                if name.starts_with("CLAIMS_") || name == "RUST_LOG" {
                    command.env_remove(name);
                }
            }
            command
                .env("CLAIMS_DATABASE_URL", &settings.database_url)
                .env("CLAIMS_DATABASE_SCHEMA", &settings.schema)
                .env("CLAIMS_NATS_URL", &settings.nats_url)
                .env("CLAIMS_STREAM", &settings.stream)
                .env("CLAIMS_NATS_NAMESPACE", &settings.namespace)
                .env("CLAIMS_ADJUDICATORS", settings.tasks.to_string())
                .env("CLAIMS_QUEUE_BATCH", settings.batch.to_string())
                .env(
                    "CLAIMS_QUEUE_LINGER_MS",
                    settings.linger.as_millis().to_string(),
                )
                // Warnings only, but the line that says the worker runs.
                .env("CLAIMS_LOG_LEVEL", "warn,claims::serve=info");
            if let Some(threads) = settings.threads {
                command.env("CLAIMS_THREADS", threads.to_string());
            }
            let child = command
                .spawn()
                .with_context(|| format!("starting {} serve", binary.display()))?;
            processes.workers.push(Worker { child, log });
        }
        for worker in &mut processes.workers {
            wait_until_running(worker).await?;
        }
        Ok(processes)
    }

    /// The process ids, to tell their processor time apart.
    pub fn ids(&self) -> Vec<u32> {
        self.workers
            .iter()
            .map(|worker| worker.child.id())
            .collect()
    }

    /// Sends each worker SIGTERM and waits for it to finish what it holds; one that does not
    /// stop in time is killed and reported.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        for worker in &self.workers {
            // SIGTERM without unsafe code: the same `kill` an operator would type.
            let _ = Command::new("kill")
                .args(["-TERM", &worker.child.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + STOPPING;
        let mut failures = Vec::new();
        for (index, worker) in self.workers.iter_mut().enumerate() {
            let status = loop {
                match worker.child.try_wait() {
                    Ok(Some(status)) => break Some(status),
                    Ok(None) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    _ => break None,
                }
            };
            match status {
                Some(status) if status.success() => {}
                Some(status) => {
                    failures.push(format!(
                        "worker {index} exited with {status}:\n{}",
                        worker.log()
                    ));
                }
                None => {
                    let _ = worker.child.kill();
                    let _ = worker.child.wait();
                    failures.push(format!(
                        "worker {index} did not stop within {STOPPING:?} of SIGTERM:\n{}",
                        worker.log()
                    ));
                }
            }
        }
        if !failures.is_empty() {
            bail!("{}", failures.join("\n"));
        }
        Ok(())
    }
}

async fn wait_until_running(worker: &mut Worker) -> anyhow::Result<()> {
    let deadline = Instant::now() + STARTUP;
    loop {
        if worker.log().contains(RUNNING) {
            return Ok(());
        }
        if let Some(status) = worker.child.try_wait()? {
            bail!(
                "an adjudication worker exited with {status} at startup:\n{}",
                worker.log()
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "an adjudication worker did not start within {STARTUP:?}:\n{}",
                worker.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for WorkerProcesses {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            if let Ok(None) = worker.child.try_wait() {
                let _ = worker.child.kill();
                let _ = worker.child.wait();
            }
        }
    }
}
