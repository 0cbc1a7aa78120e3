//! Maintenance: a deployment-wide pause of the scheduler, the queue workers and the periodic
//! sweeps, and the rule by which stale detection leaves the paused span out.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::audit::Actor;
use super::time;

/// The longest reason a pause may carry, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Whether the deployment is paused, who paused or resumed it and when. One document of the
/// `maintenance` collection holds it; served as is by `GET /api/maintenance` and the WebSocket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Maintenance {
    pub paused: bool,
    /// When the latest pause began (kept after a resume: it bounds the paused span).
    #[serde(default, with = "time::rfc3339_opt")]
    pub paused_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub paused_by: Option<Actor>,
    /// The operator's note on the latest pause.
    #[serde(default)]
    pub reason: Option<String>,
    /// When the latest pause ended (absent while paused, or before the first resume).
    #[serde(default, with = "time::rfc3339_opt")]
    pub resumed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub resumed_by: Option<Actor>,
}

impl Maintenance {
    /// The state after a pause by `by` at `at`.
    pub fn paused(by: Actor, at: DateTime<Utc>, reason: Option<String>) -> Self {
        Self {
            paused: true,
            paused_at: Some(at),
            paused_by: Some(by),
            reason,
            resumed_at: None,
            resumed_by: None,
        }
    }

    /// This state resumed by `by` at `at` (the pause's time, actor and reason are kept).
    pub fn resumed(&self, by: Actor, at: DateTime<Utc>) -> Self {
        Self {
            paused: false,
            resumed_at: Some(at),
            resumed_by: Some(by),
            ..self.clone()
        }
    }

    /// Runs whose last change is before this moment have made no progress for `stale_after`
    /// of time the deployment was not paused; `None` while paused (nothing is stale then).
    ///
    /// Only the latest paused span is left out. A run last changed before that span has
    /// waited through it, so its idle time is the part before the pause plus the part since
    /// the resume; it becomes stale once those add up to `stale_after`.
    pub fn stale_cutoff(&self, now: DateTime<Utc>, stale_after: Duration) -> Option<DateTime<Utc>> {
        if self.paused {
            return None;
        }
        let plain = now - stale_after;
        let (Some(paused_at), Some(resumed_at)) = (self.paused_at, self.resumed_at) else {
            return Some(plain);
        };
        let since_resume = now - resumed_at;
        if since_resume >= stale_after || resumed_at < paused_at {
            return Some(plain);
        }
        Some(paused_at - (stale_after - since_resume))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap() + Duration::minutes(min)
    }

    #[test]
    fn nothing_is_stale_while_paused() {
        let m = Maintenance::paused(Actor::Admin, t(0), None);
        assert_eq!(m.stale_cutoff(t(500), Duration::minutes(10)), None);
    }

    #[test]
    fn without_a_pause_the_cutoff_is_stale_after_ago() {
        let m = Maintenance::default();
        assert_eq!(m.stale_cutoff(t(30), Duration::minutes(10)), Some(t(20)));
    }

    #[test]
    fn the_paused_span_does_not_count_as_idle_time() {
        // Paused from 0 to 60, resumed; stale after 10 minutes.
        let m = Maintenance::paused(Actor::Admin, t(0), Some("upgrade".into()))
            .resumed(Actor::Cli, t(60));
        let after = Duration::minutes(10);
        // Right after the resume, only runs idle 10 minutes before the pause are stale.
        assert_eq!(m.stale_cutoff(t(60), after), Some(t(-10)));
        // 4 minutes later, a run last changed 6 minutes before the pause has idled 10.
        assert_eq!(m.stale_cutoff(t(64), after), Some(t(-6)));
        // Once stale_after has passed since the resume, the pause no longer matters.
        assert_eq!(m.stale_cutoff(t(70), after), Some(t(60)));
        assert_eq!(m.stale_cutoff(t(90), after), Some(t(80)));
        assert_eq!(
            m.reason.as_deref(),
            Some("upgrade"),
            "a resume keeps the reason"
        );
    }
}
