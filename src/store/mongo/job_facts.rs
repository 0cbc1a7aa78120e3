//! What a run's end needs to know about the jobs its source carries, kept in `source_facts`
//! (`jobFacts`), so that an end reads the jobs only when something can be found:
//!
//! - `dated`: some job of the source states an expiry date (`validThrough`). Set by the worker
//!   that writes such a job, before it writes it; never cleared. Without it a run's end closes
//!   nothing by date (the periodic expiry sweep still closes every job whose date passed,
//!   including a job another source wrote a date on).
//! - `closedOutsideWindow`: counts closings for absence made by a rule that did not look at
//!   the window (a source in `complete` mode), on every source of the jobs closed: once before
//!   they are closed and once after, so a judgement that read the count while a closing was
//!   under way (or stopped half-way) never covers it. `windowJudged` says up to which count a
//!   windowed run judged them again (`expiry::rejudge_outside_window`), by which run, and how
//!   many that run reopened (so a repeated end reports the same number).
//!
//! A missing fact (a source written before facts were kept) is unknown: the reader looks at
//! the jobs once and records what it found.
//!
//! A closing of jobs that other sources carry too (`close_among`) leaves on each of those
//! sources a mark `{source}|closedBy|{run}` with its time (`at`), before it closes them. The
//! end of a complete run of such a source looks for the marks left since shortly before it
//! started and, when it finds one, reopens the jobs its feed listed that were closed for
//! missing from another source's feed while it read (`Store::reopen_listed`): a closing
//! that raced a batch of this run (read before the batch wrote, or written after the batch
//! read the job as open) never outlives a complete run that listed the job.
//!
//! The facts are kept in `source_facts` (one document per source, `_id` the source's id), apart
//! from the source's definition and from its run's state (`source_state`). They have several
//! writers at once (batches of the source's run, ends of other sources' runs), and FerretDB
//! 1.24 can lose one of two concurrent updates of one document (README, "FerretDB"). So no fact here may
//! be one whose loss hides jobs: a lost `dated` only leaves expired jobs to the periodic sweep,
//! and a lost count of closings outside a window leaves those jobs closed until the next
//! closing of the source under another rule. The fact "no job carries this source yet", whose
//! loss would hide jobs (it lets a new source's set in the job index start complete, so its
//! first run's end reads no jobs), is kept apart, in marks that are only ever inserted and
//! deleted, never updated (`source_marks`: `{source}|new` once the source is created,
//! `{source}|stored` before a batch writes its first job): no concurrent update can lose one.

use mongodb::bson::{Document, doc};

use super::{JOBS, Store, is_duplicate_key};

/// Marks a source's jobs leave (see above): `_id` is `{source}|new` or `{source}|stored`.
pub const SOURCE_MARKS: &str = "source_marks";

fn mark(source_id: &str, what: &str) -> String {
    format!("{source_id}|{what}")
}
use crate::store::StoreError;

/// A source's `jobFacts`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct JobFacts {
    pub dated: Option<bool>,
    pub closed_outside_window: Option<i64>,
    pub window_judged: Option<WindowJudged>,
}

/// The last judgement of a source's jobs closed outside a window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowJudged {
    /// The `closedOutsideWindow` count it covered.
    pub up_to: i64,
    pub run_id: String,
    pub reopened: i64,
}

impl JobFacts {
    fn read(d: &Document) -> Self {
        let Ok(f) = d.get_document("jobFacts") else {
            return Self::default();
        };
        Self {
            dated: f.get_bool("dated").ok(),
            closed_outside_window: f.get_i64("closedOutsideWindow").ok(),
            window_judged: f.get_document("windowJudged").ok().and_then(|w| {
                Some(WindowJudged {
                    up_to: w.get_i64("upTo").ok()?,
                    run_id: w.get_str("runId").ok()?.to_owned(),
                    reopened: w.get_i64("reopened").ok()?,
                })
            }),
        }
    }

    /// Whether every closing outside a window has been judged again; `None` when unknown.
    pub fn window_judgement(&self) -> Option<&WindowJudged> {
        let closed = self.closed_outside_window?;
        self.window_judged.as_ref().filter(|j| j.up_to >= closed)
    }
}

/// The facts of a source created now: no job carries it yet.
pub fn new_source_facts() -> Document {
    doc! {
        "dated": false,
        "closedOutsideWindow": 0_i64,
        "windowJudged": {"upTo": 0_i64, "runId": "", "reopened": 0_i64},
    }
}

impl Store {
    /// The facts kept on a source (all unknown when it has none, or no longer exists).
    pub async fn job_facts(&self, source_id: &str) -> Result<JobFacts, StoreError> {
        let d = self
            .source_facts()
            .find_one(doc! {"_id": source_id})
            .projection(doc! {"jobFacts": 1})
            .await?;
        Ok(d.as_ref().map(JobFacts::read).unwrap_or_default())
    }

    /// Notes that a batch of the source is about to write a job with an expiry date. Writes
    /// nothing once noted.
    pub async fn note_dated_jobs(&self, source_id: &str) -> Result<(), StoreError> {
        self.source_facts()
            .update_one(
                doc! {"_id": source_id, "jobFacts.dated": {"$ne": true}},
                doc! {"$set": {"jobFacts.dated": true}},
            )
            .await?;
        Ok(())
    }

    async fn insert_mark(&self, source_id: &str, what: &str) -> Result<(), StoreError> {
        match self
            .coll(SOURCE_MARKS)
            .insert_one(doc! {"_id": mark(source_id, what)})
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Marks a source created now (after its document was inserted): no job carries it.
    pub async fn mark_new_source(&self, source_id: &str) -> Result<(), StoreError> {
        self.insert_mark(source_id, "new").await
    }

    /// Marks that a batch of the source is about to write jobs (before it writes them).
    pub async fn mark_stored(&self, source_id: &str) -> Result<(), StoreError> {
        self.insert_mark(source_id, "stored").await
    }

    /// Whether it is known that no job carries the source: it was marked new, and no batch
    /// marked it since. False when unknown (a source created by an earlier version).
    pub async fn carries_no_jobs(&self, source_id: &str) -> Result<bool, StoreError> {
        let ids = [mark(source_id, "new"), mark(source_id, "stored")];
        let found = self
            .ids_where(SOURCE_MARKS, doc! {"_id": {"$in": &ids[..]}})
            .await?;
        Ok(found.contains(&ids[0]) && !found.contains(&ids[1]))
    }

    /// Marks `sources` as carrying jobs that `run_id` (of another source) is about to close.
    pub async fn mark_shared_closing(
        &self,
        sources: &[&str],
        run_id: &str,
    ) -> Result<(), StoreError> {
        let at = crate::domain::time::format(&chrono::Utc::now());
        for s in sources {
            let id = mark(s, &format!("closedBy|{run_id}"));
            match self
                .coll(SOURCE_MARKS)
                .insert_one(doc! {"_id": id, "source": *s, "at": &at})
                .await
            {
                Ok(_) => {}
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Whether another source's run marked jobs of `source_id` for closing at or after
    /// `since`; marks older than a day are dropped.
    pub async fn shared_closing_since(
        &self,
        source_id: &str,
        since: &str,
    ) -> Result<bool, StoreError> {
        let day_ago =
            crate::domain::time::format(&(chrono::Utc::now() - chrono::Duration::days(1)));
        self.coll(SOURCE_MARKS)
            .delete_many(doc! {"source": source_id, "at": {"$lt": day_ago}})
            .await?;
        Ok(self
            .coll(SOURCE_MARKS)
            .find_one(doc! {"source": source_id, "at": {"$gte": since}})
            .projection(doc! {"_id": 1})
            .await?
            .is_some())
    }

    /// Forgets a removed source's marks (once its jobs are detached from it).
    pub async fn drop_source_marks(&self, source_id: &str) -> Result<(), StoreError> {
        let ids = [mark(source_id, "new"), mark(source_id, "stored")];
        self.coll(SOURCE_MARKS)
            .delete_many(doc! {"_id": {"$in": &ids[..]}})
            .await?;
        self.coll(SOURCE_MARKS)
            .delete_many(doc! {"source": source_id})
            .await?;
        Ok(())
    }

    /// Whether some job of the source states an expiry date, by the fact or (unknown) by
    /// looking; a source found to have none is noted so, unless a writer noted one meanwhile.
    pub async fn has_dated_jobs(&self, source_id: &str) -> Result<bool, StoreError> {
        if let Some(dated) = self.job_facts(source_id).await?.dated {
            return Ok(dated);
        }
        let found = self
            .coll(JOBS)
            .find_one(doc! {"sources": source_id, "validThrough": {"$exists": true}})
            .projection(doc! {"_id": 1})
            .await?
            .is_some();
        self.source_facts()
            .update_one(
                doc! {"_id": source_id, "jobFacts.dated": {"$exists": false}},
                doc! {"$set": {"jobFacts.dated": found}},
            )
            .await?;
        Ok(found)
    }

    /// Counts a closing for absence by a rule that did not look at the window on every source
    /// of the jobs it closes; called before and after the closing.
    pub async fn note_closed_outside_window(&self, sources: &[&str]) -> Result<(), StoreError> {
        if sources.is_empty() {
            return Ok(());
        }
        self.source_facts()
            .update_many(
                doc! {"_id": {"$in": sources}},
                doc! {"$inc": {"jobFacts.closedOutsideWindow": 1_i64}},
            )
            .await?;
        Ok(())
    }

    /// Records that `run_id` judged the source's closings outside a window up to the count
    /// `up_to` it read before it looked, reopening `reopened` jobs. A later judgement is
    /// never replaced by an earlier one.
    pub async fn note_window_judged(
        &self,
        source_id: &str,
        up_to: i64,
        run_id: &str,
        reopened: i64,
    ) -> Result<(), StoreError> {
        self.source_facts()
            .update_one(
                doc! {"_id": source_id, "$or": [
                    {"jobFacts.windowJudged.upTo": {"$exists": false}},
                    {"jobFacts.windowJudged.upTo": {"$lte": up_to}},
                ]},
                doc! {
                    "$set": {"jobFacts.windowJudged": {
                        "upTo": up_to, "runId": run_id, "reopened": reopened,
                    }},
                    "$max": {"jobFacts.closedOutsideWindow": 0_i64},
                },
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_of_a_source_without_any_are_unknown() {
        let f = JobFacts::read(&doc! {"_id": "s"});
        assert_eq!(f, JobFacts::default());
        assert!(f.window_judgement().is_none());
    }

    #[test]
    fn a_judgement_covers_the_closings_counted_before_it() {
        let d = doc! {"jobFacts": {
            "dated": false,
            "closedOutsideWindow": 3_i64,
            "windowJudged": {"upTo": 3_i64, "runId": "r1", "reopened": 2_i64},
        }};
        let f = JobFacts::read(&d);
        assert_eq!(f.dated, Some(false));
        assert_eq!(f.window_judgement().map(|j| j.reopened), Some(2));
        let later = doc! {"jobFacts": {
            "closedOutsideWindow": 4_i64,
            "windowJudged": {"upTo": 3_i64, "runId": "r1", "reopened": 2_i64},
        }};
        assert!(JobFacts::read(&later).window_judgement().is_none());
        let uncounted = doc! {"jobFacts": {
            "windowJudged": {"upTo": 0_i64, "runId": "r1", "reopened": 0_i64},
        }};
        assert!(JobFacts::read(&uncounted).window_judgement().is_none());
    }

    #[test]
    fn a_new_source_knows_it_has_no_jobs_and_nothing_to_judge() {
        let f = JobFacts::read(&doc! {"jobFacts": new_source_facts()});
        assert_eq!(f.dated, Some(false));
        assert_eq!(f.window_judgement().map(|j| j.reopened), Some(0));
    }
}
