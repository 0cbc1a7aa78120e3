//! Read-only lookups for previews and source edits: what is stored under a set of job
//! identities, and whether a source carries any job. Nothing here writes.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use serde::Serialize;

use super::jobs::job_id;
use super::{JOBS, Store};
use crate::store::StoreError;

/// Ids looked up per query.
const LOOKUP_CHUNK: usize = 1000;

/// What a run of the previewed feed would count, against what is stored now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WouldCount {
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Closed jobs the feed lists again (also counted as updated or unchanged).
    pub reopened: u64,
}

impl Store {
    /// Counts the jobs `(external id, content hash)` of `publisher` as a run would classify
    /// them: not stored (new), stored with another hash (updated), or the same (unchanged).
    pub async fn would_count(
        &self,
        publisher: &str,
        jobs: &[(String, String)],
    ) -> Result<WouldCount, StoreError> {
        let mut count = WouldCount::default();
        for chunk in jobs.chunks(LOOKUP_CHUNK) {
            let ids: Vec<String> = chunk
                .iter()
                .map(|(ext, _)| job_id(publisher, ext))
                .collect();
            let stored: HashMap<String, (String, bool)> = self
                .coll(JOBS)
                .find(doc! {"_id": {"$in": &ids}})
                .projection(doc! {"contentHash": 1, "status": 1})
                .await?
                .try_collect::<Vec<Document>>()
                .await?
                .into_iter()
                .filter_map(|d| {
                    let id = d.get_str("_id").ok()?.to_owned();
                    let hash = d.get_str("contentHash").unwrap_or_default().to_owned();
                    Some((id, (hash, d.get_str("status").ok() == Some("closed"))))
                })
                .collect();
            for (id, (_, hash)) in ids.iter().zip(chunk) {
                match stored.get(id) {
                    None => count.new += 1,
                    Some((h, closed)) => {
                        if h == hash {
                            count.unchanged += 1;
                        } else {
                            count.updated += 1;
                        }
                        if *closed {
                            count.reopened += 1;
                        }
                    }
                }
            }
        }
        Ok(count)
    }

    /// Whether any stored job lists the source.
    pub async fn source_has_jobs(&self, source_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .coll(JOBS)
            .find_one(doc! {"sources": source_id})
            .projection(doc! {"_id": 1})
            .await?
            .is_some())
    }
}
