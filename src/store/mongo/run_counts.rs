//! `run_counts`: a few small documents per source with the counts of its stored runs (created,
//! ended by final status) and the sums of its ended runs' item counters. `/metrics`, the
//! totals of `/api/stats`, the WebSocket's first screen and the `total` of a history page
//! filtered by nothing but a source and/or a final status read these documents instead of the
//! runs.
//!
//! Each document has one kind of writer, and changes by `$inc` only. FerretDB 1.x applies an
//! update as read-modify-write, so two concurrent updates of one document can lose one; no
//! document here is written by two writers at once:
//!
//! - `{source}|created` (`runs`): the insert of a run of the source, which happens under the
//!   source's running lease (one queued or running run per source).
//! - `{source}|ended` (`ended.{status}` and the item sums): the conditional update that ends a
//!   run of the source; only one caller wins it, under the run's lock, and the source's next
//!   run cannot start before the lease is freed after it. Kept apart from `created` because the
//!   lease of a run that has just ended may be taken over while its end is being counted.
//! - `{source}|retention` (`runs` and `ended.{status}`, negative): retention's deletion of the
//!   source's old runs (`retention::delete_old_runs`), done by one daemon at a time (its lease),
//!   one `delete_many` per status, so the number deleted of each status is exact.
//!
//! Retention takes runs off the run counts but not off the item sums: those stay sums over
//! every run that ended since the counters began.
//!
//! Databases written before the counters existed are recounted from `import_logs` once
//! (`recount_runs`, in the background at start when the marker in `meta` is missing; deleting
//! that marker makes the next daemon that starts recount).

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};

use super::history::QUERY_MAX_TIME;
use super::{IMPORT_LOGS, META, Store, int_field as int};
use crate::domain::{ImportRun, RunStatus};
use crate::store::StoreError;

pub const RUN_COUNTS: &str = "run_counts";
/// The counter documents of a source, by writer (see the module's documentation).
const CREATED: &str = "created";
const ENDED: &str = "ended";
const RETENTION: &str = "retention";

fn counter_id(source_id: &str, writer: &str) -> String {
    format!("{source_id}|{writer}")
}
/// `meta` document saying the counters cover every run (written after a recount).
const COUNTED_MARK: &str = "runCounts";

/// The final statuses, as counted.
pub const FINAL_STATUSES: [RunStatus; 4] = [
    RunStatus::Completed,
    RunStatus::Partial,
    RunStatus::Failed,
    RunStatus::NotModified,
];

/// The counts of one source, or of every source summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Runs created.
    pub runs: i64,
    /// Runs ended, by final status (in `FINAL_STATUSES` order).
    pub ended: [i64; 4],
    pub total_fetched: i64,
    pub new_jobs: i64,
    pub updated_jobs: i64,
    pub failed_jobs: i64,
    pub closed_jobs: i64,
    pub reopened_jobs: i64,
}

impl RunCounts {
    /// Runs queued or running: created and not ended.
    pub fn active(&self) -> i64 {
        (self.runs - self.ended.iter().sum::<i64>()).max(0)
    }

    pub fn ended_with(&self, status: RunStatus) -> i64 {
        FINAL_STATUSES
            .iter()
            .position(|s| *s == status)
            .map_or(0, |i| self.ended[i])
    }

    fn add(&mut self, o: &RunCounts) {
        self.runs += o.runs;
        for (a, b) in self.ended.iter_mut().zip(o.ended) {
            *a += b;
        }
        self.total_fetched += o.total_fetched;
        self.new_jobs += o.new_jobs;
        self.updated_jobs += o.updated_jobs;
        self.failed_jobs += o.failed_jobs;
        self.closed_jobs += o.closed_jobs;
        self.reopened_jobs += o.reopened_jobs;
    }

    fn from_doc(d: &Document) -> Self {
        let ended = d.get_document("ended").ok();
        let mut c = Self {
            runs: int(Some(d), "runs"),
            total_fetched: int(Some(d), "totalFetched"),
            new_jobs: int(Some(d), "newJobs"),
            updated_jobs: int(Some(d), "updatedJobs"),
            failed_jobs: int(Some(d), "failedJobs"),
            closed_jobs: int(Some(d), "closedJobs"),
            reopened_jobs: int(Some(d), "reopenedJobs"),
            ..Default::default()
        };
        for (i, s) in FINAL_STATUSES.iter().enumerate() {
            c.ended[i] = int(ended, s.as_str());
        }
        c
    }

    /// The documents a recount writes for one source: its runs, and their ends.
    fn to_docs(&self, source_id: &str) -> [Document; 2] {
        let mut ended = Document::new();
        for (i, s) in FINAL_STATUSES.iter().enumerate() {
            ended.insert(s.as_str(), self.ended[i]);
        }
        [
            doc! {"_id": counter_id(source_id, CREATED), "sourceId": source_id, "runs": self.runs},
            doc! {
                "_id": counter_id(source_id, ENDED), "sourceId": source_id, "ended": ended,
                "totalFetched": self.total_fetched, "newJobs": self.new_jobs,
                "updatedJobs": self.updated_jobs, "failedJobs": self.failed_jobs,
                "closedJobs": self.closed_jobs, "reopenedJobs": self.reopened_jobs,
            },
        ]
    }

    /// What one stored run adds: itself, and its end when it has ended.
    fn of_run_doc(d: &Document) -> Self {
        let mut c = Self {
            runs: 1,
            ..Default::default()
        };
        if let Some(i) = d
            .get_str("status")
            .ok()
            .and_then(RunStatus::parse)
            .and_then(|s| FINAL_STATUSES.iter().position(|f| *f == s))
        {
            c.ended[i] = 1;
            c.total_fetched = int(Some(d), "totalFetched");
            c.new_jobs = int(Some(d), "newJobs");
            c.updated_jobs = int(Some(d), "updatedJobs");
            c.failed_jobs = int(Some(d), "failedJobs");
            c.closed_jobs = int(Some(d), "closedJobs");
            c.reopened_jobs = int(Some(d), "reopenedJobs");
        }
        c
    }
}

impl Store {
    /// Counts a created run on its source.
    pub(crate) async fn count_run_created(&self, source_id: &str) -> Result<(), StoreError> {
        self.coll(RUN_COUNTS)
            .update_one(
                doc! {"_id": counter_id(source_id, CREATED)},
                doc! {"$inc": {"runs": 1_i64}, "$set": {"sourceId": source_id}},
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    /// Counts the end of `run` (the document the ending update returned) on its source.
    pub(crate) async fn count_run_ended(&self, run: &ImportRun) -> Result<(), StoreError> {
        if !run.status.is_final() {
            return Ok(());
        }
        let inc = doc! {
            format!("ended.{}", run.status.as_str()): 1_i64,
            "totalFetched": run.total_fetched,
            "newJobs": run.new_jobs,
            "updatedJobs": run.updated_jobs,
            "failedJobs": run.failed_jobs,
            "closedJobs": run.closed_jobs,
            "reopenedJobs": run.reopened_jobs,
        };
        let counts = async {
            self.coll(RUN_COUNTS)
                .update_one(
                    doc! {"_id": counter_id(&run.source_id, ENDED)},
                    doc! {"$inc": inc, "$set": {"sourceId": &run.source_id}},
                )
                .upsert(true)
                .await?;
            Ok(())
        };
        // Both at once: what follows the end (the lease, the source's health) waits for them.
        futures_util::future::try_join(counts, self.count_run_day(run)).await?;
        Ok(())
    }

    /// Takes `n` runs of `status` that retention deleted off their source's run counts.
    pub(crate) async fn count_runs_deleted(
        &self,
        source_id: &str,
        status: RunStatus,
        n: u64,
    ) -> Result<(), StoreError> {
        if n == 0 {
            return Ok(());
        }
        let n = -(n as i64);
        self.coll(RUN_COUNTS)
            .update_one(
                doc! {"_id": counter_id(source_id, RETENTION)},
                doc! {
                    "$inc": {"runs": n, format!("ended.{}", status.as_str()): n},
                    "$set": {"sourceId": source_id},
                },
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    /// The counts by source, read from the counters.
    pub async fn run_counts_by_source(&self) -> Result<Vec<(String, RunCounts)>, StoreError> {
        let docs: Vec<Document> = self
            .coll(RUN_COUNTS)
            .find(doc! {})
            .max_time(QUERY_MAX_TIME)
            .await?
            .try_collect()
            .await?;
        let mut by: BTreeMap<String, RunCounts> = BTreeMap::new();
        for d in &docs {
            let Ok(source) = d.get_str("sourceId") else {
                continue;
            };
            by.entry(source.to_owned())
                .or_default()
                .add(&RunCounts::from_doc(d));
        }
        Ok(by.into_iter().collect())
    }

    /// The counts of one source, or of every source summed.
    pub async fn run_counts(&self, source: Option<&str>) -> Result<RunCounts, StoreError> {
        let mut total = RunCounts::default();
        for (id, c) in self.run_counts_by_source().await? {
            if source.is_none_or(|s| s == id) {
                total.add(&c);
            }
        }
        Ok(total)
    }

    /// The number of runs matching a history filter, from the counters, when the filter asks
    /// only for a source and/or a final status (the usual first pages); `None` otherwise, or
    /// while the counters are incomplete.
    pub async fn counted_runs(&self, filter: &Document) -> Result<Option<u64>, StoreError> {
        if filter.keys().any(|k| k != "sourceId" && k != "status") {
            return Ok(None);
        }
        let source = match filter.get("sourceId") {
            None => None,
            Some(Bson::String(s)) => Some(s.as_str()),
            Some(_) => return Ok(None),
        };
        let status = match filter.get("status") {
            None => None,
            Some(Bson::String(s)) => match RunStatus::parse(s) {
                Some(st) if st.is_final() => Some(st),
                _ => return Ok(None),
            },
            Some(_) => return Ok(None),
        };
        if !self.run_counts_ready().await? {
            return Ok(None);
        }
        let c = self.run_counts(source).await?;
        let n = status.map_or(c.runs, |st| c.ended_with(st));
        Ok(Some(n.max(0) as u64))
    }

    /// Whether the counters cover every stored run.
    pub async fn run_counts_ready(&self) -> Result<bool, StoreError> {
        Ok(self
            .coll(META)
            .find_one(doc! {"_id": COUNTED_MARK})
            .max_time(QUERY_MAX_TIME)
            .await?
            .is_some())
    }

    /// Recounts every source's counters and days from `import_logs` (one read of every run,
    /// without a time limit: it runs once, in the background) and marks them complete. A run
    /// created or ended while the recount reads may be counted twice or not at all, so a
    /// daemon recounts only a database whose counters were never marked complete.
    pub async fn recount_runs(&self) -> Result<RunCounts, StoreError> {
        let mut cursor = self
            .coll(IMPORT_LOGS)
            .find(doc! {})
            .projection(
                doc! {"sourceId": 1, "sourceName": 1, "status": 1, "importDateTime": 1,
                "totalFetched": 1, "newJobs": 1, "updatedJobs": 1, "failedJobs": 1, "closedJobs": 1,
                "reopenedJobs": 1},
            )
            .batch_size(10_000)
            .await?;
        let mut by: BTreeMap<String, RunCounts> = BTreeMap::new();
        let mut days = super::run_days::DayRecount::new(chrono::Utc::now());
        while let Some(d) = cursor.try_next().await? {
            let source = d.get_str("sourceId").unwrap_or_default().to_owned();
            by.entry(source)
                .or_default()
                .add(&RunCounts::of_run_doc(&d));
            days.add(&d);
        }
        self.coll(RUN_COUNTS).delete_many(doc! {}).await?;
        self.replace_run_days(days).await?;
        let mut total = RunCounts::default();
        let docs: Vec<Document> = by
            .iter()
            .flat_map(|(id, c)| {
                total.add(c);
                c.to_docs(id)
            })
            .collect();
        if !docs.is_empty() {
            self.coll(RUN_COUNTS).insert_many(docs).await?;
        }
        self.mark_run_counts_ready().await?;
        Ok(total)
    }

    /// Marks the counters as covering every run (a fresh database, or after a recount).
    pub async fn mark_run_counts_ready(&self) -> Result<(), StoreError> {
        match self
            .coll(META)
            .update_one(
                doc! {"_id": COUNTED_MARK},
                doc! {"$set": {"at": crate::domain::time::format(&chrono::Utc::now())}},
            )
            .upsert(true)
            .await
        {
            Ok(_) => Ok(()),
            // Daemons starting together on a new database: another one inserted the mark.
            Err(e) if super::is_duplicate_key(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// At start: a database with no runs yet has complete counters; one with runs but no
    /// marker is recounted in the background.
    pub async fn prepare_run_counts(&self) -> Result<(), StoreError> {
        if self.run_counts_ready().await? {
            return Ok(());
        }
        let any = self
            .coll(IMPORT_LOGS)
            .find_one(doc! {})
            .max_time(QUERY_MAX_TIME)
            .await?
            .is_some();
        if !any {
            return self.mark_run_counts_ready().await;
        }
        let store = self.clone();
        tokio::spawn(async move {
            match store.recount_runs().await {
                Ok(c) => tracing::info!(runs = c.runs, "run counters recounted"),
                Err(e) => tracing::warn!(error = %e, "could not recount the run counters"),
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_runs_are_created_minus_ended() {
        let mut c = RunCounts::default();
        let ended =
            doc! {"sourceId": "s", "status": "failed", "newJobs": 2_i64, "totalFetched": 5_i32};
        c.add(&RunCounts::of_run_doc(&ended));
        c.add(&RunCounts::of_run_doc(
            &doc! {"sourceId": "s", "status": "running", "newJobs": 9_i64},
        ));
        assert_eq!(c.runs, 2);
        assert_eq!(c.active(), 1);
        assert_eq!(c.ended_with(RunStatus::Failed), 1);
        assert_eq!((c.new_jobs, c.total_fetched), (2, 5));
        let mut again = RunCounts::default();
        for d in c.to_docs("s") {
            again.add(&RunCounts::from_doc(&d));
        }
        assert_eq!(again, c);
    }
}
