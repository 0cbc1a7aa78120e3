//! The `import_logs` collection: one document per run. Every change is a conditional update
//! that bumps `version`, and returns the new document so it can be published as it is.

use chrono::Utc;
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::history::QUERY_MAX_TIME;
use super::jobs_query::escape_regex;
use super::{IMPORT_BATCHES, IMPORT_LOGS, STEP_READ_MAX_TIME, Store};
use crate::domain::events::HistoryPage;
use crate::domain::import_run::MAX_STORED_FAILURES;
use crate::domain::time::format as ts;
use crate::domain::{BatchResult, CodeCount, Failure, ImportRun, RunStatus};
use crate::store::{StoreError, decode, encode};

/// Filters of the history list; every field is typed, so nothing a client sends can become an
/// operator.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub source_id: Option<String>,
    pub status: Option<RunStatus>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Runs that failed with this code, or had items fail with it.
    pub failure_code: Option<String>,
    /// Text found (literally, case-insensitively) in the run's error message or in one of its
    /// stored item failures' messages.
    pub error_text: Option<String>,
}

impl RunFilter {
    /// The filter as a MongoDB document: equality and ranges over fixed fields, and user text
    /// only as an escaped `$regex`.
    pub fn to_doc(&self) -> Document {
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
        let mut and: Vec<Bson> = Vec::new();
        if let Some(code) = &self.failure_code {
            and.push(Bson::Document(doc! {"$or": [
                {"error.code": code.as_str()},
                {"failuresByCode.code": code.as_str()},
                {"failures.code": code.as_str()},
            ]}));
        }
        if let Some(text) = &self.error_text {
            let m = doc! {"$regex": escape_regex(text), "$options": "i"};
            and.push(Bson::Document(doc! {"$or": [
                {"error.message": m.clone()},
                {"failures.message": m},
            ]}));
        }
        if and.is_empty() {
            return f;
        }
        and.insert(0, Bson::Document(f));
        doc! {"$and": and}
    }
}

/// One batch's result as recorded in `import_batches`, until its run ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRecord {
    #[serde(rename = "_id")]
    pub id: String,
    pub run_id: String,
    pub batch_no: i64,
    /// The feed read the batch belongs to (absent in records of earlier versions).
    #[serde(default)]
    pub generation: Option<i64>,
    pub result: BatchResult,
    /// The batch's item failures (at most `MAX_STORED_FAILURES`).
    #[serde(default)]
    pub failures: Vec<Failure>,
    pub persist_ms: i64,
    pub recorded_at: String,
}

/// What `Store::run_state` reads: the run's protocol fields, beside its document's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunState {
    pub status: RunStatus,
    /// The current generation's batch count, once its feed is read.
    pub batches_total: Option<i64>,
    /// The current generation (0: no fetch has started yet).
    pub generation: u32,
    /// The job index epoch the current generation classified against.
    pub index_epoch: Option<String>,
    /// The validators of the body the current generation read, saved on the source when the
    /// run completes (never earlier: a run that does not complete must not make the next
    /// fetch conditional on a body it did not store).
    pub validators: Option<Validators>,
}

/// A response's conditional-GET validators.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Validators {
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The source's `Source::reading_key` when the body was read; absent on runs queued by
    /// an earlier version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<String>,
}

fn batch_record_id(run_id: &str, generation: u32, batch_no: u32) -> String {
    format!("{run_id}:{generation}:{batch_no}")
}

fn opt_i64(d: &Document, key: &str) -> Option<i64> {
    match d.get(key) {
        Some(Bson::Int64(n)) => Some(*n),
        Some(Bson::Int32(n)) => Some(i64::from(*n)),
        Some(Bson::Double(n)) => Some(*n as i64),
        _ => None,
    }
}

fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        _ => false,
    }
}

/// The run fields that sum the recorded batches, as a `$set` document.
fn folded(records: &[BatchRecord]) -> Result<Document, StoreError> {
    let mut total = BatchResult::default();
    let mut persist_ms = 0;
    let mut batches = Document::new();
    let mut failures: Vec<Bson> = Vec::new();
    for r in records {
        let b = &r.result;
        total.items += b.items;
        total.new_jobs += b.new_jobs;
        total.updated_jobs += b.updated_jobs;
        total.unchanged_jobs += b.unchanged_jobs;
        total.duplicate_jobs += b.duplicate_jobs;
        total.failed_jobs += b.failed_jobs;
        total.reopened_jobs += b.reopened_jobs;
        persist_ms += r.persist_ms;
        batches.insert(r.batch_no.to_string(), encode(b)?);
        for f in &r.failures {
            if failures.len() >= MAX_STORED_FAILURES {
                break;
            }
            failures.push(Bson::Document(encode(f)?));
        }
    }
    Ok(doc! {
        "batches": batches,
        "batchesDone": records.len() as i64,
        "itemsDone": total.items,
        "totalFetched": total.items,
        "totalImported": total.imported(),
        "newJobs": total.new_jobs,
        "updatedJobs": total.updated_jobs,
        "unchangedJobs": total.unchanged_jobs,
        "duplicateJobs": total.duplicate_jobs,
        "failedJobs": total.failed_jobs,
        "reopenedJobs": total.reopened_jobs,
        "failures": failures,
        "durations.persistMs": persist_ms,
    })
}

/// The batches' failure counts summed by code.
fn sum_failure_counts(records: &[BatchRecord]) -> Vec<CodeCount> {
    let mut by: std::collections::BTreeMap<&str, i64> = Default::default();
    for r in records {
        for c in &r.result.failure_counts {
            *by.entry(c.code.as_str()).or_default() += c.count;
        }
    }
    by.into_iter()
        .map(|(code, count)| CodeCount {
            code: code.to_owned(),
            count,
        })
        .collect()
}

/// Fields left out of list pages: per-batch bookkeeping and the failure list can be large.
fn list_projection() -> Document {
    doc! {"batches": 0, "failures": 0}
}

impl Store {
    pub async fn insert_run(&self, run: &ImportRun) -> Result<(), StoreError> {
        self.coll(IMPORT_LOGS).insert_one(encode(run)?).await?;
        if let Err(e) = self.count_run_created(&run.source_id).await {
            tracing::warn!(run = %run.id, error = %e, "the run was not counted");
        }
        Ok(())
    }

    pub async fn get_run(&self, id: &str) -> Result<Option<ImportRun>, StoreError> {
        match self
            .coll(IMPORT_LOGS)
            .find_one(doc! {"_id": id})
            .max_time(STEP_READ_MAX_TIME)
            .await?
        {
            Some(d) => Ok(Some(decode(d)?)),
            None => Ok(None),
        }
    }

    /// A run's protocol fields (what a worker or the end of a run needs).
    pub async fn run_state(&self, id: &str) -> Result<Option<RunState>, StoreError> {
        let Some(d) = self
            .coll(IMPORT_LOGS)
            .find_one(doc! {"_id": id})
            .projection(doc! {
                "status": 1, "batchesTotal": 1, "generation": 1, "indexEpoch": 1,
                "pendingValidators": 1,
            })
            .max_time(STEP_READ_MAX_TIME)
            .await?
        else {
            return Ok(None);
        };
        let status = d
            .get_str("status")
            .ok()
            .and_then(RunStatus::parse)
            .ok_or_else(|| StoreError::Decode(format!("run {id} has no valid status")))?;
        let validators = match d.get_document("pendingValidators") {
            Ok(v) => Some(decode(v.clone())?),
            Err(_) => None,
        };
        Ok(Some(RunState {
            status,
            batches_total: opt_i64(&d, "batchesTotal"),
            generation: opt_i64(&d, "generation").unwrap_or(0).max(0) as u32,
            index_epoch: d.get_str("indexEpoch").ok().map(str::to_owned),
            validators,
        }))
    }

    pub async fn page_runs(
        &self,
        page: u64,
        limit: u64,
        filter: &RunFilter,
    ) -> Result<HistoryPage, StoreError> {
        let coll = self.coll(IMPORT_LOGS);
        let f = filter.to_doc();
        let total = coll
            .count_documents(f.clone())
            .max_time(QUERY_MAX_TIME)
            .await?;
        let cursor = coll
            .find(f)
            .sort(doc! {"importDateTime": -1, "_id": -1})
            .skip(page.saturating_sub(1) * limit)
            .limit(limit as i64)
            .projection(list_projection())
            .max_time(QUERY_MAX_TIME)
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
            .max_time(STEP_READ_MAX_TIME)
            .await?;
        d.map(decode).transpose()
    }

    /// Applies `update` to the run when `filter` (beside its id) still holds, bumping its
    /// version; `None` when the condition no longer holds.
    pub(super) async fn change_run(
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
            // Every change is conditional on the run not having ended, so the one that
            // returns it ended is the one that ended it.
            if r.status.is_final()
                && let Err(e) = self.count_run_ended(r).await
            {
                tracing::warn!(run = %r.id, error = %e, "the end of the run was not counted");
            }
        }
        Ok(run)
    }

    /// queued → running, claiming the next generation for the fetch that starts now (returned
    /// beside the run). A redelivered fetch finds the run already running and takes it over
    /// under a generation of its own; the batches of earlier generations stop counting, and
    /// the progress shown restarts with this one.
    pub async fn mark_running(
        &self,
        id: &str,
        instance: &str,
    ) -> Result<Option<(ImportRun, u32)>, StoreError> {
        let run = self
            .change_run(
                id,
                doc! {"status": {"$in": ["queued", "running"]}},
                doc! {
                    "$set": {
                        "status": "running", "startedAt": ts(&Utc::now()), "fetchedBy": instance,
                        "batchesTotal": Bson::Null, "batchesDone": 0_i64, "itemsDone": 0_i64,
                        "batches": {}, "pendingValidators": Bson::Null,
                    },
                    "$inc": {"generation": 1_i64},
                },
            )
            .await?;
        let Some(run) = run else { return Ok(None) };
        let generation = self
            .run_state(id)
            .await?
            .map(|s| s.generation)
            .ok_or_else(|| StoreError::NotFound(format!("run {id}")))?;
        Ok(Some((run, generation)))
    }

    /// Records one batch's result exactly once, as its own document (`_id` = run:batch): an
    /// insert is atomic on every MongoDB-compatible server, and a redelivered batch finds its
    /// number taken. True when this call recorded it, false when an earlier delivery had.
    pub async fn record_batch(
        &self,
        run_id: &str,
        generation: u32,
        batch_no: u32,
        result: &BatchResult,
        failures: &[Failure],
        persist_ms: i64,
    ) -> Result<bool, StoreError> {
        let record = BatchRecord {
            id: batch_record_id(run_id, generation, batch_no),
            run_id: run_id.to_owned(),
            batch_no: i64::from(batch_no),
            generation: Some(i64::from(generation)),
            result: result.clone(),
            failures: failures.iter().take(MAX_STORED_FAILURES).cloned().collect(),
            persist_ms,
            recorded_at: ts(&Utc::now()),
        };
        match self.coll(IMPORT_BATCHES).insert_one(encode(&record)?).await {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Every recorded batch of the run's `generation`, by number.
    pub async fn batch_records(
        &self,
        run_id: &str,
        generation: u32,
    ) -> Result<Vec<BatchRecord>, StoreError> {
        let docs: Vec<Document> = self
            .coll(IMPORT_BATCHES)
            .find(doc! {"runId": run_id, "generation": i64::from(generation)})
            .max_time(STEP_READ_MAX_TIME)
            .await?
            .try_collect()
            .await?;
        let mut records = docs
            .into_iter()
            .map(decode)
            .collect::<Result<Vec<BatchRecord>, _>>()?;
        records.sort_by_key(|r| r.batch_no);
        records.dedup_by_key(|r| r.batch_no);
        Ok(records)
    }

    /// Drops the batch records of a run that has ended (its document holds their sum and
    /// `batches`); keeps the collection as small as the work in flight.
    pub async fn delete_batch_records(&self, run_id: &str) -> Result<(), StoreError> {
        self.coll(IMPORT_BATCHES)
            .delete_many(doc! {"runId": run_id})
            .await?;
        Ok(())
    }

    /// Writes the sum of the recorded batches onto the running run (progress). Absolute
    /// values, not increments: folding twice, or after a redelivery, gives the same numbers.
    pub async fn fold_batches(
        &self,
        id: &str,
        generation: u32,
        records: &[BatchRecord],
    ) -> Result<Option<ImportRun>, StoreError> {
        self.change_run(
            id,
            doc! {"status": "running", "generation": i64::from(generation)},
            doc! {"$set": folded(records)?},
        )
        .await
    }

    /// The fetch of `generation` has read the whole feed: its batch count is known now, and
    /// the validators of what it read wait on the run until it completes. No effect when a
    /// later generation has started meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_fetch(
        &self,
        id: &str,
        generation: u32,
        batches_total: u32,
        error: Option<&Failure>,
        validators: Option<&Validators>,
        index_epoch: Option<&str>,
        window: &crate::domain::FeedWindow,
        fetch_ms: i64,
        parse_ms: i64,
    ) -> Result<Option<ImportRun>, StoreError> {
        let err = match error {
            Some(f) => Bson::Document(encode(f)?),
            None => Bson::Null,
        };
        let validators = match validators {
            Some(v) => Bson::Document(encode(v)?),
            None => Bson::Null,
        };
        self.change_run(
            id,
            doc! {"status": "running", "generation": i64::from(generation)},
            doc! {"$set": {
                "batchesTotal": batches_total as i64,
                "error": err,
                "pendingValidators": validators,
                "indexEpoch": index_epoch.map_or(Bson::Null, |e| Bson::String(e.to_owned())),
                "window": encode(window)?,
                "durations.fetchMs": fetch_ms,
                "durations.parseMs": parse_ms,
            }},
        )
        .await
    }

    /// Ends a running run whose every batch is recorded (`records`, one per number below its
    /// batch count), with the exact sum of the records. Conditional on the run still running,
    /// so of several callers only one changes anything.
    pub async fn complete_run(
        &self,
        run: &ImportRun,
        generation: u32,
        records: &[BatchRecord],
        closing: &crate::store::mongo::expiry::Closing,
    ) -> Result<Option<ImportRun>, StoreError> {
        let status = ImportRun::final_status(run.error.is_some());
        let mut set = folded(records)?;
        // Jobs reopened by the run's end (closed earlier while outside the window) count
        // with those its batches reopened.
        if closing.reopened > 0 {
            let by_batches = set.get_i64("reopenedJobs").unwrap_or(0);
            set.insert("reopenedJobs", by_batches + closing.reopened);
        }
        let mut by_reason = Document::new();
        for (reason, n) in &closing.by_reason {
            if *n > 0 {
                by_reason.insert(*reason, *n);
            }
        }
        set.insert("closedByReason", by_reason);
        if let Some(w) = &closing.window {
            set.insert("window", encode(w)?);
        }
        let counts: Vec<Bson> = sum_failure_counts(records)
            .iter()
            .map(|c| encode(c).map(Bson::Document))
            .collect::<Result<_, _>>()?;
        set.insert("status", status.as_str());
        set.insert("finishedAt", ts(&Utc::now()));
        set.insert("failuresByCode", counts);
        set.insert("closedJobs", closing.closed());
        self.change_run(
            &run.id,
            doc! {"status": "running", "generation": i64::from(generation)},
            doc! {"$set": set},
        )
        .await
    }

    /// Ends a run that is not final yet with `status` (failed, not_modified) and a reason.
    /// The batches recorded so far are folded in, so a failed run still shows what it stored.
    pub async fn end_run(
        &self,
        id: &str,
        status: RunStatus,
        error: Option<&Failure>,
        records: &[BatchRecord],
    ) -> Result<Option<ImportRun>, StoreError> {
        let err = match error {
            Some(f) => Bson::Document(encode(f)?),
            None => Bson::Null,
        };
        let mut set = if records.is_empty() {
            Document::new()
        } else {
            folded(records)?
        };
        set.insert("status", status.as_str());
        set.insert("error", err);
        set.insert("finishedAt", ts(&Utc::now()));
        self.change_run(
            id,
            doc! {"status": {"$in": ["queued", "running"]}},
            doc! {"$set": set},
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
            .max_time(STEP_READ_MAX_TIME)
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
