//! `run_days`: what `/api/stats` draws its series from. One document per source (`_id` = the
//! source's id) holding the sums of its ended runs per UTC day (`days`) and per hour (`hours`,
//! the last `KEEP_HOUR_DAYS` days): runs, failed runs, new, updated and failed items, bucketed
//! by the run's `importDateTime`. Each map is kept as one JSON string
//! (`{"YYYY-MM-DD": [runs, failedRuns, newJobs, updatedJobs, failedJobs], ...}`, hours keyed
//! `YYYY-MM-DDTHH`): FerretDB parses every field of every document it reads (about 5 µs a
//! field), and a stats read takes every source's document, so a source costs a few fields
//! however many buckets it holds.
//!
//! A run is added when it ends: the document is read, the run added, buckets past the kept
//! days dropped, and the document replaced. That read-modify-write is safe because only runs of
//! its source write a source's document, one at a time, under the same rule as the run
//! counters (see `run_counts`). A stats read is one read of a collection of one small
//! document per source, whatever the history holds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};

use super::Store;
use super::history::QUERY_MAX_TIME;
use crate::domain::time::format as ts;
use crate::domain::{ImportRun, RunStatus};
use crate::store::StoreError;

pub const RUN_DAYS: &str = "run_days";
/// The longest daily window `/api/stats` serves.
pub const MAX_STATS_DAYS: u32 = 90;
/// Days kept: the longest window, and the day in progress.
pub const KEEP_DAYS: i64 = MAX_STATS_DAYS as i64 + 1;
/// Days whose hours are kept: the longest hourly window (168 hours), and the day in progress.
pub const KEEP_HOUR_DAYS: i64 = 8;

/// The sums of one bucket: runs, failed runs, new, updated and failed items (`RUNS`, ...).
pub type Sums = [i64; 5];
pub const RUNS: usize = 0;
pub const FAILED_RUNS: usize = 1;
pub const NEW_JOBS: usize = 2;
pub const UPDATED_JOBS: usize = 3;
pub const FAILED_JOBS: usize = 4;

/// One source's sums of one UTC day, as `/api/stats` reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub source_id: String,
    /// The source's name as of its last run counted.
    pub source_name: String,
    /// `YYYY-MM-DD`.
    pub day: String,
    pub total: Sums,
    /// The day's hours that hold runs (`HH`), when the day's hours are still kept.
    pub hours: BTreeMap<String, Sums>,
}

fn sums(status: &str, new: i64, updated: i64, failed: i64) -> Sums {
    [
        1,
        i64::from(status == RunStatus::Failed.as_str()),
        new,
        updated,
        failed,
    ]
}

fn int(d: &Document, k: &str) -> i64 {
    super::int_field(Some(d), k)
}

/// One source's buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Pack {
    name: String,
    days: BTreeMap<String, Sums>,
    hours: BTreeMap<String, Sums>,
}

impl Pack {
    fn from_doc(d: &Document) -> Self {
        let map = |k: &str| -> BTreeMap<String, Sums> {
            d.get_str(k)
                .ok()
                .and_then(|j| serde_json::from_str(j).ok())
                .unwrap_or_default()
        };
        Self {
            name: d.get_str("sourceName").unwrap_or_default().to_owned(),
            days: map("days"),
            hours: map("hours"),
        }
    }

    fn to_doc(&self, source: &str) -> Document {
        let json = |m: &BTreeMap<String, Sums>| serde_json::to_string(m).unwrap_or_default();
        doc! {
            "_id": source, "sourceId": source, "sourceName": &self.name,
            "days": json(&self.days), "hours": json(&self.hours),
        }
    }

    /// Adds a run created at `date` (a stored timestamp) with `sums`.
    fn add(&mut self, date: &str, s: &Sums) {
        if date.len() < 13 {
            return;
        }
        for (map, key) in [
            (&mut self.days, &date[..10]),
            (&mut self.hours, &date[..13]),
        ] {
            let b = map.entry(key.to_owned()).or_default();
            for (a, x) in b.iter_mut().zip(s) {
                *a += x;
            }
        }
    }

    /// Drops the buckets past the kept days.
    fn prune(&mut self, now: DateTime<Utc>) {
        let day = |n: i64| ts(&(now - chrono::Duration::days(n)))[..10].to_owned();
        let (days, hours) = (day(KEEP_DAYS), day(KEEP_HOUR_DAYS));
        self.days.retain(|k, _| *k >= days);
        self.hours.retain(|k, _| k[..10] >= *hours);
    }

    /// The days `/api/stats` reads, from `since_day` on.
    fn days_since(&self, source: &str, since_day: &str, out: &mut Vec<Day>) {
        for (day, total) in self.days.range(since_day.to_owned()..) {
            out.push(Day {
                source_id: source.to_owned(),
                source_name: self.name.clone(),
                day: day.clone(),
                total: *total,
                hours: self
                    .hours
                    .range(format!("{day}T")..format!("{day}U"))
                    .map(|(k, s)| (k[11..13].to_owned(), *s))
                    .collect(),
            });
        }
    }
}

/// The source documents of a recount, built in memory from every run.
pub struct DayRecount {
    now: DateTime<Utc>,
    sources: BTreeMap<String, Pack>,
}

impl DayRecount {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            sources: Default::default(),
        }
    }

    /// Adds one run document (needs `sourceId`, `sourceName`, `status`, `importDateTime` and
    /// the item counters); runs not ended are left out, and buckets past the kept days.
    pub fn add(&mut self, d: &Document) {
        let status = d.get_str("status").unwrap_or_default();
        if !RunStatus::parse(status).is_some_and(RunStatus::is_final) {
            return;
        }
        let source = d.get_str("sourceId").unwrap_or_default();
        let pack = self.sources.entry(source.to_owned()).or_default();
        if pack.name.is_empty() {
            d.get_str("sourceName")
                .unwrap_or_default()
                .clone_into(&mut pack.name);
        }
        pack.add(
            d.get_str("importDateTime").unwrap_or_default(),
            &sums(
                status,
                int(d, "newJobs"),
                int(d, "updatedJobs"),
                int(d, "failedJobs"),
            ),
        );
    }

    fn finish(mut self) -> Vec<Document> {
        self.sources
            .iter_mut()
            .map(|(source, pack)| {
                pack.prune(self.now);
                pack.to_doc(source)
            })
            .collect()
    }
}

impl Store {
    /// Adds an ended run to its source's document.
    pub(crate) async fn count_run_day(&self, run: &ImportRun) -> Result<(), StoreError> {
        let coll = self.coll(RUN_DAYS);
        let mut pack = coll
            .find_one(doc! {"_id": &run.source_id})
            .max_time(QUERY_MAX_TIME)
            .await?
            .map(|d| Pack::from_doc(&d))
            .unwrap_or_default();
        run.source_name.clone_into(&mut pack.name);
        pack.add(
            &ts(&run.import_date_time),
            &sums(
                run.status.as_str(),
                run.new_jobs,
                run.updated_jobs,
                run.failed_jobs,
            ),
        );
        pack.prune(Utc::now());
        coll.replace_one(doc! {"_id": &run.source_id}, pack.to_doc(&run.source_id))
            .upsert(true)
            .await?;
        Ok(())
    }

    /// The days from `since_day` on (of one source, or all), from one read of every source's
    /// document (the collection stays small).
    pub async fn run_days(
        &self,
        since_day: &str,
        source: Option<&str>,
    ) -> Result<Vec<Day>, StoreError> {
        let docs: Vec<Document> = self
            .coll(RUN_DAYS)
            .find(doc! {})
            .max_time(QUERY_MAX_TIME)
            .await?
            .try_collect()
            .await?;
        let mut out = Vec::new();
        for d in &docs {
            let Ok(id) = d.get_str("sourceId") else {
                continue;
            };
            if source.is_none_or(|s| s == id) {
                Pack::from_doc(d).days_since(id, since_day, &mut out);
            }
        }
        Ok(out)
    }

    /// Replaces every source document with a recount's.
    pub(crate) async fn replace_run_days(&self, days: DayRecount) -> Result<(), StoreError> {
        self.coll(RUN_DAYS).delete_many(doc! {}).await?;
        let docs = days.finish();
        if !docs.is_empty() {
            self.coll(RUN_DAYS).insert_many(docs).await?;
        }
        Ok(())
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
        let run = |status: &str, date: &str| {
            doc! {"sourceId": "s", "sourceName": "S", "status": status, "importDateTime": date,
            "newJobs": 2_i64, "updatedJobs": 1_i32, "failedJobs": 0_i64}
        };
        r.add(&run("completed", &date));
        r.add(&run("failed", &date));
        r.add(&run("running", &date));
        // Past the kept hours, within the kept days; then past the kept days.
        let old = ts(&(now - chrono::Duration::days(20)));
        r.add(&run("completed", &old));
        r.add(&run("completed", &ts(&(now - chrono::Duration::days(200)))));
        let docs = r.finish();
        assert_eq!(docs.len(), 1);
        let mut days = Vec::new();
        Pack::from_doc(&docs[0]).days_since("s", "0000-00-00", &mut days);
        assert_eq!(days.len(), 2);
        let today = days.iter().find(|d| d.day == date[..10]).unwrap();
        assert_eq!(today.source_name, "S");
        assert_eq!(today.total[RUNS], 2);
        assert_eq!(today.total[FAILED_RUNS], 1);
        assert_eq!(today.total[NEW_JOBS], 4);
        assert_eq!(today.hours[&date[11..13]][UPDATED_JOBS], 2);
        let past = days.iter().find(|d| d.day == old[..10]).unwrap();
        assert_eq!(past.total[RUNS], 1);
        assert!(past.hours.is_empty(), "past the kept hours");
    }

    #[test]
    fn a_pack_round_trips_through_its_document() {
        let mut p = Pack {
            name: "S".into(),
            ..Default::default()
        };
        p.add("2026-12-07T10:00:00.000Z", &[1, 0, 3, 2, 1]);
        p.add("2026-12-07T10:30:00.000Z", &[1, 1, 0, 0, 4]);
        assert_eq!(p.days["2026-12-07"], [2, 1, 3, 2, 5]);
        assert_eq!(Pack::from_doc(&p.to_doc("s")), p);
    }
}
