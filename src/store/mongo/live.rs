//! What the WebSocket reads from MongoDB: the first screen (`initial_data`), catch-up after a
//! reconnect (`sync`) and one run's item-level progress. MongoDB is the source of truth; the
//! Redis channel only says that something changed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::Store;
use super::history::RunQuery;
use crate::domain::events::{
    InitialData, RunProgress, SourceStatus, SyncRequest, SyncResult, Totals,
};
use crate::domain::time::format as ts;
use crate::store::StoreError;

/// Runs per `sync_result`; the client asks again while `hasMore`.
pub const SYNC_LIMIT: u64 = 500;
/// Versions a client may ask about in one `sync`.
pub const SYNC_MAX_RUNS: usize = 1000;
/// Each daemon stamps `updatedAt` with its own clock: looking this far back before `since`
/// covers clocks that disagree by less. Clients drop what they already hold by version.
pub const CLOCK_SKEW_MARGIN: chrono::Duration = chrono::Duration::seconds(5);
/// A burst of connections shares one read of the totals.
const TOTALS_TTL: Duration = Duration::from_secs(2);
/// Stored failures sent with each `run_progress`.
pub const RECENT_FAILURES: usize = 20;

static TOTALS: Mutex<Option<(String, Instant, Totals)>> = Mutex::new(None);

impl Store {
    /// The totals, from the per-source run counters (see `run_counts`).
    pub async fn totals(&self) -> Result<Totals, StoreError> {
        let key = self.database().name().to_owned();
        if let Ok(guard) = TOTALS.lock()
            && let Some((k, at, t)) = guard.as_ref()
            && *k == key
            && at.elapsed() < TOTALS_TTL
        {
            return Ok(t.clone());
        }
        let c = self.run_counts(None).await?;
        let t = Totals {
            runs: c.runs,
            active_runs: c.active(),
            total_fetched: c.total_fetched,
            new_jobs: c.new_jobs,
            updated_jobs: c.updated_jobs,
            failed_jobs: c.failed_jobs,
        };
        if let Ok(mut guard) = TOTALS.lock() {
            *guard = Some((key, Instant::now(), t.clone()));
        }
        Ok(t)
    }

    /// The first page, every source with its status, and the totals.
    pub async fn initial_data(&self, limit: u64) -> Result<InitialData, StoreError> {
        let server_time = ts(&Utc::now());
        let logs = self
            .query_runs(&RunQuery {
                filter: Default::default(),
                sort: Default::default(),
                page: 1,
                limit,
                cursor: None,
            })
            .await?
            .page;
        let active = self.active_source_ids().await?;
        let sources = self
            .list_sources()
            .await?
            .into_iter()
            .map(|s| SourceStatus {
                running: active.binary_search(&s.id).is_ok(),
                id: s.id,
                name: s.name,
                enabled: s.enabled,
                health: s.health,
            })
            .collect();
        Ok(InitialData {
            logs,
            sources,
            totals: self.totals().await?,
            server_time,
            maintenance: self.maintenance().await?,
        })
    }

    /// Runs changed since `req.since` (minus the clock margin) and runs whose stored version is
    /// newer than the one the client holds.
    pub async fn sync(
        &self,
        req: &SyncRequest,
        since: Option<&str>,
    ) -> Result<SyncResult, StoreError> {
        let server_time = ts(&Utc::now());
        let mut runs = Vec::new();
        let mut has_more = false;
        if let Some(since) = since {
            runs = self.runs_changed_since(since, SYNC_LIMIT).await?;
            has_more = runs.len() as u64 == SYNC_LIMIT;
        }
        let ids: Vec<String> = req
            .runs
            .keys()
            .filter(|id| !runs.iter().any(|r| &r.id == *id))
            .cloned()
            .collect();
        for run in self.runs_by_ids(&ids).await? {
            if req.runs.get(&run.id).is_some_and(|v| run.version > *v) {
                runs.push(run);
            }
        }
        Ok(SyncResult {
            runs,
            server_time,
            has_more,
        })
    }

    /// One run with its per-batch results and the latest stored failures.
    pub async fn run_progress(&self, id: &str) -> Result<Option<RunProgress>, StoreError> {
        let Some(mut run) = self.get_run(id).await? else {
            return Ok(None);
        };
        let failures = std::mem::take(&mut run.failures);
        let failures_stored = failures.len();
        let recent_failures = failures
            .into_iter()
            .skip(failures_stored.saturating_sub(RECENT_FAILURES))
            .collect();
        Ok(Some(RunProgress {
            run,
            recent_failures,
            failures_stored,
        }))
    }
}

/// `since` moved back by the clock margin, as a stored timestamp; `None` when unreadable.
pub fn since_with_margin(raw: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(raw).ok()?;
    Some(ts(&(t.with_timezone(&Utc) - CLOCK_SKEW_MARGIN)))
}
