//! Alerts: the events that open an incident of a source, the rules that say when a run opens
//! or recovers one, and the message sent. Pure; delivery lives in `crate::alerts`.

use serde::{Deserialize, Serialize};

use super::{ImportRun, RunStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertEvent {
    /// A run of the source failed.
    RunFailed,
    /// The source's fetch failed transiently and waits for a retry.
    BackingOff,
    /// No new job for `alerts.stale_after_days`.
    Stale,
    /// Most of a run's jobs lack a company, when the run before had them.
    CoverageDrop,
    /// A run's failed items exceed `alerts.item_failure_percent`.
    ItemFailures,
}

impl AlertEvent {
    pub const ALL: [AlertEvent; 5] = [
        Self::RunFailed,
        Self::BackingOff,
        Self::Stale,
        Self::CoverageDrop,
        Self::ItemFailures,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RunFailed => "run_failed",
            Self::BackingOff => "backing_off",
            Self::Stale => "stale",
            Self::CoverageDrop => "coverage_drop",
            Self::ItemFailures => "item_failures",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    fn title(self) -> &'static str {
        match self {
            Self::RunFailed => "a run failed",
            Self::BackingOff => "fetches are failing and being retried",
            Self::Stale => "no new jobs for a while",
            Self::CoverageDrop => "jobs lost their company",
            Self::ItemFailures => "many items failed",
        }
    }
}

/// What a message says happened to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Opened,
    Recovered,
    /// Sent by "send test"; no incident.
    Test,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Recovered => "recovered",
            Self::Test => "test",
        }
    }
}

/// The body of every alert (the webhook's JSON; Slack and email render it as text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertMessage {
    /// The incident (`{source}:{event}:{n}`), the same on its opening and its recovery.
    pub incident_id: String,
    pub source_id: String,
    pub event: Option<AlertEvent>,
    pub transition: Transition,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub at: String,
}

impl AlertMessage {
    pub fn text(&self) -> String {
        let what = self.event.map_or("test", AlertEvent::title);
        match self.transition {
            Transition::Opened => {
                format!("[job-importer] {}: {what}. {}", self.source_id, self.detail)
            }
            Transition::Recovered => format!(
                "[job-importer] {}: recovered ({}). {}",
                self.source_id,
                self.event.map_or("", AlertEvent::as_str),
                self.detail
            ),
            Transition::Test => format!(
                "[job-importer] test alert for {}. {}",
                self.source_id, self.detail
            ),
        }
    }
}

/// Thresholds of the run events.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub item_failure_percent: u32,
    pub coverage_missing_percent: u32,
}

/// What a run's end says about one event: it fires (open, with a detail), it is fine
/// (recover), or it says nothing about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Fires(String),
    Fine,
    Silent,
}

/// The run events judged at a run's end. `missing_company` is (jobs the run wrote, of which
/// without a company), when it wrote any.
pub fn judge_run(
    run: &ImportRun,
    t: Thresholds,
    missing_company: Option<(i64, i64)>,
) -> Vec<(AlertEvent, Verdict)> {
    let good = matches!(run.status, RunStatus::Completed | RunStatus::NotModified);
    let failed = run.status == RunStatus::Failed;
    let mut out = Vec::new();
    out.push((
        AlertEvent::RunFailed,
        if failed {
            let reason = run
                .error
                .as_ref()
                .map(|f| format!("{}: {}", f.code, f.message))
                .unwrap_or_default();
            Verdict::Fires(format!("run {} failed ({reason})", run.id))
        } else if good || run.status == RunStatus::Partial {
            Verdict::Fine
        } else {
            Verdict::Silent
        },
    ));
    // A retried fetch that ends the run well is over; one that ends it failed is a failed run.
    out.push((
        AlertEvent::BackingOff,
        if good || run.status == RunStatus::Partial {
            Verdict::Fine
        } else {
            Verdict::Silent
        },
    ));
    let read = run.total_fetched;
    out.push((
        AlertEvent::ItemFailures,
        if read > 0 && run.failed_jobs * 100 > read * i64::from(t.item_failure_percent) {
            Verdict::Fires(format!(
                "{} of {read} items failed in run {} (more than {}%)",
                run.failed_jobs, run.id, t.item_failure_percent
            ))
        } else if good {
            Verdict::Fine
        } else {
            Verdict::Silent
        },
    ));
    out.push((
        AlertEvent::CoverageDrop,
        match missing_company {
            Some((written, missing)) if written > 0 => {
                if missing * 100 > written * i64::from(t.coverage_missing_percent) {
                    Verdict::Fires(format!(
                        "{missing} of {written} jobs written by run {} have no company (more than {}%)",
                        run.id, t.coverage_missing_percent
                    ))
                } else {
                    Verdict::Fine
                }
            }
            _ => Verdict::Silent,
        },
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Failure, Trigger};

    fn run(status: RunStatus, fetched: i64, failed: i64) -> ImportRun {
        let mut r = ImportRun::new_queued(
            "r1".into(),
            "s",
            "s",
            "https://x/feed",
            Trigger::Manual,
            chrono::Utc::now(),
        );
        r.status = status;
        r.total_fetched = fetched;
        r.failed_jobs = failed;
        r
    }

    fn verdict(v: &[(AlertEvent, Verdict)], e: AlertEvent) -> &Verdict {
        &v.iter().find(|(x, _)| *x == e).unwrap().1
    }

    const T: Thresholds = Thresholds {
        item_failure_percent: 20,
        coverage_missing_percent: 50,
    };

    #[test]
    fn a_failed_run_fires_and_a_completed_one_recovers() {
        let mut failed = run(RunStatus::Failed, 0, 0);
        failed.error = Some(Failure::new("fetch.http_status", "404"));
        let v = judge_run(&failed, T, None);
        assert!(
            matches!(verdict(&v, AlertEvent::RunFailed), Verdict::Fires(d) if d.contains("fetch.http_status"))
        );
        assert_eq!(verdict(&v, AlertEvent::BackingOff), &Verdict::Silent);
        let v = judge_run(&run(RunStatus::Completed, 10, 0), T, None);
        assert_eq!(verdict(&v, AlertEvent::RunFailed), &Verdict::Fine);
        assert_eq!(verdict(&v, AlertEvent::BackingOff), &Verdict::Fine);
        assert_eq!(verdict(&v, AlertEvent::CoverageDrop), &Verdict::Silent);
    }

    #[test]
    fn item_failures_and_coverage_fire_strictly_above_their_thresholds() {
        let v = judge_run(&run(RunStatus::Completed, 10, 2), T, Some((10, 5)));
        assert_eq!(verdict(&v, AlertEvent::ItemFailures), &Verdict::Fine);
        assert_eq!(verdict(&v, AlertEvent::CoverageDrop), &Verdict::Fine);
        let v = judge_run(&run(RunStatus::Completed, 10, 3), T, Some((10, 6)));
        assert!(matches!(
            verdict(&v, AlertEvent::ItemFailures),
            Verdict::Fires(_)
        ));
        assert!(matches!(
            verdict(&v, AlertEvent::CoverageDrop),
            Verdict::Fires(_)
        ));
    }

    #[test]
    fn events_round_trip_by_name() {
        for e in AlertEvent::ALL {
            assert_eq!(AlertEvent::parse(e.as_str()), Some(e));
        }
    }
}
