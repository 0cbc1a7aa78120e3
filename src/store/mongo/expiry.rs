//! What ends a job besides a batch: absence judged against the window a feed covered (the
//! rules are `domain::expiry`'s; the closing itself is `jobs::close_among`), jobs closed
//! earlier while outside the window and judged again, and the window a run records on its
//! source.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};

use super::{JOBS, Store};
use crate::domain::expiry::counts_as_missed;
use crate::domain::job_change::{ChangeKind, NewChange};
use crate::domain::time::format as ts;
use crate::domain::{ClosedReason, Expiry, FeedWindow};
use crate::store::{StoreError, encode};

/// How a run's absences are read: its source's mode and the span its feed covered.
#[derive(Debug, Clone, Copy)]
pub struct Judge<'a> {
    pub expiry: Expiry,
    pub window: &'a FeedWindow,
}

impl Judge<'_> {
    /// Whether the run's not listing the job (a stored `jobs` document) is evidence that it
    /// is gone. A job with no date at all is judged as today's rule would.
    pub fn speaks_for(&self, job: &Document) -> bool {
        match job_date(job) {
            Some(date) => counts_as_missed(self.expiry, self.window, date),
            None => self.expiry != Expiry::Never,
        }
    }
}

/// A job's place in time: its posting date, else when it was first seen.
pub fn job_date(job: &Document) -> Option<DateTime<Utc>> {
    let read = |k: &str| {
        job.get_str(k)
            .ok()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    read("datePosted").or_else(|| read("firstSeenAt"))
}

/// Who closes and by which rule (see `Store::close_missing`).
#[derive(Clone, Copy)]
pub struct CloseContext<'a> {
    pub source_id: &'a str,
    pub run_id: &'a str,
    pub after: u32,
    pub judge: &'a Judge<'a>,
}

/// What one pass of closing did.
pub struct Closed {
    pub closed: i64,
    /// The open jobs it looked at that stay open.
    pub still_open: Vec<String>,
    /// The jobs it did not list whose absence said nothing (outside the window).
    pub outside: HashSet<String>,
}

/// What a run's end did to jobs it did not list: closed (by reason), reopened after being
/// judged again, and the window it judged them by.
#[derive(Debug, Default, Clone)]
pub struct Closing {
    pub by_reason: BTreeMap<&'static str, i64>,
    pub reopened: i64,
    pub window: Option<FeedWindow>,
}

impl Closing {
    pub fn add(&mut self, reason: ClosedReason, n: i64) {
        *self.by_reason.entry(reason.as_str()).or_default() += n;
    }

    pub fn closed(&self) -> i64 {
        self.by_reason.values().sum()
    }
}

impl Store {
    /// Undated postings stand in the window by when their job was first seen: the window of
    /// a run whose read had some (`window.undated`) is widened by the first-seen times of the
    /// undated jobs among `seen`.
    pub async fn widen_by_first_seen(
        &self,
        window: &mut FeedWindow,
        seen: &HashSet<String>,
    ) -> Result<(), StoreError> {
        if window.undated == 0 || seen.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = seen.iter().map(String::as_str).collect();
        for chunk in ids.chunks(10_000) {
            let mut cursor = self
                .coll(JOBS)
                .find(doc! {"_id": {"$in": chunk}, "datePosted": Bson::Null})
                .projection(doc! {"firstSeenAt": 1})
                .await?;
            while let Some(d) = cursor.try_next().await? {
                if let Some(t) = job_date(&d) {
                    window.widen(t);
                }
            }
        }
        Ok(())
    }

    /// Jobs of `source_id` that were closed for missing from its feed by a rule that did not
    /// look at the window (before windows, or while the source was `complete`) are judged
    /// again by a windowed run: those older than its window were never evidently gone and
    /// reopen (`reopenedAt`); the others stay closed, now judged under the window, so each is
    /// judged once. Returns how many this run reopened (also when its end is repeated).
    pub async fn rejudge_outside_window(
        &self,
        source_id: &str,
        run_id: &str,
        window: &FeedWindow,
    ) -> Result<i64, StoreError> {
        // Nothing closed outside a window since the last judgement: nothing to read.
        let facts = self.job_facts(source_id).await?;
        if let Some(j) = facts.window_judgement() {
            return Ok(if j.run_id == run_id { j.reopened } else { 0 });
        }
        if window.oldest.is_none() {
            return self.count_rejudged_by(run_id).await;
        }
        let up_to = facts.closed_outside_window.unwrap_or(0);
        let candidates: Vec<Document> = self
            .coll(JOBS)
            .find(doc! {
                "sources": source_id,
                "status": "closed",
                "closedByRun": {"$exists": true},
                "closedReason": {"$in": [Bson::Null, ClosedReason::MissingFromFeed.as_str()]},
                "closedUnder": {"$ne": Expiry::Window.as_str()},
                // Closed while this source read by a window: its misses were judged so.
                "windowJudgedBy": {"$ne": source_id},
            })
            .projection(doc! {"datePosted": 1, "firstSeenAt": 1, "publisher": 1, "sources": 1})
            .await?
            .try_collect()
            .await?;
        let (mut reopen, mut keep) = (Vec::new(), Vec::new());
        for d in &candidates {
            let Ok(id) = d.get_str("_id") else { continue };
            match job_date(d) {
                Some(t) if !window.covers(t) => reopen.push(d),
                _ => keep.push(id),
            }
        }
        let now = ts(&Utc::now());
        if !keep.is_empty() {
            self.coll(JOBS)
                .update_many(
                    doc! {"_id": {"$in": &keep}, "status": "closed"},
                    doc! {"$set": {
                        "closedReason": ClosedReason::MissingFromFeed.as_str(),
                        "closedUnder": Expiry::Window.as_str(),
                    }},
                )
                .await?;
        }
        if !reopen.is_empty() {
            let ids: Vec<&str> = reopen
                .iter()
                .filter_map(|d| d.get_str("_id").ok())
                .collect();
            self.coll(JOBS)
                .update_many(
                    doc! {"_id": {"$in": &ids}, "status": "closed"},
                    doc! {
                        "$set": {
                            "status": "open", "reopenedAt": &now, "rejudgedByRun": run_id,
                            "closedAt": Bson::Null, "closedReason": Bson::Null,
                            "closedUnder": Bson::Null, "missed": {},
                        },
                        "$unset": {"closedByRun": "", "missCountedRun": "", "windowJudgedBy": ""},
                    },
                )
                .await?;
            self.index_reopened(&reopen).await?;
        }
        let reopened = self.count_rejudged_by(run_id).await?;
        self.note_window_judged(source_id, up_to, run_id, reopened)
            .await?;
        Ok(reopened)
    }

    async fn count_rejudged_by(&self, run_id: &str) -> Result<i64, StoreError> {
        Ok(self
            .coll(JOBS)
            .count_documents(doc! {"rejudgedByRun": run_id, "status": "open"})
            .await? as i64)
    }

    /// The job index learns that these jobs (documents with `_id`, `publisher`, `sources`)
    /// are open again: back in their sources' open sets.
    pub(crate) async fn index_reopened(&self, docs: &[&Document]) -> Result<(), StoreError> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        for d in docs {
            let Ok(id) = d.get_str("_id") else {
                continue;
            };
            let mut entries: Vec<_> = index.get(&[id]).await?.into_iter().collect();
            for (_, e) in &mut entries {
                e.closed = false;
            }
            index.put(&entries).await?;
            let sources: Vec<&str> = d
                .get_array("sources")
                .map(|a| a.iter().filter_map(Bson::as_str).collect())
                .unwrap_or_default();
            for s in sources {
                index.add_to_source(s, &[id]).await?;
            }
        }
        Ok(())
    }

    /// Closes the open jobs whose `validThrough` is before `now` (reason `expired`): those of
    /// `source_id` at the end of its run `run_id` (which they are counted on), or every
    /// source's in a periodic sweep. Returns how many are closed by that run (also when its
    /// end is repeated), or by this sweep.
    pub async fn close_expired(
        &self,
        source_id: Option<&str>,
        run_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        // At a run's end, only a source with dated jobs has any to close.
        if let (Some(s), Some(_)) = (source_id, run_id)
            && !self.has_dated_jobs(s).await?
        {
            return Ok(0);
        }
        let now = ts(&now);
        let mut filter = doc! {"status": "open", "validThrough": {"$lt": &now}};
        if let Some(s) = source_id {
            filter.insert("sources", s);
        }
        let due: Vec<Document> = self
            .coll(JOBS)
            .find(filter)
            .projection(doc! {"publisher": 1})
            .await?
            .try_collect()
            .await?;
        let mut closed = 0;
        if !due.is_empty() {
            let ids: Vec<&str> = due.iter().filter_map(|d| d.get_str("_id").ok()).collect();
            let mut set = doc! {
                "status": "closed",
                "closedAt": &now,
                "closedReason": ClosedReason::Expired.as_str(),
            };
            if let Some(r) = run_id {
                set.insert("closedByRun", r);
            }
            closed = self
                .coll(JOBS)
                .update_many(
                    doc! {"_id": {"$in": &ids}, "status": "open"},
                    doc! {"$set": set},
                )
                .await?
                .modified_count as i64;
            let docs: Vec<&Document> = due.iter().collect();
            self.index_closed(&docs).await?;
        }
        if run_id.is_none() {
            self.record_sweep_closings(&now).await?;
        }
        match run_id {
            Some(r) => Ok(self
                .coll(JOBS)
                .count_documents(
                    doc! {"closedByRun": r, "closedReason": ClosedReason::Expired.as_str()},
                )
                .await? as i64),
            None => Ok(closed),
        }
    }

    /// Records in the changes feed the jobs the expiry sweep closed in the last day (its own
    /// closings, and any an earlier sweep closed but could not record before it stopped); a
    /// closing is known by its time, so it is recorded once.
    async fn record_sweep_closings(&self, now: &str) -> Result<(), StoreError> {
        let since = chrono::DateTime::parse_from_rfc3339(now)
            .map(|t| ts(&(t.to_utc() - chrono::Duration::days(1))))
            .unwrap_or_default();
        let mut closed = self
            .coll(JOBS)
            .find(doc! {
                "status": "closed",
                "closedReason": ClosedReason::Expired.as_str(),
                "closedByRun": {"$exists": false},
                "closedAt": {"$gte": since},
            })
            .projection(doc! {"closedAt": 1})
            .await?;
        let mut changes = Vec::new();
        while let Some(d) = closed.try_next().await? {
            let (Ok(id), Ok(at)) = (d.get_str("_id"), d.get_str("closedAt")) else {
                continue;
            };
            changes.push(NewChange {
                job_id: id.to_owned(),
                kind: ChangeKind::Closed,
                by: format!("sweep@{at}"),
                source_id: None,
                run_id: None,
                reason: Some(ClosedReason::Expired.as_str().to_owned()),
            });
        }
        self.record_changes(&changes).await
    }

    /// Records the window of a source's last complete run.
    pub async fn save_window(
        &self,
        source_id: &str,
        window: &FeedWindow,
    ) -> Result<(), StoreError> {
        self.set_source_state(source_id, doc! {"lastWindow": encode(window)?})
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_job_stands_in_time_by_its_posting_date_else_when_first_seen() {
        let dated = doc! {"datePosted": "2026-11-02T00:00:00.000Z", "firstSeenAt": "2026-11-30T00:00:00.000Z"};
        assert_eq!(job_date(&dated), Some(at("2026-11-02T00:00:00Z")));
        let undated = doc! {"datePosted": Bson::Null, "firstSeenAt": "2026-11-30T00:00:00.000Z"};
        assert_eq!(job_date(&undated), Some(at("2026-11-30T00:00:00Z")));
        assert_eq!(job_date(&doc! {}), None);
    }

    #[test]
    fn the_judge_reads_absence_by_mode_and_window() {
        let mut window = FeedWindow::default();
        window.observe(Some(at("2026-11-10T00:00:00Z")));
        let old = doc! {"datePosted": "2026-11-01T00:00:00.000Z"};
        let inside = doc! {"datePosted": "2026-11-12T00:00:00.000Z"};
        let judge = |expiry| Judge {
            expiry,
            window: &window,
        };
        assert!(!judge(Expiry::Window).speaks_for(&old));
        assert!(judge(Expiry::Window).speaks_for(&inside));
        assert!(judge(Expiry::Complete).speaks_for(&old));
        assert!(!judge(Expiry::Never).speaks_for(&inside));
        // Without any date, the run's absence counts as it always did.
        assert!(judge(Expiry::Window).speaks_for(&doc! {}));
    }

    #[test]
    fn closings_sum_over_reasons() {
        let mut c = Closing::default();
        c.add(ClosedReason::MissingFromFeed, 2);
        c.add(ClosedReason::Expired, 3);
        c.add(ClosedReason::Expired, 1);
        assert_eq!(c.closed(), 6);
        assert_eq!(c.by_reason.get("expired"), Some(&4));
    }
}
