//! The `import_logs` collection: one document per run. Every change is a conditional update
//! that bumps `version`, and returns the new document so it can be published as it is.

use chrono::Utc;
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;

use super::{IMPORT_LOGS, Store};
use crate::domain::events::HistoryPage;
use crate::domain::import_run::MAX_STORED_FAILURES;
use crate::domain::time::format as ts;
use crate::domain::{BatchResult, Failure, ImportRun, RunStatus};
use crate::store::{StoreError, decode, encode};

/// Filters of the history list; every field is typed, so nothing a client sends can become an
/// operator.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub source_id: Option<String>,
    pub status: Option<RunStatus>,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl RunFilter {
    fn to_doc(&self) -> Document {
        let mut f = Document::new();
        if let Some(s) = &self.source_id {
            f.insert("sourceId", s.as_str());
        }
        if let Some(st) = self.status {
            f.insert("status", st.as_str());
        }
        let mut range = Document::new();
        if let Some(from) = &self.from {
            range.insert("$gte", from.as_str());
        }
        if let Some(to) = &self.to {
            range.insert("$lte", to.as_str());
        }
        if !range.is_empty() {
            f.insert("importDateTime", range);
        }
        f
    }
}

/// Fields left out of list pages: per-batch bookkeeping and the failure list can be large.
fn list_projection() -> Document {
    doc! {"batches": 0, "failures": 0}
}

impl Store {
    pub async fn insert_run(&self, run: &ImportRun) -> Result<(), StoreError> {
        self.coll(IMPORT_LOGS).insert_one(encode(run)?).await?;
        Ok(())
    }

    pub async fn get_run(&self, id: &str) -> Result<Option<ImportRun>, StoreError> {
        match self.coll(IMPORT_LOGS).find_one(doc! {"_id": id}).await? {
            Some(d) => Ok(Some(decode(d)?)),
            None => Ok(None),
        }
    }

    pub async fn page_runs(
        &self,
        page: u64,
        limit: u64,
        filter: &RunFilter,
    ) -> Result<HistoryPage, StoreError> {
        let coll = self.coll(IMPORT_LOGS);
        let f = filter.to_doc();
        let total = coll.count_documents(f.clone()).await?;
        let cursor = coll
            .find(f)
            .sort(doc! {"importDateTime": -1, "_id": -1})
            .skip(page.saturating_sub(1) * limit)
            .limit(limit as i64)
            .projection(list_projection())
            .await?;
        let docs: Vec<Document> = cursor.try_collect().await?;
        let items = docs
            .into_iter()
            .map(decode)
            .collect::<Result<Vec<ImportRun>, _>>()?;
        Ok(HistoryPage {
            items,
            total,
            page,
            limit,
        })
    }

    /// The run of this source that is queued or running, if any.
    pub async fn active_run(&self, source_id: &str) -> Result<Option<ImportRun>, StoreError> {
        let d = self
            .coll(IMPORT_LOGS)
            .find_one(doc! {"sourceId": source_id, "status": {"$in": ["queued", "running"]}})
            .sort(doc! {"importDateTime": -1})
            .projection(list_projection())
            .await?;
        d.map(decode).transpose()
    }

    /// Applies `update` to the run when `filter` (beside its id) still holds, bumping its
    /// version; `None` when the condition no longer holds.
    async fn change_run(
        &self,
        id: &str,
        mut filter: Document,
        mut update: Document,
    ) -> Result<Option<ImportRun>, StoreError> {
        filter.insert("_id", id);
        let now = ts(&Utc::now());
        match update.get_document_mut("$set") {
            Ok(set) => {
                set.insert("updatedAt", now);
            }
            Err(_) => {
                update.insert("$set", doc! {"updatedAt": now});
            }
        }
        match update.get_document_mut("$inc") {
            Ok(inc) => {
                inc.insert("version", 1);
            }
            Err(_) => {
                update.insert("$inc", doc! {"version": 1});
            }
        }
        let d = self
            .coll(IMPORT_LOGS)
            .find_one_and_update(filter, update)
            .return_document(ReturnDocument::After)
            .await?;
        let committed_at = Utc::now();
        let mut run: Option<ImportRun> = d.map(decode).transpose()?;
        if let Some(r) = &mut run {
            r.committed_at = Some(committed_at);
        }
        Ok(run)
    }

    /// queued → running. A redelivered fetch finds the run already running and takes it over.
    pub async fn mark_running(
        &self,
        id: &str,
        instance: &str,
    ) -> Result<Option<ImportRun>, StoreError> {
        self.change_run(
            id,
            doc! {"status": {"$in": ["queued", "running"]}},
            doc! {"$set": {"status": "running", "startedAt": ts(&Utc::now()), "fetchedBy": instance}},
        )
        .await
    }

    /// Records one batch's result exactly once: a batch number already present means this is
    /// a redelivery, and nothing is counted again (`None` is returned).
    pub async fn record_batch(
        &self,
        id: &str,
        batch_no: u32,
        result: &BatchResult,
        failures: &[Failure],
        persist_ms: i64,
        stored_failures: usize,
    ) -> Result<Option<ImportRun>, StoreError> {
        let key = format!("batches.{batch_no}");
        let room = MAX_STORED_FAILURES.saturating_sub(stored_failures);
        let kept: Vec<Bson> = failures
            .iter()
            .take(room)
            .map(|f| encode(f).map(Bson::Document))
            .collect::<Result<_, _>>()?;
        let mut update = doc! {
            "$set": {&key: encode(result)?},
            "$inc": {
                "batchesDone": 1,
                "itemsDone": result.items,
                "totalFetched": result.items,
                "totalImported": result.imported(),
                "newJobs": result.new_jobs,
                "updatedJobs": result.updated_jobs,
                "unchangedJobs": result.unchanged_jobs,
                "duplicateJobs": result.duplicate_jobs,
                "failedJobs": result.failed_jobs,
                "reopenedJobs": result.reopened_jobs,
                "durations.persistMs": persist_ms,
            },
        };
        if !kept.is_empty() {
            update.insert("$push", doc! {"failures": {"$each": kept}});
        }
        self.change_run(
            id,
            doc! {&key: {"$exists": false}, "status": "running"},
            update,
        )
        .await
    }

    /// The fetcher has read the whole feed: the batch count is known now.
    pub async fn finish_fetch(
        &self,
        id: &str,
        batches_total: u32,
        error: Option<&Failure>,
        fetch_ms: i64,
        parse_ms: i64,
    ) -> Result<Option<ImportRun>, StoreError> {
        let err = match error {
            Some(f) => Bson::Document(encode(f)?),
            None => Bson::Null,
        };
        self.change_run(
            id,
            doc! {"status": "running"},
            doc! {"$set": {
                "batchesTotal": batches_total as i64,
                "error": err,
                "durations.fetchMs": fetch_ms,
                "durations.parseMs": parse_ms,
            }},
        )
        .await
    }

    /// The run, when every batch is in and it is still running: ready to be ended.
    pub async fn ready_to_complete(&self, id: &str) -> Result<Option<ImportRun>, StoreError> {
        let Some(run) = self.get_run(id).await? else {
            return Ok(None);
        };
        let ready = run.status == RunStatus::Running
            && run
                .batches_total
                .is_some_and(|total| run.batches_done >= total);
        Ok(ready.then_some(run))
    }

    /// Ends a run found ready by `ready_to_complete`. Conditional on the batch counts it saw,
    /// so of several callers only one changes anything.
    pub async fn complete_run(
        &self,
        run: &ImportRun,
        closed: i64,
    ) -> Result<Option<ImportRun>, StoreError> {
        let total = run.batches_total.unwrap_or(run.batches_done);
        let status = ImportRun::final_status(run.error.is_some());
        let counts: Vec<Bson> = run
            .sum_failure_counts()
            .iter()
            .map(|c| encode(c).map(Bson::Document))
            .collect::<Result<_, _>>()?;
        self.change_run(
            &run.id,
            doc! {"status": "running", "batchesDone": total, "batchesTotal": total},
            doc! {"$set": {
                "status": status.as_str(),
                "finishedAt": ts(&Utc::now()),
                "failuresByCode": counts,
                "closedJobs": closed,
            }},
        )
        .await
    }

    /// Ends a run that is not final yet with `status` (failed, not_modified) and a reason.
    pub async fn end_run(
        &self,
        id: &str,
        status: RunStatus,
        error: Option<&Failure>,
    ) -> Result<Option<ImportRun>, StoreError> {
        let err = match error {
            Some(f) => Bson::Document(encode(f)?),
            None => Bson::Null,
        };
        let now = ts(&Utc::now());
        self.change_run(
            id,
            doc! {"status": {"$in": ["queued", "running"]}},
            doc! {"$set": {"status": status.as_str(), "error": err, "finishedAt": now}},
        )
        .await
    }

    /// Records a fetch attempt that will be retried, keeping the run queued.
    pub async fn note_retry(
        &self,
        id: &str,
        error: &Failure,
        attempt: u32,
        retry_at: chrono::DateTime<Utc>,
    ) -> Result<Option<ImportRun>, StoreError> {
        self.change_run(
            id,
            doc! {"status": {"$in": ["queued", "running"]}},
            doc! {"$set": {
                "status": "queued",
                "error": encode(error)?,
                "fetchAttempts": attempt as i64,
                "retryAt": ts(&retry_at),
            }},
        )
        .await
    }

    /// Queued or running runs with no change since `before` that are not waiting for a
    /// scheduled retry: their work may be gone.
    pub async fn stale_runs(&self, before: &str, now: &str) -> Result<Vec<ImportRun>, StoreError> {
        let docs: Vec<Document> = self
            .coll(IMPORT_LOGS)
            .find(doc! {
                "status": {"$in": ["queued", "running"]},
                "updatedAt": {"$lt": before},
                "$or": [{"retryAt": null}, {"retryAt": {"$lt": now}}],
            })
            .projection(list_projection())
            .limit(100)
            .await?
            .try_collect()
            .await?;
        docs.into_iter().map(decode).collect()
    }

    /// Marks a stale run as resumed (its fetch queued again).
    pub async fn note_resume(
        &self,
        id: &str,
        seen_version: i64,
    ) -> Result<Option<ImportRun>, StoreError> {
        self.change_run(
            id,
            doc! {"status": {"$in": ["queued", "running"]}, "version": seen_version},
            doc! {"$set": {"status": "queued"}, "$inc": {"resumes": 1_i64}},
        )
        .await
    }
}
