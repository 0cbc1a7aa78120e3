//! How work that hit an unreachable MongoDB or Redis is tried again: in the handler, with
//! exponential backoff and jitter, a bounded number of times. The queue's own redelivery is
//! not used for this, so the two retry mechanisms never multiply.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use rand::Rng;

use crate::store::StoreError;

/// Delay before attempt `next_attempt` (2 for the first retry): `base × 2^(n-2)` with full
/// jitter in its upper half, capped at an hour, never sooner than `retry_after`.
pub fn backoff(base: Duration, next_attempt: u32, retry_after: Option<Duration>) -> Duration {
    let exp = base.saturating_mul(1u32 << next_attempt.saturating_sub(2).min(16));
    let jittered = rand::rng().random_range(exp / 2..=exp);
    let capped = jittered.min(Duration::from_secs(3600));
    match retry_after {
        Some(ra) => capped.max(ra.min(Duration::from_secs(24 * 3600))),
        None => capped,
    }
}

/// Why a step gave up.
pub enum StepError {
    /// The stores stayed unreachable (or a permanent store error).
    Store(StoreError),
    /// The step panicked: a bug; the message is kept for the run's reason.
    Panicked(String),
}

/// Runs `step` until it succeeds, fails permanently, or `attempts` transient failures happened.
/// An attempt that takes longer than `limit` is abandoned and counts as a transient failure (a
/// store that holds a request without ever answering must not hold the worker with it). A
/// panic inside the step is caught here (the worker pool survives it) and reported.
pub async fn with_retries<T, F, Fut>(
    attempts: u32,
    base: Duration,
    limit: Duration,
    mut step: F,
) -> Result<T, StepError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut attempt = 1;
    loop {
        let attempt_result = tokio::time::timeout(limit, AssertUnwindSafe(step()).catch_unwind())
            .await
            .unwrap_or(Ok(Err(StoreError::TimedOut(limit))));
        match attempt_result {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) if e.is_transient() && attempt < attempts => {
                attempt += 1;
                let delay = backoff(base, attempt, None);
                tracing::warn!(error = %e, attempt, ?delay, "store unavailable; trying again");
                tokio::time::sleep(delay).await;
            }
            Ok(Err(e)) => return Err(StepError::Store(e)),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                return Err(StepError::Panicked(msg));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let base = Duration::from_secs(2);
        for _ in 0..20 {
            let d2 = backoff(base, 2, None);
            assert!(d2 >= Duration::from_secs(1) && d2 <= Duration::from_secs(2));
            let d4 = backoff(base, 4, None);
            assert!(d4 >= Duration::from_secs(4) && d4 <= Duration::from_secs(8));
        }
        let ra = backoff(base, 2, Some(Duration::from_secs(120)));
        assert_eq!(ra, Duration::from_secs(120));
    }

    #[tokio::test]
    async fn transient_failures_are_retried_up_to_the_limit_and_permanent_ones_are_not() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = with_retries(
            3,
            Duration::from_millis(1),
            Duration::from_secs(5),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(StoreError::Queue("down".into()))
            },
        )
        .await;
        assert!(matches!(r, Err(StepError::Store(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        calls.store(0, Ordering::SeqCst);
        let r: Result<(), _> = with_retries(
            3,
            Duration::from_millis(1),
            Duration::from_secs(5),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(StoreError::NotFound("x".into()))
            },
        )
        .await;
        assert!(matches!(r, Err(StepError::Store(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_panicking_step_is_reported_not_propagated() {
        let r: Result<(), _> = with_retries(
            3,
            Duration::from_millis(1),
            Duration::from_secs(5),
            || async { panic!("boom") },
        )
        .await;
        assert!(matches!(r, Err(StepError::Panicked(m)) if m == "boom"));
    }
}
