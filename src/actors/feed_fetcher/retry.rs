//! When a transient failure is tried again: exponential backoff with full jitter, never sooner
//! than the server's Retry-After.

use std::time::Duration;

use rand::Rng;

/// Delay before attempt `next_attempt` (2 for the first retry).
pub fn backoff(base: Duration, next_attempt: u32, retry_after: Option<Duration>) -> Duration {
    let exp = base.saturating_mul(1u32 << next_attempt.saturating_sub(2).min(16));
    let jittered = rand::rng().random_range(exp / 2..=exp);
    let capped = jittered.min(Duration::from_secs(3600));
    match retry_after {
        Some(ra) => capped.max(ra.min(Duration::from_secs(24 * 3600))),
        None => capped,
    }
}

#[cfg(test)]
mod tests {
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
}
