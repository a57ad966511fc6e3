//! A streak of failures of a loop that runs in the background (the relay, a projection,
//! the metrics reader) while a server it needs is away: how long to pause before trying
//! again, and when to say so. An outage of minutes is then a few lines of log, the first
//! failure, one a minute while it lasts and one when it ends, rather than one per attempt.

use std::time::Duration;
use tokio::time::Instant;

/// How often a streak that goes on is worth a warning again.
pub const SAY_AGAIN_EVERY: Duration = Duration::from_secs(60);

/// Failures in a row, since the last success.
#[derive(Debug)]
pub struct FailureStreak {
    first_pause: Duration,
    max_pause: Duration,
    failures: u32,
    since: Instant,
    said_at: Instant,
}

/// What the loop should log about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Say {
    /// The first failure of a streak: a warning.
    First,
    /// A failure a minute or more after the last warning: another, with the streak so far.
    Still {
        /// Failures in the streak, this one included.
        failures: u32,
        /// Since the first.
        failing_for: Duration,
    },
    /// Nothing above debug: it was said less than a minute ago.
    Quiet,
}

/// A streak that ended with a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// How many failures it held.
    pub failures: u32,
    /// From its first failure to the success.
    pub lasted: Duration,
}

impl FailureStreak {
    /// No failure yet. The pause after the first failure of a streak is `first_pause`, and
    /// doubles with each further one up to `max_pause` (or `first_pause`, if longer).
    pub fn new(first_pause: Duration, max_pause: Duration) -> Self {
        let now = Instant::now();
        Self {
            first_pause,
            max_pause: max_pause.max(first_pause),
            failures: 0,
            since: now,
            said_at: now,
        }
    }

    /// Records a failure: what to log about it, and how long to pause before trying again.
    pub fn failed(&mut self) -> (Say, Duration) {
        let now = Instant::now();
        self.failures = self.failures.saturating_add(1);
        let say = if self.failures == 1 {
            self.since = now;
            self.said_at = now;
            Say::First
        } else if now - self.said_at >= SAY_AGAIN_EVERY {
            self.said_at = now;
            Say::Still {
                failures: self.failures,
                failing_for: now - self.since,
            }
        } else {
            Say::Quiet
        };
        let doublings = (self.failures - 1).min(16);
        let pause = self
            .first_pause
            .saturating_mul(1 << doublings)
            .min(self.max_pause);
        (say, pause)
    }

    /// Records a success: the streak it ended, if there was one.
    pub fn succeeded(&mut self) -> Option<Ended> {
        if self.failures == 0 {
            return None;
        }
        let ended = Ended {
            failures: self.failures,
            lasted: self.since.elapsed(),
        };
        self.failures = 0;
        Some(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_streak_is_said_at_its_start_once_a_minute_and_at_its_end() {
        let mut streak = FailureStreak::new(Duration::from_millis(250), Duration::from_secs(2));
        assert_eq!(streak.succeeded(), None, "no streak to end");
        let mut said = Vec::new();
        let mut pauses = Vec::new();
        // Two minutes and a half of failures, each after its pause.
        while said.len() < 3 || pauses.iter().sum::<Duration>() < Duration::from_secs(150) {
            let (say, pause) = streak.failed();
            if say != Say::Quiet {
                said.push(say);
            }
            pauses.push(pause);
            tokio::time::advance(pause).await;
        }
        let millis: Vec<u128> = pauses.iter().take(6).map(Duration::as_millis).collect();
        assert_eq!(millis, [250, 500, 1_000, 2_000, 2_000, 2_000]);
        assert_eq!(said[0], Say::First);
        assert!(
            matches!(said[1], Say::Still { failing_for, .. } if failing_for >= SAY_AGAIN_EVERY && failing_for < SAY_AGAIN_EVERY + Duration::from_secs(3)),
            "{said:?}"
        );
        assert_eq!(said.len(), 3, "a warning a minute: {said:?}");
        let ended = streak.succeeded().expect("a streak ended");
        assert_eq!(ended.failures, u32::try_from(pauses.len()).unwrap());
        assert!(ended.lasted >= Duration::from_secs(150), "{ended:?}");
        assert_eq!(streak.failed().0, Say::First, "a new streak starts over");
    }

    #[test]
    fn a_first_pause_longer_than_the_longest_is_kept() {
        let mut streak = FailureStreak::new(Duration::from_secs(5), Duration::from_secs(2));
        assert_eq!(streak.failed().1, Duration::from_secs(5));
        assert_eq!(streak.failed().1, Duration::from_secs(5));
    }
}
