//! How fast messages reach one worker, so that it lingers for more only when lingering can
//! gather any.
//!
//! A batch's linger pays for itself when messages arrive often enough to join it: at a
//! steady 1,000 claims/s a 2 ms linger gathers two or three, and their round trips to the
//! store and the server are shared. At 100 claims/s it gathers one in five batches, and
//! each of a claim's three queue hops still waits it out (`docs/benchmarks.md`). So a
//! worker keeps a smoothed count of the messages it takes per second and lingers only when
//! that rate says the linger should bring in at least [`WORTH_LINGERING`] messages.

use std::time::{Duration, Instant};

/// How many messages a linger must be expected to gather to be worth its wait.
pub(super) const WORTH_LINGERING: f64 = 0.5;

/// How far back the rate looks: about the last tenth of a second, so that it follows a
/// burst's start or end within a few batches.
const SMOOTHING: Duration = Duration::from_millis(100);

/// The rate at which one worker takes messages, smoothed exponentially over time.
#[derive(Debug, Default)]
pub(super) struct ArrivalRate {
    /// Messages per second.
    per_second: f64,
    /// When the last batch was taken.
    last: Option<Instant>,
}

#[allow(clippy::float_arithmetic)] // A rate of messages; never money.
impl ArrivalRate {
    /// Counts a batch of `taken` messages, taken at `now`.
    pub(super) fn observe(&mut self, taken: usize, now: Instant) {
        let Some(last) = self.last.replace(now) else {
            return;
        };
        let elapsed = now.saturating_duration_since(last).as_secs_f64();
        if elapsed <= 0.0 {
            return;
        }
        // Each sample weighs by the time it covers, so a long idle gap outweighs the
        // batches before it and a burst's many short gaps add up.
        let weight = 1.0 - (-elapsed / SMOOTHING.as_secs_f64()).exp();
        self.per_second += weight * (taken as f64 / elapsed - self.per_second);
    }

    /// Whether lingering `linger` should gather at least [`WORTH_LINGERING`] messages.
    pub(super) fn worth_lingering(&self, linger: Duration) -> bool {
        self.per_second * linger.as_secs_f64() >= WORTH_LINGERING
    }
}

#[cfg(test)]
#[allow(clippy::float_arithmetic)] // Rates of messages; never money.
mod tests {
    use super::*;

    const LINGER: Duration = Duration::from_millis(2);

    /// The rate after `batches` batches of `size` messages, one every `every`.
    fn steady(size: usize, every: Duration, batches: u32) -> ArrivalRate {
        let start = Instant::now();
        let mut rate = ArrivalRate::default();
        for batch in 0..=batches {
            rate.observe(size, start + every * batch);
        }
        rate
    }

    #[test]
    fn a_new_worker_takes_what_is_ready_without_lingering() {
        assert!(!ArrivalRate::default().worth_lingering(LINGER));
    }

    #[test]
    fn a_worker_taking_five_hundred_messages_a_second_lingers() {
        // Half of 1,000 claims/s, two workers: a batch of three every 6 ms.
        let rate = steady(3, Duration::from_millis(6), 200);
        assert!((rate.per_second - 500.0).abs() < 1.0, "{rate:?}");
        assert!(rate.worth_lingering(LINGER));
    }

    #[test]
    fn a_worker_taking_a_hundred_messages_a_second_does_not_linger() {
        let rate = steady(1, Duration::from_millis(10), 100);
        assert!((rate.per_second - 100.0).abs() < 1.0, "{rate:?}");
        assert!(!rate.worth_lingering(LINGER));
    }

    #[test]
    fn an_idle_gap_stops_the_lingering_and_a_burst_starts_it_again() {
        let start = Instant::now();
        let mut rate = steady(3, Duration::from_millis(6), 100);
        let busy_until = start + Duration::from_millis(600);
        rate.observe(1, busy_until + Duration::from_secs(2));
        assert!(!rate.worth_lingering(LINGER), "{rate:?}");
        let mut at = busy_until + Duration::from_secs(2);
        let mut batches = 0;
        while !rate.worth_lingering(LINGER) {
            at += Duration::from_millis(3);
            rate.observe(3, at);
            batches += 1;
            assert!(batches < 50, "still not lingering: {rate:?}");
        }
    }

    #[test]
    fn two_batches_at_the_same_instant_change_nothing() {
        let now = Instant::now();
        let mut rate = ArrivalRate::default();
        rate.observe(1, now);
        rate.observe(1, now);
        assert_eq!(rate.per_second, 0.0);
    }
}
