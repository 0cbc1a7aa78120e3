//! `GET /api/stats`: runs and new/updated/failed items per hour and per day, overall and per
//! source, and totals. Nothing here reads the runs or the jobs: the series come from the
//! per-source days (`run_days`), the totals from the per-source run counters (`run_counts`),
//! so a read costs the same at a million runs as at ten.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use mongodb::bson::doc;
use serde::Serialize;

use super::history::QUERY_MAX_TIME;
use super::run_days::{Day, FAILED_JOBS, FAILED_RUNS, NEW_JOBS, RUNS, Sums, UPDATED_JOBS};
use super::{SOURCES, Store};
use crate::domain::time::format as ts;
use crate::store::StoreError;

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
    fn add(&mut self, s: &Sums) {
        self.runs += s[RUNS];
        self.failed_runs += s[FAILED_RUNS];
        self.new_jobs += s[NEW_JOBS];
        self.updated_jobs += s[UPDATED_JOBS];
        self.failed_jobs += s[FAILED_JOBS];
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
/// Runs are counted in the series once they end, in the hour and day they were created.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub total_runs: u64,
    pub active_runs: u64,
    /// Jobs stored (of the source: that carry it), as counted at `jobs_counted_at`.
    pub total_jobs: u64,
    /// Of those, the open ones.
    pub open_jobs: u64,
    /// When the job counts were made (see `job_counts`: a snapshot no older than
    /// `http.jobs_count_max_age_secs` plus the time a recount takes).
    pub jobs_counted_at: String,
    pub sources: u64,
    pub generated_at: String,
    pub hours: u32,
    pub days: u32,
    /// Always false: the series cover the whole window (kept for clients of earlier versions).
    pub truncated: bool,
    #[serde(flatten)]
    pub overall: Series,
    pub by_source: Vec<SourceSeries>,
}

/// Every bucket of the window, empty ones included, oldest first.
fn series(days: &[&Day], now: DateTime<Utc>, hours: u32, days_n: u32) -> Series {
    let empty = |n: u32, step: Duration, width: usize| -> BTreeMap<String, Bucket> {
        (0..n)
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
            .collect()
    };
    let mut hourly = empty(hours, Duration::hours(1), 13);
    let mut daily = empty(days_n, Duration::days(1), 10);
    for d in days {
        if let Some(b) = daily.get_mut(&d.day) {
            b.add(&d.total);
        }
        for (hour, sums) in &d.hours {
            if let Some(b) = hourly.get_mut(&format!("{}T{hour}", d.day)) {
                b.add(sums);
            }
        }
    }
    Series {
        hourly: hourly.into_values().collect(),
        daily: daily.into_values().collect(),
    }
}

impl Store {
    /// `jobs_max_age`: how old the job counts may be (see `job_counts`).
    pub async fn stats(
        &self,
        hours: u32,
        days: u32,
        source: Option<&str>,
        jobs_max_age: Duration,
    ) -> Result<Stats, StoreError> {
        let now = Utc::now();
        let span = Duration::hours(i64::from(hours)).max(Duration::days(i64::from(days)));
        let since = ts(&(now - span))[..10].to_owned();
        let docs = self.run_days(&since, source).await?;
        let all: Vec<&Day> = docs.iter().collect();
        let mut per_source: BTreeMap<&str, Vec<&Day>> = BTreeMap::new();
        for d in &docs {
            per_source.entry(&d.source_id).or_default().push(d);
        }
        let by_source = per_source
            .into_iter()
            .map(|(id, ds)| SourceSeries {
                source_id: id.to_owned(),
                // The newest day's name: a renamed source shows its current name.
                source_name: ds
                    .iter()
                    .max_by_key(|d| &d.day)
                    .map(|d| d.source_name.clone())
                    .unwrap_or_default(),
                series: series(&ds, now, hours, days),
            })
            .collect();
        let counts = self.run_counts(source).await?;
        let jobs = self.job_counts(jobs_max_age).await?;
        let tally = jobs.of(source);
        let sources = self
            .coll(SOURCES)
            .count_documents(doc! {})
            .max_time(QUERY_MAX_TIME)
            .await?;
        Ok(Stats {
            total_runs: counts.runs.max(0) as u64,
            active_runs: counts.active() as u64,
            total_jobs: tally.total,
            open_jobs: tally.open,
            jobs_counted_at: jobs.counted_at,
            sources,
            generated_at: ts(&now),
            hours,
            days,
            truncated: false,
            overall: series(&all, now, hours, days),
            by_source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_fall_into_their_hour_and_day_buckets() {
        let now = DateTime::parse_from_rfc3339("2026-11-30T05:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let sums: Sums = [1, 1, 2, 1, 3];
        let day = Day {
            source_id: "s".into(),
            source_name: "S".into(),
            day: "2026-11-30".into(),
            total: sums,
            hours: [("04".to_owned(), sums)].into(),
        };
        let s = series(&[&day], now, 3, 2);
        assert_eq!(s.hourly.len(), 3);
        assert_eq!(s.hourly[1].bucket, "2026-11-30T04");
        assert_eq!(s.hourly[1].new_jobs, 2);
        assert_eq!(s.hourly[1].failed_runs, 1);
        assert_eq!(s.hourly[2].runs, 0);
        assert_eq!(s.daily[1].bucket, "2026-11-30");
        assert_eq!(s.daily[1].failed_jobs, 3);
    }
}
