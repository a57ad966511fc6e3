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

/// Logs a failure as its streak says ([`FailureStreak::failed`]): a warning for the first
/// and for one a minute or more after the last warning (with the streak's `failures` and
/// `failing_for`), debug otherwise. A macro rather than a function, so that each line
/// keeps the target of the module that logs it, by which operators filter.
///
/// ```ignore
/// log_failure!(say, (%queue, %error),
///     first: "pulling failed; retrying (said again every minute while it fails)",
///     still: "pulling still fails; retrying",
///     again: "pulling failed again");
/// ```
#[macro_export]
macro_rules! log_failure {
    ($say:expr, ($($field:tt)+), first: $first:literal, still: $still:literal, again: $again:literal $(,)?) => {
        match $say {
            $crate::failure_streak::Say::First => ::tracing::warn!($($field)+, $first),
            $crate::failure_streak::Say::Still { failures, failing_for } => {
                ::tracing::warn!($($field)+, failures, ?failing_for, $still)
            }
            $crate::failure_streak::Say::Quiet => ::tracing::debug!($($field)+, $again),
        }
    };
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
    use std::sync::{Arc, Mutex};

    /// What a subscriber wrote, shared with the test.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Written {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failure_is_logged_at_the_level_its_streak_says_with_the_streak_so_far() {
        let written = Written::default();
        let writer = written.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .without_time()
            .with_writer(move || writer.clone())
            .finish();
        let error = "connection refused";
        tracing::subscriber::with_default(subscriber, || {
            for say in [
                Say::First,
                Say::Quiet,
                Say::Still {
                    failures: 7,
                    failing_for: Duration::from_secs(61),
                },
            ] {
                crate::log_failure!(say, (%error, queue = "intake"),
                    first: "pulling failed",
                    still: "pulling still fails",
                    again: "pulling failed again");
            }
        });
        let text = String::from_utf8(
            written
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
        .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with(" WARN") && lines[0].contains("pulling failed"),
            "{text}"
        );
        assert!(
            lines[1].starts_with("DEBUG") && lines[1].contains("pulling failed again"),
            "{text}"
        );
        assert!(
            lines[2].starts_with(" WARN")
                && lines[2].contains("pulling still fails")
                && lines[2].contains("failures=7")
                && lines[2].contains("failing_for=61s"),
            "{text}"
        );
        for line in &lines {
            assert!(
                line.contains("error=connection refused") && line.contains("queue=\"intake\""),
                "{line}"
            );
        }
    }

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
