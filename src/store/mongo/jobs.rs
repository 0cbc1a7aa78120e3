//! The `jobs` collection. A batch is persisted with one read (its ids, and its dedupe keys for
//! cross-publisher links, in one `$or`) and at most two writes (`insert_many` for new jobs, one
//! multi-statement `update` for changed ones); unchanged jobs are counted, not written. Jobs carry the runs that created, changed and
//! reopened them, so a redelivered batch recognises its own writes and counts the same.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, RawArrayBuf, RawDocument, RawDocumentBuf, doc};
use mongodb::error::ErrorKind;
use sha2::{Digest, Sha256};

use super::{JOBS, Store};
use crate::domain::job_change::{ChangeKind, NewChange};
use crate::domain::time::format as ts;
use crate::domain::{BatchResult, ClosedReason, CodeCount, Expiry, Failure};
use crate::store::StoreError;
use crate::store::job_index::{Entry, source_tag, tag};
use crate::store::mongo::expiry::{CloseContext, Closed, Judge};
use crate::store::queue::{Bodies, PackedItem, PackedJob};

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
    /// When the read that listed the batch began (`ImportBatchTask::read_at`); the time of
    /// writing stands in without it.
    pub read_at: Option<&'a str>,
}

type Existing = Entry;

pub(crate) fn entry_from_doc(d: &Document) -> Entry {
    let s = |k: &str| d.get_str(k).ok().map(tag);
    Entry {
        content_hash: s("contentHash").unwrap_or_default(),
        created_by_run: s("createdByRun"),
        updated_by_run: s("updatedByRun"),
        reopened_by_run: s("reopenedByRun"),
        closed: d.get_str("status").ok() == Some("closed"),
        sources: d
            .get_array("sources")
            .map(|a| a.iter().filter_map(Bson::as_str).map(source_tag).collect())
            .unwrap_or_default(),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Plan {
    New,
    Update,
    Unchanged,
    /// Written by this run before (an earlier delivery of the same batch, or an earlier read
    /// of the same feed).
    AlreadyNew,
    /// Created by this run from an earlier read of the feed, whose content has changed since:
    /// written again, still counted new.
    AlreadyNewChanged,
    AlreadyUpdated,
}

fn plan(existing: Option<&Existing>, hash: &str, run_id: &str) -> Plan {
    let Some(e) = existing else {
        return Plan::New;
    };
    let (hash, run) = (tag(hash), Some(tag(run_id)));
    match e {
        e if e.created_by_run == run => {
            if e.content_hash == hash {
                Plan::AlreadyNew
            } else {
                Plan::AlreadyNewChanged
            }
        }
        e if e.content_hash == hash => {
            if e.updated_by_run == run {
                Plan::AlreadyUpdated
            } else {
                Plan::Unchanged
            }
        }
        _ => Plan::Update,
    }
}

/// Whether the posting's own end date (`validThrough`) has passed; false when its body is not
/// at hand (it is whenever a closed job comes back, see `persist_batch`).
fn has_expired(j: &PackedJob<'_>, bodies: &[u8]) -> bool {
    j.body(bodies)
        .ok()
        .and_then(|b| b.get_str("validThrough").ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
        .is_some_and(|t| t.to_utc() <= Utc::now())
}

/// A closed job seen again is reopened; counted once per run, also on redelivery.
fn reopens(existing: Option<&Existing>, run_id: &str) -> bool {
    existing.is_some_and(|e| e.closed || e.reopened_by_run == Some(tag(run_id)))
}

/// What one batch looked like in the database before it was written.
struct Snapshot {
    by_id: HashMap<String, Existing>,
    /// Dedupe key → id of a job of another publisher with the same title and company.
    twins: HashMap<String, String>,
}

impl Store {
    async fn snapshot(
        &self,
        ids: &[&str],
        keys: &[&str],
        publisher: &str,
    ) -> Result<Snapshot, StoreError> {
        // Without keys, by id alone: an `$or` is only as indexed as its least indexed branch.
        let filter = if keys.is_empty() {
            doc! {"_id": {"$in": ids}}
        } else {
            doc! {"$or": [
                {"_id": {"$in": ids}},
                {"dedupeKey": {"$in": keys}, "publisher": {"$ne": publisher}},
            ]}
        };
        let projection = doc! {
            "contentHash": 1, "createdByRun": 1, "updatedByRun": 1, "reopenedByRun": 1,
            "status": 1, "dedupeKey": 1, "publisher": 1, "sources": 1,
        };
        let docs: Vec<Document> = self
            .coll(JOBS)
            .find(filter)
            .projection(projection)
            .max_time(super::STEP_READ_MAX_TIME)
            .await?
            .try_collect()
            .await?;
        let mut snap = Snapshot {
            by_id: HashMap::new(),
            twins: HashMap::new(),
        };
        for d in docs {
            let Ok(id) = d.get_str("_id") else { continue };
            if d.get_str("publisher").ok() == Some(publisher) {
                snap.by_id.insert(id.to_owned(), entry_from_doc(&d));
            } else if let Ok(key) = d.get_str("dedupeKey") {
                snap.twins
                    .entry(key.to_owned())
                    .or_insert_with(|| id.to_owned());
            }
        }
        Ok(snap)
    }

    /// What the batch's jobs look like stored: from the job index when there is one (no
    /// database read), else one `$or` read. With the index, dedupe keys are looked up later,
    /// and only for the jobs that turn out new (`twins`).
    async fn before(
        &self,
        jobs: &[PackedJob<'_>],
        publisher: &str,
    ) -> Result<Snapshot, StoreError> {
        if jobs.is_empty() {
            return Ok(Snapshot {
                by_id: HashMap::new(),
                twins: HashMap::new(),
            });
        }
        let ids: Vec<&str> = jobs.iter().map(|j| j.id).collect();
        let Some(index) = &self.index else {
            let keys: Vec<&str> = jobs.iter().map(|j| j.dedupe_key).collect();
            return self.snapshot(&ids, &keys, publisher).await;
        };
        let by_id = index.get(&ids).await?;
        Ok(Snapshot {
            by_id,
            twins: HashMap::new(),
        })
    }

    /// Dedupe key → id of a job of another publisher, for the keys of the batch's new jobs
    /// (from the job index; without it, `before` read them already).
    async fn twins(
        &self,
        keys: &[&str],
        publisher: &str,
        snap: &mut Snapshot,
    ) -> Result<(), StoreError> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        if keys.is_empty() {
            return Ok(());
        }
        snap.twins = index
            .twins(keys)
            .await?
            .into_iter()
            .filter(|(_, (p, _))| *p != source_tag(publisher))
            .map(|(k, (_, id))| (k, id))
            .collect();
        Ok(())
    }

    /// Persists one batch and says what happened to each item. Postings are classified by id
    /// and content hash; only the ones written are read from their BSON bodies.
    pub async fn persist_batch(
        &self,
        ctx: &BatchContext<'_>,
        items: Vec<PackedItem<'_>>,
        bodies: &Bodies<'_>,
    ) -> Result<(BatchResult, Vec<Failure>), StoreError> {
        let mut result = BatchResult {
            items: items.len() as i64,
            ..Default::default()
        };
        let mut failures = Vec::new();
        let mut jobs: Vec<PackedJob<'_>> = Vec::new();
        for item in items {
            match item {
                PackedItem::Job(j) => jobs.push(j),
                PackedItem::Failed(f) => {
                    result.failed_jobs += 1;
                    failures.push(f);
                }
                PackedItem::Duplicate => result.duplicate_jobs += 1,
            }
        }
        let t0 = std::time::Instant::now();
        let mut snap = self.before(&jobs, ctx.publisher).await?;
        tracing::debug!(
            step = "classify",
            ms = t0.elapsed().as_millis() as u64,
            "batch step"
        );
        let now = ts(&Utc::now());

        let new: Vec<usize> = (0..jobs.len())
            .filter(|&i| {
                let j = &jobs[i];
                plan(snap.by_id.get(j.id), j.hash, ctx.run_id) == Plan::New
            })
            .collect();
        let keys: Vec<&str> = new.iter().map(|&i| jobs[i].dedupe_key).collect();
        self.twins(&keys, ctx.publisher, &mut snap).await?;
        // The bodies are read only when a posting is written (new, or changed) or a closed job
        // comes back (whether it reopens depends on its `validThrough`).
        let writes_any = !new.is_empty()
            || jobs.iter().any(|j| {
                let e = snap.by_id.get(j.id);
                e.is_some_and(|e| e.closed)
                    || matches!(
                        plan(e, j.hash, ctx.run_id),
                        Plan::Update | Plan::AlreadyNewChanged
                    )
            });
        let loaded = if writes_any {
            bodies.load().await?
        } else {
            std::borrow::Cow::Borrowed(&[][..])
        };
        // Noted before the jobs are written (see `job_facts`).
        if !jobs.is_empty() {
            self.mark_stored(ctx.source_id).await?;
        }
        if jobs.iter().any(|j| {
            j.body(&loaded)
                .is_ok_and(|b| b.get_str("validThrough").is_ok())
        }) {
            self.note_dated_jobs(ctx.source_id).await?;
        }

        let mut w = Writes::default();
        for (i, j) in jobs.iter().enumerate() {
            let existing = snap.by_id.get(j.id);
            if matches!(plan(existing, j.hash, ctx.run_id), Plan::New) {
                let twin = snap.twins.get(j.dedupe_key).map(String::as_str);
                w.inserts
                    .push((i, new_job_doc(ctx, j, j.body(&loaded)?, twin, &now)));
            } else {
                let expired = has_expired(j, &loaded);
                w.classify(i, existing, j.hash, expired, ctx, &mut result);
            }
        }

        // A job the index did not know, or that a concurrent run of another source of the same
        // publisher inserted first, fails its insert on the unique id: read it, classify it.
        let inserting: Vec<usize> = w.inserts.iter().map(|(i, _)| *i).collect();
        let t0 = std::time::Instant::now();
        let lost = self.insert_new(&mut w.inserts, &mut result).await?;
        tracing::debug!(
            step = "insert",
            ms = t0.elapsed().as_millis() as u64,
            "batch step"
        );
        w.inserted_now = inserting
            .iter()
            .copied()
            .filter(|i| !lost.contains(i))
            .collect();
        w.created
            .extend(inserting.into_iter().filter(|i| !lost.contains(i)));
        if !lost.is_empty() {
            let lost_ids: Vec<&str> = lost.iter().map(|&i| jobs[i].id).collect();
            let found = self.snapshot(&lost_ids, &[], ctx.publisher).await?;
            for i in lost {
                let j = &jobs[i];
                let existing = found.by_id.get(j.id);
                let expired = has_expired(j, &loaded);
                w.classify(i, existing, j.hash, expired, ctx, &mut result);
                if let Some(e) = existing {
                    snap.by_id.insert(j.id.to_owned(), e.clone());
                }
            }
        }

        self.write_updates(&jobs, &w, &loaded, ctx, &now, &mut result)
            .await?;
        let t0 = std::time::Instant::now();
        self.record_batch_changes(&jobs, &w, ctx).await?;
        tracing::debug!(
            step = "changes",
            ms = t0.elapsed().as_millis() as u64,
            "batch step"
        );
        if let Some(index) = &self.index {
            let (entries, twins) = w.index_entries(&jobs, &snap, ctx);
            index.put(&entries).await?;
            index.put_twins(ctx.publisher, &twins).await?;
            let ids: Vec<&str> = jobs.iter().map(|j| j.id).collect();
            index.add_to_source(ctx.source_id, &ids).await?;
        }
        result.failure_counts = count_codes(&failures);
        Ok((result, failures))
    }

    /// Writes the batch's changed, reopened and newly carried jobs. Content changes go in one
    /// `update` command whose statements match only a job whose stored content differs (or
    /// that this run changed already), so the number matched is what MongoDB says changed:
    /// that is the count of updated jobs, and the rest were unchanged, whatever the job index
    /// believed. Reopenings and the source's claim on its jobs go in a second command.
    async fn write_updates(
        &self,
        jobs: &[PackedJob<'_>],
        w: &Writes,
        loaded: &[u8],
        ctx: &BatchContext<'_>,
        now: &str,
        result: &mut BatchResult,
    ) -> Result<(), StoreError> {
        let missed = format!("missed.{}", ctx.source_id);
        let mut content: Vec<Bson> = Vec::new();
        let mut others: Vec<Bson> = Vec::new();
        let mut carried: Vec<&str> = w.newly_carried.iter().map(|&i| jobs[i].id).collect();
        for u in &w.updates {
            let j = &jobs[u.at];
            carried.push(j.id);
            if u.content != Content::Same {
                let mut set = Document::try_from(j.body(loaded)?)
                    .map_err(|e| StoreError::Decode(e.to_string()))?;
                set.insert("contentHash", j.hash);
                set.insert("dedupeKey", j.dedupe_key);
                set.insert("updatedByRun", ctx.run_id);
                set.insert("updatedAt", now);
                set.insert("lastSeenAt", now);
                let statement = if u.content == Content::Counted {
                    doc! {
                        "q": {"_id": j.id, "$or": [
                            {"contentHash": {"$ne": j.hash}},
                            {"updatedByRun": ctx.run_id},
                        ]},
                        "u": {"$set": set},
                    }
                } else {
                    doc! {"q": {"_id": j.id}, "u": {"$set": set}}
                };
                if u.content == Content::Counted {
                    content.push(Bson::Document(statement));
                } else {
                    others.push(Bson::Document(statement));
                }
            }
            if u.reopen {
                others.push(Bson::Document(doc! {
                    "q": {"_id": j.id},
                    "u": {"$set": {
                        "status": "open", "closedAt": Bson::Null, "closedReason": Bson::Null,
                        "closedUnder": Bson::Null, "windowJudgedBy": Bson::Null,
                        "reopenedByRun": ctx.run_id, "reopenedAt": now,
                    }},
                }));
            }
        }
        if !carried.is_empty() {
            others.push(Bson::Document(doc! {
                "q": {"_id": {"$in": carried}},
                "u": {"$addToSet": {"sources": ctx.source_id}, "$set": {missed.as_str(): 0_i64}},
                "multi": true,
            }));
        }
        if !content.is_empty() {
            let planned = content.len() as i64;
            let matched = self.update_jobs(content).await?;
            let changed = matched.min(planned);
            result.updated_jobs += changed;
            result.unchanged_jobs += planned - changed;
        }
        if !others.is_empty() {
            self.update_jobs(others).await?;
        }
        Ok(())
    }

    /// Records what this batch did to its jobs in the changes feed (again, for a redelivered
    /// batch: its changes are found by the same keys and stored once). A job counts as
    /// updated only if MongoDB holds this run's update.
    async fn record_batch_changes(
        &self,
        jobs: &[PackedJob<'_>],
        w: &Writes,
        ctx: &BatchContext<'_>,
    ) -> Result<(), StoreError> {
        let change = |id: &str, kind| NewChange::by_run(id, kind, ctx.source_id, ctx.run_id);
        let (fresh, earlier): (Vec<usize>, Vec<usize>) =
            w.created.iter().partition(|i| w.inserted_now.contains(i));
        let fresh: Vec<NewChange> = fresh
            .iter()
            .map(|&i| change(jobs[i].id, ChangeKind::New))
            .collect();
        let mut changes: Vec<NewChange> = earlier
            .iter()
            .map(|&i| change(jobs[i].id, ChangeKind::New))
            .collect();
        if !w.maybe_updated.is_empty() {
            let ids: Vec<&str> = w.maybe_updated.iter().map(|&i| jobs[i].id).collect();
            let mut updated = self
                .coll(JOBS)
                .find(doc! {"_id": {"$in": ids}, "updatedByRun": ctx.run_id})
                .projection(doc! {"_id": 1})
                .await?;
            while let Some(d) = updated.try_next().await? {
                if let Ok(id) = d.get_str("_id") {
                    changes.push(change(id, ChangeKind::Updated));
                }
            }
        }
        changes.extend(
            w.updates
                .iter()
                .filter(|u| u.reopen)
                .map(|u| change(jobs[u.at].id, ChangeKind::Reopened)),
        );
        self.record_changes_with(&fresh, &changes).await
    }

    /// Records the closings and reopenings a run's end made (`closedByRun`, `rejudgedByRun`);
    /// repeated ends find the same changes. `closed` and `reopened` are the end's counts (an
    /// earlier attempt's included): the jobs are read only for a kind that has any.
    pub async fn record_run_end_changes(
        &self,
        source_id: &str,
        run_id: &str,
        closed: i64,
        reopened: i64,
    ) -> Result<(), StoreError> {
        let mut changes = Vec::new();
        if closed > 0 {
            self.run_end_changes(
                doc! {"closedByRun": run_id, "status": "closed"},
                ChangeKind::Closed,
                source_id,
                run_id,
                &mut changes,
            )
            .await?;
        }
        if reopened > 0 {
            self.run_end_changes(
                doc! {"rejudgedByRun": run_id, "status": "open"},
                ChangeKind::Reopened,
                source_id,
                run_id,
                &mut changes,
            )
            .await?;
        }
        self.record_changes(&changes).await
    }

    async fn run_end_changes(
        &self,
        filter: Document,
        kind: ChangeKind,
        source_id: &str,
        run_id: &str,
        changes: &mut Vec<NewChange>,
    ) -> Result<(), StoreError> {
        let mut found = self
            .coll(JOBS)
            .find(filter)
            .projection(doc! {"closedReason": 1})
            .await?;
        while let Some(d) = found.try_next().await? {
            if let Ok(id) = d.get_str("_id") {
                let mut c = NewChange::by_run(id, kind, source_id, run_id);
                if kind == ChangeKind::Closed {
                    c.reason = d.get_str("closedReason").ok().map(str::to_owned);
                }
                changes.push(c);
            }
        }
        Ok(())
    }

    /// Runs one multi-statement `update` of `jobs`; returns how many documents matched.
    async fn update_jobs(&self, statements: Vec<Bson>) -> Result<i64, StoreError> {
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
        Ok(super::as_i64(reply.get("n")))
    }

    /// Inserts the new jobs; returns the positions (in the batch) that lost an insert race.
    async fn insert_new(
        &self,
        inserts: &mut Vec<(usize, RawDocumentBuf)>,
        result: &mut BatchResult,
    ) -> Result<Vec<usize>, StoreError> {
        if inserts.is_empty() {
            return Ok(Vec::new());
        }
        let positions: Vec<usize> = inserts.iter().map(|(i, _)| *i).collect();
        let docs: Vec<RawDocumentBuf> = inserts.drain(..).map(|(_, d)| d).collect();
        let n = docs.len();
        let jobs = self.database().collection::<RawDocumentBuf>(JOBS);
        match jobs.insert_many(docs).ordered(false).await {
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

    /// After a complete run of `source_id` that saw the jobs `seen` (stored ids): every open
    /// job of the source it did not see and that `judge` says its absence speaks for has
    /// missed one more run, the ones it saw start again from zero, and a job that has missed
    /// `after` consecutive complete runs of every source carrying it is closed (reason
    /// `missing_from_feed`). Writes only the jobs whose count changes; idempotent per run.
    /// Returns how many it closed and the ids of the source's jobs still open.
    pub async fn close_missing(
        &self,
        source_id: &str,
        run_id: &str,
        seen: &HashSet<String>,
        after: u32,
        judge: &Judge<'_>,
    ) -> Result<(i64, Vec<String>), StoreError> {
        let ctx = CloseContext {
            source_id,
            run_id,
            after,
            judge,
        };
        let c = self
            .close_among(
                &ctx,
                seen,
                doc! {"sources": source_id, "status": "open"},
                None,
            )
            .await?;
        Ok((c.closed, c.still_open))
    }

    /// `close_missing` through the job index: the sets in Redis say which jobs were missed or
    /// seen again, so MongoDB is only touched for those (nothing at all for an unchanged feed).
    /// Returns how many jobs the run closed in all, also when this is a repeated completion:
    /// the jobs it closes are noted in the Redis set `closed_key` first (without the index,
    /// the jobs marked `closedByRun` are counted).
    #[allow(clippy::too_many_arguments)]
    pub async fn close_missing_indexed(
        &self,
        source_id: &str,
        run_id: &str,
        seen_key: &str,
        closed_key: &str,
        seen: impl AsyncFnOnce() -> Result<HashSet<String>, StoreError>,
        after: u32,
        judge: &Judge<'_>,
    ) -> Result<i64, StoreError> {
        let sightings = match &self.index {
            Some(i) => i
                .sightings(source_id, seen_key)
                .await?
                .map(|s| (i.clone(), s)),
            None => None,
        };
        let Some((index, (mut missing, back))) = sightings else {
            // MongoDB says which jobs the source carries; the index learns them all here.
            let (_, open) = self
                .close_missing(source_id, run_id, &seen().await?, after, judge)
                .await?;
            if let Some(index) = &self.index {
                index.fill_source(source_id, &open).await?;
            }
            return self.count_closed_by(run_id).await;
        };
        let missed_key = format!("missed.{source_id}");
        if !back.is_empty() {
            self.coll(JOBS)
                .update_many(
                    doc! {"_id": {"$in": &back}},
                    doc! {"$set": {&missed_key: 0_i64}},
                )
                .await?;
        }
        if !missing.is_empty() {
            let none = HashSet::new();
            let ctx = CloseContext {
                source_id,
                run_id,
                after,
                judge,
            };
            let c = self
                .close_among(
                    &ctx,
                    &none,
                    doc! {"_id": {"$in": &missing}, "status": "open"},
                    Some(closed_key),
                )
                .await?;
            // A job outside the window was not missed: its absence said nothing.
            missing.retain(|id| !c.outside.contains(id));
        }
        index.mark_missed(source_id, &missing, &back).await?;
        index.closed_count(closed_key).await
    }

    /// Counts a missed run for the open jobs matching `filter` that are not in `seen` (and
    /// that the judge says the run speaks for), resets the seen ones, and closes those missed
    /// `after` times by every source carrying them. With `record`, the jobs to close are
    /// added to that Redis set before they are closed.
    async fn close_among(
        &self,
        ctx: &CloseContext<'_>,
        seen: &HashSet<String>,
        filter: Document,
        record: Option<&str>,
    ) -> Result<Closed, StoreError> {
        let CloseContext {
            source_id,
            run_id,
            after,
            judge,
        } = *ctx;
        let missed_key = format!("missed.{source_id}");
        let counted_key = format!("missCountedRun.{source_id}");
        let open: Vec<Document> = self
            .coll(JOBS)
            .find(filter)
            .projection(doc! {
                "sources": 1, "missed": 1, "missCountedRun": 1, "publisher": 1,
                "datePosted": 1, "firstSeenAt": 1,
            })
            .max_time(super::STEP_READ_MAX_TIME)
            .await?
            .try_collect()
            .await?;
        let mut missing = Vec::new();
        let mut back = Vec::new();
        let mut to_close = Vec::new();
        let mut outside = HashSet::new();
        for d in &open {
            let Ok(id) = d.get_str("_id") else { continue };
            let mut missed = missed_counts(d);
            let here = missed.get(source_id).copied().unwrap_or(0);
            if seen.contains(id) {
                if here > 0 {
                    back.push(id.to_owned());
                }
                continue;
            }
            if !judge.speaks_for(d) {
                outside.insert(id.to_owned());
                continue;
            }
            let counted = d
                .get_document("missCountedRun")
                .ok()
                .and_then(|c| c.get_str(source_id).ok());
            if counted != Some(run_id) {
                missing.push(id.to_owned());
                missed.insert(source_id.to_owned(), here + 1);
            }
            let carriers: Vec<&str> = d
                .get_array("sources")
                .map(|a| a.iter().filter_map(Bson::as_str).collect())
                .unwrap_or_default();
            if carriers
                .iter()
                .all(|s| missed.get(*s).copied().unwrap_or(0) >= after as i64)
            {
                to_close.push(id.to_owned());
            }
        }
        if !missing.is_empty() {
            self.coll(JOBS)
                .update_many(
                    doc! {"_id": {"$in": &missing}, &counted_key: {"$ne": run_id}},
                    doc! {"$inc": {&missed_key: 1_i64}, "$set": {&counted_key: run_id}},
                )
                .await?;
        }
        if !back.is_empty() {
            self.coll(JOBS)
                .update_many(
                    doc! {"_id": {"$in": &back}},
                    doc! {"$set": {&missed_key: 0_i64}},
                )
                .await?;
        }
        let closing: HashSet<&str> = to_close.iter().map(String::as_str).collect();
        let still_open: Vec<String> = open
            .iter()
            .filter_map(|d| d.get_str("_id").ok())
            .filter(|id| !closing.contains(id))
            .map(str::to_owned)
            .collect();
        if to_close.is_empty() {
            return Ok(Closed {
                closed: 0,
                still_open,
                outside,
            });
        }
        // Every source carrying a job being closed.
        let mut all: Vec<&str> = open
            .iter()
            .filter(|d| d.get_str("_id").is_ok_and(|id| closing.contains(id)))
            .filter_map(|d| d.get_array("sources").ok())
            .flat_map(|a| a.iter().filter_map(Bson::as_str))
            .collect();
        all.sort_unstable();
        all.dedup();
        // The other carriers learn that these jobs are being closed (before the closing), so
        // that a run of theirs that listed one meanwhile reopens it at its end.
        let others: Vec<&str> = all.iter().copied().filter(|s| *s != source_id).collect();
        self.mark_shared_closing(&others, run_id).await?;
        if let (Some(key), Some(index)) = (record, &self.index) {
            index.record_closed(key, &to_close).await?;
        }
        // A closing by a run of a source that does not look at the window is judged again by
        // a carrier that later reads its feed by a window (it switched modes); a carrier that
        // reads by a window already counted its misses inside its window, so the closing is
        // marked judged for it (`windowJudgedBy`) and not counted in its facts.
        let (carriers, windowed): (Vec<String>, Vec<String>) = if judge.expiry == Expiry::Window {
            (Vec::new(), Vec::new())
        } else {
            let windowed = self.windowed_sources(&all).await?;
            all.into_iter()
                .map(str::to_owned)
                .partition(|s| !windowed.contains(s))
        };
        let carriers: Vec<&str> = carriers.iter().map(String::as_str).collect();
        self.note_closed_outside_window(&carriers).await?;
        let now = ts(&Utc::now());
        let set = doc! {"$set": {
            "status": "closed",
            "closedAt": now,
            "closedByRun": run_id,
            "closedReason": ClosedReason::MissingFromFeed.as_str(),
            "closedUnder": judge.expiry.as_str(),
            "windowJudgedBy": &windowed,
        }};
        let modified = self.close_as_read(&open, &closing, after, &set).await?;
        self.note_closed_outside_window(&carriers).await?;
        let mut closed_ids = closing.clone();
        let mut still_open = still_open;
        if (modified as usize) < to_close.len() {
            let done: HashSet<String> = self
                .ids_where(
                    JOBS,
                    doc! {"_id": {"$in": &to_close}, "closedByRun": run_id},
                )
                .await?
                .into_iter()
                .collect();
            let kept: Vec<String> = to_close
                .iter()
                .filter(|id| !done.contains(id.as_str()))
                .cloned()
                .collect();
            if let (Some(key), Some(index)) = (record, &self.index) {
                index.unrecord_closed(key, &kept).await?;
            }
            closed_ids.retain(|id| done.contains(*id));
            still_open.extend(kept);
        }
        let closed_docs: Vec<&Document> = open
            .iter()
            .filter(|d| d.get_str("_id").is_ok_and(|id| closed_ids.contains(id)))
            .collect();
        self.index_closed(&closed_docs).await?;
        Ok(Closed {
            closed: modified,
            still_open,
            outside,
        })
    }

    /// Applies `update` (a closing) to the jobs `ids` among the documents `read`, each only
    /// while it is as read: the same carriers (`sources`), each still at `after` misses or
    /// more. A batch of another carrier that wrote the job since (claimed it, or reset its
    /// count after listing it) keeps it open. Returns how many it closed.
    pub async fn close_as_read(
        &self,
        read: &[Document],
        ids: &HashSet<&str>,
        after: u32,
        update: &Document,
    ) -> Result<i64, StoreError> {
        let mut modified = 0;
        for (sources, ids) in by_carriers(read, ids) {
            let mut filter = doc! {"_id": {"$in": &ids}, "status": "open", "sources": &sources};
            for c in &sources {
                filter.insert(format!("missed.{c}"), doc! {"$gte": after as i64});
            }
            modified += self
                .coll(JOBS)
                .update_many(filter, update.clone())
                .await?
                .modified_count as i64;
        }
        Ok(modified)
    }

    /// At the end of a complete run of `source_id` that listed the jobs `listed` says: the
    /// jobs it listed that a run of another source closed for missing from its feed while
    /// this run read (see `job_facts`) open again, marked `reopenedAtEndOf` this run (and
    /// recorded as reopened by it). Looks only when another source's run marked this
    /// source's jobs for closing since `since`. Returns how many this run reopened so (also
    /// when its end is repeated).
    pub async fn reopen_listed(
        &self,
        source_id: &str,
        run_id: &str,
        since: &str,
        listed: impl AsyncFnOnce() -> Result<HashSet<String>, StoreError>,
    ) -> Result<i64, StoreError> {
        if !self.shared_closing_since(source_id, since).await? {
            return Ok(0);
        }
        let closed: Vec<Document> = self
            .coll(JOBS)
            .find(doc! {
                "sources": source_id,
                "status": "closed",
                "closedReason": ClosedReason::MissingFromFeed.as_str(),
                "closedByRun": {"$ne": run_id},
            })
            .projection(doc! {"publisher": 1, "sources": 1})
            .await?
            .try_collect()
            .await?;
        if !closed.is_empty() {
            let seen = listed().await?;
            let back: Vec<&Document> = closed
                .iter()
                .filter(|d| d.get_str("_id").is_ok_and(|id| seen.contains(id)))
                .collect();
            let back_ids: Vec<&str> = back.iter().filter_map(|d| d.get_str("_id").ok()).collect();
            if !back_ids.is_empty() {
                let now = ts(&Utc::now());
                self.coll(JOBS)
                    .update_many(
                        doc! {"_id": {"$in": &back_ids}, "status": "closed"},
                        doc! {
                            "$set": {
                                "status": "open", "reopenedAt": &now, "reopenedAtEndOf": run_id,
                                "closedAt": Bson::Null, "closedReason": Bson::Null,
                                "closedUnder": Bson::Null, "windowJudgedBy": Bson::Null,
                                format!("missed.{source_id}"): 0_i64,
                            },
                            "$unset": {"closedByRun": "", "missCountedRun": ""},
                        },
                    )
                    .await?;
                self.index_reopened(&back).await?;
            }
        }
        let reopened = self
            .ids_where(JOBS, doc! {"reopenedAtEndOf": run_id})
            .await?;
        let changes: Vec<NewChange> = reopened
            .iter()
            .map(|id| NewChange::by_run(id, ChangeKind::Reopened, source_id, run_id))
            .collect();
        self.record_changes(&changes).await?;
        Ok(reopened.len() as i64)
    }

    /// Which of `sources` read their feeds by a window (the default mode).
    async fn windowed_sources(&self, sources: &[&str]) -> Result<HashSet<String>, StoreError> {
        if sources.is_empty() {
            return Ok(HashSet::new());
        }
        let docs: Vec<Document> = self
            .coll(super::SOURCES)
            .find(doc! {"_id": {"$in": sources}})
            .projection(doc! {"expiry": 1})
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter(|d| {
                d.get_str("expiry")
                    .ok()
                    .and_then(Expiry::parse)
                    .unwrap_or_default()
                    == Expiry::Window
            })
            .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
            .collect())
    }

    /// The job index learns that these jobs (documents with `_id` and `sources`) closed: they
    /// leave every source's open set.
    pub(crate) async fn index_closed(&self, docs: &[&Document]) -> Result<(), StoreError> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        let ids: Vec<&str> = docs.iter().filter_map(|d| d.get_str("_id").ok()).collect();
        let mut entries: Vec<(String, Entry)> = index.get(&ids).await?.into_iter().collect();
        for e in &mut entries {
            e.1.closed = true;
        }
        index.put(&entries).await?;
        for d in docs {
            let Ok(id) = d.get_str("_id") else { continue };
            let sources: Vec<&str> = d
                .get_array("sources")
                .map(|a| a.iter().filter_map(Bson::as_str).collect())
                .unwrap_or_default();
            index.remove_from_sources(&sources, id).await?;
        }
        Ok(())
    }

    /// Jobs this run closed for missing from the feed (for a redelivered completion, which must
    /// report the same number).
    pub async fn count_closed_by(&self, run_id: &str) -> Result<i64, StoreError> {
        Ok(self
            .coll(JOBS)
            .count_documents(doc! {"closedByRun": run_id, "closedReason": ClosedReason::MissingFromFeed.as_str()})
            .max_time(super::STEP_READ_MAX_TIME)
            .await? as i64)
    }
}

/// The jobs of `open` being closed, by the sources carrying them (as stored).
fn by_carriers<'a>(
    open: &'a [Document],
    closing: &HashSet<&str>,
) -> Vec<(Vec<&'a str>, Vec<&'a str>)> {
    let mut groups: Vec<(Vec<&str>, Vec<&str>)> = Vec::new();
    for d in open {
        let Ok(id) = d.get_str("_id") else { continue };
        if !closing.contains(id) {
            continue;
        }
        let sources: Vec<&str> = d
            .get_array("sources")
            .map(|a| a.iter().filter_map(Bson::as_str).collect())
            .unwrap_or_default();
        match groups.iter_mut().find(|(s, _)| *s == sources) {
            Some((_, ids)) => ids.push(id),
            None => groups.push((sources, vec![id])),
        }
    }
    groups
}

fn missed_counts(d: &Document) -> HashMap<String, i64> {
    d.get_document("missed")
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_i64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A dedupe key and the id of the job stored with it.
type DedupeKeyOf = (String, String);

/// What an update of one job writes.
struct Update {
    /// The job's position in the batch.
    at: usize,
    reopen: bool,
    content: Content,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    /// Unchanged: nothing but the reopening.
    Same,
    /// Changed, and counted as updated only if MongoDB agrees (see `write_updates`).
    Counted,
    /// Written whatever MongoDB holds; already counted.
    Rewrite,
}

/// The writes one batch needs, by position in the batch.
#[derive(Default)]
struct Writes {
    inserts: Vec<(usize, RawDocumentBuf)>,
    updates: Vec<Update>,
    newly_carried: Vec<usize>,
    /// Positions stored new by this run (now or by its earlier delivery).
    created: Vec<usize>,
    /// Positions this run may have updated (it did if the job names it `updatedByRun`).
    maybe_updated: Vec<usize>,
    /// Positions of `created` that this delivery inserted (their changes cannot be recorded).
    inserted_now: HashSet<usize>,
}

impl Writes {
    /// Counts and plans a job that exists (or that this run already wrote).
    fn classify(
        &mut self,
        i: usize,
        existing: Option<&Entry>,
        hash: &str,
        expired: bool,
        ctx: &BatchContext<'_>,
        result: &mut BatchResult,
    ) {
        // A posting past its own end date stays closed though the feed still lists it.
        let reopen = !expired && reopens(existing, ctx.run_id);
        if reopen {
            result.reopened_jobs += 1;
        }
        let carried = existing.is_some_and(|e| e.carries(ctx.source_id));
        let update = |content| Update {
            at: i,
            reopen,
            content,
        };
        match plan(existing, hash, ctx.run_id) {
            // Lost an insert race and was not found after all: counted by `write_updates`.
            Plan::New => {
                self.maybe_updated.push(i);
                self.updates.push(update(Content::Counted));
            }
            Plan::AlreadyNew => {
                result.new_jobs += 1;
                self.created.push(i);
                if reopen || !carried {
                    self.updates.push(update(Content::Same));
                }
            }
            Plan::AlreadyNewChanged => {
                result.new_jobs += 1;
                self.created.push(i);
                self.updates.push(update(Content::Rewrite));
            }
            Plan::AlreadyUpdated => {
                result.updated_jobs += 1;
                self.maybe_updated.push(i);
                if reopen || !carried {
                    self.updates.push(update(Content::Same));
                }
            }
            Plan::Update => {
                self.maybe_updated.push(i);
                self.updates.push(update(Content::Counted));
            }
            Plan::Unchanged => {
                result.unchanged_jobs += 1;
                if reopen {
                    self.updates.push(update(Content::Same));
                } else if !carried {
                    self.newly_carried.push(i);
                }
            }
        }
    }

    /// The job-index entries after this batch, and the dedupe keys of the new jobs.
    fn index_entries(
        &self,
        jobs: &[PackedJob<'_>],
        snap: &Snapshot,
        ctx: &BatchContext<'_>,
    ) -> (Vec<(String, Entry)>, Vec<DedupeKeyOf>) {
        let mut out = Vec::new();
        let mut twins = Vec::new();
        let run = tag(ctx.run_id);
        let with_source = |mut e: Entry| {
            e.add_source(ctx.source_id);
            e
        };
        for &i in &self.created {
            let j = &jobs[i];
            let e = Entry {
                content_hash: tag(j.hash),
                created_by_run: Some(run),
                sources: vec![source_tag(ctx.source_id)],
                ..Default::default()
            };
            out.push((j.id.to_owned(), e));
            twins.push((j.dedupe_key.to_owned(), j.id.to_owned()));
        }
        for u in &self.updates {
            let (j, reopen) = (&jobs[u.at], u.reopen);
            let mut e = with_source(snap.by_id.get(j.id).cloned().unwrap_or_default());
            match u.content {
                Content::Same => {}
                Content::Counted => {
                    e.content_hash = tag(j.hash);
                    e.updated_by_run = Some(run);
                }
                Content::Rewrite => e.content_hash = tag(j.hash),
            }
            if reopen {
                e.closed = false;
                e.reopened_by_run = Some(run);
            }
            out.push((j.id.to_owned(), e));
        }
        for &i in &self.newly_carried {
            let id = jobs[i].id;
            out.push((
                id.to_owned(),
                with_source(snap.by_id.get(id).cloned().unwrap_or_default()),
            ));
        }
        (out, twins)
    }
}

/// The stored document of a new job: the posting's BSON as queued, then the bookkeeping.
/// Built from bytes, without decoding the posting.
fn new_job_doc(
    ctx: &BatchContext<'_>,
    job: &PackedJob<'_>,
    body: &RawDocument,
    twin: Option<&str>,
    now: &str,
) -> RawDocumentBuf {
    let mut d = body.to_raw_document_buf();
    d.append_ref("_id", job.id);
    d.append_ref("publisher", ctx.publisher);
    d.append_ref("contentHash", job.hash);
    d.append_ref("dedupeKey", job.dedupe_key);
    let mut sources = RawArrayBuf::new();
    sources.push(ctx.source_id);
    d.append("sources", sources);
    d.append_ref("createdByRun", ctx.run_id);
    // An undated posting stands in a windowed source's window by this time: all of one
    // read's postings share it, so the order its batches were stored in says nothing.
    d.append_ref("firstSeenAt", ctx.read_at.unwrap_or(now));
    d.append_ref("updatedAt", now);
    d.append_ref("lastSeenAt", now);
    // No `missed` counts: a source that has not missed the job has none (absent reads as 0).
    d.append_ref("status", "open");
    if let Some(t) = twin {
        d.append_ref("duplicateOf", t);
    }
    d
}

/// The document `persist_batch` inserts for `posting`, new to `publisher`, when run `run_id` of
/// `source_id`, in a read that began at `read_at`, writes it at `now` with no twin of another
/// publisher: the same code path
/// (packed as the fetcher packs it, built by `new_job_doc`). For the pipeline benchmark, whose
/// baseline inserts the very documents the daemon writes.
#[doc(hidden)]
pub fn new_job_document(
    publisher: &str,
    source_id: &str,
    run_id: &str,
    posting: &crate::domain::JobPosting,
    read_at: &str,
    now: &str,
) -> Result<RawDocumentBuf, StoreError> {
    let mut items = crate::store::queue::PackedItems::default();
    items.push_job(publisher, posting)?;
    let read = items.items()?;
    let Some(PackedItem::Job(job)) = read.first() else {
        return Err(StoreError::Decode(
            "a packed posting did not read back".into(),
        ));
    };
    let ctx = BatchContext {
        run_id,
        source_id,
        publisher,
        read_at: Some(read_at),
    };
    Ok(new_job_doc(&ctx, job, job.body(items.bodies())?, None, now))
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

    fn existing(created: &str, updated: Option<&str>, hash: &str) -> Existing {
        Existing {
            content_hash: tag(hash),
            created_by_run: Some(tag(created)),
            updated_by_run: updated.map(tag),
            reopened_by_run: None,
            closed: false,
            sources: vec![],
        }
    }

    #[test]
    fn job_ids_are_scoped_by_publisher() {
        assert_eq!(job_id("jobicy.com", "1"), job_id("jobicy.com", "1"));
        assert_ne!(job_id("jobicy.com", "1"), job_id("other.com", "1"));
    }

    #[test]
    fn a_redelivered_batch_recognises_its_own_writes() {
        assert_eq!(
            plan(Some(&existing("r2", None, "h")), "h", "r2"),
            Plan::AlreadyNew
        );
        let updated = existing("r1", Some("r2"), "h");
        assert_eq!(plan(Some(&updated), "h", "r2"), Plan::AlreadyUpdated);
        assert_eq!(plan(Some(&updated), "h", "r3"), Plan::Unchanged);
        assert_eq!(plan(Some(&updated), "other", "r3"), Plan::Update);
        assert_eq!(plan(None, "h", "r3"), Plan::New);
    }

    #[test]
    fn a_reopening_counts_once_per_run_even_when_redelivered() {
        let mut e = existing("r1", None, "h");
        e.closed = true;
        assert!(reopens(Some(&e), "r5"));
        e.closed = false;
        e.reopened_by_run = Some(tag("r5"));
        assert!(reopens(Some(&e), "r5"));
        assert!(!reopens(Some(&e), "r6"));
    }

    #[test]
    fn missed_counts_read_every_source() {
        let d = doc! {"missed": {"a": 3_i64, "b": 1_i64}};
        let m = missed_counts(&d);
        assert_eq!(m.get("a"), Some(&3));
        assert_eq!(m.get("b"), Some(&1));
        assert!(missed_counts(&doc! {}).is_empty());
    }
}
