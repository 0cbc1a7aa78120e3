//! Binds the job index in Redis to the database it describes. The database keeps a random
//! *epoch* (`meta` document `jobIndex`); the index's keys carry it. A fresh database (or
//! another `mongodb.database`) has an epoch of its own and so starts with an empty index,
//! whatever Redis holds. The epoch also names the `jobs` collection it describes, by the UUID
//! the server gives each collection (`jobsUuid`): a collection dropped, recreated or restored
//! from a backup has another. At the start of each feed read (`check_index`) that UUID is
//! compared, and a sample of the source's indexed jobs is looked up in MongoDB: a collection
//! emptied or changed behind the daemon's back differs. Either difference starts a new epoch,
//! which drops the whole index. `job-importer index rebuild` does the same on demand and
//! refills the index from MongoDB.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use mongodb::bson::{Binary, Bson, Document, doc};
use mongodb::options::ReturnDocument;

use super::{JOBS, META, Store};
use crate::store::StoreError;
use crate::store::job_index::{Entry, JobIndex, tag};

const EPOCH_DOC: &str = "jobIndex";

/// Jobs compared with MongoDB at the start of each read: a source's open jobs, looked up by
/// id, or where each lookup reads the whole collection (`Compat::id_lookups_scan`), the first
/// jobs stored.
const SAMPLE: usize = 16;
/// How long a difference is given to go away before the index is dropped.
const RECHECK_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether a stored job has the content its index entry says.
fn same_content(e: &Entry, d: &Document) -> bool {
    d.get_str("contentHash").ok().map(tag) == Some(e.content_hash)
}

fn is_open(d: &Document) -> bool {
    d.get_str("status").ok() != Some("closed")
}

impl Store {
    /// The database's job index epoch, created on first use (by whichever daemon inserts it
    /// first; the others read it).
    pub async fn index_epoch(&self) -> Result<String, StoreError> {
        Ok(self.index_epoch_doc().await?.0)
    }

    /// The epoch and the `jobs` collection it was bound to (`None` until bound).
    async fn index_epoch_doc(&self) -> Result<(String, Option<Binary>), StoreError> {
        let meta = self.coll(META);
        for _ in 0..3 {
            if let Some(d) = meta
                .find_one(doc! {"_id": EPOCH_DOC})
                .max_time(super::STEP_READ_MAX_TIME)
                .await?
            {
                return Ok((epoch_of(&d)?, bound_jobs(&d)));
            }
            let fresh = uuid::Uuid::new_v4().simple().to_string();
            let jobs = self.jobs_collection_uuid().await?;
            let mut d = doc! {"_id": EPOCH_DOC, "epoch": &fresh};
            if let Some(u) = &jobs {
                d.insert("jobsUuid", u.clone());
            }
            match meta.insert_one(d).await {
                Ok(_) => return Ok((fresh, jobs)),
                Err(e) if super::is_duplicate_key(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict(
            "the job index epoch could not be read".into(),
        ))
    }

    /// Starts a new epoch unless another daemon already replaced `old`; returns the current
    /// one. The old epoch's keys are deleted in the background.
    pub async fn renew_index_epoch(&self, old: &str) -> Result<String, StoreError> {
        let fresh = uuid::Uuid::new_v4().simple().to_string();
        let replaced = self
            .coll(META)
            .find_one_and_update(
                doc! {"_id": EPOCH_DOC, "epoch": old},
                self.epoch_update(&fresh).await?,
            )
            .return_document(ReturnDocument::After)
            .await?;
        if replaced.is_some()
            && let Some(redis) = self.index_redis()
        {
            let redis = redis.clone();
            let pattern = JobIndex::pattern(redis.keys.prefix(), old);
            tokio::spawn(async move {
                if let Err(e) = redis.delete_matching(&pattern).await {
                    tracing::warn!(error = %e, "could not delete an old job index; its keys stay in Redis");
                }
            });
            tracing::warn!(old, new = %fresh, "the job index no longer matched MongoDB; a new one is built as runs go");
        }
        self.index_epoch().await
    }

    /// The epoch a read of `source_id` should classify against: the current one, after a
    /// sample of the source's indexed open jobs was found in MongoDB as the index says (same
    /// content hash, still open). A difference starts a new epoch. `None` without Redis.
    pub async fn check_index(&self, source_id: &str) -> Result<Option<String>, StoreError> {
        let Some(redis) = self.index_redis() else {
            return Ok(None);
        };
        let (epoch, bound) = self.index_epoch_doc().await?;
        let jobs = self.jobs_collection_uuid().await?;
        match (&bound, &jobs) {
            (Some(b), current) if current.as_ref() != Some(b) => {
                tracing::warn!(source = %source_id, "the jobs collection was dropped, replaced or restored");
                return Ok(Some(self.renew_index_epoch(&epoch).await?));
            }
            (None, Some(current)) => {
                // An epoch of an earlier version, or made before the collection: bound now.
                self.coll(META)
                    .update_one(
                        doc! {"_id": EPOCH_DOC, "epoch": &epoch, "jobsUuid": {"$exists": false}},
                        doc! {"$set": {"jobsUuid": current.clone()}},
                    )
                    .await?;
            }
            _ => {}
        }
        let index = JobIndex::new(redis.clone(), &epoch);
        let ids = index.sample_source(source_id, SAMPLE).await?;
        if ids.is_empty() {
            self.start_new_source_set(&index, source_id).await?;
            return Ok(Some(epoch));
        }
        // A job being written at this moment can differ from its entry for an instant (MongoDB
        // is written first): a difference is looked at again before the index is dropped.
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(RECHECK_AFTER).await;
            }
            let agrees = if self.compat().id_lookups_scan() {
                self.first_jobs_agree(&index).await?
            } else {
                self.sampled_jobs_agree(&index, &ids).await?
            };
            if agrees {
                return Ok(Some(epoch));
            }
        }
        tracing::warn!(source = %source_id, "indexed jobs differ from MongoDB (emptied, replaced or restored)");
        Ok(Some(self.renew_index_epoch(&epoch).await?))
    }

    /// Whether the jobs `ids` (a sample of a source's open jobs in the index) are stored,
    /// open, with the content the index says.
    async fn sampled_jobs_agree(
        &self,
        index: &JobIndex,
        ids: &[String],
    ) -> Result<bool, StoreError> {
        let indexed = index.get(ids).await?;
        let found: Vec<Document> = self
            .coll(JOBS)
            .find(doc! {"_id": {"$in": ids}})
            .projection(doc! {"contentHash": 1, "status": 1})
            .max_time(super::STEP_READ_MAX_TIME)
            .await?
            .try_collect()
            .await?;
        let stored: HashMap<String, Document> = found
            .into_iter()
            .filter_map(|d| Some((d.get_str("_id").ok()?.to_owned(), d)))
            .collect();
        Ok(ids.iter().all(|id| {
            let Some(d) = stored.get(id) else {
                return false;
            };
            // A job the source set lists without an entry is judged by MongoDB alone.
            is_open(d) && indexed.get(id).is_none_or(|e| same_content(e, d))
        }))
    }

    /// Where a lookup by id reads the whole collection (`Compat::id_lookups_scan`): the first
    /// jobs MongoDB stores, read without a filter (which such a server answers without reading
    /// the rest), must agree with their entries in the index: the same content, and open where
    /// the index says open. None at all, while the index lists open jobs, is an emptied
    /// collection.
    async fn first_jobs_agree(&self, index: &JobIndex) -> Result<bool, StoreError> {
        let first: Vec<Document> = self
            .coll(JOBS)
            .find(doc! {})
            .projection(doc! {"contentHash": 1, "status": 1})
            .limit(SAMPLE as i64)
            .max_time(super::STEP_READ_MAX_TIME)
            .await?
            .try_collect()
            .await?;
        if first.is_empty() {
            return Ok(false);
        }
        let ids: Vec<String> = first
            .iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
            .collect();
        let indexed = index.get(&ids).await?;
        Ok(first.iter().all(|d| {
            let Some(e) = d.get_str("_id").ok().and_then(|id| indexed.get(id)) else {
                // A job the index has not met yet says nothing.
                return true;
            };
            same_content(e, d) && (e.closed || is_open(d))
        }))
    }

    /// A source that no job carries yet (`job_facts`, `Store::carries_no_jobs`) starts its set
    /// of open jobs empty and complete, so its first run's end reads no jobs. Checked again
    /// after: if a batch marked the source meanwhile, the set is dropped (it is filled from
    /// MongoDB at the end of the run, as for any source the index does not know).
    async fn start_new_source_set(
        &self,
        index: &JobIndex,
        source_id: &str,
    ) -> Result<(), StoreError> {
        if index.knows_source(source_id).await? || !self.carries_no_jobs(source_id).await? {
            return Ok(());
        }
        index.fill_source(source_id, &[]).await?;
        if !self.carries_no_jobs(source_id).await? {
            index.drop_source(source_id).await?;
        }
        Ok(())
    }

    /// Deletes the keys an earlier version's index layout left under the current epoch (they
    /// are never read again). Returns how many it deleted.
    pub async fn drop_old_index_layout(&self) -> Result<u64, StoreError> {
        let Some(redis) = self.index_redis() else {
            return Ok(0);
        };
        let epoch = self.index_epoch().await?;
        crate::store::job_index::drop_old_layout(redis, &epoch).await
    }

    /// Builds a new index from MongoDB and makes it current (`job-importer index rebuild`).
    /// Returns how many jobs it indexed.
    pub async fn rebuild_index(&self) -> Result<u64, StoreError> {
        let Some(redis) = self.index_redis() else {
            return Err(StoreError::Queue("the job index needs Redis".into()));
        };
        let old = self.index_epoch().await?;
        // A new epoch nobody writes to yet: built first, then made current.
        let fresh = uuid::Uuid::new_v4().simple().to_string();
        let index = JobIndex::new(redis.clone(), &fresh);
        let mut cursor = self
            .coll(JOBS)
            .find(doc! {})
            .projection(doc! {
                "publisher": 1, "contentHash": 1, "createdByRun": 1, "updatedByRun": 1,
                "reopenedByRun": 1, "status": 1, "sources": 1, "dedupeKey": 1,
            })
            .batch_size(2_000)
            .await?;
        type Pending = (Vec<(String, Entry)>, Vec<(String, String)>);
        let mut by_publisher: HashMap<String, Pending> = HashMap::new();
        let mut by_source: HashMap<String, Vec<String>> = HashMap::new();
        let mut count = 0_u64;
        while let Some(d) = cursor.try_next().await? {
            let (Ok(id), Ok(publisher)) = (d.get_str("_id"), d.get_str("publisher")) else {
                continue;
            };
            let entry = super::jobs::entry_from_doc(&d);
            if !entry.closed
                && let Ok(sources) = d.get_array("sources")
            {
                for s in sources.iter().filter_map(Bson::as_str) {
                    by_source
                        .entry(s.to_owned())
                        .or_default()
                        .push(id.to_owned());
                }
            }
            let (batch, keys) = by_publisher.entry(publisher.to_owned()).or_default();
            if let Ok(key) = d.get_str("dedupeKey") {
                keys.push((key.to_owned(), id.to_owned()));
            }
            batch.push((id.to_owned(), entry));
            if batch.len() >= 1_000 {
                index.put(batch).await?;
                index.put_twins(publisher, keys).await?;
                batch.clear();
                keys.clear();
            }
            count += 1;
        }
        for (publisher, (batch, keys)) in &by_publisher {
            index.put(batch).await?;
            index.put_twins(publisher, keys).await?;
        }
        // Every source of the database, also those with no open job.
        let sources: Vec<Document> = self
            .coll(super::SOURCES)
            .find(doc! {})
            .projection(doc! {"_id": 1})
            .await?
            .try_collect()
            .await?;
        for s in sources {
            if let Ok(id) = s.get_str("_id") {
                by_source.entry(id.to_owned()).or_default();
            }
        }
        for (source, ids) in &by_source {
            index.fill_source(source, ids).await?;
        }
        self.coll(META)
            .update_one(doc! {"_id": EPOCH_DOC}, self.epoch_update(&fresh).await?)
            .upsert(true)
            .await?;
        let pattern = JobIndex::pattern(redis.keys.prefix(), &old);
        redis.delete_matching(&pattern).await?;
        Ok(count)
    }
}

impl Store {
    /// The UUID the server gave the `jobs` collection; `None` while there is none.
    async fn jobs_collection_uuid(&self) -> Result<Option<Binary>, StoreError> {
        let mut specs = self
            .database()
            .list_collections()
            .filter(doc! {"name": JOBS})
            .await?;
        Ok(specs.try_next().await?.and_then(|s| s.info.uuid))
    }

    /// Makes `fresh` the epoch, bound to the `jobs` collection as it is now.
    async fn epoch_update(&self, fresh: &str) -> Result<Document, StoreError> {
        Ok(match self.jobs_collection_uuid().await? {
            Some(u) => doc! {"$set": {"epoch": fresh, "jobsUuid": u}},
            None => doc! {"$set": {"epoch": fresh}, "$unset": {"jobsUuid": ""}},
        })
    }
}

fn bound_jobs(d: &Document) -> Option<Binary> {
    match d.get("jobsUuid") {
        Some(Bson::Binary(b)) => Some(b.clone()),
        _ => None,
    }
}

fn epoch_of(d: &Document) -> Result<String, StoreError> {
    match d.get("epoch") {
        Some(Bson::String(e)) => Ok(e.clone()),
        _ => Err(StoreError::Decode(
            "the job index epoch is not a string".into(),
        )),
    }
}
