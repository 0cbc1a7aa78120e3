//! Link checks on the `jobs` collection: which open jobs of a source are due a check (outside
//! the window its last complete run covered, young enough, not checked lately), what a check
//! found (`linkCheckedAt`, `linkCheck`), and closing a job whose link is gone (`link_gone`).

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};

use super::{JOBS, Store};
use crate::domain::ClosedReason;
use crate::domain::time::format as ts;
use crate::store::StoreError;

/// An open job whose posting URL is due a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkDue {
    pub id: String,
    pub url: String,
    pub publisher: String,
}

/// Which of a source's jobs are due (see [`Store::due_link_checks`]).
#[derive(Debug, Clone, Copy)]
pub struct DueFilter<'a> {
    pub source_id: &'a str,
    /// The oldest posting of the source's last window: older jobs left it.
    pub window_oldest: DateTime<Utc>,
    /// Jobs posted (or first seen) before this are too old to check.
    pub not_before: DateTime<Utc>,
    /// Jobs checked after this wait.
    pub checked_before: DateTime<Utc>,
    pub limit: i64,
}

/// A job's date is its posting date, else when it was first seen (as the window reads it).
fn dated_between(from: &str, to: &str) -> Document {
    doc! {"$or": [
        {"datePosted": {"$gte": from, "$lt": to}},
        {"datePosted": Bson::Null, "firstSeenAt": {"$gte": from, "$lt": to}},
    ]}
}

impl Store {
    /// Open jobs of the source outside its last window, younger than the age limit, never
    /// checked or checked before `checked_before`; those checked longest ago first.
    pub async fn due_link_checks(&self, f: &DueFilter<'_>) -> Result<Vec<LinkDue>, StoreError> {
        let filter = doc! {
            "sources": f.source_id,
            "status": "open",
            "$and": [
                dated_between(&ts(&f.not_before), &ts(&f.window_oldest)),
                {"$or": [
                    {"linkCheckedAt": Bson::Null},
                    {"linkCheckedAt": {"$lt": ts(&f.checked_before)}},
                ]},
            ],
        };
        let docs: Vec<Document> = self
            .coll(JOBS)
            .find(filter)
            .projection(doc! {"url": 1, "publisher": 1, "linkCheckedAt": 1})
            .sort(doc! {"linkCheckedAt": 1, "_id": 1})
            .limit(f.limit)
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| {
                Some(LinkDue {
                    id: d.get_str("_id").ok()?.to_owned(),
                    url: d.get_str("url").ok().filter(|u| !u.is_empty())?.to_owned(),
                    publisher: d.get_str("publisher").ok()?.to_owned(),
                })
            })
            .collect())
    }

    /// Records a check of the job's link and what it found (`"200"`, `"disallowed"`,
    /// `"fetch.timeout"`, ...).
    pub async fn record_link_check(
        &self,
        id: &str,
        found: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.coll(JOBS)
            .update_one(
                doc! {"_id": id},
                doc! {"$set": {"linkCheckedAt": ts(&at), "linkCheck": found}},
            )
            .await?;
        Ok(())
    }

    /// Closes the job (if still open) because its link answered 404 or 410; returns whether
    /// this closed it.
    pub async fn close_link_gone(
        &self,
        job: &LinkDue,
        status: u16,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let at = ts(&at);
        let r = self
            .coll(JOBS)
            .update_one(
                doc! {"_id": &job.id, "status": "open"},
                doc! {"$set": {
                    "status": "closed",
                    "closedAt": &at,
                    "closedReason": ClosedReason::LinkGone.as_str(),
                    "linkCheckedAt": &at,
                    "linkCheck": status.to_string(),
                }},
            )
            .await?;
        if r.modified_count == 0 {
            return Ok(false);
        }
        // The job index learns it closed: it leaves its sources' open sets.
        if let Some(d) = self
            .coll(JOBS)
            .find_one(doc! {"_id": &job.id})
            .projection(doc! {"sources": 1})
            .await?
        {
            self.index_closed(&[&d]).await?;
        }
        Ok(true)
    }
}
