//! One import run of one source: its counters, its lifecycle and the rules that keep the
//! counters exact when a batch is delivered twice.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::codes::Failure;
use super::expiry::FeedWindow;
use super::time;

/// How many failures are stored on a run; the rest are only counted (by code).
pub const MAX_STORED_FAILURES: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Completed,
    Partial,
    Failed,
    NotModified,
}

impl RunStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Partial => "partial",
            Self::Failed => "failed",
            Self::NotModified => "not_modified",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Completed,
            Self::Partial,
            Self::Failed,
            Self::NotModified,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Schedule,
    Manual,
    Cli,
}

/// What one batch did, recorded once under its number so a re-delivered batch is recognised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResult {
    pub items: i64,
    pub new_jobs: i64,
    pub updated_jobs: i64,
    pub unchanged_jobs: i64,
    pub duplicate_jobs: i64,
    pub failed_jobs: i64,
    /// Jobs that were closed and came back in this batch (also counted as updated or unchanged).
    #[serde(default)]
    pub reopened_jobs: i64,
    /// The process that stored the batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_by: Option<String>,
    /// Item failures of this batch counted by code (a list: codes contain dots, which MongoDB
    /// reads as paths in field names).
    #[serde(default)]
    pub failure_counts: Vec<CodeCount>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeCount {
    pub code: String,
    pub count: i64,
}

impl BatchResult {
    pub fn imported(&self) -> i64 {
        self.new_jobs + self.updated_jobs
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Durations {
    pub fetch_ms: Option<i64>,
    pub parse_ms: Option<i64>,
    pub persist_ms: i64,
}

/// Why a backfill stopped walking pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackfillStop {
    /// A page listed no items.
    EmptyPage,
    /// Every item of a page was stored before the run (the rest of the board is known).
    NothingNew,
    /// The run's page cap was reached.
    PageCap,
    /// The server answered 404 or 410 for the next page (WordPress does past the last one).
    LastPage,
    /// A page failed after its retries; the run is `partial` with the reason.
    Error,
    /// The feed names no paging parameter (not WordPress, no `pageParam` on the source).
    NoPageParam,
}

/// One page a backfill read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackfillPage {
    pub page: u32,
    /// Items the page listed.
    pub items: i64,
    /// Postings on it that no earlier page of the run listed and that were not stored before.
    pub new: i64,
    /// Fetches of the page (more than one after transient failures).
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
}

/// A backfill run's walk over the feed's pages, updated as each page is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backfill {
    /// The page cap of the run.
    pub max_pages: u32,
    /// The query parameter that numbers pages (`paged` for WordPress), once known.
    #[serde(default)]
    pub page_param: Option<String>,
    #[serde(default)]
    pub pages: Vec<BackfillPage>,
    /// Set when the walk ended.
    #[serde(default)]
    pub stopped: Option<BackfillStop>,
}

impl Backfill {
    pub fn new(max_pages: u32) -> Self {
        Self {
            max_pages,
            page_param: None,
            pages: Vec::new(),
            stopped: None,
        }
    }
}

/// The `import_logs` document, exactly as stored and as served by the API and WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRun {
    #[serde(rename = "_id")]
    pub id: String,
    pub source_id: String,
    pub source_name: String,
    /// The source URL (the assignment's name for it).
    pub file_name: String,
    pub trigger: Trigger,
    /// The cron tick a scheduled run was started for (one run per source and tick).
    #[serde(
        default,
        with = "time::rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub scheduled_for: Option<DateTime<Utc>>,
    pub status: RunStatus,
    #[serde(with = "time::rfc3339")]
    pub import_date_time: DateTime<Utc>,
    #[serde(default, with = "time::rfc3339_opt")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, with = "time::rfc3339_opt")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Last change; the sweeper reads it to find runs whose work is gone.
    #[serde(default, with = "time::rfc3339_opt")]
    pub updated_at: Option<DateTime<Utc>>,
    pub total_fetched: i64,
    pub total_imported: i64,
    pub new_jobs: i64,
    pub updated_jobs: i64,
    pub unchanged_jobs: i64,
    pub duplicate_jobs: i64,
    pub failed_jobs: i64,
    #[serde(default)]
    pub closed_jobs: i64,
    #[serde(default)]
    pub reopened_jobs: i64,
    /// Jobs this run closed, by reason (`missing_from_feed`, `expired`); set when it ends.
    #[serde(default)]
    pub closed_by_reason: BTreeMap<String, i64>,
    /// The span of postings the feed covered in this run's read (set once the feed is read).
    #[serde(default)]
    pub window: Option<FeedWindow>,
    /// Item failures, the first `MAX_STORED_FAILURES` of them (left out of list pages).
    #[serde(default)]
    pub failures: Vec<Failure>,
    /// Every item failure counted by code, including those not stored; summed from the
    /// batches when the run ends.
    #[serde(default)]
    pub failures_by_code: Vec<CodeCount>,
    /// The run-level reason when the run failed or ended partial.
    pub error: Option<Failure>,
    /// Known once the feed has been read to its end.
    pub batches_total: Option<i64>,
    pub batches_done: i64,
    pub items_done: i64,
    /// Results by batch number; what makes re-delivered batches harmless.
    #[serde(default)]
    pub batches: BTreeMap<String, BatchResult>,
    pub durations: Durations,
    /// Grows with every change; clients use it to detect gaps and catch up.
    pub version: i64,
    /// The `instance` that fetched the feed, for operators of several daemons.
    pub fetched_by: Option<String>,
    /// Fetch attempts so far (transient failures are tried again).
    #[serde(default)]
    pub fetch_attempts: i64,
    /// When the next fetch attempt is due, while the run waits for it.
    #[serde(default, with = "time::rfc3339_opt")]
    pub retry_at: Option<DateTime<Utc>>,
    /// Times the sweeper queued the run's fetch again after its work was lost.
    #[serde(default)]
    pub resumes: i64,
    /// Read without the source's cache validators (`If-None-Match`, `If-Modified-Since`): the
    /// feed is downloaded and imported in full even when it did not change (a replay).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unconditional: bool,
    /// The run this one runs again, when it was started as a replay of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    /// A backfill: the run walks the feed's pages (and never closes jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<Backfill>,
    /// When the database acknowledged the write that produced this version: set on the
    /// document a write returns, never stored nor served as part of the document (live
    /// updates carry it beside it, as `committedAt`).
    #[serde(skip)]
    pub committed_at: Option<DateTime<Utc>>,
}

impl ImportRun {
    pub fn new_queued(
        id: String,
        source_id: &str,
        source_name: &str,
        url: &str,
        trigger: Trigger,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            source_id: source_id.to_owned(),
            source_name: source_name.to_owned(),
            file_name: url.to_owned(),
            trigger,
            scheduled_for: None,
            status: RunStatus::Queued,
            import_date_time: now,
            started_at: None,
            finished_at: None,
            updated_at: Some(now),
            total_fetched: 0,
            total_imported: 0,
            new_jobs: 0,
            updated_jobs: 0,
            unchanged_jobs: 0,
            duplicate_jobs: 0,
            failed_jobs: 0,
            closed_jobs: 0,
            reopened_jobs: 0,
            closed_by_reason: BTreeMap::new(),
            window: None,
            failures: Vec::new(),
            failures_by_code: Vec::new(),
            error: None,
            batches_total: None,
            batches_done: 0,
            items_done: 0,
            batches: BTreeMap::new(),
            durations: Durations::default(),
            version: 1,
            fetched_by: None,
            fetch_attempts: 0,
            retry_at: None,
            resumes: 0,
            unconditional: false,
            replay_of: None,
            backfill: None,
            committed_at: None,
        }
    }

    /// The status a run ends with once every batch is in: `partial` when the feed broke off
    /// (a run-level error is set) after yielding items, `completed` otherwise.
    pub fn final_status(has_feed_error: bool) -> RunStatus {
        if has_feed_error {
            RunStatus::Partial
        } else {
            RunStatus::Completed
        }
    }

    /// `totalFetched = new + updated + unchanged + duplicate + failed`.
    pub fn counts_add_up(&self) -> bool {
        self.total_fetched
            == self.new_jobs
                + self.updated_jobs
                + self.unchanged_jobs
                + self.duplicate_jobs
                + self.failed_jobs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in [
            "queued",
            "running",
            "completed",
            "partial",
            "failed",
            "not_modified",
        ] {
            let st = RunStatus::parse(s).map(RunStatus::as_str);
            assert_eq!(st, Some(s));
        }
        assert_eq!(RunStatus::parse("bogus"), None);
        assert!(RunStatus::Partial.is_final());
        assert!(!RunStatus::Running.is_final());
    }

    #[test]
    fn run_serializes_with_the_assignment_field_names() {
        let run = ImportRun::new_queued(
            "r1".into(),
            "s",
            "S",
            "https://x/feed",
            Trigger::Manual,
            Utc::now(),
        );
        let v = serde_json::to_value(&run).unwrap_or_default();
        for key in [
            "_id",
            "fileName",
            "importDateTime",
            "totalFetched",
            "totalImported",
            "newJobs",
            "updatedJobs",
            "failedJobs",
            "failures",
            "status",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["status"], "queued");
    }
}
