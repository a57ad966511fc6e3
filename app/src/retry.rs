//! Retrying a command whose append lost a race: reload, decide again on fresh state.

use std::future::Future;
use std::time::Duration;

/// How many times a command is decided again after losing a race before giving up.
pub const CONFLICT_ATTEMPTS: u32 = 12;

/// Runs `attempt` until it does not report a version conflict, backing off a little more
/// each time (a few milliseconds, with jitter so racing workers spread out).
pub async fn on_conflict<T, E, F, Fut>(
    mut attempt: F,
    is_conflict: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(error) if is_conflict(&error) && tries + 1 < CONFLICT_ATTEMPTS => {
                tries += 1;
                let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 8);
                tokio::time::sleep(Duration::from_millis(u64::from(tries) * 2 + jitter)).await;
            }
            result => return result,
        }
    }
}
