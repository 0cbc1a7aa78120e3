//! Deletions of retention: finished runs past their age that are not among their source's
//! newest, and jobs closed long ago (forgotten by the job index first, so one that comes back
//! is stored as new).

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};

use super::history::after;
use super::{IMPORT_LOGS, JOBS, Store};
use crate::domain::RunStatus;
use crate::domain::time::format as ts;
use crate::store::StoreError;
use crate::store::job_index::{ForgottenJob, JobIndex};

/// Closed jobs deleted per round (one read, one index update, one delete).
const JOB_BATCH: i64 = 1000;

/// Which runs are kept (see `RetentionSettings`); a `0` keeps runs of that kind forever.
#[derive(Debug, Clone, Copy)]
pub struct RunRetention {
    pub keep_days: u32,
    pub keep_per_source: u32,
    pub failed_keep_days: u32,
}

const DAY: i64 = 24 * 3600;

fn cutoff(now: DateTime<Utc>, days: u32) -> String {
    ts(&(now - chrono::Duration::seconds(i64::from(days) * DAY)))
}

impl Store {
    /// Deletes the finished runs that no rule keeps: older than their kind's age, and not
    /// among the newest `keep_per_source` runs of their source. Runs in progress are never
    /// deleted. What is deleted is taken off the run counters (`run_counts`). How many were
    /// deleted.
    pub async fn delete_old_runs(
        &self,
        r: &RunRetention,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let coll = self.coll(IMPORT_LOGS);
        // (status, days) of each kind of run.
        let kinds = [
            (RunStatus::Completed, r.keep_days),
            (RunStatus::NotModified, r.keep_days),
            (RunStatus::Failed, r.failed_keep_days),
            (RunStatus::Partial, r.failed_keep_days),
        ];
        if kinds.iter().all(|(_, days)| *days == 0) {
            return Ok(0);
        }
        let sources: Vec<Bson> = coll.distinct("sourceId", doc! {}).await?;
        let mut deleted = 0;
        for source in sources.iter().filter_map(Bson::as_str) {
            let mut base = doc! {"sourceId": source};
            if r.keep_per_source > 0 {
                // The oldest of the runs kept for their rank; only runs after it may go.
                let Some(last_kept) = coll
                    .find_one(doc! {"sourceId": source})
                    .sort(doc! {"importDateTime": -1, "_id": -1})
                    .skip(u64::from(r.keep_per_source) - 1)
                    .projection(doc! {"importDateTime": 1})
                    .await?
                else {
                    continue;
                };
                let values = [
                    last_kept
                        .get("importDateTime")
                        .cloned()
                        .unwrap_or(Bson::Null),
                    last_kept.get("_id").cloned().unwrap_or(Bson::Null),
                ];
                base = doc! {"$and": [base, after(&["importDateTime", "_id"], &values)]};
            }
            // One deletion per status: what each deleted is taken off the run counters.
            for (status, days) in &kinds {
                if *days == 0 {
                    continue;
                }
                let filter = doc! {"$and": [
                    base.clone(),
                    {"status": status.as_str()},
                    {"importDateTime": {"$lt": cutoff(now, *days)}},
                ]};
                let n = coll.delete_many(filter).await?.deleted_count;
                if n > 0
                    && let Err(e) = self
                        .feed_runs_deleted(source, *status, &cutoff(now, *days), r.keep_per_source)
                        .await
                {
                    tracing::warn!(source, error = %e, "deleted runs were not noted in the run feed");
                }
                if let Err(e) = self.count_runs_deleted(source, *status, n).await {
                    tracing::warn!(source, error = %e, "deleted runs were not taken off the run counters");
                }
                deleted += n;
            }
        }
        Ok(deleted)
    }

    /// Deletes the jobs closed more than `keep_days` days before `now`, in rounds of
    /// `JOB_BATCH`, each forgotten by the job index before it is deleted. A job reopened in
    /// between is not deleted (the deletion checks that it is still closed). How many were
    /// deleted.
    pub async fn delete_closed_jobs(
        &self,
        keep_days: u32,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if keep_days == 0 {
            return Ok(0);
        }
        let filter = doc! {"status": "closed", "closedAt": {"$lt": cutoff(now, keep_days)}};
        let index = match self.index_redis() {
            Some(redis) => Some(JobIndex::new(redis.clone(), &self.index_epoch().await?)),
            None => None,
        };
        let coll = self.coll(JOBS);
        let mut deleted = 0;
        loop {
            let docs: Vec<Document> = coll
                .find(filter.clone())
                .projection(doc! {"publisher": 1, "sources": 1, "dedupeKey": 1})
                .limit(JOB_BATCH)
                .await?
                .try_collect()
                .await?;
            if docs.is_empty() {
                return Ok(deleted);
            }
            let jobs: Vec<ForgottenJob> = docs.iter().filter_map(forgotten).collect();
            if let Some(index) = &index {
                index.forget(&jobs).await?;
            }
            let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
            let mut round = filter.clone();
            round.insert("_id", doc! {"$in": ids});
            let n = coll.delete_many(round).await?.deleted_count;
            deleted += n;
            if n == 0 {
                // Every job of the round was reopened meanwhile: the next read finds them again.
                return Ok(deleted);
            }
        }
    }
}

fn forgotten(d: &Document) -> Option<ForgottenJob> {
    Some(ForgottenJob {
        id: d.get_str("_id").ok()?.to_owned(),
        publisher: d.get_str("publisher").unwrap_or_default().to_owned(),
        sources: d
            .get_array("sources")
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        dedupe_key: d.get_str("dedupeKey").ok().map(str::to_owned),
    })
}
