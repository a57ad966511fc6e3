//! The tokio runtime every command runs on, sized by `--threads` (`CLAIMS_THREADS`).
//!
//! By default tokio runs one worker thread per core, which is what an engine on a host of
//! its own wants: every core can decide claims. When the engine shares a small machine
//! with PostgreSQL and nats-server, fewer threads do the same work for less: at a steady
//! load each message wakes a task, and with several workers a woken task is often picked
//! up by a parked thread that must be woken too, so the processor time goes to switching
//! threads rather than to claims (`docs/benchmarks.md`, "One runtime thread"). One thread
//! is a current-thread runtime: the command's own future and every task share it, with no
//! second thread to wake at all.

use std::num::NonZeroUsize;
use tokio::runtime::{Builder, Runtime};

/// Builds the runtime: one worker thread per core when `threads` is not given (tokio's
/// default, which `TOKIO_WORKER_THREADS` can change), one thread for everything when it is
/// 1, and that many worker threads otherwise.
pub fn build(threads: Option<NonZeroUsize>) -> std::io::Result<Runtime> {
    let mut builder = match threads.map(NonZeroUsize::get) {
        Some(1) => Builder::new_current_thread(),
        Some(workers) => {
            let mut builder = Builder::new_multi_thread();
            builder.worker_threads(workers);
            builder
        }
        None => Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use tokio::runtime::RuntimeFlavor;

    fn threads(count: usize) -> Option<NonZeroUsize> {
        Some(NonZeroUsize::new(count).unwrap())
    }

    #[test]
    fn one_thread_is_a_current_thread_runtime() {
        let runtime = build(threads(1)).unwrap();
        assert_eq!(
            runtime.handle().runtime_flavor(),
            RuntimeFlavor::CurrentThread
        );
        assert_eq!(runtime.metrics().num_workers(), 1);
    }

    #[test]
    fn more_threads_are_that_many_workers() {
        let runtime = build(threads(3)).unwrap();
        assert_eq!(
            runtime.handle().runtime_flavor(),
            RuntimeFlavor::MultiThread
        );
        assert_eq!(runtime.metrics().num_workers(), 3);
    }

    #[test]
    fn no_count_is_tokios_default() {
        let runtime = build(None).unwrap();
        assert_eq!(
            runtime.handle().runtime_flavor(),
            RuntimeFlavor::MultiThread
        );
        assert!(runtime.metrics().num_workers() >= 1);
    }

    #[test]
    fn every_size_runs_spawned_tasks_and_timers() {
        for size in [threads(1), threads(2), None] {
            let runtime = build(size).unwrap();
            let woke = runtime.block_on(async {
                let task = tokio::spawn(async {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    true
                });
                task.await.unwrap()
            });
            assert!(woke, "{size:?}");
        }
    }
}
