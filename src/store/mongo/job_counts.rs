//! How many jobs are stored and open, overall and per source, for `/api/stats`: a snapshot
//! counted from `jobs` and kept in `meta` (`jobCounts`, with the time it was counted), so that a
//! stats read costs the same at a million jobs as at ten.
//!
//! A job closes and reopens through many paths (a run's end, the expiry sweep, link checks, a
//! source's removal, a later run that lists it again), so counters kept beside each of them
//! would drift the day one path forgets; a count of the jobs themselves cannot. The price is
//! age: a read serves the snapshot and, when it finished longer than
//! `http.jobs_count_max_age_secs` ago, starts one recount in the background (one per process at a time); the response says when
//! its numbers were counted (`jobsCountedAt`). With a maximum age of 0 every read counts.
//!
//! A job that several sources carry counts once overall and once for each of its sources, as
//! `GET /api/jobs?source=` would list it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};

use super::history::QUERY_MAX_TIME;
use super::{JOBS, META, Store};
use crate::domain::time::format as ts;
use crate::store::StoreError;

/// `_id` of the snapshot in `meta`.
const SNAPSHOT: &str = "jobCounts";

/// Stored and open jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub total: u64,
    pub open: u64,
}

/// A count of every job, and when it was made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobCounts {
    pub all: Tally,
    pub by_source: BTreeMap<String, Tally>,
    /// When the count began (what it describes is the jobs as of then or later).
    pub counted_at: String,
    /// When it ended: the age that decides a recount runs from here, so a recount that takes
    /// longer than the maximum age does not start the next one at once.
    pub finished_at: String,
}

impl JobCounts {
    /// The tally of one source, or of every job.
    pub fn of(&self, source: Option<&str>) -> Tally {
        match source {
            None => self.all,
            Some(s) => self.by_source.get(s).copied().unwrap_or_default(),
        }
    }

    fn add(&mut self, d: &Document) {
        let open = d.get_str("status") == Ok("open");
        let bump = |t: &mut Tally| {
            t.total += 1;
            t.open += u64::from(open);
        };
        bump(&mut self.all);
        if let Ok(sources) = d.get_array("sources") {
            let mut seen: Vec<&str> = Vec::with_capacity(sources.len());
            for s in sources.iter().filter_map(Bson::as_str) {
                if !seen.contains(&s) {
                    seen.push(s);
                    bump(self.by_source.entry(s.to_owned()).or_default());
                }
            }
        }
    }

    fn to_doc(&self) -> Document {
        let tally = |t: &Tally| doc! {"total": t.total as i64, "open": t.open as i64};
        let mut by = Document::new();
        for (s, t) in &self.by_source {
            by.insert(s.replace('.', "\u{ff0e}"), tally(t));
        }
        doc! {
            "_id": SNAPSHOT, "countedAt": &self.counted_at, "finishedAt": &self.finished_at,
            "all": tally(&self.all), "bySource": by,
        }
    }

    fn from_doc(d: &Document) -> Self {
        let n = |d: &Document, k: &str| super::int_field(Some(d), k).max(0) as u64;
        let tally = |d: Option<&Document>| {
            d.map(|d| Tally {
                total: n(d, "total"),
                open: n(d, "open"),
            })
            .unwrap_or_default()
        };
        let mut by_source = BTreeMap::new();
        if let Ok(by) = d.get_document("bySource") {
            for (s, t) in by {
                if let Bson::Document(t) = t {
                    by_source.insert(s.replace('\u{ff0e}', "."), tally(Some(t)));
                }
            }
        }
        Self {
            all: tally(d.get_document("all").ok()),
            by_source,
            counted_at: d.get_str("countedAt").unwrap_or_default().to_owned(),
            finished_at: d.get_str("finishedAt").unwrap_or_default().to_owned(),
        }
    }
}

/// One recount at a time per process (shared by the clones of a store).
#[derive(Clone, Default)]
pub(crate) struct Recounting(Arc<AtomicBool>);

impl Store {
    /// Counts every job (one read of `jobs`, two fields each, without a time limit) and saves
    /// the snapshot.
    pub async fn recount_jobs(&self) -> Result<JobCounts, StoreError> {
        let mut counts = JobCounts {
            counted_at: ts(&Utc::now()),
            ..Default::default()
        };
        let mut cursor = self
            .coll(JOBS)
            .find(doc! {})
            .projection(doc! {"_id": 0, "sources": 1, "status": 1})
            .batch_size(10_000)
            .await?;
        while let Some(d) = cursor.try_next().await? {
            counts.add(&d);
        }
        counts.finished_at = ts(&Utc::now());
        let meta = self.coll(META);
        let save = || {
            meta.replace_one(doc! {"_id": SNAPSHOT}, counts.to_doc())
                .upsert(true)
        };
        match save().await {
            // Two first snapshots at once: the other one was inserted; replace it.
            Err(e) if super::is_duplicate_key(&e) => save().await.map(|_| ())?,
            r => r.map(|_| ())?,
        }
        Ok(counts)
    }

    /// The saved snapshot, if any.
    pub async fn saved_job_counts(&self) -> Result<Option<JobCounts>, StoreError> {
        Ok(self
            .coll(META)
            .find_one(doc! {"_id": SNAPSHOT})
            .max_time(QUERY_MAX_TIME)
            .await?
            .map(|d| JobCounts::from_doc(&d)))
    }

    /// The job counts for a stats read: the snapshot, recounted first when there is none or
    /// `max_age` is zero, and in the background when it is older than `max_age`.
    pub async fn job_counts(&self, max_age: Duration) -> Result<JobCounts, StoreError> {
        if max_age <= Duration::zero() {
            return self.recount_jobs().await;
        }
        let Some(saved) = self.saved_job_counts().await? else {
            return self.recount_jobs().await;
        };
        let at = DateTime::parse_from_rfc3339(&saved.finished_at)
            .ok()
            .map(|t| t.with_timezone(&Utc));
        if at.is_none_or(|at| Utc::now() - at > max_age) {
            self.recount_jobs_in_background();
        }
        Ok(saved)
    }

    fn recount_jobs_in_background(&self) {
        let flag = self.recounting.0.clone();
        if flag.swap(true, Ordering::AcqRel) {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            match store.recount_jobs().await {
                Ok(c) => tracing::debug!(jobs = c.all.total, "job counts recounted"),
                Err(e) => tracing::warn!(error = %e, "could not recount the jobs for the stats"),
            }
            flag.store(false, Ordering::Release);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_counts_once_overall_and_once_per_source() {
        let mut c = JobCounts::default();
        c.add(&doc! {"sources": ["a", "b", "a"], "status": "open"});
        c.add(&doc! {"sources": ["a"], "status": "closed"});
        c.add(&doc! {"status": "open"});
        assert_eq!(c.all, Tally { total: 3, open: 2 });
        assert_eq!(c.of(Some("a")), Tally { total: 2, open: 1 });
        assert_eq!(c.of(Some("b")), Tally { total: 1, open: 1 });
        assert_eq!(c.of(Some("z")), Tally::default());
    }

    #[test]
    fn the_snapshot_round_trips_with_dotted_source_ids() {
        let mut c = JobCounts {
            counted_at: "2026-12-07T20:00:00.000Z".into(),
            finished_at: "2026-12-07T20:00:01.000Z".into(),
            ..Default::default()
        };
        c.add(&doc! {"sources": ["jobs.example", "b"], "status": "open"});
        assert_eq!(JobCounts::from_doc(&c.to_doc()), c);
    }
}
