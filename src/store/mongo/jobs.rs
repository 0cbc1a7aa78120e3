//! The `jobs` collection. A batch is persisted with one read (`$in` on its ids) and at most two
//! writes (`insert_many` for new jobs, one multi-statement `update` for the rest), and jobs
//! carry the runs that created and last changed them, so a redelivered batch counts the same.

use std::collections::HashMap;

use chrono::Utc;
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::ErrorKind;
use sha2::{Digest, Sha256};

use super::{JOBS, Store};
use crate::domain::time::format as ts;
use crate::domain::{BatchResult, CodeCount, Failure, JobPosting};
use crate::store::queue::BatchEntry;
use crate::store::{StoreError, encode};

/// The stored id of a posting: its external id scoped by its publisher.
pub fn job_id(publisher: &str, external_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(publisher.as_bytes());
    h.update([0]);
    h.update(external_id.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Who is writing: the run, its source and the publisher that scopes ids.
pub struct BatchContext<'a> {
    pub run_id: &'a str,
    pub source_id: &'a str,
    pub publisher: &'a str,
}

struct Existing {
    content_hash: String,
    created_by_run: Option<String>,
    updated_by_run: Option<String>,
}

enum Plan {
    New,
    Update,
    Unchanged,
    /// Written by this run's earlier delivery of the same batch.
    AlreadyNew,
    AlreadyUpdated,
}

fn plan(existing: Option<&Existing>, hash: &str, run_id: &str) -> Plan {
    match existing {
        None => Plan::New,
        Some(e) if e.created_by_run.as_deref() == Some(run_id) => Plan::AlreadyNew,
        Some(e) if e.content_hash == hash => {
            if e.updated_by_run.as_deref() == Some(run_id) {
                Plan::AlreadyUpdated
            } else {
                Plan::Unchanged
            }
        }
        Some(_) => Plan::Update,
    }
}

impl Store {
    async fn read_existing(&self, ids: &[String]) -> Result<HashMap<String, Existing>, StoreError> {
        let cursor = self
            .coll(JOBS)
            .find(doc! {"_id": {"$in": ids}})
            .projection(doc! {"contentHash": 1, "createdByRun": 1, "updatedByRun": 1})
            .await?;
        let docs: Vec<Document> = cursor.try_collect().await?;
        Ok(docs
            .into_iter()
            .filter_map(|d| {
                let id = d.get_str("_id").ok()?.to_owned();
                let e = Existing {
                    content_hash: d.get_str("contentHash").unwrap_or_default().to_owned(),
                    created_by_run: d.get_str("createdByRun").ok().map(str::to_owned),
                    updated_by_run: d.get_str("updatedByRun").ok().map(str::to_owned),
                };
                Some((id, e))
            })
            .collect())
    }

    /// Persists one batch and says what happened to each entry.
    pub async fn persist_batch(
        &self,
        ctx: &BatchContext<'_>,
        entries: Vec<BatchEntry>,
    ) -> Result<(BatchResult, Vec<Failure>), StoreError> {
        let mut result = BatchResult {
            items: entries.len() as i64,
            ..Default::default()
        };
        let mut failures = Vec::new();
        let mut jobs: Vec<(String, String, JobPosting)> = Vec::new();
        for e in entries {
            match e {
                BatchEntry::Job(p) => {
                    let posting = *p;
                    let id = job_id(ctx.publisher, &posting.external_id);
                    let hash = posting.content_hash();
                    jobs.push((id, hash, posting));
                }
                BatchEntry::Failed(f) => {
                    result.failed_jobs += 1;
                    failures.push(f);
                }
                BatchEntry::Duplicate { .. } => result.duplicate_jobs += 1,
            }
        }
        let ids: Vec<String> = jobs.iter().map(|(id, _, _)| id.clone()).collect();
        let existing = if ids.is_empty() {
            HashMap::new()
        } else {
            self.read_existing(&ids).await?
        };

        let now = ts(&Utc::now());
        let mut inserts: Vec<(usize, Document)> = Vec::new();
        let mut updates: Vec<usize> = Vec::new();
        let mut unchanged_ids: Vec<String> = Vec::new();
        for (i, (id, hash, posting)) in jobs.iter().enumerate() {
            match plan(existing.get(id), hash, ctx.run_id) {
                Plan::New => inserts.push((i, new_job_doc(ctx, id, hash, posting, &now)?)),
                Plan::AlreadyNew => result.new_jobs += 1,
                Plan::AlreadyUpdated => result.updated_jobs += 1,
                Plan::Update => updates.push(i),
                Plan::Unchanged => {
                    result.unchanged_jobs += 1;
                    unchanged_ids.push(id.clone());
                }
            }
        }

        // A concurrent run of another source of the same publisher may insert the same job
        // between our read and our insert; the unique id turns that into a duplicate-key error
        // for that document only, and the job is then treated as one that exists.
        let lost_races = self.insert_new(&mut inserts, &mut result).await?;
        if !lost_races.is_empty() {
            let race_ids: Vec<String> = lost_races.iter().map(|&i| jobs[i].0.clone()).collect();
            let now_existing = self.read_existing(&race_ids).await?;
            for i in lost_races {
                let (id, hash, _) = &jobs[i];
                match plan(now_existing.get(id), hash, ctx.run_id) {
                    Plan::Unchanged | Plan::AlreadyUpdated => {
                        result.unchanged_jobs += 1;
                        unchanged_ids.push(id.clone());
                    }
                    _ => updates.push(i),
                }
            }
        }

        let mut statements: Vec<Bson> = Vec::new();
        for &i in &updates {
            let (id, hash, posting) = &jobs[i];
            let mut set = encode(posting)?;
            set.insert("contentHash", hash.as_str());
            set.insert("dedupeKey", posting.dedupe_key());
            set.insert("updatedByRun", ctx.run_id);
            set.insert("updatedAt", now.as_str());
            set.insert("lastSeenAt", now.as_str());
            set.insert("lastSeenRun", ctx.run_id);
            set.insert("status", "open");
            statements.push(Bson::Document(doc! {
                "q": {"_id": id.as_str()},
                "u": {"$set": set, "$addToSet": {"sources": ctx.source_id}},
            }));
        }
        if !unchanged_ids.is_empty() {
            statements.push(Bson::Document(doc! {
                "q": {"_id": {"$in": &unchanged_ids}},
                "u": {"$set": {"lastSeenAt": now.as_str(), "lastSeenRun": ctx.run_id},
                      "$addToSet": {"sources": ctx.source_id}},
                "multi": true,
            }));
        }
        if !statements.is_empty() {
            let reply = self
                .database()
                .run_command(doc! {"update": JOBS, "updates": statements, "ordered": false})
                .await?;
            if let Ok(errors) = reply.get_array("writeErrors")
                && !errors.is_empty()
            {
                return Err(StoreError::Decode(format!(
                    "update of jobs failed: {errors:?}"
                )));
            }
        }
        result.updated_jobs += updates.len() as i64;
        result.failure_counts = count_codes(&failures);
        Ok((result, failures))
    }

    /// Inserts the new jobs; returns the positions (in the batch) that lost an insert race.
    async fn insert_new(
        &self,
        inserts: &mut Vec<(usize, Document)>,
        result: &mut BatchResult,
    ) -> Result<Vec<usize>, StoreError> {
        if inserts.is_empty() {
            return Ok(Vec::new());
        }
        let positions: Vec<usize> = inserts.iter().map(|(i, _)| *i).collect();
        let docs: Vec<Document> = inserts.drain(..).map(|(_, d)| d).collect();
        let n = docs.len();
        match self.coll(JOBS).insert_many(docs).ordered(false).await {
            Ok(_) => {
                result.new_jobs += n as i64;
                Ok(Vec::new())
            }
            Err(e) => {
                let ErrorKind::InsertMany(ref failure) = *e.kind else {
                    return Err(e.into());
                };
                let Some(write_errors) = &failure.write_errors else {
                    return Err(e.into());
                };
                if write_errors.iter().any(|w| w.code != 11000) {
                    return Err(e.into());
                }
                let lost: Vec<usize> = write_errors.iter().map(|w| positions[w.index]).collect();
                result.new_jobs += (n - lost.len()) as i64;
                Ok(lost)
            }
        }
    }
}

fn new_job_doc(
    ctx: &BatchContext<'_>,
    id: &str,
    hash: &str,
    posting: &JobPosting,
    now: &str,
) -> Result<Document, StoreError> {
    let mut d = encode(posting)?;
    d.insert("_id", id);
    d.insert("publisher", ctx.publisher);
    d.insert("contentHash", hash);
    d.insert("dedupeKey", posting.dedupe_key());
    d.insert("sources", vec![ctx.source_id]);
    d.insert("createdByRun", ctx.run_id);
    d.insert("firstSeenAt", now);
    d.insert("updatedAt", now);
    d.insert("lastSeenAt", now);
    d.insert("lastSeenRun", ctx.run_id);
    d.insert("status", "open");
    Ok(d)
}

fn count_codes(failures: &[Failure]) -> Vec<CodeCount> {
    let mut by: std::collections::BTreeMap<&str, i64> = Default::default();
    for f in failures {
        *by.entry(f.code.as_str()).or_default() += 1;
    }
    by.into_iter()
        .map(|(code, count)| CodeCount {
            code: code.into(),
            count,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_scoped_by_publisher() {
        assert_eq!(job_id("jobicy.com", "1"), job_id("jobicy.com", "1"));
        assert_ne!(job_id("jobicy.com", "1"), job_id("other.com", "1"));
    }

    #[test]
    fn a_redelivered_batch_recognises_its_own_writes() {
        let mine = Existing {
            content_hash: "h".into(),
            created_by_run: Some("r2".into()),
            updated_by_run: None,
        };
        assert!(matches!(plan(Some(&mine), "h", "r2"), Plan::AlreadyNew));
        let updated = Existing {
            content_hash: "h".into(),
            created_by_run: Some("r1".into()),
            updated_by_run: Some("r2".into()),
        };
        assert!(matches!(
            plan(Some(&updated), "h", "r2"),
            Plan::AlreadyUpdated
        ));
        assert!(matches!(plan(Some(&updated), "h", "r3"), Plan::Unchanged));
        assert!(matches!(plan(Some(&updated), "other", "r3"), Plan::Update));
        assert!(matches!(plan(None, "h", "r3"), Plan::New));
    }
}
