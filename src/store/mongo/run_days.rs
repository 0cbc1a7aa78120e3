//! `run_days`: what `/api/stats` draws its series from. One document per source and UTC day
//! (`_id` `{source}|{YYYY-MM-DD}`) with the day's sums (`total`) and each hour's (`hours.HH`):
//! runs, failed runs, new, updated and failed items, bucketed by the run's `importDateTime`.
//! A run is added when it ends, with `$inc`, under the same rule as the run counters (only
//! runs of its source write the document, one at a time; see `run_counts`). Days older than
//! the longest window the API serves are deleted, so a stats read is one read of a
//! collection of at most sources × 91 small documents, whatever the history holds.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};

use super::history::QUERY_MAX_TIME;
use super::{IMPORT_LOGS, Store};
use crate::domain::time::format as ts;
use crate::domain::{ImportRun, RunStatus};
use crate::store::StoreError;

pub const RUN_DAYS: &str = "run_days";
/// The longest daily window `/api/stats` serves.
pub const MAX_STATS_DAYS: u32 = 90;
/// Days kept: the longest window, and the day in progress.
pub const KEEP_DAYS: i64 = MAX_STATS_DAYS as i64 + 1;
/// How often a process deletes days past `KEEP_DAYS`.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

static LAST_PRUNE: Mutex<Option<Instant>> = Mutex::new(None);

/// The five sums of one bucket, as stored.
fn sums(status: &str, new: i64, updated: i64, failed: i64) -> Document {
    doc! {
        "runs": 1_i64,
        "failedRuns": i64::from(status == RunStatus::Failed.as_str()),
        "newJobs": new, "updatedJobs": updated, "failedJobs": failed,
    }
}

fn day_id(source: &str, day: &str) -> String {
    format!("{source}|{day}")
}

fn int(d: &Document, k: &str) -> i64 {
    match d.get(k) {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Double(n)) => *n as i64,
        _ => 0,
    }
}

/// Adds `sums` into `into` (both bucket documents).
fn add_into(into: &mut Document, sums: &Document) {
    for (k, v) in sums {
        let n = into.get(k).map_or(0, |_| int(into, k));
        let add = match v {
            Bson::Int64(x) => *x,
            Bson::Int32(x) => i64::from(*x),
            _ => 0,
        };
        into.insert(k.clone(), n + add);
    }
}

/// The day documents of a recount, built in memory from every run.
pub struct DayRecount {
    since: String,
    days: std::collections::BTreeMap<String, Document>,
}

impl DayRecount {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            since: ts(&(now - chrono::Duration::days(KEEP_DAYS)))[..10].to_owned(),
            days: Default::default(),
        }
    }

    /// Adds one run document (needs `sourceId`, `sourceName`, `status`, `importDateTime` and
    /// the item counters); runs not ended or older than the kept days are left out.
    pub fn add(&mut self, d: &Document) {
        let status = d.get_str("status").unwrap_or_default();
        let date = d.get_str("importDateTime").unwrap_or_default();
        if !RunStatus::parse(status).is_some_and(RunStatus::is_final)
            || date.len() < 13
            || date[..10] < *self.since
        {
            return;
        }
        let source = d.get_str("sourceId").unwrap_or_default();
        let s = sums(
            status,
            int(d, "newJobs"),
            int(d, "updatedJobs"),
            int(d, "failedJobs"),
        );
        let entry = self
            .days
            .entry(day_id(source, &date[..10]))
            .or_insert_with(|| {
                doc! {
                    "sourceId": source, "sourceName": d.get_str("sourceName").unwrap_or_default(),
                    "day": &date[..10], "total": {}, "hours": {},
                }
            });
        if let Ok(t) = entry.get_document_mut("total") {
            add_into(t, &s);
        }
        if let Ok(h) = entry.get_document_mut("hours") {
            let hour = &date[11..13];
            if h.get_document(hour).is_err() {
                h.insert(hour, Document::new());
            }
            if let Ok(b) = h.get_document_mut(hour) {
                add_into(b, &s);
            }
        }
    }
}

impl Store {
    /// Adds an ended run to its source's day.
    pub(crate) async fn count_run_day(&self, run: &ImportRun) -> Result<(), StoreError> {
        let date = ts(&run.import_date_time);
        let s = sums(
            run.status.as_str(),
            run.new_jobs,
            run.updated_jobs,
            run.failed_jobs,
        );
        let mut inc = Document::new();
        for (k, v) in &s {
            inc.insert(format!("total.{k}"), v.clone());
            inc.insert(format!("hours.{}.{k}", &date[11..13]), v.clone());
        }
        self.coll(RUN_DAYS)
            .update_one(
                doc! {"_id": day_id(&run.source_id, &date[..10])},
                doc! {
                    "$inc": inc,
                    "$set": {"sourceId": &run.source_id, "sourceName": &run.source_name, "day": &date[..10]},
                },
            )
            .upsert(true)
            .await?;
        if let Err(e) = self.prune_run_days().await {
            tracing::warn!(error = %e, "could not delete the run days past the longest window");
        }
        Ok(())
    }

    /// Deletes the days past `KEEP_DAYS`, at most once an hour per process.
    async fn prune_run_days(&self) -> Result<(), StoreError> {
        if let Ok(mut last) = LAST_PRUNE.lock() {
            if last.is_some_and(|t| t.elapsed() < PRUNE_EVERY) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        let cutoff = ts(&(Utc::now() - chrono::Duration::days(KEEP_DAYS)))[..10].to_owned();
        self.coll(RUN_DAYS)
            .delete_many(doc! {"day": {"$lt": cutoff}})
            .await?;
        Ok(())
    }

    /// Every kept day (of one source, or all), read whole: the collection stays small.
    pub async fn run_days(
        &self,
        since_day: &str,
        source: Option<&str>,
    ) -> Result<Vec<Document>, StoreError> {
        let docs: Vec<Document> = self
            .coll(RUN_DAYS)
            .find(doc! {})
            .max_time(QUERY_MAX_TIME)
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .into_iter()
            .filter(|d| d.get_str("day").is_ok_and(|day| day >= since_day))
            .filter(|d| source.is_none_or(|s| d.get_str("sourceId") == Ok(s)))
            .collect())
    }

    /// Replaces every day document with a recount's.
    pub(crate) async fn replace_run_days(&self, days: DayRecount) -> Result<(), StoreError> {
        self.coll(RUN_DAYS).delete_many(doc! {}).await?;
        let docs: Vec<Document> = days
            .days
            .into_iter()
            .map(|(id, mut d)| {
                d.insert("_id", id);
                d
            })
            .collect();
        if !docs.is_empty() {
            self.coll(RUN_DAYS).insert_many(docs).await?;
        }
        Ok(())
    }

    /// The runs of the kept days, for tests comparing the days with a recount.
    pub async fn recount_run_days(&self) -> Result<Vec<Document>, StoreError> {
        let mut days = DayRecount::new(Utc::now());
        let mut cursor = self
            .coll(IMPORT_LOGS)
            .find(doc! {})
            .max_time(QUERY_MAX_TIME)
            .await?;
        while let Some(d) = cursor.try_next().await? {
            days.add(&d);
        }
        Ok(days
            .days
            .into_iter()
            .map(|(id, mut d)| {
                d.insert("_id", id);
                d
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recount_sums_ended_runs_by_source_day_and_hour() {
        let now = Utc::now();
        let date = ts(&now);
        let mut r = DayRecount::new(now);
        let run = |status: &str| {
            doc! {"sourceId": "s", "sourceName": "S", "status": status, "importDateTime": &date,
            "newJobs": 2_i64, "updatedJobs": 1_i32, "failedJobs": 0_i64}
        };
        r.add(&run("completed"));
        r.add(&run("failed"));
        r.add(&run("running"));
        let d = &r.days[&day_id("s", &date[..10])];
        let total = d.get_document("total").unwrap_or(&Document::new()).clone();
        assert_eq!(int(&total, "runs"), 2);
        assert_eq!(int(&total, "failedRuns"), 1);
        assert_eq!(int(&total, "newJobs"), 4);
        let hour = d
            .get_document("hours")
            .and_then(|h| h.get_document(&date[11..13]))
            .map(|h| int(h, "updatedJobs"));
        assert_eq!(hour, Ok(2));
    }
}
