//! The `sources` collection: what to import, seeded from `config.toml` and editable through the
//! API. Each source is read with its state (health, validators, window, next run), which is
//! kept apart from it by `source_state`.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};

use super::history::QUERY_MAX_TIME;
use super::source_state::definition;
use super::{SOURCES, Store, is_duplicate_key};
use crate::domain::job_change::{ChangeKind, NewChange};
use crate::domain::source::{Source, SourceHealth};
use crate::domain::time::format as ts;
use crate::domain::{ImportRun, RunStatus};
use crate::store::{StoreError, encode};

impl Store {
    /// Writes a source from the config file: the fields the file names win; its state (see
    /// `source_state`) is kept.
    pub async fn upsert_source(&self, s: &Source) -> Result<(), StoreError> {
        let mut set = definition(s)?;
        set.remove("_id");
        let r = self
            .coll(SOURCES)
            .update_one(doc! {"_id": &s.id}, doc! {"$set": set})
            .upsert(true)
            .await?;
        if r.upserted_id.is_some() {
            self.create_source_state(&s.id).await?;
            self.mark_new_source(&s.id).await?;
        }
        Ok(())
    }

    pub async fn insert_source(&self, s: &Source) -> Result<(), StoreError> {
        match self.coll(SOURCES).insert_one(definition(s)?).await {
            Ok(_) => {
                self.create_source_state(&s.id).await?;
                self.mark_new_source(&s.id).await
            }
            Err(e) if is_duplicate_key(&e) => Err(StoreError::Conflict(format!(
                "a source with id `{}` exists",
                s.id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_sources(&self) -> Result<Vec<Source>, StoreError> {
        let docs: Vec<Document> = self
            .coll(SOURCES)
            .find(doc! {})
            .sort(doc! {"name": 1})
            .max_time(QUERY_MAX_TIME)
            .await?
            .try_collect()
            .await?;
        self.all_with_state(docs).await
    }

    pub async fn get_source(&self, id: &str) -> Result<Option<Source>, StoreError> {
        let d = self
            .coll(SOURCES)
            .find_one(doc! {"_id": id})
            .max_time(QUERY_MAX_TIME)
            .await?;
        self.with_state(d).await
    }

    pub async fn find_source_by_url(&self, url: &str) -> Result<Option<Source>, StoreError> {
        let d = self
            .coll(SOURCES)
            .find_one(doc! {"url": url})
            .max_time(QUERY_MAX_TIME)
            .await?;
        self.with_state(d).await
    }

    /// Replaces the editable fields of a source; `None` when it does not exist. A new URL,
    /// format, mapping or publisher drops the validators (`source_state`).
    pub async fn update_source(&self, s: &Source) -> Result<Option<Source>, StoreError> {
        let mut set = definition(s)?;
        set.remove("_id");
        let d = self
            .coll(SOURCES)
            .find_one_and_update(doc! {"_id": &s.id}, doc! {"$set": set})
            .return_document(mongodb::options::ReturnDocument::After)
            .await?;
        self.with_state(d).await
    }

    /// Deletes a source and detaches it from its jobs (`jobs.sources`, its missed counts, the
    /// job index). With `close_jobs`, the open jobs that only this source carried are closed
    /// (reason `source_removed`); otherwise they stay open, carried by no source. Returns
    /// false when there was no such source.
    pub async fn remove_source(&self, id: &str, close_jobs: bool) -> Result<bool, StoreError> {
        if !self.delete_source(id).await? {
            return Ok(false);
        }
        self.drop_source_state(id).await?;
        let jobs = self.coll(super::JOBS);
        let mut closed = Vec::new();
        if close_jobs {
            let now = ts(&Utc::now());
            jobs.update_many(
                doc! {"$and": [{"sources": id}, {"sources": {"$size": 1}}], "status": "open"},
                doc! {"$set": {"status": "closed", "closedAt": &now, "closedReason": "source_removed"}},
            )
            .await?;
            closed = self.record_removal_closings(id, &now).await?;
        }
        jobs.update_many(
            doc! {"sources": id},
            doc! {
                "$pull": {"sources": id},
                "$unset": {format!("missed.{id}"): "", format!("missCountedRun.{id}"): ""},
            },
        )
        .await?;
        if self.index_redis().is_some() {
            let epoch = self.index_epoch().await?;
            let indexed = self.at_epoch(Some(&epoch));
            indexed
                .index_closed(&closed.iter().collect::<Vec<_>>())
                .await?;
            if let Some(index) = &indexed.index {
                index.drop_source(id).await?;
            }
        }
        self.drop_source_marks(id).await?;
        Ok(true)
    }

    /// The jobs that removing source `id` closed at `now`, in the changes feed; returns them
    /// (`_id`, `sources`).
    async fn record_removal_closings(
        &self,
        id: &str,
        now: &str,
    ) -> Result<Vec<Document>, StoreError> {
        let closed: Vec<Document> = self
            .coll(super::JOBS)
            .find(doc! {"sources": id, "closedAt": now, "closedReason": "source_removed"})
            .projection(doc! {"_id": 1, "sources": 1})
            .await?
            .try_collect()
            .await?;
        let changes: Vec<NewChange> = closed
            .iter()
            .filter_map(|d| d.get_str("_id").ok())
            .map(|job| NewChange {
                job_id: job.to_owned(),
                kind: ChangeKind::Closed,
                by: format!("removed:{id}@{now}"),
                source_id: Some(id.to_owned()),
                run_id: None,
                reason: Some("source_removed".into()),
            })
            .collect();
        self.record_changes(&changes).await?;
        Ok(closed)
    }

    pub async fn delete_source(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .coll(SOURCES)
            .delete_one(doc! {"_id": id})
            .await?
            .deleted_count
            > 0)
    }

    /// Saves the validators of a body that a completed run stored, with the URL and reading
    /// key it was read under: they are the source's only while those are its own (a run that
    /// read the feed before an edit cannot put them back; see `source_state`).
    pub async fn save_validators(
        &self,
        id: &str,
        v: &crate::store::mongo::runs::Validators,
    ) -> Result<(), StoreError> {
        let opt = |v: &Option<String>| v.clone().map(Bson::String).unwrap_or(Bson::Null);
        let mut bound = doc! {"url": &v.url};
        if let Some(reading) = &v.reading {
            bound.insert("readingKey", reading);
        }
        self.set_source_state(
            id,
            doc! {"etag": opt(&v.etag), "lastModified": opt(&v.last_modified), "validatorsFor": bound},
        )
        .await
    }

    /// Folds a finished run into its source's health: a success resets the failure streak
    /// and any backoff; a failure extends the streak and, past the threshold, backs off.
    pub async fn record_source_outcome(&self, run: &ImportRun) -> Result<(), StoreError> {
        let now = Utc::now();
        let ok = matches!(
            run.status,
            RunStatus::Completed | RunStatus::NotModified | RunStatus::Partial
        );
        let streak = if ok {
            0
        } else {
            self.failure_streak(&run.source_id).await? + 1
        };
        let backoff_until = SourceHealth::backoff(streak).map(|d| Bson::String(ts(&(now + d))));
        let mut set = doc! {
            "health.lastRunAt": ts(&now),
            "health.lastRunId": run.id.as_str(),
            "health.lastStatus": run.status.as_str(),
            "health.lastError": run.error.as_ref().map(encode).transpose()?,
            "health.consecutiveFailures": streak,
            "health.backoffUntil": backoff_until.unwrap_or(Bson::Null),
        };
        if ok {
            set.insert("health.lastSuccessAt", ts(&now));
        }
        self.set_source_state(&run.source_id, set).await
    }

    /// Claims the scheduled tick `slot` of a source for the caller; false when a daemon already
    /// did. The claim is a document whose `_id` names the tick, so exactly one insert succeeds
    /// whatever Redis lost meanwhile; claims older than two days are deleted on the way.
    pub async fn claim_tick(
        &self,
        source_id: &str,
        slot: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let id = |t: DateTime<Utc>| format!("{source_id}@{:012}", t.timestamp().max(0));
        let claim = doc! {"_id": id(slot), "sourceId": source_id, "at": ts(&Utc::now())};
        let claimed = match self.coll(super::TICKS).insert_one(claim).await {
            Ok(_) => true,
            Err(e) if is_duplicate_key(&e) => false,
            Err(e) => return Err(e.into()),
        };
        if claimed {
            let old = id(slot - chrono::Duration::days(2));
            self.coll(super::TICKS)
                .delete_many(doc! {"_id": {"$gte": format!("{source_id}@"), "$lt": old}})
                .await?;
        }
        Ok(claimed)
    }
}
