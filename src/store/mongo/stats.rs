//! `GET /api/stats`: runs and new/updated/failed items per hour and per day, overall and per
//! source. Buckets are summed here from one bounded read on every server (see `compat`: FerretDB
//! 1.x has no `$cond` in `$group`); timestamps are fixed-width strings, so a bucket is a prefix.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use serde::Serialize;

use super::history::QUERY_MAX_TIME;
use super::{IMPORT_LOGS, JOBS, SOURCES, Store};
use crate::domain::time::format as ts;
use crate::store::StoreError;

/// Runs read per stats request at most; older ones in the window are left out (`truncated`).
pub const MAX_STATS_RUNS: i64 = 50_000;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    /// `2026-11-30T05` (hour) or `2026-11-30` (day), UTC.
    pub bucket: String,
    pub runs: i64,
    pub failed_runs: i64,
    pub new_jobs: i64,
    pub updated_jobs: i64,
    pub failed_jobs: i64,
}

impl Bucket {
    fn add(&mut self, r: &RunRow) {
        self.runs += 1;
        self.failed_runs += i64::from(r.status == "failed");
        self.new_jobs += r.new_jobs;
        self.updated_jobs += r.updated_jobs;
        self.failed_jobs += r.failed_jobs;
    }
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    pub hourly: Vec<Bucket>,
    pub daily: Vec<Bucket>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceSeries {
    pub source_id: String,
    pub source_name: String,
    #[serde(flatten)]
    pub series: Series,
}

/// Top-level numbers are totals (the dashboard shows them as tiles); the series follow.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub total_runs: u64,
    pub active_runs: u64,
    pub total_jobs: u64,
    pub open_jobs: u64,
    pub sources: u64,
    pub generated_at: String,
    pub hours: u32,
    pub days: u32,
    pub truncated: bool,
    #[serde(flatten)]
    pub overall: Series,
    pub by_source: Vec<SourceSeries>,
}

struct RunRow {
    source_id: String,
    source_name: String,
    date: String,
    status: String,
    new_jobs: i64,
    updated_jobs: i64,
    failed_jobs: i64,
}

impl RunRow {
    fn from_doc(d: &Document) -> Self {
        let s = |k: &str| d.get_str(k).unwrap_or_default().to_owned();
        let n = |k: &str| {
            d.get_i64(k)
                .or_else(|_| d.get_i32(k).map(i64::from))
                .unwrap_or(0)
        };
        Self {
            source_id: s("sourceId"),
            source_name: s("sourceName"),
            date: s("importDateTime"),
            status: s("status"),
            new_jobs: n("newJobs"),
            updated_jobs: n("updatedJobs"),
            failed_jobs: n("failedJobs"),
        }
    }
}

/// Every bucket of the window, empty ones included, oldest first.
fn series(rows: &[&RunRow], now: DateTime<Utc>, hours: u32, days: u32) -> Series {
    let fill = |n: u32, step: Duration, width: usize| -> Vec<Bucket> {
        let mut map: BTreeMap<String, Bucket> = (0..n)
            .map(|i| {
                let key = ts(&(now - step * i as i32))[..width].to_owned();
                (
                    key.clone(),
                    Bucket {
                        bucket: key,
                        ..Default::default()
                    },
                )
            })
            .collect();
        for r in rows {
            if let Some(b) = r.date.get(..width).and_then(|k| map.get_mut(k)) {
                b.add(r);
            }
        }
        map.into_values().collect()
    };
    Series {
        hourly: fill(hours, Duration::hours(1), 13),
        daily: fill(days, Duration::days(1), 10),
    }
}

impl Store {
    pub async fn stats(
        &self,
        hours: u32,
        days: u32,
        source: Option<&str>,
    ) -> Result<Stats, StoreError> {
        let now = Utc::now();
        let span = Duration::hours(i64::from(hours)).max(Duration::days(i64::from(days)));
        let since = ts(&(now - span))[..10].to_owned();
        let mut f = doc! {"importDateTime": {"$gte": since}};
        if let Some(s) = source {
            f.insert("sourceId", s);
        }
        let docs: Vec<Document> = self
            .coll(IMPORT_LOGS)
            .find(f)
            .sort(doc! {"importDateTime": -1})
            .limit(MAX_STATS_RUNS)
            .projection(
                doc! {"sourceId": 1, "sourceName": 1, "importDateTime": 1, "status": 1,
                "newJobs": 1, "updatedJobs": 1, "failedJobs": 1},
            )
            .max_time(QUERY_MAX_TIME)
            .await?
            .try_collect()
            .await?;
        let truncated = docs.len() as i64 == MAX_STATS_RUNS;
        let rows: Vec<RunRow> = docs.iter().map(RunRow::from_doc).collect();
        let all: Vec<&RunRow> = rows.iter().collect();
        let mut per_source: BTreeMap<&str, Vec<&RunRow>> = BTreeMap::new();
        for r in &rows {
            per_source.entry(&r.source_id).or_default().push(r);
        }
        let by_source = per_source
            .into_iter()
            .map(|(id, rs)| SourceSeries {
                source_id: id.to_owned(),
                source_name: rs
                    .first()
                    .map(|r| r.source_name.clone())
                    .unwrap_or_default(),
                series: series(&rs, now, hours, days),
            })
            .collect();
        let runs_filter = source.map(|s| doc! {"sourceId": s}).unwrap_or_default();
        let mut active = doc! {"status": {"$in": ["queued", "running"]}};
        let mut jobs_filter = Document::new();
        if let Some(s) = source {
            active.insert("sourceId", s);
            jobs_filter.insert("sources", s);
        }
        let mut open = jobs_filter.clone();
        open.insert("status", "open");
        Ok(Stats {
            total_runs: self.coll(IMPORT_LOGS).count_documents(runs_filter).await?,
            active_runs: self.coll(IMPORT_LOGS).count_documents(active).await?,
            total_jobs: self.coll(JOBS).count_documents(jobs_filter).await?,
            open_jobs: self.coll(JOBS).count_documents(open).await?,
            sources: self.coll(SOURCES).count_documents(doc! {}).await?,
            generated_at: ts(&now),
            hours,
            days,
            truncated,
            overall: series(&all, now, hours, days),
            by_source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_fall_into_their_hour_and_day() {
        let now = DateTime::parse_from_rfc3339("2026-11-30T05:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let row = RunRow {
            source_id: "s".into(),
            source_name: "S".into(),
            date: "2026-11-30T04:10:00.000Z".into(),
            status: "failed".into(),
            new_jobs: 2,
            updated_jobs: 1,
            failed_jobs: 3,
        };
        let s = series(&[&row], now, 3, 2);
        assert_eq!(s.hourly.len(), 3);
        assert_eq!(s.hourly[1].bucket, "2026-11-30T04");
        assert_eq!(s.hourly[1].new_jobs, 2);
        assert_eq!(s.hourly[1].failed_runs, 1);
        assert_eq!(s.hourly[2].runs, 0);
        assert_eq!(s.daily[1].bucket, "2026-11-30");
        assert_eq!(s.daily[1].failed_jobs, 3);
    }
}
